"""Console sessions, CSRF and roles: every route except health and the login page needs a session.

A session is a random token in an HttpOnly, SameSite=Strict cookie; Redis keeps
only its SHA-256 (so a Redis dump cannot be replayed as cookies), with the
user, role and CSRF token, and expires after ``session_ttl_s``. Every request
that changes state must carry the session's CSRF token in ``X-CSRF-Token``.
Without a session, API calls get 401 and pages redirect to ``/login``.

Keys (under the state prefix):
  session:{sha256(token)}  the session (JSON), with a TTL
  sessions:user:{name}     the user's session keys, to end them when the user changes
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

import msgspec
from aiohttp import web
from redis.asyncio import Redis

COOKIE = "txmon_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Routes reachable without a session: the health probe and what the login page needs.
PUBLIC = frozenset({"/health", "/login", "/api/login", "/static/login.js", "/static/i18n.js", "/static/style.css"})

# permission -> roles holding it
PERMISSIONS: dict[str, frozenset[str]] = {
    "session": frozenset({"officer", "supervisor", "police"}),
    "cases": frozenset({"officer", "supervisor"}),
    "act": frozenset({"officer", "supervisor"}),
    "police": frozenset({"officer", "supervisor", "police"}),
    "audit": frozenset({"supervisor"}),
    "users": frozenset({"supervisor"}),
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])


class Session(msgspec.Struct, kw_only=True):
    user: str
    role: str
    csrf: str
    created_at: float
    expires_at: float

    def permissions(self) -> list[str]:
        return [p for p, roles in PERMISSIONS.items() if self.role in roles]


SESSION = web.RequestKey("session", Session)


def requires(permission: str) -> Callable[[H], H]:
    """Mark a handler with the permission it needs; the guard middleware enforces it."""
    if permission not in PERMISSIONS:
        msg = f"unknown permission {permission!r}"
        raise ValueError(msg)

    def mark(handler: H) -> H:
        handler.permission = permission  # type: ignore[attr-defined]
        return handler

    return mark


class SessionStore:
    def __init__(self, redis: Redis, prefix: str, ttl_s: int) -> None:
        self.redis = redis
        self.p = prefix
        self.ttl_s = ttl_s
        self._decode = msgspec.json.Decoder(Session).decode

    def _key(self, token: str) -> str:
        return f"{self.p}session:{hashlib.sha256(token.encode()).hexdigest()}"

    async def create(self, user: str, role: str, now: float) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        session = Session(
            user=user, role=role, csrf=secrets.token_urlsafe(32), created_at=now, expires_at=now + self.ttl_s
        )
        key, index = self._key(token), f"{self.p}sessions:user:{user}"
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(key, msgspec.json.encode(session), ex=self.ttl_s)
        pipe.sadd(index, key)
        pipe.expire(index, self.ttl_s)
        await pipe.execute()
        return token, session

    async def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        raw = await self.redis.get(self._key(token))
        return None if raw is None else self._decode(raw)

    async def end(self, token: str) -> None:
        await self.redis.delete(self._key(token))

    async def end_all(self, user: str) -> None:
        """Log a user out everywhere (role changed, deactivated, password reset)."""
        index = f"{self.p}sessions:user:{user}"
        keys = [k.decode() if isinstance(k, bytes) else k for k in await self.redis.smembers(index)]
        await self.redis.delete(index, *keys)


def json_error(status: int, error: str, message: str) -> web.Response:
    body = msgspec.json.encode({"error": error, "message": message})
    return web.Response(status=status, body=body, content_type="application/json")


def _forbidden_page(message: str) -> web.Response:
    page = f"<!doctype html><meta charset=utf-8><title>403</title><p>{html.escape(message)}</p><p><a href='/'>txmon</a>"
    return web.Response(status=403, text=page, content_type="text/html")


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def guard(sessions: SessionStore) -> Any:
    """The middleware: session, role and CSRF checks, then security headers on every answer."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await _checked(request, handler)
        response.headers.update(SECURITY_HEADERS)
        return response

    async def _checked(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in PUBLIC:
            return await handler(request)
        is_api = path.startswith("/api/")
        session = await sessions.get(request.cookies.get(COOKIE))
        if session is None:
            if is_api:
                return json_error(401, "login_required", "log in first")
            login = f"/login?next={quote(path)}"
            raise web.HTTPFound(login)
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                return json_error(403, "csrf", f"missing or wrong {CSRF_HEADER} header")
        permission = getattr(request.match_info.handler, "permission", "session")
        if session.role not in PERMISSIONS[permission]:
            message = f"the {session.role} role may not do this ({permission})"
            return json_error(403, "forbidden", message) if is_api else _forbidden_page(message)
        request[SESSION] = session
        return await handler(request)

    return middleware


def session_of(request: web.Request) -> Session:
    return request[SESSION]
