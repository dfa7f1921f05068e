"""Logging in and out, the session's own view, and a user's change of their own password.

A login is checked in this order: the throttle (``alerts.console.throttle``;
refused attempts cost no hashing), the password (argon2, a bounded number at
once), then for supervisors the TOTP code. Every failure answers the same
``bad_credentials``, whichever part was wrong. A successful login sets the
session cookie and a device token cookie, which exempts this browser from the
per-user and global throttles the next time.

Cookies are HttpOnly and SameSite=Strict, and ``Secure`` when the console is
served over TLS (``secure_cookies``; ``streams.console_main`` decides).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from alerts.console.api import BadRequest, _body, _field, reply
from alerts.console.auth import COOKIE, SessionStore, json_error, requires, safe_next, session_of
from alerts.console.throttle import DEVICE_COOKIE, DEVICE_TTL_S, LoginThrottle, Refusal
from alerts.lifecycle import Actor, HoldLifecycle
from alerts.users import SECOND_FACTOR_ROLES, User, UserStore

ClientOf = Callable[[web.Request], str]


def remote_client(request: web.Request) -> str:
    """The TCP peer: right when nothing sits between browsers and the console."""
    return request.remote or "unknown"


def forwarded_client(request: web.Request) -> str:
    """Behind one reverse proxy: the address it appended last to X-Forwarded-For (earlier
    entries are whatever the client claimed, so they are never trusted)."""
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    return hops[-1] if hops else remote_client(request)


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    secure: bool = False
    session_ttl_s: int = 8 * 3600


def _password(data: dict[str, object], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        msg = f"{name} is required"
        raise BadRequest(msg, f"{name}_required")
    if len(value) > 200:
        msg = f"{name} is longer than 200 characters"
        raise BadRequest(msg, f"bad_{name}")
    return value


def _throttled(refusal: Refusal) -> web.Response:
    response = json_error(429, refusal.error, f"{refusal.message} {refusal.retry_after_s} s")
    response.headers["Retry-After"] = str(refusal.retry_after_s)
    return response


BAD_CREDENTIALS = "wrong user name, password or code"


class LoginApi:
    def __init__(
        self,
        users: UserStore,
        sessions: SessionStore,
        throttle: LoginThrottle,
        lifecycle: HoldLifecycle,
        *,
        cookies: CookiePolicy,
        client_of: ClientOf = remote_client,
        supervisor_totp: bool = False,
    ) -> None:
        self.users = users
        self.sessions = sessions
        self.throttle = throttle
        self.lifecycle = lifecycle
        self.cookies = cookies
        self.client_of = client_of
        # True: a supervisor without an enrolled TOTP secret cannot log in at all.
        self.supervisor_totp = supervisor_totp

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/login", self.login),
            web.post("/api/logout", self.logout),
            web.get("/api/me", self.me),
            web.post("/api/me/password", self.change_password),
        ]

    async def _checked(self, request: web.Request, name: str, password: str, code: str) -> User | web.Response:
        """The user, or the answer to send: throttled, busy or bad credentials."""
        client = self.client_of(request)
        exists = await self.users.exists(name)
        device_ok = await self.throttle.device_ok(name, request.cookies.get(DEVICE_COOKIE)) and exists
        refusal = await self.throttle.admit(client, name if exists else None, device_ok)
        if refusal is not None:
            return _throttled(refusal)
        try:
            async with self.throttle.hashing() as admitted:
                if not admitted:
                    return _throttled(Refusal("busy", "the console is busy checking logins; retry in", 1))
                user = await self.users.authenticate(name, password)
            if user is not None and user.role in SECOND_FACTOR_ROLES and (user.totp_secret or self.supervisor_totp):
                if not user.totp_secret:
                    await self.throttle.succeeded(client)
                    message = "supervisors need a second factor: ask for `txmon totp-enrol NAME` first"
                    return json_error(403, "totp_enrolment_required", message)
                if not await self.users.second_factor(user, code, time.time()):
                    user = None
            if user is None:
                await self.throttle.failed(client, name if exists else None)
                return json_error(401, "bad_credentials", BAD_CREDENTIALS)
            await self.throttle.succeeded(client)
            return user
        finally:
            await self.throttle.done(client)

    async def _start_session(self, user: User, body: dict[str, object]) -> web.Response:
        token, session = await self.sessions.create(user.name, user.role, time.time())
        response = reply({"user": user.name, "role": user.role, "csrf": session.csrf, **body})
        secure = self.cookies.secure
        response.set_cookie(
            COOKIE, token, max_age=self.sessions.ttl_s, httponly=True, samesite="Strict", secure=secure, path="/"
        )
        device = await self.throttle.issue_device(user.name)
        response.set_cookie(
            DEVICE_COOKIE, device, max_age=DEVICE_TTL_S, httponly=True, samesite="Strict", secure=secure, path="/api/"
        )
        return response

    async def login(self, request: web.Request) -> web.Response:
        data = await _body(request)
        name = _field(data, "user", "user_required", 64)
        password = _password(data, "password")
        code = data.get("code")
        checked = await self._checked(request, name, password, code if isinstance(code, str) else "")
        if isinstance(checked, web.Response):
            return checked
        target = data.get("next")
        return await self._start_session(checked, {"next": safe_next(target if isinstance(target, str) else None)})

    @requires("session")
    async def logout(self, request: web.Request) -> web.Response:
        await self.sessions.end(request.cookies.get(COOKIE, ""))
        response = reply({"ok": True})
        response.del_cookie(COOKIE, path="/")
        return response

    @requires("session")
    async def me(self, request: web.Request) -> web.Response:
        s = session_of(request)
        return reply(
            {"user": s.user, "role": s.role, "csrf": s.csrf, "expires_at": s.expires_at, "permissions": s.permissions()}
        )

    @requires("session")
    async def change_password(self, request: web.Request) -> web.Response:
        """The user's own password: the current one (throttled like a login), then the policy."""
        s = session_of(request)
        data = await _body(request)
        current, new = _password(data, "current_password"), _password(data, "new_password")
        code = data.get("code")
        checked = await self._checked(request, s.user, current, code if isinstance(code, str) else "")
        if isinstance(checked, web.Response):
            # 403, not 401: the session is fine, and a 401 sends the page to the login form.
            wrong = checked.status == 401
            return json_error(403, "bad_credentials", "the current password or code is wrong") if wrong else checked
        user = await self.users.change_own_password(checked, current, new)
        await self.sessions.end_all(s.user)  # every other browser logs in again, with the new password
        await self.throttle.forget_devices(s.user)
        actor = Actor(s.user, s.role)
        await self.lifecycle.commands.note(
            actor, "password_change", s.user, "changed own password", f"password-{uuid.uuid4()}", None, None
        )
        return await self._start_session(user, {"changed": True})
