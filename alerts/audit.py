"""The audit trail and idempotent commands, delivered at least once by ``alerts.outbox``.

Every officer action and hold transition becomes one ``AuditRecord`` on the
append-only audit topic. A change is written to Redis in one transaction
together with the messages that announce it (the *outbox*); the messages are
published afterwards and removed from the outbox once Kafka acknowledged them.
A crash in between leaves them in the outbox, and the next ``Outbox.flush``
(every few seconds in the console and the worker) publishes them again: no
transition is ever lost, and a repeat carries the same ids for deduplication.

``Commands.run`` is the one way an officer action changes anything: it runs the
change as a Redis transaction (WATCH on what the decision read) together with a
command record, the outbox messages and the audit record, then publishes. A
command id seen before returns the recorded outcome with ``changed=False``.

Command ids are unique per issuer, not globally: an officer's ids live in that
officer's own namespace and the system's (hold expiry, police freeze requests)
in one no API call reaches, so an id chosen by one party can never block,
replay or reveal another party's command.

Keys (under the state prefix; the outbox's own in ``alerts.outbox``):
  audit:recent  list: the newest audit records, for the supervisor's console view
  cmd:{scope}   the outcome of a command already applied (30 days); ``scope`` hashes who
                issued the id (one officer, or the system) with the id, see ``command_scope``
  changes       a counter bumped by every applied command (the console polls it)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import blake2b
from typing import Any, Literal

import msgspec
from redis.exceptions import WatchError

from alerts.model import HoldInstruction, PoliceReport
from alerts.outbox import Message, Outbox, as_bytes
from rules.text import VN_TZ
from store import Pipe, RedisClient
from store.keys import Keys

log = logging.getLogger(__name__)
AUDIT_RECENT_MAX = 50_000
COMMAND_TTL_S = 30 * 86_400


class AuditRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One action: who did what to which hold, alert, account or user, when, why, and its effect."""

    audit_id: str
    command_id: str
    who: str
    role: str
    when: str
    action: str
    subject: str
    reason: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    account_id: str | None = None


class AuditTrail:
    """Builds audit records, stages them with the change they describe, and reads the recent ones."""

    def __init__(self, redis: RedisClient, outbox: Outbox, topic: str, prefix: str = "txmon:") -> None:
        self.redis = redis
        self.outbox = outbox
        self.topic = topic
        self.recent_key = Keys(prefix).audit_recent
        self._decode = msgspec.json.Decoder(AuditRecord).decode

    def stage(self, pipe: Pipe, record: AuditRecord) -> Message:
        """Queue the record in the transaction; returns its outbox message for delivery."""
        value = msgspec.json.encode(record)
        pipe.lpush(self.recent_key, value)
        pipe.ltrim(self.recent_key, 0, AUDIT_RECENT_MAX - 1)
        message = self.outbox.message(self.topic, record.account_id or record.subject, value)
        self.outbox.stage(pipe, [message])
        return message

    async def recent(
        self,
        limit: int = 200,
        *,
        account_id: str | None = None,
        who: str | None = None,
        action: str | None = None,
        scan: int = 5_000,
    ) -> list[AuditRecord]:
        """Newest first, optionally only one account's, one user's or one action's records."""
        raws = await self.redis.lrange(self.recent_key, 0, scan - 1)
        out: list[AuditRecord] = []
        for raw in raws:
            record = self._decode(as_bytes(raw))
            if account_id and account_id not in (record.account_id, record.subject):
                continue
            if who and record.who != who:
                continue
            if action and record.action != action:
                continue
            out.append(record)
            if len(out) >= limit:
                break
        return out


def stamp(moment: datetime) -> str:
    """Times on records: Vietnam's zone, milliseconds, with offset."""
    return moment.astimezone(VN_TZ).isoformat(timespec="milliseconds")


class LifecycleError(Exception):
    """Base of the errors of officer commands; none is worth retrying unchanged."""

    retriable = False


class NotFound(LifecycleError):
    pass


class Conflict(LifecycleError):
    """The command does not fit the current state (or its id was used for another command)."""


@dataclass(frozen=True, slots=True)
class Actor:
    user: str
    role: str


SYSTEM = Actor("txmon", "system")


def command_scope(actor: Actor, command_id: str, *, system: bool = False) -> str:
    """The id under which a command is recorded: the issuer's namespace plus its own id.

    ``system`` marks ids minted by txmon itself (hold expiry, police freeze
    requests from Kafka); the console never passes it, so officers cannot reach them.

    >>> command_scope(Actor("lan", "officer"), "x") != command_scope(Actor("minh", "officer"), "x")
    True
    """
    issuer = "system" if system or actor.role == SYSTEM.role else f"user\x1f{actor.role}\x1f{actor.user}"
    return blake2b(f"{issuer}\x1f{command_id}".encode(), digest_size=16).hexdigest()


class SuspiciousEntry(msgspec.Struct, kw_only=True):
    """One update of the shared suspicious-account list, keyed by account on its topic.

    The same record as ``streams.lists.ListUpdate`` (which every worker applies),
    plus the command id of the officer action that made it.
    """

    account_id: str
    action: Literal["add", "remove"]
    source: str = "bank"
    reason: str = ""
    by: str = ""
    at: str = ""
    command_id: str = ""


