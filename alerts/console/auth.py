"""Console sessions, CSRF and roles: every route except health and the login page needs a session.

A session is a random token in an HttpOnly, SameSite=Strict cookie; Redis keeps
only its SHA-256 (so a Redis dump cannot be replayed as cookies), with the
user, role and CSRF token, and expires after ``session_ttl_s``. Every request
that changes state must carry the session's CSRF token in ``X-CSRF-Token``.
Without a session, API calls get 401 and pages redirect to ``/login``.

Every route needs a permission: a handler marked with ``requires(...)`` gets
it checked, an unmarked one is refused (so a route added later without thought
is closed, not open to every role). Security headers go on every answer the app
sends, errors (302, 404, 405, 413, 500) and static files included, and the
``Server`` header names no software.

Keys (``store.keys``, global slot):
  session:{sha256(token)}  the session (JSON), with a TTL
  sessions:user:{name}     the user's session keys, to end them when the user changes
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

import msgspec
from aiohttp import web

from store import RedisClient
from store.keys import Keys

log = logging.getLogger(__name__)
COOKIE = "txmon_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Routes reachable without a session: the health probe and what the login page needs.
PUBLIC = frozenset(
    {"/health", "/ready", "/login", "/api/login", "/static/login.js", "/static/i18n.js", "/static/style.css"}
)

# permission -> roles holding it
PERMISSIONS: dict[str, frozenset[str]] = {
    "session": frozenset({"officer", "supervisor", "police"}),
    "cases": frozenset({"officer", "supervisor"}),
    "act": frozenset({"officer", "supervisor"}),
    "assign": frozenset({"supervisor"}),  # give a case to an officer (alerts.console.casework)
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
    def __init__(self, redis: RedisClient, prefix: str, ttl_s: int) -> None:
        self.redis = redis
        self.k = Keys(prefix)
        self.ttl_s = ttl_s
        self._decode = msgspec.json.Decoder(Session).decode

    def _key(self, token: str) -> str:
        return self.k.session(hashlib.sha256(token.encode()).hexdigest())

    async def create(self, user: str, role: str, now: float) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        session = Session(
            user=user, role=role, csrf=secrets.token_urlsafe(32), created_at=now, expires_at=now + self.ttl_s
        )
        key, index = self._key(token), self.k.user_sessions(user)
        async with self.redis.pipeline(transaction=True) as pipe:
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
        index = self.k.user_sessions(user)
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
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Server": "txmon",  # aiohttp would name itself and Python's version
}


def security_headers(hsts_max_age_s: int = 0) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """An ``on_response_prepare`` hook: every response the app sends passes it, whatever made it
    (a handler, a redirect or error raised anywhere, the static files, aiohttp's own 404/405/413).
    ``hsts_max_age_s`` > 0 adds Strict-Transport-Security (only when served over TLS)."""
    headers: Mapping[str, str] = dict(SECURITY_HEADERS)
    if hsts_max_age_s > 0:
        headers = {**headers, "Strict-Transport-Security": f"max-age={hsts_max_age_s}; includeSubDomains"}

    async def add(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(headers)

    return add


def safe_next(target: str | None) -> str:
    """Where to go after login: a path on this site, or ``/``; never another origin.

    Browsers drop tabs and newlines from URLs and read a backslash as ``/``, so
    ``/%09/evil.example`` (a tab once decoded) becomes ``//evil.example``: another
    host. Anything with a control character, a space, a backslash or a non-ASCII
    character (raw or percent-decoded), a scheme, a host, or a path not starting
    with exactly one ``/`` is refused.

    >>> safe_next("/case/H-1?x=1"), safe_next("/%09/evil.example/"), safe_next("https://evil.example/")
    ('/case/H-1?x=1', '/', '/')
    """
    if not target or len(target) > 2_000 or any(not 0x21 <= ord(c) <= 0x7E or c == "\\" for c in target):
        return "/"
    # Decoded once more, the browser could see what the raw form hides (%2F%2F, %5C, %09 ...).
    decoded = unquote(target)
    if any(not 0x21 <= ord(c) <= 0x7E or c == "\\" for c in decoded) or decoded.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return "/"
    return target


def guard(sessions: SessionStore) -> Any:
    """The middleware: session, role and CSRF checks for every route; unmarked routes are refused."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
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
        request[SESSION] = session
        match = request.match_info
        if match.http_exception is not None:  # no such route or method: aiohttp's 404/405
            return await handler(request)
        permission = _permission(match)
        if permission is None:
            log.error("route %s %s has no permission mark: refused", request.method, match.route.resource)
            return json_error(403, "forbidden", "this route declares no permission")
        if session.role not in PERMISSIONS[permission]:
            message = f"the {session.role} role may not do this ({permission})"
            return json_error(403, "forbidden", message) if is_api else _forbidden_page(message)
        return await handler(request)

    return middleware


def _permission(match: web.UrlMappingMatchInfo) -> str | None:
    marked = getattr(match.handler, "permission", None)
    if marked is None and isinstance(match.route.resource, web.StaticResource):
        return "session"  # the scripts and styles of the pages: any logged-in role
    return marked


def session_of(request: web.Request) -> Session:
    return request[SESSION]
