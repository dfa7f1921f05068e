"""The one table of rule evaluators, keyed by rule id; it refuses duplicates.

A rule is data plus an evaluator: its module declares a ``RuleDef`` (id, name,
typed parameters, evaluator) and registers it here. Which rules run, with what
thresholds, action and channels, is configuration (``rules.config``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from rules.features import BatchContext


@dataclass(frozen=True, slots=True)
class RuleResult:
    """Which rows a rule hit, which of them are serious enough to escalate, and why."""

    hit: npt.NDArray[np.bool_]
    escalated: npt.NDArray[np.bool_] | None
    # Evidence and bilingual reasons for one hit row; called only for hits.
    explain: Callable[[int], tuple[str, str, dict[str, Any]]]
    # Hits on events of earlier batches (R6b: a ring completed now alerts its first visits too).
    earlier: Sequence[EarlierHit] = ()


@dataclass(frozen=True, slots=True)
class EarlierHit:
    account_id: str
    event_id: str
    event_type: str
    ts_ms: int
    event: dict[str, Any]
    reason_vi: str
    reason_en: str
    evidence: dict[str, Any]


Evaluator = Callable[[BatchContext, Any], RuleResult]


@dataclass(frozen=True, slots=True)
class RuleDef:
    id: str
    name: str
    params: type[msgspec.Struct]
    # None: the rule is not judged on event batches but applied to a control input
    # (R13: police freeze requests); its configuration still lives in the rules file.
    evaluate: Evaluator | None
    source: str


class RegistryError(ValueError):
    retriable = False


RULES: dict[str, RuleDef] = {}


def register(rule: RuleDef) -> RuleDef:
    if rule.id in RULES:
        msg = f"rule id {rule.id!r} is registered twice ({RULES[rule.id].name}, {rule.name})"
        raise RegistryError(msg)
    RULES[rule.id] = rule
    return rule
