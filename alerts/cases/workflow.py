"""The officers' workflow on a case: claim, assign, notes, resolution, bulk actions.

Every change is a command of ``alerts.audit.Commands``: decided on a consistent
view in Redis (the case's work state, one small key per case an officer
touched), applied atomically with its audit record in the outbox, idempotent
by command id. The audit record carries the whole new work state, so the
case store's projection (``alerts.cases.project``) keeps the newest whatever
order records arrive in; the record is also applied to the store at once, so
the officer sees the change without waiting for the sink.

Statuses: ``new`` → ``investigating`` (claimed) → ``resolved`` (fraud /
not_fraud / inconclusive). Resolving also decides the hold or alert behind the
case through the hold lifecycle: fraud confirms a hold (freeze and police
report) or escalates an alert; not fraud releases a hold or dismisses an alert.

Keys (under the state prefix):
  {g}:casework:{case_id}   the case's work state (JSON), kept 90 days after the last change
                           (``store.keys.Keys.case_work``: the officer keys' slot)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool

from alerts.audit import Actor, Commands, Conflict, LifecycleError, NotFound, Outcome, Plan, stamp
from alerts.cases.project import Batch, apply
from alerts.cases.queue import case_row, next_candidates
from alerts.lifecycle import OPEN, HoldLifecycle
from alerts.outbox import Message
from alerts.routing import utc_now
from store.client import Pipe

RESOLUTIONS = ("fraud", "not_fraud", "inconclusive")
BULK_ACTIONS = ("dismiss", "release", "assign")
BULK_MAX = 500
STATE_TTL_S = 90 * 86_400


class WorkState(msgspec.Struct, kw_only=True):
    workflow: str = "new"
    resolution: str | None = None
    assignee: str | None = None
    claimed_by: str | None = None
    claim_until: str | None = None

    def claimed_by_other(self, user: str, now: datetime) -> str | None:
        lapsed = self.claim_until is None or datetime.fromisoformat(self.claim_until) <= now
        return None if lapsed or self.claimed_by in (None, user) else self.claimed_by


Change = Callable[[WorkState, datetime], WorkState | None]


class CaseWork:
    def __init__(
        self,
        lifecycle: HoldLifecycle,
        pool: AsyncConnectionPool,
        *,
        claim_ttl_s: int = 900,
        reason_codes: Sequence[str] = ("other",),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.lc = lifecycle
        self.pool = pool
        self.claim_ttl_s = claim_ttl_s
        self.reason_codes = tuple(reason_codes)
        self.clock = clock

    def reason(self, code: str, text: str = "") -> str:
        """Every action's reason: a configured code, with optional free text."""
        if code not in self.reason_codes:
            msg = f"reason code must be one of {', '.join(self.reason_codes)}"
            raise ValueError(msg)
        text = text.strip()
        return f"{code}: {text}" if text else code

    async def _case(self, case_id: str) -> dict[str, Any]:
        row = await case_row(self.pool, case_id)
        if row is None:
            msg = f"no case {case_id}"
            raise NotFound(msg)
        return row

    async def store(self, outcomes: Sequence[Outcome]) -> None:
        """Apply what the commands did to the case store now (the sink applies it again, harmlessly)."""
        batch = Batch()
        for o in outcomes:
            if o.audit is not None:
                batch.audits.append(o.audit)
            if o.hold is not None and o.changed:
                batch.holds.append(o.hold)
            batch.reports += o.reports
        if len(batch):
            async with self.pool.connection() as conn:
                await apply(conn, batch)

    async def _change(
        self, case_id: str, action: str, actor: Actor, reason: str, command_id: str, change: Change,
        note: str | None = None,
    ) -> Outcome:  # fmt: skip
        row = await self._case(case_id)
        key = self.lc.k.case_work(case_id)

        async def decide(pipe: Pipe) -> Plan:
            raw = await pipe.get(key)
            state = msgspec.json.decode(raw, type=WorkState) if raw else _initial(row)
            now = self.clock()
            new = change(state, now)
            if new is None:
                return Plan(Outcome(changed=False, action=action, subject=case_id, note="nothing to change"))
            record = Commands.record(actor, action, case_id, reason, command_id, now, row["account_id"])
            record.before = msgspec.to_builtins(state)
            record.after = {"note": note} if note is not None else msgspec.to_builtins(new)
            outcome = Outcome(changed=True, action=action, subject=case_id, audit=record)

            def writes(w: Pipe) -> list[Message]:
                w.set(key, msgspec.json.encode(new), ex=STATE_TTL_S)
                return [self.lc.audit.stage(w, record)]

            return Plan(outcome, writes)

        outcome = await self.lc.commands.run(actor, command_id, action, case_id, [key], decide)
        await self.store([outcome])
        return outcome

    # --- single-case actions

    async def claim(self, case_id: str, actor: Actor, reason: str, command_id: str) -> Outcome:
        row = await self._case(case_id)
        if not row["is_open"]:
            msg = f"case {case_id} is closed ({row['status']})"
            raise Conflict(msg)

        def change(s: WorkState, now: datetime) -> WorkState:
            other = s.claimed_by_other(actor.user, now)
            if other:
                msg = f"case {case_id} is claimed by {other} until {s.claim_until}"
                raise Conflict(msg)
            if s.workflow == "resolved":
                msg = f"case {case_id} is resolved"
                raise Conflict(msg)
            until = stamp(now + timedelta(seconds=self.claim_ttl_s))
            return msgspec.structs.replace(s, workflow="investigating", claimed_by=actor.user, claim_until=until)

        return await self._change(case_id, "case_claim", actor, reason, command_id, change)

    async def unclaim(self, case_id: str, actor: Actor, reason: str, command_id: str) -> Outcome:
        def change(s: WorkState, now: datetime) -> WorkState | None:
            if s.claimed_by is None:
                return None
            if s.claimed_by_other(actor.user, now) and actor.role != "supervisor":
                msg = f"case {case_id} is claimed by {s.claimed_by}; only they or a supervisor may release it"
                raise Conflict(msg)
            return msgspec.structs.replace(s, claimed_by=None, claim_until=None)

        return await self._change(case_id, "case_unclaim", actor, reason, command_id, change)

    async def assign(self, case_id: str, actor: Actor, assignee: str | None, reason: str, command_id: str) -> Outcome:
        """A supervisor gives the case to an officer (``None``: back to the shared queue)."""

        def change(s: WorkState, now: datetime) -> WorkState | None:
            if s.assignee == assignee:
                return None
            if s.workflow == "resolved":
                msg = f"case {case_id} is resolved"
                raise Conflict(msg)
            keep = s.claimed_by if s.claimed_by == assignee else None  # another's claim ends with the assignment
            return msgspec.structs.replace(
                s, assignee=assignee, claimed_by=keep, claim_until=s.claim_until if keep else None
            )

        return await self._change(case_id, "case_assign", actor, reason, command_id, change)

    async def note(self, case_id: str, actor: Actor, text: str, command_id: str) -> Outcome:
        text = text.strip()
        if not text or len(text) > 4_000:
            msg = "a note has 1 to 4,000 characters"
            raise ValueError(msg)
        return await self._change(case_id, "case_note", actor, "note", command_id, lambda s, now: s, note=text)

    async def resolve(self, case_id: str, actor: Actor, resolution: str, reason: str, command_id: str) -> list[Outcome]:
        """Decide the hold or alert behind the case, then mark the case resolved."""
        if resolution not in RESOLUTIONS:
            msg = f"resolution must be one of {', '.join(RESOLUTIONS)}"
            raise ValueError(msg)
        row = await self._case(case_id)
        outcomes = []
        decided = await self._decide(case_id, row, actor, resolution, reason, f"{command_id}:decide")
        if decided is not None:
            await self.store([decided])
            outcomes.append(decided)

        def change(s: WorkState, now: datetime) -> WorkState | None:
            if s.workflow == "resolved" and s.resolution == resolution:
                return None
            other = s.claimed_by_other(actor.user, now)
            if other and actor.role != "supervisor":
                msg = f"case {case_id} is claimed by {other}"
                raise Conflict(msg)
            return msgspec.structs.replace(s, workflow="resolved", resolution=resolution, claimed_by=None,
                                           claim_until=None)  # fmt: skip

        outcomes.append(await self._change(case_id, "case_resolve", actor, reason, command_id, change))
        return outcomes

    async def _decide(
        self, case_id: str, row: dict[str, Any], actor: Actor, resolution: str, reason: str, command_id: str
    ) -> Outcome | None:
        status = row["status"]
        if case_id.startswith("H-"):
            if resolution == "fraud" and status != "confirmed":
                return await self.lc.confirm(case_id, actor, reason, command_id)
            if resolution == "not_fraud" and status in OPEN:
                return await self.lc.release(case_id, actor, reason, command_id)
            return None
        if resolution == "not_fraud" and status != "dismissed":
            return await self.lc.dismiss(case_id, actor, reason, command_id)
        if resolution == "fraud":
            return await self.lc.escalate(case_id, actor, reason, command_id)
        return None

    async def next_case(self, actor: Actor, reason: str, command_id: str) -> tuple[str | None, Outcome | None]:
        """Claim the officer's next case: their assignments first, then the most severe, oldest."""
        for case_id in await next_candidates(self.pool, actor.user):
            try:
                return case_id, await self.claim(case_id, actor, reason, f"{command_id}:{case_id}")
            except Conflict:
                continue  # someone claimed it a moment ago: the next one
        return None, None

    # --- bulk

    async def bulk(
        self,
        action: str,
        case_ids: Sequence[str],
        actor: Actor,
        reason: str,
        command_id: str,
        assignee: str | None = None,
    ) -> list[dict[str, Any]]:
        """One result per case; a case that cannot take the action fails alone."""
        if action not in BULK_ACTIONS:
            msg = f"bulk action must be one of {', '.join(BULK_ACTIONS)}"
            raise ValueError(msg)
        ids = list(dict.fromkeys(case_ids))
        if not ids or len(ids) > BULK_MAX:
            msg = f"a bulk action takes 1 to {BULK_MAX} cases"
            raise ValueError(msg)
        results = []
        for case_id in ids:
            cid = f"{command_id}:{case_id}"
            try:
                if action == "dismiss":
                    if not case_id.startswith("A-"):
                        msg = f"{case_id} is a hold: release it instead"
                        raise Conflict(msg)
                    outcome = await self.lc.dismiss(case_id, actor, reason, cid)
                    await self.store([outcome])
                elif action == "release":
                    if not case_id.startswith("H-"):
                        msg = f"{case_id} is an alert without a hold: dismiss it instead"
                        raise Conflict(msg)
                    outcome = await self.lc.release(case_id, actor, reason, cid)
                    await self.store([outcome])
                else:
                    outcome = await self.assign(case_id, actor, assignee, reason, cid)
                results.append({"case_id": case_id, "ok": True, "changed": outcome.changed, "note": outcome.note})
            except (LifecycleError, ValueError) as exc:
                error = (
                    "not_found" if isinstance(exc, NotFound) else "conflict" if isinstance(exc, Conflict) else "invalid"
                )
                results.append({"case_id": case_id, "ok": False, "error": error, "message": str(exc)})
        return results


def _initial(row: dict[str, Any]) -> WorkState:
    """A case no officer has touched yet (a closed one counts as resolved by its hold or alert)."""
    return WorkState(workflow=row["workflow"], resolution=row["resolution"], assignee=row["assignee"])
