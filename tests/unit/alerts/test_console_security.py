"""The console's central controls: the redirect after login, headers on every response, deny by
default, body limits, reason and command-id checks, the password policy, own password changes,
TLS cookies and HSTS, and what the police role may read."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from alerts.console.auth import safe_next
from alerts.console.cases import CaseReader
from rules.model import Action, Severity
from store.keys import Keys
from tests.unit.alerts.consoles import NOW, PASSWORD, Console, P, _hit, _seed, start_console


async def _unmarked(request: web.Request) -> web.Response:
    return web.json_response({"secret": "every role sees this"})


@pytest_asyncio.fixture(loop_scope="function")
async def console() -> AsyncIterator[Console]:
    async with start_console(extra_routes=[web.get("/api/unmarked", _unmarked)]) as started:
        yield started


# --- the redirect after login (issue 12 point 10)

OFF_SITE = [
    "/%09/evil.example/",
    "/%0a/evil.example/",
    "/%0d%0a/evil.example/",
    "/\t/evil.example/",
    "/\n/evil.example/",
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example/",
    "/%5Cevil.example/",
    "/%2F/evil.example/",
    "%2F%2Fevil.example/",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "java%0ascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://evil.example/",
    "http:evil.example",
    "HTTPS://evil.example",
    "evil.example",
    " /x",
    "/\u3000/evil.example",
    "",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_next_never_leaves_the_site(target: str) -> None:
    assert safe_next(target) == "/"


@pytest.mark.parametrize("target", ["/", "/case/H-R2-abc", "/police?account=0099", "/audit#top", "/%252F%252Fx"])
def test_next_keeps_paths_of_the_site(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize("target", [*OFF_SITE[:12], "/case/H-1"])
async def test_the_login_answer_names_only_a_safe_next(console: Console, target: str) -> None:
    r = await console.client.post("/api/login", json={"user": "lan", "password": PASSWORD, "next": target})
    assert r.status == 200
    assert (await r.json())["next"] == ("/case/H-1" if target == "/case/H-1" else "/")


# --- headers on every response, whatever made it (point 14)


async def _boom(self: Any, *args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("a bug with a secret in its message: hunter2")


async def test_every_response_carries_the_security_headers_and_no_stack_name(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    responses = {"200 login page": await console.client.get("/login")}
    responses["302 page without session"] = await console.client.get("/audit", allow_redirects=False)
    responses["401 api without session"] = await console.client.get("/api/queue")
    responses["405 wrong method"] = await console.client.put("/api/login", json={})
    big = b'{"user": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    responses["413 body too large"] = await console.client.post(
        "/api/login", data=io.BytesIO(big), headers={"Content-Type": "application/json"}
    )
    await console.login("lan")
    responses["404 no such route"] = await console.client.get("/api/nope")
    responses["404 no such page"] = await console.client.get("/no-such-page")
    responses["404 no such static file"] = await console.client.get("/static/nope.js")
    responses["200 static file"] = await console.client.get("/static/app.js")
    monkeypatch.setattr(CaseReader, "queue", _boom)
    responses["500 a bug"] = await console.client.get("/api/queue")
    statuses = {name: r.status for name, r in responses.items()}
    assert statuses == {name: int(name.split()[0]) for name in responses}, statuses
    for name, r in responses.items():
        h = r.headers
        assert "default-src 'self'" in h.get("Content-Security-Policy", ""), name
        assert (h.get("X-Frame-Options"), h.get("X-Content-Type-Options")) == ("DENY", "nosniff"), name
        assert h.get("Referrer-Policy") == "no-referrer" and h.get("Cache-Control") == "no-store", name
        assert h.get("Server") == "txmon", (name, h.get("Server"))
        assert "Strict-Transport-Security" not in h, name  # plain HTTP in local development
    body = await responses["500 a bug"].text()
    assert "hunter2" not in body and "Traceback" not in body


async def test_a_route_without_a_permission_mark_is_refused(console: Console) -> None:
    await console.login("minh")
    r = await console.client.get("/api/unmarked")
    assert r.status == 403 and "secret" not in await r.text()


@pytest.mark.parametrize("depth", [1_000, 50_000])
async def test_deeply_nested_json_is_a_bad_request(console: Console, depth: int) -> None:
    body = b"[" * depth + b"]" * depth
    json = {"Content-Type": "application/json"}
    r = await console.client.post("/api/login", data=body, headers=json)
    assert r.status == 400 and (await r.json())["error"] == "bad_json"
    csrf = await console.login("lan")
    r = await console.client.post(
        f"/api/cases/{console.cases['crit']}/release", data=body, headers={**json, "X-CSRF-Token": csrf}
    )
    assert r.status == 400 and (await r.json())["error"] == "bad_json"


# --- reasons, command ids, users (points 9 and 14)


async def test_user_creation_caps_the_reason_and_applies_the_password_policy(console: Console) -> None:
    csrf = await console.login("minh")
    new = {"name": "hoa", "role": "officer", "password": "long-enough-pw", "command_id": "u1"}
    r = await console.act(csrf, "/api/users", {**new, "reason": "x" * 900_000})
    assert r.status == 400 and (await r.json())["error"] == "reason_required"
    for weak in ("aaaaaaaaaa", "hoahoa2026", "Hoa.Hoa.Hoa", "password123", "P@ssw0rd!!", "qwertyuiop", "anhyeuem123"):
        r = await console.act(csrf, "/api/users", {**new, "password": weak})
        assert r.status == 400, weak
    assert (await console.act(csrf, "/api/users", {**new, "reason": "new officer"})).status == 201
    r = await console.act(csrf, "/api/users/hoa", {"password": "hoa-hoa-hoa-1", "reason": "reset", "command_id": "u2"})
    assert r.status == 400  # a supervisor's reset follows the policy too


async def test_users_change_their_own_password(console: Console) -> None:
    other_browser = await console.client.post("/api/login", json={"user": "lan", "password": PASSWORD})
    assert other_browser.status == 200
    old_sessions = [k async for k in console.redis.scan_iter(Keys(P).session("*"))]
    csrf = await console.login("lan")
    wrong = {"current_password": "not-my-password", "new_password": "a new long phrase"}
    r = await console.act(csrf, "/api/me/password", wrong)
    assert r.status == 403 and (await r.json())["error"] == "bad_credentials"
    weak = {"current_password": PASSWORD, "new_password": "lan-lan-lan-1"}
    assert (await console.act(csrf, "/api/me/password", weak)).status == 400
    body = {"current_password": PASSWORD, "new_password": "a new long phrase"}
    r = await console.act(csrf, "/api/me/password", body)
    assert r.status == 200 and (await r.json())["changed"]
    assert not await console.redis.exists(*old_sessions)  # the other browser is logged out
    assert (await console.client.get("/api/me")).status == 200  # this one got a new session
    assert (await console.client.post("/api/login", json={"user": "lan", "password": PASSWORD})).status == 401
    assert (
        await console.client.post("/api/login", json={"user": "lan", "password": "a new long phrase"})
    ).status == 200
    await console.login("minh")
    trail = (await console.get("/api/audit?action=password_change"))["records"]
    assert [(t["who"], t["subject"]) for t in trail] == [("lan", "lan")]


async def test_command_ids_shaped_like_system_ids_are_refused(console: Console) -> None:
    csrf = await console.login("lan")
    hold = console.cases["crit"]
    for squat in (f"expire:{hold}:2026-11-29T10:00:00.000+07:00", "police_freeze:PC02-1", "a b", "x" * 101):
        r = await console.act(csrf, f"/api/cases/{hold}/extend", {"reason": "r", "command_id": squat, "hours": 1})
        assert r.status == 400 and (await r.json())["error"] in ("bad_command_id", "command_id_required"), squat
    assert console.kafka.sent == []


async def test_dismiss_on_a_hold_with_several_alerts_answers_a_clear_conflict(console: Console) -> None:
    hits = [_hit("R2", "ACC9", Action.HOLD, Severity.HIGH, False, row) for row in range(3)]
    out = await _seed(console.redis, hits, NOW)
    (hold,) = out.holds
    assert len(hold.alert_ids) == 3
    csrf = await console.login("lan")
    r = await console.act(csrf, f"/api/cases/{hold.hold_id}/dismiss", {"reason": "fp", "command_id": "d1"})
    body = await r.json()
    assert r.status == 409 and body["error"] == "conflict" and "release the hold" in body["message"]
    r = await console.act(csrf, f"/api/cases/{hold.hold_id}/release", {"reason": "fp", "command_id": "d2"})
    assert r.status == 200 and (await r.json())["outcome"]["hold"]["status"] == "released"


async def test_the_police_role_reads_no_count_of_bank_alerts(console: Console) -> None:
    await console.login("an")
    assert await console.status("/api/version") == 403
    assert await console.status("/api/queue") == 403
    reports = (await console.get("/api/police/reports"))["reports"]
    assert {r["account_id"] for r in reports} == {"ACC1"}  # the police-routed case only
    version = (await console.get("/api/police/version"))["version"]
    assert version == f"1:{reports[0]['report_id']}"  # its own channel: one report, no bank count
    await console.login("lan")
    assert await console.status("/api/version") == 200


# --- TLS (point 12)


async def test_over_tls_cookies_are_secure_and_hsts_is_sent() -> None:
    async with start_console(secure_cookies=True, hsts_max_age_s=31_536_000) as console:
        r = await console.client.post("/api/login", json={"user": "lan", "password": PASSWORD})
        cookies = r.headers.getall("Set-Cookie")
        assert len(cookies) == 2 and all("Secure" in c and "HttpOnly" in c for c in cookies)
        for path in ("/login", "/api/nope", "/static/nope.js"):
            h = (await console.client.get(path)).headers
            assert h["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains", path


async def test_plain_http_cookies_are_not_secure(console: Console) -> None:
    r = await console.client.post("/api/login", json={"user": "lan", "password": PASSWORD})
    assert all("Secure" not in c for c in r.headers.getall("Set-Cookie"))
