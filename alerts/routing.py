"""Turn rule hits into alerts, police reports and hold instructions.

One alert per hit (a hit may name an event of an earlier batch: R6b alerts every
visit of a ring when its third account arrives); one hold per account per batch however many hold-worthy
hits it has (the first hit names it); a police report only for hits routed to
the police channel, with only the fields ``PoliceReport`` allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from alerts.model import Alert, HoldInstruction, PoliceReport, alert_id, hold_id_for
from rules.model import Action, Channel, RuleHit
from rules.text import VN_TZ, iso


@dataclass(slots=True)
class Outputs:
    alerts: list[Alert] = field(default_factory=list)
    police: list[PoliceReport] = field(default_factory=list)
    holds: list[HoldInstruction] = field(default_factory=list)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(VN_TZ).isoformat(timespec="milliseconds")


def hit_alert_id(hit: RuleHit) -> str:
    """The id of a hit's alert: what every consumer, and the back-test, deduplicates by."""
    return alert_id(hit.rule_id, hit.event_id, account=hit.account_id)


def build_outputs(
    hits: Sequence[RuleHit],
    events: Sequence[Any],
    *,
    now: datetime,
    bank_code: str,
    hold_duration_s: int,
) -> Outputs:
    """Alerts, police reports and new holds for ``hits`` (before deduplication)."""
    out = Outputs()
    holds: dict[str, HoldInstruction] = {}
    detected = _stamp(now)
    for hit in hits:
        if hit.row >= 0:
            event, event_type = msgspec.structs.asdict(events[hit.row]), type(events[hit.row]).__name__
        else:  # an event of an earlier batch (R6b's first visits of a ring): what is known of it
            event, event_type = dict(hit.event or {}), hit.event_type
        aid = hit_alert_id(hit)
        hold_id = None
        if hit.action in (Action.HOLD, Action.FREEZE):
            hold = holds.get(hit.account_id)
            if hold is None:
                hold = HoldInstruction(
                    hold_id=hold_id_for(aid),
                    account_id=hit.account_id,
                    status="active",
                    transition="placed",
                    reason_vi=hit.reason_vi,
                    reason_en=hit.reason_en,
                    alert_ids=[],
                    created_at=detected,
                    expires_at=_stamp(now + timedelta(seconds=hold_duration_s)),
                    updated_at=detected,
                    bank_code=bank_code,
                )
                holds[hit.account_id] = hold
            hold.alert_ids.append(aid)
            hold_id = hold.hold_id
        event["ts"] = iso(hit.ts_ms)
        out.alerts.append(
            Alert(
                alert_id=aid,
                rule_id=hit.rule_id,
                rule_name=hit.rule_name,
                ruleset_version=hit.ruleset_version,
                account_id=hit.account_id,
                event_id=hit.event_id,
                event_type=event_type,
                event_ts=iso(hit.ts_ms),
                detected_at=detected,
                action=str(hit.action),
                severity=str(hit.severity),
                channels=[str(c) for c in hit.channels],
                reason_vi=hit.reason_vi,
                reason_en=hit.reason_en,
                evidence=hit.evidence,
                event=event,
                hold_id=hold_id,
                bank_code=bank_code,
            )
        )
        if Channel.POLICE in hit.channels:
            out.police.append(police_report(out.alerts[-1], event, bank_code, detected))
    out.holds = list(holds.values())
    return out


# A police freeze request's reason, authority and case text are the police's own words (often
# names, phone and ID numbers): the report names only the account and the request's rule.
FREEZE_REQUEST_REASON = (
    "Tài khoản {account} bị tạm dừng/phong tỏa theo yêu cầu của cơ quan công an (R13).",
    "Account {account} held/frozen at a police request (R13).",
)


def police_reasons(alert: Alert) -> tuple[str, str]:
    """The rule's reasons as the police may read them: never free text someone typed.

    Rule reasons are built by the evaluators from the facts the plan lists
    (amounts, devices, IPs, times); only a police freeze request carries free
    text, so its alert's reasons are replaced by a fixed sentence.
    """
    if alert.event_type == "FreezeRequest":
        vi, en = FREEZE_REQUEST_REASON
        return vi.format(account=alert.account_id), en.format(account=alert.account_id)
    return alert.reason_vi, alert.reason_en


def police_report(alert: Alert, event: dict[str, Any], bank_code: str, reported_at: str) -> PoliceReport:
    """The one place a police report is made from an alert (worker routing, escalation,
    confirmed fraud, the console's police view): only the fields ``PoliceReport`` has."""
    outgoing, incoming = alert.event_type == "Transfer", alert.event_type == "IncomingTransfer"
    money = outgoing or incoming
    reason_vi, reason_en = police_reasons(alert)
    return PoliceReport(
        report_id=alert.alert_id,
        idempotency_key=f"{bank_code}:{alert.alert_id}",
        kind="rule_hit",
        reporting_bank=bank_code,
        account_id=alert.account_id,
        rule_id=alert.rule_id,
        severity=alert.severity,
        reason_vi=reason_vi,
        reason_en=reason_en,
        event_ts=alert.event_ts,
        reported_at=reported_at,
        amount_vnd=event.get("amount") if money else None,
        money_direction="out" if outgoing else "in" if incoming else None,
        counterparty_account=event.get("dest_account" if outgoing else "src_account") if money else None,
        counterparty_bank=event.get("dest_bank" if outgoing else "src_bank") if money else None,
        ip=event.get("ip"),
        ip_country=alert.evidence.get("ip_country"),
        device_id=event.get("device_id"),
        hold_id=alert.hold_id,
    )


def utc_now() -> datetime:
    return datetime.now(tz=UTC)
