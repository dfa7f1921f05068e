"""The console's JSON API: login, the case queue and details, officer actions, police reports,
the suspicious list, the audit trail and users. Pages and static files are in ``pages``."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web
from redis.exceptions import RedisError

from alerts.audit import Actor
from alerts.console.auth import SessionStore, json_error, requires, session_of
from alerts.console.cases import STATUSES, CaseReader, QueueFilter
from alerts.lifecycle import Conflict, HoldLifecycle, NotFound, Outcome
from alerts.users import UserError, UserStore
from store import RedisClient

MAX_REASON = 1_000
# Letters, digits, '.', '_', '-': what browsers' randomUUID() and scripts make; no ':' either,
# so an officer's id never even looks like a system job's (they live apart anyway).
COMMAND_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
HOLD_ACTIONS = frozenset({"release", "confirm", "extend"})
CASE_ACTIONS = HOLD_ACTIONS | {"dismiss", "escalate"}


def reply(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=msgspec.json.encode(data), content_type="application/json")


class BadRequest(ValueError):
    """Answered as 400 with ``error`` as the machine-readable code."""

    def __init__(self, message: str, error: str) -> None:
        super().__init__(message)
        self.error = error


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        msg = "send a JSON body (Content-Type: application/json)"
        raise BadRequest(msg, "json_required")
    try:
        data = await request.json()
    except RecursionError as exc:  # the decoder recurses per level: 1,000 nested arrays end it
        msg = "the body is nested too deeply"
        raise BadRequest(msg, "bad_json") from exc
    except ValueError as exc:
        msg = "the body is not valid JSON"
        raise BadRequest(msg, "bad_json") from exc
    if not isinstance(data, dict):
        msg = "the body must be a JSON object"
        raise BadRequest(msg, "bad_json")
    return data


def _field(data: dict[str, Any], name: str, error: str, max_len: int = 200) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        msg = f"{name} is required"
        raise BadRequest(msg, error)
    if len(value) > max_len:
        msg = f"{name} is longer than {max_len} characters"
        raise BadRequest(msg, error)
    return value.strip()


def _command_id(data: dict[str, Any]) -> str:
    command_id = _field(data, "command_id", "command_id_required", 100)
    if not COMMAND_ID.match(command_id):
        msg = "a command id has 1 to 100 letters, digits, '.', '_' or '-'"
        raise BadRequest(msg, "bad_command_id")
    return command_id


def _command(data: dict[str, Any]) -> tuple[str, str]:
    """Every action needs a reason, and a command id that makes a repeat harmless."""
    reason = _field(data, "reason", "reason_required", MAX_REASON)
    return reason, _command_id(data)


def _actor(request: web.Request) -> Actor:
    s = session_of(request)
    return Actor(s.user, s.role)


def _outcome(outcome: Outcome) -> web.Response:
    return reply({"outcome": msgspec.to_builtins(outcome)})


class ConsoleApi:
    def __init__(
        self,
        redis: RedisClient,
        lifecycle: HoldLifecycle,
        users: UserStore,
        sessions: SessionStore,
        cases: CaseReader,
        kafka_answers: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.redis = redis
        self.kafka_answers = kafka_answers
        self.lifecycle = lifecycle
        self.users = users
        self.sessions = sessions
        self.cases = cases

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/health", self.health),
            web.get("/ready", self.ready),
            web.get("/api/version", self.version),
            web.get("/api/queue", self.queue),
            web.get("/api/cases/{case_id}", self.case),
            web.post("/api/cases/{case_id}/{action}", self.act),
            web.get("/api/suspicious", self.suspicious),
            web.post("/api/accounts/{account_id}/suspicious", self.suspicious_add),
            web.delete("/api/accounts/{account_id}/suspicious", self.suspicious_remove),
            web.get("/api/police/reports", self.police_reports),
            web.get("/api/police/version", self.police_version),
            web.get("/api/audit", self.audit),
            web.get("/api/users", self.list_users),
            web.post("/api/users", self.create_user),
            web.post("/api/users/{name}", self.update_user),
        ]

    @web.middleware
    async def errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Command errors as JSON: bad input 400, unknown 404, not possible in this state 409."""
        try:
            response: web.StreamResponse = await handler(request)
        except BadRequest as exc:
            return json_error(400, exc.error, str(exc))
        except (UserError, ValueError) as exc:
            return json_error(400, "invalid", str(exc))
        except NotFound as exc:
            return json_error(404, "not_found", str(exc))
        except Conflict as exc:
            return json_error(409, "conflict", str(exc))
        return response

    # --- health (sessions are in ``alerts.console.login``)

    async def health(self, request: web.Request) -> web.Response:
        """Liveness: the console serves requests (whether Redis and Kafka answer is ``/ready``)."""
        return reply({"status": "ok"})

    async def ready(self, request: web.Request) -> web.Response:
        """Readiness: Redis and Kafka answer, so officers' actions can be carried out."""
        reasons, pending = [], None
        try:
            await asyncio.wait_for(self.redis.ping(), 2.0)
            pending = await asyncio.wait_for(self.lifecycle.outbox.pending(), 2.0)
        except (RedisError, OSError, TimeoutError) as exc:
            reasons.append(f"Redis does not answer: {exc!r}")
        if self.kafka_answers is not None and not await self.kafka_answers():
            reasons.append("Kafka does not answer")
        if reasons:
            return reply({"status": "not_ready", "reason": "; ".join(reasons), "outbox_pending": pending}, 503)
        return reply({"status": "ready", "outbox_pending": pending})

    @requires("cases")  # a count of every bank alert: not for the police role
    async def version(self, request: web.Request) -> web.Response:
        return reply({"version": await self.lifecycle.version()})

    # --- cases

    @requires("cases")
    async def queue(self, request: web.Request) -> web.Response:
        q = request.query
        status = q.get("status", "open")
        if status not in STATUSES:
            msg = f"status must be one of {', '.join(STATUSES)}"
            raise BadRequest(msg, "bad_status")
        try:
            limit = min(max(int(q.get("limit", "200")), 1), 1_000)
        except ValueError as exc:
            msg = "limit must be a number"
            raise BadRequest(msg, "bad_limit") from exc
        f = QueueFilter(q.get("rule", ""), q.get("channel", ""), status, q.get("account", "").strip(), limit)
        return reply({**await self.cases.queue(f), "version": await self.lifecycle.version()})

    @requires("cases")
    async def case(self, request: web.Request) -> web.Response:
        detail = await self.cases.detail(request.match_info["case_id"])
        if detail is None:
            return json_error(404, "not_found", "no such case")
        return reply(detail)

    @requires("act")
    async def act(self, request: web.Request) -> web.Response:
        case_id, action = request.match_info["case_id"], request.match_info["action"]
        if action not in CASE_ACTIONS:
            return json_error(404, "not_found", f"no action {action}")
        data = await _body(request)
        reason, command_id = _command(data)
        actor, lc = _actor(request), self.lifecycle
        if action in HOLD_ACTIONS and not case_id.startswith("H-"):
            msg = f"{action} applies to holds; {case_id} is an alert without a hold"
            raise BadRequest(msg, "not_a_hold")
        if action == "release":
            return _outcome(await lc.release(case_id, actor, reason, command_id))
        if action == "confirm":
            return _outcome(await lc.confirm(case_id, actor, reason, command_id))
        if action == "extend":
            hours = data.get("hours", 24)
            if not isinstance(hours, int) or isinstance(hours, bool):
                msg = "hours must be a whole number"
                raise BadRequest(msg, "bad_hours")
            return _outcome(await lc.extend(case_id, actor, reason, command_id, hours))
        if action == "dismiss":
            return _outcome(await lc.dismiss(case_id, actor, reason, command_id))
        return _outcome(await lc.escalate(case_id, actor, reason, command_id))

    # --- the suspicious list

    @requires("cases")
    async def suspicious(self, request: web.Request) -> web.Response:
        return reply({"accounts": [msgspec.to_builtins(e) for e in await self.lifecycle.suspicious()]})

    @requires("act")
    async def suspicious_add(self, request: web.Request) -> web.Response:
        return await self._list(request, listed=True)

    @requires("act")
    async def suspicious_remove(self, request: web.Request) -> web.Response:
        return await self._list(request, listed=False)

    async def _list(self, request: web.Request, *, listed: bool) -> web.Response:
        account = request.match_info["account_id"].strip()
        if not account or len(account) > 64:
            msg = "an account id has 1 to 64 characters"
            raise BadRequest(msg, "bad_account")
        reason, command_id = _command(await _body(request))
        outcome = await self.lifecycle.set_suspicious(account, _actor(request), reason, command_id, listed=listed)
        return _outcome(outcome)

    # --- police, audit, users

    @requires("police")
    async def police_reports(self, request: web.Request) -> web.Response:
        return reply({"reports": await self.cases.police_reports(request.query.get("account", "").strip())})

    @requires("police")
    async def police_version(self, request: web.Request) -> web.Response:
        """What the police page polls: changes with the police channel only, counts nothing else."""
        reports = await self.cases.police_reports()
        newest = reports[0]["report_id"] if reports else ""
        return reply({"version": f"{len(reports)}:{newest}"})

    @requires("audit")
    async def audit(self, request: web.Request) -> web.Response:
        q = request.query
        records = await self.lifecycle.audit.recent(
            account_id=q.get("account") or None, who=q.get("who") or None, action=q.get("action") or None
        )
        return reply({"records": [msgspec.to_builtins(r) for r in records]})

    @requires("users")
    async def list_users(self, request: web.Request) -> web.Response:
        return reply({"users": [u.public() for u in await self.users.all()]})

    @requires("users")
    async def create_user(self, request: web.Request) -> web.Response:
        data = await _body(request)
        command_id = _command_id(data)
        name, role = _field(data, "name", "name_required", 32), _field(data, "role", "role_required", 16)
        password = _field(data, "password", "password_required", 200)
        given = data.get("reason")
        reason = _field(data, "reason", "reason_required", MAX_REASON) if given is not None else "new console user"
        actor = _actor(request)
        user = await self.users.create(name, role, password, actor.user)
        after = {"role": user.role, "active": True}
        await self.lifecycle.commands.note(actor, "user_create", name, reason, command_id, None, after)
        return reply({"user": user.public()}, 201)

    @requires("users")
    async def update_user(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        data = await _body(request)
        reason, command_id = _command(data)
        role, active, password = data.get("role"), data.get("active"), data.get("password")
        if role is not None and not isinstance(role, str):
            msg = "role must be a string"
            raise BadRequest(msg, "bad_role")
        if active is not None and not isinstance(active, bool):
            msg = "active must be true or false"
            raise BadRequest(msg, "bad_active")
        if password is not None and not isinstance(password, str):
            msg = "password must be a string"
            raise BadRequest(msg, "bad_password")
        actor = _actor(request)
        if name == actor.user and (active is False or (role is not None and role != "supervisor")):
            msg = "supervisors cannot demote or deactivate themselves"
            raise BadRequest(msg, "self_lockout")
        before, after = await self.users.update(name, role=role, active=active, password=password)
        await self.sessions.end_all(name)  # the change applies now, not when old sessions expire
        facts = [("role", before.role, after.role), ("active", before.active, after.active)]
        was = {k: b for k, b, _ in facts} | {"password_changed": False}
        now = {k: a for k, _, a in facts} | {"password_changed": password is not None}
        await self.lifecycle.commands.note(actor, "user_update", name, reason, command_id, was, now)
        return reply({"user": after.public()})
