"""Hold lifecycle and officer actions: every change in Redis, on its topic and in the audit trail.

A hold is ``active`` until an officer releases it (false positive), confirms it
(fraud: the account is frozen and a police report goes out), extends it, or it
expires (released automatically). Officers also escalate alerts to the police
channel, dismiss alerts that carry no hold, and add accounts to or remove them
from the shared suspicious-account list.

Each command runs as one Redis transaction (WATCH on what it reads) that writes
the new state, a command record, and the messages announcing the change into
the outbox (``alerts.audit``); the messages are then published. Commands are
idempotent: a command id seen before returns the recorded outcome with
``changed=False``, and a transition to the state something is already in
changes nothing and records nothing.

    lifecycle = HoldLifecycle(redis, publisher, Topics("holds", "police", "audit", "suspicious"))
    await lifecycle.release("H-R2-…", Actor("lan", "officer"), "customer confirmed the transfer", "cmd-1")
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from alerts.audit import (
    SYSTEM,
    Actor,
    AuditTrail,
    Commands,
    Conflict,
    LifecycleError,
    NotFound,
    Outcome,
    Plan,
    SuspiciousEntry,
    stamp,
)
from alerts.holds import AlertStore
from alerts.model import Alert, HoldInstruction, PoliceReport, encoder
from alerts.outbox import Message, Outbox, Publisher
from alerts.routing import police_reasons, police_report, utc_now
from rules.model import SEVERITY_RANK, Severity
from store import Pipe, RedisClient
from store.keys import Keys

__all__ = ["SYSTEM", "Actor", "Conflict", "HoldLifecycle", "LifecycleError", "NotFound", "Outcome", "Publisher"]

log = logging.getLogger(__name__)
FROZEN_MS = 253_402_300_799_000  # 9999-12-31: a confirmed hold is a freeze with no end
OPEN = frozenset({"active", "extended"})
# action -> (the status it leads to, the statuses it may start from)
TRANSITIONS: dict[str, tuple[str, frozenset[str]]] = {
    "release": ("released", OPEN),
    "confirm": ("confirmed", OPEN | {"released", "expired"}),
    "extend": ("extended", OPEN),
    "expire": ("expired", OPEN),
}
RANK = {str(k): v for k, v in SEVERITY_RANK.items()}
EXPIRY_REASON = "hold expired without an officer decision; released automatically (hết hạn tạm dừng, tự động giải tỏa)"


@dataclass(frozen=True, slots=True)
class Topics:
    holds: str
    police: str
    audit: str
    suspicious: str


def _text(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _hold_facts(hold: HoldInstruction | None) -> dict[str, Any] | None:
    if hold is None:
        return None
    return {"status": hold.status, "expires_at": hold.expires_at, "updated_by": hold.updated_by}


class HoldLifecycle:
    def __init__(
        self,
        redis: RedisClient,
        publisher: Publisher,
        topics: Topics,
        *,
        prefix: str = "txmon:",
        bank_code: str = "",
        max_hold_s: int = 4 * 86_400,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.redis = redis
        self.topics = topics
        self.k = Keys(prefix)
        self.bank_code = bank_code
        self.max_hold_s = max_hold_s
        self.clock = clock
        self.store = AlertStore(redis, prefix)
        self.outbox = Outbox(redis, publisher, prefix)
        self.audit = AuditTrail(redis, self.outbox, topics.audit, prefix)
        self.commands = Commands(redis, self.outbox, self.audit, prefix, clock)
        self.suspicious_key = self.k.suspicious
        self.case_status_key = self.k.case_status
        self.expiry_failures = 0  # holds that failed to expire (each retried next round)

    # --- hold transitions

    async def release(self, hold_id: str, actor: Actor, reason: str, command_id: str) -> Outcome:
        return await self._transition(hold_id, "release", actor, reason, command_id)

    async def confirm(self, hold_id: str, actor: Actor, reason: str, command_id: str) -> Outcome:
        """Freeze the account and report it to the police as confirmed fraud."""
        return await self._transition(hold_id, "confirm", actor, reason, command_id)

    async def extend(self, hold_id: str, actor: Actor, reason: str, command_id: str, hours: int) -> Outcome:
        if not 1 <= hours <= 72:
            msg = f"a hold is extended by 1 to 72 hours, not {hours}"
            raise ValueError(msg)
        return await self._transition(hold_id, "extend", actor, reason, command_id, hours=hours)

    async def expire_due(self, limit: int = 500) -> list[Outcome]:
        """Release every hold whose time is up; safe to run on every worker at once."""
        now = self.clock()
        due = await self.redis.zrangebyscore(self.k.holds_expiry, "-inf", now.timestamp(), start=0, num=limit)
        outcomes = []
        for raw in due:
            hold_id = _text(raw)
            # Each hold on its own: one that cannot expire (a bad record, a conflict) is logged
            # and retried next round, and never keeps the other holds of the round active.
            # Only an outage (Redis unreachable) ends the round: every hold would fail alike.
            try:
                outcome = await self._expire_one(hold_id)
            except (RedisConnectionError, RedisTimeoutError, OSError):
                raise
            except Exception as exc:
                log.warning("hold %s could not expire this round: %r", hold_id, exc)
                self.expiry_failures += 1
                continue
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    async def _expire_one(self, hold_id: str) -> Outcome | None:
        hold = await self.store.hold(hold_id)
        if hold is None or hold.status not in OPEN:
            await self.redis.zrem(self.k.holds_expiry, hold_id)
            return None
        # A system command id (no console user can take it) naming the expiry time: two workers
        # expiring the same hold agree, and a hold extended meanwhile gets a new one.
        command_id = f"expire:{hold_id}:{hold.expires_at}"
        return await self._transition(hold_id, "expire", SYSTEM, EXPIRY_REASON, command_id)

    async def _transition(
        self, hold_id: str, action: str, actor: Actor, reason: str, command_id: str, hours: int = 0
    ) -> Outcome:
        target, allowed_from = TRANSITIONS[action]

        async def decide(pipe: Pipe) -> Plan:
            before = await self.store.hold(hold_id)
            if before is None:
                msg = f"no hold {hold_id}"
                raise NotFound(msg)
            account_key = self.k.account_hold(before.account_id)
            await pipe.watch(account_key)
            current = await pipe.get(account_key)
            now = self.clock()
            expires_at = before.expires_at
            if action == "extend" and before.status in OPEN:
                latest = datetime.fromisoformat(before.created_at) + timedelta(seconds=self.max_hold_s)
                new_expiry = min(max(datetime.fromisoformat(before.expires_at), now) + timedelta(hours=hours), latest)
                if new_expiry <= datetime.fromisoformat(before.expires_at):
                    note = f"the hold already lasts the longest allowed ({self.max_hold_s // 3600} h)"
                    return Plan(Outcome(changed=False, action=action, subject=hold_id, note=note, hold=before))
                expires_at = stamp(new_expiry)
            elif before.status == target:
                return Plan(
                    Outcome(changed=False, action=action, subject=hold_id, note="already " + target, hold=before)
                )
            elif before.status not in allowed_from:
                msg = f"hold {hold_id} is {before.status}: it cannot be {target}"
                raise Conflict(msg)
            if action == "expire" and datetime.fromisoformat(before.expires_at) > now:
                return Plan(Outcome(changed=False, action=action, subject=hold_id, note="not due", hold=before))
            after = msgspec.structs.replace(
                before,
                status=target,
                transition=target,
                expires_at=expires_at,
                updated_at=stamp(now),
                updated_by=actor.user,
            )
            reports = [await self._confirmed_report(after, now)] if action == "confirm" else []
            record = Commands.record(actor, action, hold_id, reason, command_id, now, after.account_id)
            record.before, record.after = _hold_facts(before), _hold_facts(after)
            if reports:
                record.after = {**(record.after or {}), "police_report": reports[0].report_id}
            outcome = Outcome(changed=True, action=action, subject=hold_id, hold=after, reports=reports, audit=record)

            def writes(w: Pipe) -> list[Message]:
                w.set(self.k.hold(hold_id), encoder.encode(after))
                expiry_ms = int(datetime.fromisoformat(after.expires_at).timestamp() * 1000)
                points_here = current is not None and _text(current).startswith(f"{hold_id}|")
                if target in OPEN:
                    w.set(account_key, f"{hold_id}|{expiry_ms}")
                    w.zadd(self.k.holds_expiry, {hold_id: expiry_ms / 1000})
                else:
                    w.zrem(self.k.holds_expiry, hold_id)
                if target == "confirmed":
                    w.set(account_key, f"{hold_id}|{FROZEN_MS}")  # new alerts join the frozen case
                elif target not in OPEN and points_here:
                    w.delete(account_key)
                out = [self.outbox.message(self.topics.holds, after.account_id, encoder.encode(after))]
                out += self._stage_reports(w, reports)
                self.outbox.stage(w, out)
                return [*out, self.audit.stage(w, record)]

            return Plan(outcome, writes)

        return await self.commands.run(actor, command_id, action, hold_id, [self.k.hold(hold_id)], decide)

    async def _confirmed_report(self, hold: HoldInstruction, now: datetime) -> PoliceReport:
        alerts = sorted(
            await self.store.alerts(hold.alert_ids),
            key=lambda a: (-RANK.get(a.severity, 0), a.event_type != "Transfer", a.event_ts),
        )
        bank = hold.bank_code or self.bank_code
        # The lead alert's rule reason, never the hold's text: a hold placed on a police freeze
        # request carries the request's free text, which stays with the bank.
        vi, en = police_reasons(alerts[0]) if alerts else ("", "")
        base = {
            "report_id": f"P-{hold.hold_id}-confirmed",
            "idempotency_key": f"{bank}:{hold.hold_id}:confirmed_fraud",
            "kind": "confirmed_fraud",
            "severity": str(Severity.CRITICAL),
            "reason_vi": f"Ngân hàng xác nhận gian lận, tài khoản đã bị phong tỏa. {vi}".strip(),
            "reason_en": f"Fraud confirmed by the bank; the account is frozen. {en}".strip(),
            "reported_at": stamp(now),
            "hold_id": hold.hold_id,
        }
        if alerts:
            return msgspec.structs.replace(police_report(alerts[0], alerts[0].event, bank, base["reported_at"]), **base)
        return PoliceReport(
            reporting_bank=bank,
            account_id=hold.account_id,
            rule_id="",
            event_ts=hold.created_at,
            **base,  # type: ignore[arg-type]
        )

    # --- the police channel and standalone alerts

    async def escalate(self, case_id: str, actor: Actor, reason: str, command_id: str) -> Outcome:
        """Report a hold's alerts, or one alert, to the police channel (each alert once)."""
        alerts = await self._case_alerts(case_id)
        report_keys = [self.k.police_report(a.alert_id) for a in alerts]

        async def decide(pipe: Pipe) -> Plan:
            await pipe.watch(*report_keys)
            sent = await pipe.mget(report_keys)
            now = self.clock()
            fresh = [a for a, r in zip(alerts, sent, strict=True) if r is None and "police" not in a.channels]
            if not fresh:
                note = "already on the police channel"
                return Plan(Outcome(changed=False, action="escalate", subject=case_id, note=note))
            at = stamp(now)
            reports = [police_report(a, a.event, a.bank_code or self.bank_code, at) for a in fresh]
            record = Commands.record(actor, "escalate", case_id, reason, command_id, now, alerts[0].account_id)
            record.after = {"police_reports": [r.report_id for r in reports]}
            outcome = Outcome(changed=True, action="escalate", subject=case_id, reports=reports, audit=record)

            def writes(w: Pipe) -> list[Message]:
                if case_id.startswith("A-"):
                    w.hset(self.case_status_key, case_id, "escalated")
                out = self._stage_reports(w, reports)
                self.outbox.stage(w, out)
                return [*out, self.audit.stage(w, record)]

            return Plan(outcome, writes)

        return await self.commands.run(actor, command_id, "escalate", case_id, [self.case_status_key], decide)

    async def dismiss(self, alert_id: str, actor: Actor, reason: str, command_id: str) -> Outcome:
        """Close an alert that carries no hold as a false positive (a hold is released instead)."""
        if alert_id.startswith("H-"):  # a hold, with however many alerts
            msg = f"{alert_id} is a hold: release the hold instead of dismissing it"
            raise Conflict(msg)
        alerts = await self._case_alerts(alert_id)
        alert = alerts[0]
        if alert.hold_id is not None:
            msg = f"alert {alert_id} belongs to hold {alert.hold_id}: release the hold instead"
            raise Conflict(msg)

        async def decide(pipe: Pipe) -> Plan:
            status = _text(await pipe.hget(self.case_status_key, alert_id) or b"open")
            if status == "dismissed":
                return Plan(Outcome(changed=False, action="dismiss", subject=alert_id, note="already dismissed"))
            now = self.clock()
            record = Commands.record(actor, "dismiss", alert_id, reason, command_id, now, alert.account_id)
            record.before, record.after = {"status": status}, {"status": "dismissed"}
            outcome = Outcome(changed=True, action="dismiss", subject=alert_id, audit=record)

            def writes(w: Pipe) -> list[Message]:
                w.hset(self.case_status_key, alert_id, "dismissed")
                return [self.audit.stage(w, record)]

            return Plan(outcome, writes)

        return await self.commands.run(actor, command_id, "dismiss", alert_id, [self.case_status_key], decide)

    async def _case_alerts(self, case_id: str) -> list[Alert]:
        if case_id.startswith("H-"):
            hold = await self.store.hold(case_id)
            ids = hold.alert_ids if hold is not None else []
        else:
            ids = [case_id]
        alerts = await self.store.alerts(ids)
        if not alerts:
            msg = f"no alerts for {case_id}"
            raise NotFound(msg)
        return alerts

    def _stage_reports(self, w: Pipe, reports: Sequence[PoliceReport]) -> list[Message]:
        out = []
        for r in reports:
            value = encoder.encode(r)
            w.set(self.k.police_report(r.report_id), value)
            w.zadd(self.k.police_queue, {r.report_id: self.clock().timestamp()})
            out.append(self.outbox.message(self.topics.police, r.account_id, value))
        return out

    # --- the shared suspicious-account list (the worker's R7 reads the same set)

    async def set_suspicious(
        self, account_id: str, actor: Actor, reason: str, command_id: str, *, listed: bool
    ) -> Outcome:
        """Add or remove an account: Redis now, the topic for every worker and bank system."""
        action = "suspicious_add" if listed else "suspicious_remove"

        async def decide(pipe: Pipe) -> Plan:
            present = await pipe.sismember(self.suspicious_key, account_id)
            if bool(present) == listed:
                note = "already listed" if listed else "not listed"
                return Plan(Outcome(changed=False, action=action, subject=account_id, note=note))
            now = self.clock()
            entry = SuspiciousEntry(
                account_id=account_id,
                action="add" if listed else "remove",
                source=f"bank:{self.bank_code}" if self.bank_code else "bank",
                reason=reason,
                by=actor.user,
                at=stamp(now),
                command_id=command_id,
            )
            record = Commands.record(actor, action, account_id, reason, command_id, now, account_id)
            record.before, record.after = {"listed": not listed}, {"listed": listed}
            outcome = Outcome(changed=True, action=action, subject=account_id, suspicious=entry, audit=record)

            def writes(w: Pipe) -> list[Message]:
                value = msgspec.json.encode(entry)
                if listed:  # the same set operations the workers apply from the topic
                    w.sadd(self.suspicious_key, account_id)
                    w.hset(self.k.suspicious_info, account_id, value)
                else:
                    w.srem(self.suspicious_key, account_id)
                    w.hdel(self.k.suspicious_info, account_id)
                out = [self.outbox.message(self.topics.suspicious, account_id, value)]
                self.outbox.stage(w, out)
                return [*out, self.audit.stage(w, record)]

            return Plan(outcome, writes)

        return await self.commands.run(actor, command_id, action, account_id, [self.suspicious_key], decide)

    async def suspicious(self) -> list[SuspiciousEntry]:
        """The list as it stands, newest additions first (imports without details last)."""
        members = sorted(
            m.decode() if isinstance(m, bytes) else m for m in await self.redis.smembers(self.suspicious_key)
        )
        if not members:
            return []
        infos = await self.redis.hmget(self.k.suspicious_info, members)
        entries = [
            msgspec.json.decode(i, type=SuspiciousEntry) if i else SuspiciousEntry(account_id=m, action="add")
            for m, i in zip(members, infos, strict=True)
        ]
        return sorted(entries, key=lambda e: e.at, reverse=True)

    async def flush_outbox(self) -> int:
        """Publish what a crash or a Kafka outage left in the outbox."""
        return await self.outbox.flush()

    async def version(self) -> str:
        return await self.commands.version()
