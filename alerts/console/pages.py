"""The console's pages: one HTML shell per page, filled in by the static scripts from the API."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from alerts.console.auth import requires, session_of

STATIC = Path(__file__).with_name("static")
PAGES = ("queue", "case", "police", "suspicious", "audit", "users", "password")


def _shell(page: str) -> web.Response:
    # The page name is one of PAGES, never request data.
    html = (STATIC / "page.html").read_text(encoding="utf-8").replace("{{page}}", page)
    return web.Response(text=html, content_type="text/html")


async def login_page(request: web.Request) -> web.Response:
    return web.Response(text=(STATIC / "login.html").read_text(encoding="utf-8"), content_type="text/html")


@requires("session")
async def home(request: web.Request) -> web.StreamResponse:
    if session_of(request).role == "police":
        police = "/police"
        raise web.HTTPFound(police)
    return _shell("queue")


@requires("cases")
async def case_page(request: web.Request) -> web.Response:
    return _shell("case")


@requires("police")
async def police_page(request: web.Request) -> web.Response:
    return _shell("police")


@requires("cases")
async def suspicious_page(request: web.Request) -> web.Response:
    return _shell("suspicious")


@requires("audit")
async def audit_page(request: web.Request) -> web.Response:
    return _shell("audit")


@requires("users")
async def users_page(request: web.Request) -> web.Response:
    return _shell("users")


@requires("session")
async def password_page(request: web.Request) -> web.Response:
    return _shell("password")


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/login", login_page),
        web.get("/", home),
        web.get("/case/{case_id}", case_page),
        web.get("/police", police_page),
        web.get("/suspicious", suspicious_page),
        web.get("/audit", audit_page),
        web.get("/users", users_page),
        web.get("/password", password_page),
        web.static("/static", STATIC),
    ]
