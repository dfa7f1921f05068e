"""Output check: a baseline raises the same ``(rule, event_id)`` alerts as txmon on R2, R3, R6a.

txmon is restricted by running its back-test store (``streams.backtest.InMemory``, the worker's
engine with state in memory) on a ruleset that is ``load_ruleset()`` with only R2, R3 and R6a
active; the records are judged in 20,000-event batches as the bench's reference does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from loadtest.baselines.loop import LoopRules, judge_values
from loadtest.baselines.three_rules import Alert
from rules.config import Ruleset, load_ruleset
from rules.engine import RuleEngine
from rules.geo import load_geoip
from streams.backtest import InMemory
from streams.codec import decode_records

BASELINE_RULES = frozenset({"R2", "R3", "R6a"})


def restricted(ruleset: Ruleset) -> Ruleset:
    """The ruleset with only the baselines' rules active (same params, same version)."""
    return dataclasses.replace(ruleset, rules=tuple(r for r in ruleset.rules if r.definition.id in BASELINE_RULES))


def txmon_alerts(values: Sequence[bytes], keys: Sequence[bytes], batch: int = 20_000) -> set[Alert]:
    store = InMemory(RuleEngine(restricted(load_ruleset()), load_geoip()))
    out: set[Alert] = set()
    for i in range(0, len(values), batch):
        decoded = decode_records(list(values[i : i + batch]), list(keys[i : i + batch]))
        out.update((h.rule_id, h.event_id) for h in store.judge(decoded.batch, explain=False).hits)
    return out


def loop_alerts(values: Sequence[bytes]) -> set[Alert]:
    return set(judge_values(LoopRules(restricted(load_ruleset())), list(values), load_geoip()))


def compare(name: str, got: set[Alert], want: set[Alert]) -> dict[str, Any]:
    missing, extra = sorted(want - got), sorted(got - want)
    return {
        f"{name}_alerts": len(got),
        "txmon_restricted_alerts": len(want),
        f"{name}_missing": missing[:5],
        f"{name}_extra": extra[:5],
        f"{name}_alerts_match": not missing and not extra,
    }


def check_loop(records: Sequence[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The bench's check: ``baseline_loop_alerts_match`` is False when the sets differ."""
    values = [v for _, v in records]
    return compare("baseline_loop", loop_alerts(values), txmon_alerts(values, [k for k, _ in records]))
