"""The vocabulary shared by rules and alerts: actions, channels, hits.

A rule result is a value (``RuleHit``), never an exception; the alert that a
hit becomes carries it as its explanation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    ALERT = "alert"
    HOLD = "hold"
    FREEZE = "freeze"


class Channel(StrEnum):
    BANK = "bank"
    POLICE = "police"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Outcome(StrEnum):
    """What one rule made of one batch (as marble's ``RuleExecution``)."""

    HIT = "hit"
    NO_HIT = "no_hit"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class RuleExecution:
    """One rule's outcome on one batch, kept with the evaluation: hit (how many rows),
    no hit, or error (its text; the rule's rows were not judged by it)."""

    rule_id: str
    outcome: Outcome
    hits: int = 0
    error: str | None = None


SEVERITY_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One rule firing on one event: a row of the batch, or (``row == -1``) an earlier event
    named by its id, such as the first two visits of an R6b ring completed by this batch."""

    rule_id: str
    rule_name: str
    ruleset_version: str
    row: int
    event_id: str
    account_id: str
    ts_ms: int
    action: Action
    severity: Severity
    channels: tuple[Channel, ...]
    reason_vi: str
    reason_en: str
    evidence: dict[str, Any] = field(default_factory=dict)
    # For ``row == -1``: what is known of the event (id, account, ip, ts) and its type name.
    event: dict[str, Any] | None = None
    event_type: str = ""