class Outcome(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What a command did (``changed``), or why it did nothing (``note``)."""

    changed: bool
    action: str
    subject: str
    note: str = ""
    hold: HoldInstruction | None = None
    reports: list[PoliceReport] = msgspec.field(default_factory=list)
    suspicious: SuspiciousEntry | None = None
    audit: AuditRecord | None = None
    delivered: bool = True


class _Command(msgspec.Struct):
    action: str
    subject: str
    outcome: Outcome


@dataclass(slots=True)
class Plan:
    """A decision: the outcome, and the writes that apply it (None: nothing to change)."""

    outcome: Outcome
    writes: Callable[[Pipe], list[Message]] | None = None


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class Commands:
    def __init__(
        self,
        redis: RedisClient,
        outbox: Outbox,
        trail: AuditTrail,
        prefix: str = "txmon:",
        clock: Callable[[], datetime] = lambda: datetime.now(tz=UTC),
    ) -> None:
        self.redis = redis
        self.outbox = outbox
        self.trail = trail
        self.k = Keys(prefix)
        self.clock = clock
        self.changes_key = self.k.changes

    async def note(
        self,
        actor: Actor,
        action: str,
        subject: str,
        reason: str,
        command_id: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> Outcome:
        """Audit an action whose change is made elsewhere (user management), once per command id."""

        async def decide(pipe: Pipe) -> Plan:
            record = self.record(actor, action, subject, reason, command_id, self.clock(), None)
            record.before, record.after = before, after
            outcome = Outcome(changed=True, action=action, subject=subject, audit=record)
            return Plan(outcome, lambda w: [self.trail.stage(w, record)])

        return await self.run(actor, command_id, action, subject, [], decide)

    @staticmethod
    def record(
        actor: Actor,
        action: str,
        subject: str,
        reason: str,
        command_id: str,
        now: datetime,
        account: str | None,
        *,
        system: bool = False,
    ) -> AuditRecord:
        if not reason.strip() or not command_id.strip():
            msg = f"{action} needs a reason and a command id"
            raise ValueError(msg)
        return AuditRecord(
            audit_id=f"AU-{command_scope(actor, command_id, system=system)[:20]}",
            command_id=command_id,
            who=actor.user,
            role=actor.role,
            when=stamp(now),
            action=action,
            subject=subject,
            reason=reason,
            account_id=account,
        )

    async def run(
        self,
        actor: Actor,
        command_id: str,
        action: str,
        subject: str,
        watch: Sequence[str],
        decide: Callable[[Pipe], Awaitable[Plan]],
        *,
        system: bool = False,
    ) -> Outcome:
        """Decide on a consistent view, apply atomically, then publish; retried if a watched key moved.

        ``command_id`` is looked up in ``actor``'s namespace only (``command_scope``).
        """
        command_key = self.command_key(actor, command_id, system=system)
        async with self.redis.pipeline(transaction=True) as pipe:
            for _ in range(20):
                try:
                    await pipe.watch(command_key, *watch)
                    seen = await pipe.get(command_key)
                    if seen is not None:
                        return self._replay(seen, action, subject)
                    plan = await decide(pipe)
                    if plan.writes is None:
                        return plan.outcome
                    pipe.multi()
                    messages = plan.writes(pipe)
                    pipe.set(
                        command_key, msgspec.json.encode(_Command(action, subject, plan.outcome)), ex=COMMAND_TTL_S
                    )
                    pipe.incr(self.changes_key)
                    await pipe.execute()
                    break
                except WatchError:
                    continue
            else:
                msg = f"{subject} kept changing under {action}; try again"
                raise Conflict(msg)
        plan.outcome.delivered = await self._deliver(messages)
        return plan.outcome

    def command_key(self, actor: Actor, command_id: str, *, system: bool = False) -> str:
        return self.k.command(command_scope(actor, command_id, system=system))

    def _replay(self, raw: bytes | str, action: str, subject: str) -> Outcome:
        command = msgspec.json.decode(raw, type=_Command)
        if (command.action, command.subject) != (action, subject):
            msg = f"command id already used for {command.action} on {command.subject}"
            raise Conflict(msg)
        return msgspec.structs.replace(command.outcome, changed=False, note="same command seen before")

    async def _deliver(self, messages: list[Message]) -> bool:
        """Publish now; on failure the messages stay in the outbox for ``Outbox.flush``."""
        try:
            await self.outbox.deliver(messages)
        except Exception as exc:  # any Kafka client error: the outbox keeps the messages
            log.warning("publishing %d messages failed, left in the outbox: %r", len(messages), exc)
            return False
        return True

    async def version(self) -> str:
        """Changes when an alert arrives or a case changes: the console polls it."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(self.k.alerts_queue)
        pipe.zrange(self.k.alerts_queue, -1, -1, withscores=True)
        pipe.get(self.changes_key)
        count_, last, changes = await pipe.execute()
        newest = last[0][1] if last else 0
        return f"{count_}:{newest}:{_text(changes or b'0')}"
