"""The console's API over aiohttp's test client, fakeredis and an in-memory Kafka: every action, every role."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from redis import exceptions as redis_exceptions

from alerts.console.cases import CaseReader, QueueFilter, facts
from alerts.routing import build_outputs
from rules.model import Action, Severity
from rules.state import States
from store.keys import Keys
from streams.account_store import MemoryAccountStore, RedisAccountStore
from tests.unit.alerts.consoles import NOW, PASSWORD, Console, P, Transfer, _hit, start_console


@pytest_asyncio.fixture(loop_scope="function")  # the test's own loop: the client's session lives on it
async def console() -> AsyncIterator[Console]:
    async with start_console() as started:
        yield started


NO_SESSION = {
    "GET": ["/api/queue", "/api/me", "/api/cases/H-x", "/api/police/reports", "/api/audit", "/api/users", "/api/x"],
    "POST": ["/api/cases/H-x/release", "/api/logout", "/api/users"],
    "DELETE": ["/api/accounts/A/suspicious"],
}


@pytest.mark.parametrize(("method", "path"), [(m, path) for m, paths in NO_SESSION.items() for path in paths])
async def test_without_a_session_the_api_answers_401(console: Console, method: str, path: str) -> None:
    r = await console.client.request(method, path, json={"reason": "x", "command_id": "c"})
    assert r.status == 401 and (await r.json())["error"] == "login_required"


@pytest.mark.parametrize("path", ["/", "/case/H-x", "/police", "/audit", "/users", "/suspicious", "/static/app.js"])
async def test_without_a_session_pages_redirect_to_login(console: Console, path: str) -> None:
    r = await console.client.get(path, allow_redirects=False)
    assert r.status == 302 and r.headers["Location"].startswith("/login?next=")


async def test_health_and_the_login_page_need_no_session(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    ready = await console.client.get("/ready")
    assert ready.status == 200 and (await ready.json()) == {"status": "ready", "outbox_pending": 0}
    monkeypatch.setattr(console.redis, "ping", _refused)
    not_ready = await console.client.get("/ready")
    body = await not_ready.json()
    assert not_ready.status == 503 and body["status"] == "not_ready" and "Redis does not answer" in body["reason"]
    assert await console.status("/health") == 200  # alive: restarting it would not bring Redis back
    page = await console.client.get("/login")
    assert page.status == 200 and 'id="login"' in await page.text()
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


async def test_login_sets_a_strict_cookie_and_wrong_passwords_fail_then_lock_out(console: Console) -> None:
    bad = await console.client.post("/api/login", json={"user": "lan", "password": "wrong-password"})
    assert bad.status == 401 and (await bad.json())["error"] == "bad_credentials"
    assert (await console.client.post("/api/login", json={"user": "nobody", "password": PASSWORD})).status == 401
    # JSON only: a cross-site form cannot log anyone in
    assert (await console.client.post("/api/login", data={"user": "lan", "password": PASSWORD})).status == 400
    ok = await console.client.post("/api/login", json={"user": "lan", "password": PASSWORD})
    cookie = ok.headers["Set-Cookie"]
    assert ok.status == 200 and "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=60" in cookie
    me = await console.get("/api/me")
    assert (me["user"], me["role"]) == ("lan", "officer")
    assert "act" in me["permissions"] and "audit" not in me["permissions"]
    keys = [k async for k in console.redis.scan_iter(Keys(P).session("*"))]
    assert len(keys) == 1 and 0 < await console.redis.ttl(keys[0]) <= 60
    for _ in range(10):
        await console.client.post("/api/login", json={"user": "lan", "password": "not-the-password"})
    assert (await console.client.post("/api/login", json={"user": "lan", "password": PASSWORD})).status == 429


async def test_an_expired_or_ended_session_is_refused(console: Console) -> None:
    await console.login("lan")
    async for key in console.redis.scan_iter(Keys(P).session("*")):
        await console.redis.pexpire(key, 1)
    await asyncio.sleep(0.05)
    assert await console.status("/api/queue") == 401
    csrf = await console.login("lan")
    assert (await console.act(csrf, "/api/logout", {})).status == 200
    assert await console.status("/api/queue") == 401


async def test_queue_sorts_by_severity_then_waiting_time_and_filters(console: Console) -> None:
    await console.login("lan")
    data = await console.get("/api/queue")
    c = console.cases
    every = [c["crit"], c["old"], c["newer"], c["alone"]]  # most severe first, then the longest waiting
    assert [x["case_id"] for x in data["cases"]] == every
    assert data["rules"] == ["R10", "R12", "R2", "R3"] and data["version"]
    expect = {"rule=R10": [c["alone"]], "channel=police": [c["old"]], "account=ACC4": [c["newer"]], "status=all": every}
    for query, ids in {**expect, "status=released": []}.items():
        assert [x["case_id"] for x in (await console.get("/api/queue?" + query))["cases"]] == ids, query
    assert await console.status("/api/queue?status=bogus") == 400


async def test_case_detail_shows_evidence_reasons_in_both_languages_and_account_facts(console: Console) -> None:
    await console.login("lan")
    d = await console.get(f"/api/cases/{console.cases['old']}")
    assert d["case"]["status"] == "active" and d["hold"]["account_id"] == "ACC1"
    (alert,) = d["alerts"]
    assert alert["reason_vi"].startswith("Chuyển tiền") and alert["reason_en"].startswith("Transfer")
    assert alert["evidence"]["ip_country"] == "US" and alert["event"]["amount"] == 10_000_000
    assert d["facts"]["ips"] == [{"ip": "8.8.8.8", "country": "US"}]
    assert d["facts"]["devices"] == [{"device_id": "phone-2"}]
    assert ("biometric_match_on_device", False) in [(b["fact"], b["value"]) for b in d["facts"]["biometric"]]
    profile = d["account"]["profile"]
    assert profile["known_devices"] == ["phone-1", "phone-2"] and profile["countries"] == ["VN", "US"]
    assert profile["biometrics"][0]["device_id"] == "phone-1" and profile["biometrics"][0]["result"] == "matched"
    assert [a["rule_id"] for a in d["account"]["recent_alerts"]] == ["R2"]
    assert d["actions"] == ["release", "confirm", "extend", "escalate"]
    assert await console.status("/api/cases/H-nope") == 404


async def test_officers_see_their_pages_but_not_the_audit_trail_or_users(console: Console) -> None:
    csrf = await console.login("lan")
    assert await console.status("/api/audit") == 403
    assert await console.status("/api/users") == 403
    eve = {"name": "eve", "role": "supervisor", "password": PASSWORD, "command_id": "u"}
    assert (await console.act(csrf, "/api/users", eve)).status == 403
    queue = await console.client.get("/")
    assert queue.status == 200 and 'data-page="queue"' in await queue.text()
    case = await console.client.get(f"/case/{console.cases['old']}")
    assert 'data-page="case"' in await case.text()
    assert await console.status("/static/case.js") == 200
    assert await console.status("/audit") == 403
    assert await console.status("/users") == 403


async def test_release_confirm_extend_each_change_the_hold_and_reach_their_topics(console: Console) -> None:
    csrf = await console.login("lan")
    c = console.cases
    extend = {"reason": "wait", "command_id": "e1", "hours": 12}
    r = await console.act(csrf, f"/api/cases/{c['old']}/extend", extend)
    assert r.status == 200 and (await r.json())["outcome"]["hold"]["status"] == "extended"
    r = await console.act(csrf, f"/api/cases/{c['old']}/confirm", {"reason": "stolen", "command_id": "c1"})
    outcome = (await r.json())["outcome"]
    assert outcome["changed"] and outcome["hold"]["status"] == "confirmed"
    assert outcome["reports"][0]["kind"] == "confirmed_fraud"
    r = await console.act(csrf, f"/api/cases/{c['crit']}/release", {"reason": "payee", "command_id": "r1"})
    assert (await r.json())["outcome"]["hold"]["status"] == "released"
    assert [h["status"] for h in console.kafka.on("holds")] == ["extended", "confirmed", "released"]
    assert [p["kind"] for p in console.kafka.on("police")] == ["confirmed_fraud"]
    audit = [(a["action"], a["who"], a["reason"]) for a in console.kafka.on("audit")]
    assert audit == [("extend", "lan", "wait"), ("confirm", "lan", "stolen"), ("release", "lan", "payee")]
    r = await console.act(csrf, f"/api/cases/{c['crit']}/extend", {"reason": "oops", "command_id": "e2"})
    assert r.status == 409 and (await r.json())["error"] == "conflict"
    open_ids = [x["case_id"] for x in (await console.get("/api/queue"))["cases"]]
    assert c["old"] not in open_ids and c["crit"] not in open_ids


async def test_escalate_dismiss_and_the_suspicious_list(console: Console) -> None:
    csrf = await console.login("lan")
    alone = console.cases["alone"]
    r = await console.act(csrf, f"/api/cases/{alone}/escalate", {"reason": "mule ring", "command_id": "x1"})
    assert (await r.json())["outcome"]["reports"][0]["report_id"] == alone
    r = await console.act(csrf, f"/api/cases/{alone}/dismiss", {"reason": "police: not ours", "command_id": "x2"})
    assert (await r.json())["outcome"]["changed"]
    r = await console.act(csrf, f"/api/cases/{alone}/release", {"reason": "fp", "command_id": "x3"})
    assert r.status == 400 and (await r.json())["error"] == "not_a_hold"
    r = await console.act(csrf, "/api/accounts/0099887766/suspicious", {"reason": "SIMO", "command_id": "s1"})
    assert (await r.json())["outcome"]["suspicious"]["action"] == "add"
    listed = await console.get("/api/suspicious")
    assert [e["account_id"] for e in listed["accounts"]] == ["0099887766"]
    cleared = {"reason": "cleared", "command_id": "s2"}
    r = await console.act(csrf, "/api/accounts/0099887766/suspicious", cleared, "DELETE")
    assert (await r.json())["outcome"]["suspicious"]["action"] == "remove"
    assert [e["action"] for e in console.kafka.on("suspicious")] == ["add", "remove"]
    assert [p["report_id"] for p in console.kafka.on("police")] == [alone]


async def test_the_same_command_sent_twice_changes_nothing_the_second_time(console: Console) -> None:
    csrf = await console.login("lan")
    body = {"reason": "false positive", "command_id": "double-click-1"}
    first = await (await console.act(csrf, f"/api/cases/{console.cases['crit']}/release", body)).json()
    second = await (await console.act(csrf, f"/api/cases/{console.cases['crit']}/release", body)).json()
    assert first["outcome"]["changed"] and not second["outcome"]["changed"]
    assert len(console.kafka.sent) == 2


@pytest.mark.parametrize(
    ("method", "action", "body", "error"),
    [
        ("POST", "release", {"command_id": "c1"}, "reason_required"),
        ("POST", "confirm", {"reason": "   ", "command_id": "c1"}, "reason_required"),
        ("POST", "escalate", {"reason": "x" * 1001, "command_id": "c1"}, "reason_required"),
        ("POST", "release", {"reason": "fp"}, "command_id_required"),
        ("POST", "extend", {"reason": "wait", "command_id": "c1", "hours": "a day"}, "bad_hours"),
        ("POST", "extend", {"reason": "wait", "command_id": "c1", "hours": 500}, "invalid"),
        ("POST", "suspicious", {"command_id": "s1"}, "reason_required"),
        ("DELETE", "suspicious", {"reason": "cleared"}, "command_id_required"),
    ],
)
async def test_actions_without_a_reason_or_command_id_are_refused(
    console: Console, method: str, action: str, body: dict[str, Any], error: str
) -> None:
    csrf = await console.login("lan")
    path = "/api/accounts/0099/suspicious" if action == "suspicious" else f"/api/cases/{console.cases['crit']}/{action}"
    r = await console.act(csrf, path, body, method)
    assert r.status == 400 and (await r.json())["error"] == error
    assert console.kafka.sent == [] and await console.hold_status(console.cases["crit"]) == "active"


@pytest.mark.parametrize("csrf", [None, "not-the-token"])
async def test_state_changes_without_the_csrf_token_are_refused(console: Console, csrf: str | None) -> None:
    await console.login("lan")
    body = {"reason": "fp", "command_id": "c1"}
    release = f"/api/cases/{console.cases['crit']}/release"
    listing = "/api/accounts/0099/suspicious"
    for method, path in (("POST", release), ("POST", listing), ("DELETE", listing), ("POST", "/api/logout")):
        r = await console.act(csrf, path, body, method)
        assert r.status == 403 and (await r.json())["error"] == "csrf", path
    assert console.kafka.sent == []
    assert await console.status("/api/me") == 200  # logout was refused too


async def test_police_see_only_police_reports_and_cannot_act_on_holds(console: Console) -> None:
    officer_csrf = await console.login("lan")
    body = {"reason": "confirmed with the customer", "command_id": "c1"}
    await console.act(officer_csrf, f"/api/cases/{console.cases['crit']}/confirm", body)
    csrf = await console.login("an")
    reports = (await console.get("/api/police/reports"))["reports"]
    assert sorted((r["kind"], r["account_id"]) for r in reports) == [("confirmed_fraud", "ACC2"), ("rule_hit", "ACC1")]
    assert all("reason_en" in r and "event" not in r and "evidence" not in r for r in reports)
    for path in ("/api/queue", f"/api/cases/{console.cases['old']}", "/api/suspicious", "/api/audit", "/api/users"):
        assert await console.status(path) == 403, path
    for action in ("release", "confirm", "extend", "escalate"):
        body = {"reason": "r", "command_id": action}
        r = await console.act(csrf, f"/api/cases/{console.cases['old']}/{action}", body)
        assert r.status == 403 and (await r.json())["error"] == "forbidden"
    assert (await console.act(csrf, "/api/accounts/0099/suspicious", {"reason": "r", "command_id": "s"})).status == 403
    home = await console.client.get("/", allow_redirects=False)
    assert home.status == 302 and home.headers["Location"] == "/police"
    assert await console.status(f"/case/{console.cases['old']}") == 403
    assert await console.status("/police") == 200
    assert await console.hold_status(console.cases["old"]) == "active"


async def test_supervisors_read_the_audit_trail_and_manage_users(console: Console) -> None:
    officer = await console.login("lan")
    await console.act(officer, f"/api/cases/{console.cases['crit']}/release", {"reason": "fp", "command_id": "r1"})
    lan_sessions = [k async for k in console.redis.scan_iter(Keys(P).session("*"))]
    csrf = await console.login("minh")
    trail = (await console.get("/api/audit"))["records"]
    assert [(t["action"], t["who"], t["subject"]) for t in trail] == [("release", "lan", console.cases["crit"])]
    assert (await console.get("/api/audit?who=minh"))["records"] == []
    new = {"name": "hoa", "role": "officer", "password": "long-enough-pw", "command_id": "u1"}
    r = await console.act(csrf, "/api/users", new)
    assert r.status == 201 and "password_hash" not in await r.text()
    assert (await console.act(csrf, "/api/users", {**new, "command_id": "u2"})).status == 400  # exists
    weak = {"name": "kim", "role": "officer", "password": "short", "command_id": "u3"}
    assert (await console.act(csrf, "/api/users", weak)).status == 400
    users = (await console.get("/api/users"))["users"]
    assert [u["name"] for u in users] == ["an", "hoa", "lan", "minh"]
    r = await console.act(csrf, "/api/users/minh", {"active": False, "reason": "leaving", "command_id": "u4"})
    assert r.status == 400 and (await r.json())["error"] == "self_lockout"
    r = await console.act(csrf, "/api/users/lan", {"role": "police", "reason": "moved to liaison", "command_id": "u5"})
    assert r.status == 200 and (await r.json())["user"]["role"] == "police"
    assert len(lan_sessions) == 1 and not await console.redis.exists(*lan_sessions)  # the change applies at once
    await console.act(csrf, "/api/users/lan", {"active": False, "reason": "left the bank", "command_id": "u6"})
    assert (await console.client.post("/api/login", json={"user": "lan", "password": PASSWORD})).status == 401
    actions = [t["action"] for t in (await console.get("/api/audit"))["records"]]
    assert actions == ["user_update", "user_update", "user_create", "release"]


async def _refused() -> None:
    raise redis_exceptions.ConnectionError("connection refused")


def test_facts_place_ips_the_evidence_left_without_a_country() -> None:
    hit = _hit("R2", "ACC1", Action.HOLD, Severity.HIGH, True, 0)
    event = Transfer(hit.event_id, "ACC1", 1, ip="14.160.10.20")
    alert = build_outputs([hit], [event], now=NOW, bank_code="B", hold_duration_s=60).alerts[0]
    alert.evidence = {"otp_phone_changed_at": "2026-11-29T04:48:06+07:00", "biometric_since_change": False}
    found = facts([alert], SimpleNamespace(countries=lambda ips: ["VN" for _ in ips]))
    assert found["ips"] == [{"ip": "14.160.10.20", "country": "VN"}]
    assert facts([alert])["ips"] == [{"ip": "14.160.10.20", "country": ""}]
    assert [b["fact"] for b in found["biometric"]] == ["otp_phone_changed_at", "biometric_since_change"]


async def test_the_case_detail_reads_the_account_state_through_the_store_it_is_given(console: Console) -> None:
    store = MemoryAccountStore()  # nothing for ACC2 under its Redis key: only this store has it
    await store.save(["ACC2"], States.of([{"known_devices": ["tablet-9"], "countries": ["VN"]}]))
    detail = await CaseReader(console.redis, store, P).detail(console.cases["crit"])
    assert detail is not None and detail["account"]["account_id"] == "ACC2"
    assert detail["account"]["profile"]["known_devices"] == ["tablet-9"]
    assert await console.redis.exists(Keys(P).account_state("ACC2")) == 0
    missing = await CaseReader(console.redis, MemoryAccountStore(), P).detail(console.cases["crit"])
    assert missing is not None and missing["account"]["profile"] is None


async def test_holds_in_force_stay_in_the_queue_when_their_alerts_fall_out_of_the_scan(console: Console) -> None:
    reader = CaseReader(console.redis, RedisAccountStore(console.redis, P), P, scan=1)  # only the newest alert
    queue = await reader.queue(QueueFilter())
    c = console.cases
    assert [x["case_id"] for x in queue["cases"]] == [c["crit"], c["old"], c["newer"]]
    assert all(x["alert_count"] == 1 and x["rules"] for x in queue["cases"])
