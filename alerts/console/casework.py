"""The console's case-store API: the paged queue, CSV export, live updates, the case timeline and
the officers' workflow (claim, next case, assign, notes, resolution, bulk actions).

Registered by ``create_app`` when the console has a case store, behind the same
session, role and CSRF guard as every other route. Reads come from PostgreSQL;
every change is a command of ``alerts.cases.workflow`` (Redis, audit, outbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from datetime import time as day_time
from typing import Any

import msgspec
import psycopg
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from alerts.audit import Actor
from alerts.cases.project import NOTIFY_CHANNEL
from alerts.cases.queue import (
    KINDS,
    MAX_LIMIT,
    SORTS,
    STATUSES,
    WORKFLOWS,
    QueueQuery,
    export_rows,
    queue,
    rules_in_store,
    timeline,
)
from alerts.cases.queue import case_row as read_case
from alerts.cases.workflow import BULK_ACTIONS, CaseWork
from alerts.console.api import BadRequest, _body, _field, reply
from alerts.console.auth import PERMISSIONS, json_error, requires, session_of
from rules.text import VN_TZ

log = logging.getLogger(__name__)
CSV_COLUMNS = (
    *("case_id", "kind", "account_id", "status", "workflow", "resolution", "assignee", "severity", "rules"),
    *("channels", "amount_vnd", "alert_count", "opened_at", "expires_at", "limit_at", "reason_vi", "reason_en"),
)
KEEPALIVE_S = 15.0


class Changes:
    """Counts the case store's change notifications (LISTEN); live queues wait on it."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.version = 0
        self._changed = asyncio.Condition()

    async def listen_forever(self) -> None:
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    async for _ in conn.notifies():
                        await self._bump()
            except psycopg.Error as exc:
                log.warning("case store notifications lost (%r); listening again in 2 s", exc)
                await self._bump()  # something may have changed meanwhile
                await asyncio.sleep(2)

    async def _bump(self) -> None:
        async with self._changed:
            self.version += 1
            self._changed.notify_all()

    async def wait(self, seen: int, within_s: float) -> int:
        """The version once it differs from ``seen``, or after ``within_s`` the same one."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version != seen), within_s)
            return self.version


def _int(q: Any, name: str, default: int | None, low: int = 0, high: int = 10**15) -> int | None:
    raw = q.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        msg = f"{name} must be a whole number"
        raise BadRequest(msg, f"bad_{name}") from exc
    return min(max(value, low), high)


def _moment(raw: str, name: str, *, end: bool) -> datetime | None:
    """A day (YYYY-MM-DD, Hanoi's calendar: the whole day) or an ISO time with its zone."""
    if not raw:
        return None
    try:
        if len(raw) == 10:
            start = datetime.combine(date.fromisoformat(raw), day_time(0), tzinfo=VN_TZ)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        msg = f"{name} must be a day (YYYY-MM-DD) or a time with its zone"
        raise BadRequest(msg, f"bad_{name}") from exc
    if moment.tzinfo is None:
        msg = f"{name} needs a zone"
        raise BadRequest(msg, f"bad_{name}")
    return moment


def query_of(request: web.Request) -> QueueQuery:
    q = request.query
    choices = (("status", STATUSES, "open"), ("sort", tuple(SORTS), "severity"), ("kind", ("", *KINDS), ""),
               ("workflow", ("", *WORKFLOWS), ""))  # fmt: skip
    picked = {}
    for name, allowed, default in choices:
        value = q.get(name, default) or default
        if value not in allowed:
            msg = f"{name} must be one of {', '.join(a for a in allowed if a)}"
            raise BadRequest(msg, f"bad_{name}")
        picked[name] = value
    assignee = q.get("assignee", "").strip()
    if assignee == "me":
        assignee = session_of(request).user
    return QueueQuery(
        status=picked["status"], sort=picked["sort"], kind=picked["kind"], workflow=picked["workflow"],
        rule=q.get("rule", "").strip()[:16], channel=q.get("channel", "").strip()[:16], assignee=assignee[:64],
        amount_min=_int(q, "amount_min", None), amount_max=_int(q, "amount_max", None),
        opened_from=_moment(q.get("from", ""), "from", end=False), opened_to=_moment(q.get("to", ""), "to", end=True),
        search=q.get("q", "").strip()[:128],
        offset=_int(q, "offset", 0, 0, 10_000_000) or 0, limit=_int(q, "limit", 50, 1, MAX_LIMIT) or 50,
    )  # fmt: skip


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = " ".join(map(str, value))
    if isinstance(value, datetime):
        value = value.astimezone(VN_TZ).isoformat(timespec="seconds")
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text  # no formulas in a spreadsheet


def _actor(request: web.Request) -> Actor:
    s = session_of(request)
    return Actor(s.user, s.role)


def _outcome(o: Any) -> Any:
    return msgspec.to_builtins(o)


class CaseworkApi:
    def __init__(self, pool: AsyncConnectionPool, work: CaseWork, changes: Changes | None) -> None:
        self.pool = pool
        self.work = work
        self.changes = changes

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/case-queue", self.queue),
            web.get("/api/case-queue.csv", self.export),
            web.get("/api/case-queue/events", self.events),
            web.get("/api/case-work/reasons", self.reasons),
            web.post("/api/case-work/next", self.next_case),
            web.post("/api/case-work/bulk", self.bulk),
            web.get("/api/case-work/{case_id}", self.case),
            web.post("/api/case-work/{case_id}/assign", self.assign),
            web.post("/api/case-work/{case_id}/{action}", self.act),
        ]

    def _reason(self, data: dict[str, Any]) -> tuple[str, str]:
        code = _field(data, "reason_code", "reason_code_required", 64)
        text = data.get("reason") or ""
        if not isinstance(text, str) or len(text) > 1_000:
            msg = "reason is free text of at most 1,000 characters"
            raise BadRequest(msg, "bad_reason")
        return self.work.reason(code, text), _field(data, "command_id", "command_id_required", 100)

    @requires("cases")
    async def queue(self, request: web.Request) -> web.Response:
        page = await queue(self.pool, query_of(request))
        return reply({**page, "rules": await rules_in_store(self.pool), "statuses": list(STATUSES),
                      "sorts": list(SORTS), "version": self.changes.version if self.changes else 0})  # fmt: skip

    @requires("cases")
    async def export(self, request: web.Request) -> web.StreamResponse:
        q = query_of(request)
        stamp = datetime.now(tz=VN_TZ).strftime("%Y%m%d-%H%M")
        response = web.StreamResponse(headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="txmon-cases-{stamp}.csv"'})  # fmt: skip
        await response.prepare(request)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        async for row in export_rows(self.pool, q):
            writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
            if buffer.tell() > 64_000:
                await response.write(buffer.getvalue().encode())
                buffer.seek(0)
                buffer.truncate()
        await response.write(buffer.getvalue().encode())
        await response.write_eof()
        return response

    @requires("cases")
    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: ``changed`` whenever the case store changed, a comment every 15 s."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if self.changes is None:
            await response.write_eof()
            return response
        seen = self.changes.version
        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
            await response.write(f"retry: 3000\nevent: hello\ndata: {seen}\n\n".encode())
            while True:
                now = await self.changes.wait(seen, KEEPALIVE_S)
                if now != seen:
                    seen = now
                    await response.write(f"event: changed\ndata: {seen}\n\n".encode())
                    await asyncio.sleep(0.5)  # at most two updates a second, however busy the sink
                else:
                    await response.write(b": keep-alive\n\n")
        return response

    @requires("cases")
    async def reasons(self, request: web.Request) -> web.Response:
        return reply({"codes": list(self.work.reason_codes), "bulk_actions": list(BULK_ACTIONS)})

    @requires("cases")
    async def case(self, request: web.Request) -> web.Response:
        case_id = request.match_info["case_id"]
        row = await read_case(self.pool, case_id)
        if row is None:
            return json_error(404, "not_found", "no such case in the case store")
        return reply({"case": row, "timeline": await timeline(self.pool, case_id)})

    @requires("act")
    async def next_case(self, request: web.Request) -> web.Response:
        reason, command_id = self._reason(await _body(request))
        case_id, outcome = await self.work.next_case(_actor(request), reason, command_id)
        return reply({"case_id": case_id, "outcome": _outcome(outcome) if outcome else None})

    @requires("assign")
    async def assign(self, request: web.Request) -> web.Response:
        data = await _body(request)
        reason, command_id = self._reason(data)
        assignee = data.get("assignee")
        if assignee is not None and (not isinstance(assignee, str) or not 1 <= len(assignee.strip()) <= 64):
            msg = "assignee is a user name, or null for the shared queue"
            raise BadRequest(msg, "bad_assignee")
        outcome = await self.work.assign(request.match_info["case_id"], _actor(request),
                                         assignee.strip() if assignee else None, reason, command_id)  # fmt: skip
        return reply({"outcome": _outcome(outcome)})

    @requires("act")
    async def act(self, request: web.Request) -> web.Response:
        case_id, action = request.match_info["case_id"], request.match_info["action"]
        if action not in ("claim", "unclaim", "note", "resolve"):
            return json_error(404, "not_found", f"no action {action}")
        data = await _body(request)
        actor, w = _actor(request), self.work
        if action == "note":
            command_id = _field(data, "command_id", "command_id_required", 100)
            note = _field(data, "note", "note_required", 4_000)
            return reply({"outcome": _outcome(await w.note(case_id, actor, note, command_id))})
        reason, command_id = self._reason(data)
        if action == "claim":
            return reply({"outcome": _outcome(await w.claim(case_id, actor, reason, command_id))})
        if action == "unclaim":
            return reply({"outcome": _outcome(await w.unclaim(case_id, actor, reason, command_id))})
        resolution = _field(data, "resolution", "resolution_required", 32)
        outcomes = await w.resolve(case_id, actor, resolution, reason, command_id)
        return reply({"outcomes": [_outcome(o) for o in outcomes]})

    @requires("act")
    async def bulk(self, request: web.Request) -> web.Response:
        data = await _body(request)
        action = _field(data, "action", "action_required", 16)
        if action == "assign" and session_of(request).role not in PERMISSIONS["assign"]:
            return json_error(403, "forbidden", f"the {session_of(request).role} role may not assign cases (assign)")
        ids = data.get("case_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            msg = "case_ids is a list of case ids"
            raise BadRequest(msg, "bad_case_ids")
        reason, command_id = self._reason(data)
        assignee = data.get("assignee") if isinstance(data.get("assignee"), str) else None
        results = await self.work.bulk(action, ids, _actor(request), reason, command_id, assignee)
        done = sum(1 for r in results if r["ok"])
        return reply({"results": results, "ok": done, "failed": len(results) - done})


def register(app: web.Application, pool: AsyncConnectionPool, work: CaseWork, conninfo: str | None) -> None:
    """Add the routes, and (with ``conninfo``) the background listener behind live updates."""
    changes = Changes(conninfo) if conninfo else None
    app.add_routes(CaseworkApi(pool, work, changes).routes())
    if changes is not None:

        async def listener(app: web.Application) -> AsyncIterator[None]:
            task = asyncio.create_task(changes.listen_forever())
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        app.cleanup_ctx.append(listener)
