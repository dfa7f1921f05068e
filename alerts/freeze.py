"""Police freeze requests (R13): the contract, and what applying one changes.

The police (Hanoi plan III.1) ask the bank to freeze an account (phong tỏa tài
khoản) for a case. Applying a request, as one idempotent command
(``alerts.audit.Commands``), writes in one Redis transaction:

- a bank alert ``alert_id("R13", request_id)`` naming the authority and the case;
- a freeze on the account: a new ``HoldInstruction`` of kind ``freeze``, or, when
  the account already has a hold in force, that hold turned into a freeze (the
  one-active-hold-per-account rule stays; its expiry never moves earlier). A
  hold already confirmed as fraud is frozen with no end: the alert only joins it;
- an audit record of the request (who: the authority, role ``police``);
- the outbox messages for the alerts, holds (and, if configured, police) topics.

The same request again (redelivered, resent) finds its command or its alert
recorded and changes nothing. With R13 disabled or absent from the rules version
in force, the request is audited as not applied and nothing else happens; with
``action: alert`` it gives the alert without a freeze.

    freezes = PoliceFreezes(lifecycle, alerts_topic="txmon.alerts.bank")
    result = await freezes.apply(request, ruleset.rule("R13"), ruleset.version)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from alerts.audit import Actor, Commands, Outcome, Plan, stamp
from alerts.lifecycle import HoldLifecycle
from alerts.model import Alert, HoldInstruction, PoliceReport, alert_id, encoder, hold_id_for
from alerts.outbox import Message
from alerts.routing import Outputs, police_report
from rules.config import ActiveRule
from rules.model import Action, Channel
from rules.police_freeze import MAX_DURATION_H, Params
from store import Pipe

RULE_ID = "R13"
ACTION = "police_freeze"
NonBlank = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"\S")]


class FreezeRequest(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """One request of the police to freeze one account; unknown fields are ignored.

    >>> msgspec.json.decode(b'{"request_id": "PC02-1", "account_id": "970412345678",'
    ...     b' "requested_at": "2026-11-28T09:15:00+07:00", "authority": "Cong an TP Ha Noi - PC02",'
    ...     b' "case_ref": "VV-2026-117", "reason": "nhan tien lua dao"}', type=FreezeRequest).duration_h is None
    True
    """

    request_id: NonBlank
    account_id: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"\S")]
    # Zone-aware only: a naive time is ambiguous between UTC and Asia/Ho_Chi_Minh.
    requested_at: Annotated[datetime, Meta(tz=True)]
    authority: Annotated[str, Meta(min_length=1, max_length=200, pattern=r"\S")]
    case_ref: NonBlank
    reason: Annotated[str, Meta(min_length=1, max_length=2000, pattern=r"\S")]
    # None: the rule's default_duration_h
    duration_h: Annotated[int, Meta(ge=1, le=MAX_DURATION_H)] | None = None


FreezeStatus = Literal["applied", "duplicate", "not_applied"]


@dataclass(frozen=True, slots=True)
class FreezeResult:
    """``applied``: alert (and freeze) placed; ``duplicate``: seen before, nothing changed;
    ``not_applied``: R13 disabled, only the audit record written."""

    status: FreezeStatus
    outcome: Outcome
    alert: Alert | None = None


def reasons(req: FreezeRequest, until: str | None) -> tuple[str, str]:
    vi = (
        f"Công an yêu cầu phong tỏa tài khoản {req.account_id}: {req.authority}, hồ sơ {req.case_ref}"
        f"{f', đến {until}' if until else ''}. Lý do: {req.reason}"
    )
    en = (
        f"Police request to freeze account {req.account_id}: {req.authority}, case {req.case_ref}"
        f"{f', until {until}' if until else ''}. Reason: {req.reason}"
    )
    return vi, en


class PoliceFreezes:
    def __init__(self, lifecycle: HoldLifecycle, alerts_topic: str) -> None:
        self.lc = lifecycle
        self.alerts_topic = alerts_topic
        self.k = lifecycle.k

    async def apply(self, req: FreezeRequest, rule: ActiveRule | None, ruleset_version: str) -> FreezeResult:
        """Apply ``req`` under ``rule`` (R13 of the rules in force; None when disabled), once."""
        aid = alert_id(RULE_ID, req.request_id)
        alert_key, account_key = self.k.alert(aid), self.k.account_hold(req.account_id)
        placed: list[Alert] = []
        actor = Actor(req.authority, "police")
        why = f"{req.case_ref}: {req.reason}"
        command_id = f"{ACTION}:{req.request_id}"

        async def decide(pipe: Pipe) -> Plan:
            if await pipe.exists(alert_key):
                return Plan(Outcome(changed=False, action=ACTION, subject=aid, note="request already applied"))
            now = self.lc.clock()
            record = Commands.record(actor, ACTION, aid, why, command_id, now, req.account_id, system=True)
            request = msgspec.to_builtins(req)
            if rule is None:
                record.after = {"applied": False, "request": request, "note": f"R13 is off in {ruleset_version}"}
                outcome = Outcome(changed=True, action=ACTION, subject=aid, note="R13 disabled", audit=record)
                return Plan(outcome, lambda w: [self.lc.audit.stage(w, record)])
            existing = await self.lc.store.active_hold(req.account_id, now)
            alert, hold, changed = self._decide(req, rule, ruleset_version, existing, now)
            reports = police_reports_for(alert)
            record.before = _facts(existing)
            record.after = {"applied": True, "alert_id": aid, "request": request, **(_facts(hold) or {})}
            outcome = Outcome(changed=True, action=ACTION, subject=aid, hold=hold, reports=reports, audit=record)
            placed.append(alert)

            def writes(w: Pipe) -> list[Message]:
                out = Outputs(alerts=[alert], police=reports, holds=[hold] if hold is not None and changed else [])
                self.lc.store.record(w, out, now)
                topics = self.lc.topics
                messages = [self.lc.outbox.message(self.alerts_topic, alert.account_id, encoder.encode(alert))]
                messages += [self.lc.outbox.message(topics.police, r.account_id, encoder.encode(r)) for r in reports]
                messages += [self.lc.outbox.message(topics.holds, h.account_id, encoder.encode(h)) for h in out.holds]
                self.lc.outbox.stage(w, messages)
                return [*messages, self.lc.audit.stage(w, record)]

            return Plan(outcome, writes)

        # A system id: requests come from Kafka, and no console user can take or replay one.
        outcome = await self.lc.commands.run(
            actor, command_id, ACTION, aid, [alert_key, account_key], decide, system=True
        )
        if not outcome.changed:
            return FreezeResult("duplicate", outcome)
        return FreezeResult("applied" if placed else "not_applied", outcome, placed[0] if placed else None)

    def _decide(
        self,
        req: FreezeRequest,
        rule: ActiveRule,
        ruleset_version: str,
        existing: HoldInstruction | None,
        now: datetime,
    ) -> tuple[Alert, HoldInstruction | None, bool]:
        """The alert, the hold it belongs to, and whether that hold changed (a new instruction)."""
        spec, params = rule.spec, rule.params
        assert isinstance(params, Params)
        hours = req.duration_h or params.default_duration_h
        places_hold = spec.action in (Action.FREEZE, Action.HOLD)
        kind: Literal["hold", "freeze"] = "freeze" if spec.action == Action.FREEZE else "hold"
        until = stamp(now + timedelta(hours=hours))
        aid, detected = alert_id(RULE_ID, req.request_id), stamp(now)
        hold: HoldInstruction | None = None
        changed = False
        if not places_hold:  # action alert: the officers decide; the alert stands on its own
            vi, en = reasons(req, None)
        elif existing is None:
            vi, en = reasons(req, until)
            hold = HoldInstruction(
                hold_id=hold_id_for(aid),
                account_id=req.account_id,
                status="active",
                kind=kind,
                transition="placed",
                reason_vi=vi,
                reason_en=en,
                alert_ids=[aid],
                created_at=detected,
                expires_at=until,
                updated_at=detected,
                bank_code=self.lc.bank_code,
            )
            changed = True
        elif existing.status == "confirmed":
            vi, en = reasons(req, None)  # confirmed fraud is frozen with no end already: the request joins it
            hold = existing
        else:
            # The freeze takes over the hold in force: same id (officers see one case), the
            # stronger kind, the later expiry; an unchanged hold only gains the alert.
            new_kind: Literal["hold", "freeze"] = "freeze" if "freeze" in (kind, existing.kind) else "hold"
            expires = max(existing.expires_at, until, key=datetime.fromisoformat)
            vi, en = reasons(req, expires)
            changed = new_kind != existing.kind or expires != existing.expires_at
            hold = msgspec.structs.replace(existing, alert_ids=sorted({*existing.alert_ids, aid}))
            if changed:
                hold = msgspec.structs.replace(
                    hold,
                    kind=new_kind,
                    transition="frozen" if new_kind == "freeze" else "extended",
                    expires_at=expires,
                    updated_at=detected,
                    updated_by="txmon",
                )
            if new_kind != existing.kind:  # core banking shows why the account is frozen now
                hold = msgspec.structs.replace(hold, reason_vi=vi, reason_en=en)
        evidence: dict[str, Any] = {
            "request_id": req.request_id,
            "authority": req.authority,
            "case_ref": req.case_ref,
            "reason": req.reason,
            "requested_at": stamp(req.requested_at),
            "duration_h": hours,
            "duration_from": "request" if req.duration_h else "rule default",
        }
        if existing is not None:
            evidence |= {
                "previous_hold_id": existing.hold_id,
                "previous_hold_kind": existing.kind,
                "previous_hold_status": existing.status,
                "previous_hold_expires_at": existing.expires_at,
            }
        if hold is not None:
            evidence |= {"freeze_until" if hold.kind == "freeze" else "hold_until": hold.expires_at}
        alert = Alert(
            alert_id=aid,
            rule_id=RULE_ID,
            rule_name=rule.definition.name,
            ruleset_version=ruleset_version,
            account_id=req.account_id,
            event_id=req.request_id,
            event_type="FreezeRequest",
            event_ts=stamp(req.requested_at),
            detected_at=detected,
            action=str(spec.action),
            severity=str(spec.severity),
            channels=[str(c) for c in spec.channels],
            reason_vi=vi,
            reason_en=en,
            evidence=evidence,
            event=msgspec.to_builtins(req),
            hold_id=hold.hold_id if hold is not None else None,
            bank_code=self.lc.bank_code,
        )
        return alert, hold, changed


def _facts(hold: HoldInstruction | None) -> dict[str, Any] | None:
    if hold is None:
        return None
    return {"hold_id": hold.hold_id, "kind": hold.kind, "status": hold.status, "expires_at": hold.expires_at}


def police_reports_for(alert: Alert) -> list[PoliceReport]:
    """Only when the rules route R13 to the police channel too (an acknowledgement)."""
    if str(Channel.POLICE) not in alert.channels:
        return []
    return [police_report(alert, alert.event, alert.bank_code, alert.detected_at)]
