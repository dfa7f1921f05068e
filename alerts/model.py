"""What txmon tells the world: alerts (bank channel), police reports, hold instructions.

Ids are deterministic, so the same input event redelivered yields the same
alert id and hold id; every consumer can deduplicate on them.
"""

from __future__ import annotations

from hashlib import blake2b
from typing import Any, Literal

import msgspec

HoldStatus = Literal["active", "released", "confirmed", "extended", "expired"]
# hold: a temporary pause (tạm dừng giao dịch) txmon placed on a rule hit;
# freeze: an account freeze (phong tỏa tài khoản) placed on a police request (R13).
HoldKind = Literal["hold", "freeze"]


def alert_id(rule_id: str, event_id: str, *, account: str | None = None) -> str:
    """The alert's deterministic id: the rule and the event it fired on, so a redelivered or
    re-judged event gets the same id and is never alerted twice.

    An event is named by (``account``, ``event_id``) (``event_id`` is unique per account: two
    accounts may share one), so an event's alert names its account; R13's police requests,
    whose ids are unique on their own, name none.

    >>> alert_id("R2", "evt-1", account="A") == alert_id("R2", "evt-1", account="A")
    True
    >>> alert_id("R2", "evt-1", account="A") == alert_id("R2", "evt-1", account="B")
    False
    """
    key = f"{rule_id}\x1f{event_id}" if account is None else f"{rule_id}\x1f{account}\x1f{event_id}"
    digest = blake2b(key.encode(), digest_size=10).hexdigest()
    return f"A-{rule_id}-{digest}"


def hold_id_for(first_alert_id: str) -> str:
    return "H-" + first_alert_id.removeprefix("A-")


class Alert(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Bank channel: one rule hit on one event, with full evidence for fraud officers."""

    alert_id: str
    rule_id: str
    rule_name: str
    ruleset_version: str
    account_id: str
    event_id: str
    event_type: str
    event_ts: str
    detected_at: str
    action: str
    severity: str
    channels: list[str]
    reason_vi: str
    reason_en: str
    evidence: dict[str, Any]
    event: dict[str, Any]
    hold_id: str | None = None
    bank_code: str = ""


class PoliceReport(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Police channel: what Hanoi plan III.1/III.8 asks banks to share, and no more.

    Account, bank, amounts, counterparties, IPs, devices, times and the rule's
    reasons; no names, phone numbers, ID numbers or free-text descriptions.
    """

    report_id: str
    idempotency_key: str
    kind: Literal["rule_hit", "confirmed_fraud"]
    reporting_bank: str
    account_id: str
    rule_id: str
    severity: str
    reason_vi: str
    reason_en: str
    event_ts: str
    reported_at: str
    amount_vnd: int | None = None
    # "out": the account paid the counterparty; "in": the counterparty paid the account.
    money_direction: Literal["out", "in"] | None = None
    counterparty_account: str | None = None
    counterparty_bank: str | None = None
    ip: str | None = None
    ip_country: str | None = None
    device_id: str | None = None
    hold_id: str | None = None


class HoldInstruction(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Holds topic: core banking pauses (or resumes) the account's outgoing transactions.

    ``kind`` is left out of the JSON for a temporary hold, so older consumers see
    what they always saw; a police freeze carries ``"kind": "freeze"``.
    """

    hold_id: str
    account_id: str
    status: HoldStatus
    kind: HoldKind = "hold"
    transition: str
    reason_vi: str
    reason_en: str
    alert_ids: list[str]
    created_at: str
    expires_at: str
    updated_at: str
    updated_by: str = "txmon"
    bank_code: str = ""


encoder = msgspec.json.Encoder()
