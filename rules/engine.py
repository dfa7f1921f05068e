"""The rule engine: one batch of columns and stored states in, hits and new states out.

Pure: no Kafka, no Redis, no clock. ``streams`` calls it for every batch and
``txmon backtest`` calls it on files, so both decide alike.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from rules.columns import EventBatch
from rules.config import Ruleset
from rules.features import BatchContext
from rules.model import RuleHit
from rules.state import AccountState, advance

log = logging.getLogger(__name__)


class CountryLookup(Protocol):
    def countries(self, ips: Sequence[str | None]) -> npt.NDArray[np.str_]: ...


@dataclass(slots=True)
class Evaluation:
    hits: list[RuleHit]
    states: list[AccountState]
    countries: npt.NDArray[np.str_]
    # rule id -> error text, for rules that failed on this batch (others still ran)
    errors: dict[str, str] = field(default_factory=dict)


class RuleEngine:
    def __init__(self, ruleset: Ruleset, geo: CountryLookup) -> None:
        self.ruleset = ruleset
        self.geo = geo

    def evaluate(
        self,
        batch: EventBatch,
        states: Sequence[AccountState | None],
        payee_listed: npt.NDArray[np.bool_] | None = None,
    ) -> Evaluation:
        """``payee_listed``: per row, the payee is on the shared suspicious list (R7)."""
        countries = self.geo.countries(batch.ip)
        ctx = BatchContext(batch, states, countries, self.ruleset.home_countries, payee_listed)
        hits: list[RuleHit] = []
        errors: dict[str, str] = {}
        for rule in self.ruleset.rules:
            rule_id, evaluate = rule.definition.id, rule.definition.evaluate
            if evaluate is None:
                continue
            try:
                result = evaluate(ctx, rule.params)
                rows = np.flatnonzero(result.hit)
                escalated = result.escalated
                for row in rows.tolist():
                    spec = rule.spec
                    action, severity, channels = spec.action, spec.severity, spec.channels
                    if escalated is not None and spec.escalation is not None and escalated[row]:
                        esc = spec.escalation
                        action, severity, channels = esc.action, esc.severity, esc.channels
                    vi, en, evidence = result.explain(row)
                    hits.append(
                        RuleHit(
                            rule_id=rule_id,
                            rule_name=rule.definition.name,
                            ruleset_version=self.ruleset.version,
                            row=row,
                            event_id=batch.event_id[row],
                            account_id=batch.accounts[batch.account[row]],
                            ts_ms=int(batch.ts_ms[row]),
                            action=action,
                            severity=severity,
                            channels=tuple(channels),
                            reason_vi=vi,
                            reason_en=en,
                            evidence=evidence,
                        )
                    )
            except Exception as exc:  # a broken rule must not stop the others
                log.exception("rule %s failed on a batch of %d", rule_id, len(batch))
                errors[rule_id] = f"{type(exc).__name__}: {exc}"
        new_states = advance(batch, states, countries, ctx.new_device_login, ctx.local_day, ctx.day_total)
        return Evaluation(hits=hits, states=new_states, countries=countries, errors=errors)
