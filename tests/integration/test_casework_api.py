"""The console's case-store API (``alerts.console.casework``) on a real PostgreSQL, with fakeredis
and an in-memory Kafka behind the hold lifecycle: every new action, every role, the forbidden ones."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import fakeredis
import msgspec
import psycopg
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from alerts.cases.db import migrate, open_pool
from alerts.cases.project import Batch, apply
from alerts.cases.workflow import CaseWork
from alerts.console import create_app
from alerts.holds import AlertStore
from alerts.lifecycle import HoldLifecycle, Topics
from alerts.routing import build_outputs
from alerts.users import UserStore
from rules.model import Action, Channel, RuleHit, Severity
from streams.account_store import RedisAccountStore
from tests.integration.case_helpers import fresh_database
from tests.integration.conftest import Services
from tests.unit.alerts.conftest import MemoryKafka

pytestmark = pytest.mark.integration
NOW = datetime.now(tz=UTC)
PASSWORD = "correct-horse-battery"
P = "cw:"
CODES = ("customer_confirmed", "bulk_triage", "other")


class Transfer(msgspec.Struct):
    event_id: str
    account_id: str
    amount: int
    dest_account: str
    ip: str
    device_id: str


def _hit(rule: str, account: str, action: Action, severity: Severity, minutes_ago: int) -> tuple[RuleHit, Any]:
    ts_ms = int((NOW - timedelta(minutes=minutes_ago)).timestamp() * 1000)
    hit = RuleHit(rule, f"rule {rule}", "v1", 0, f"{account}-{rule}", account, ts_ms, action, severity,
                  (Channel.BANK,), f"{rule} vi", f"{rule} en", {"ip": "8.8.8.8", "ip_country": "US"})  # fmt: skip
    event = Transfer(hit.event_id, account, 12_000_000, f"PAYEE-{account}", "8.8.8.8", f"dev-{account}")
    return hit, event


@dataclass
class Api:
    client: TestClient[Any, Any]
    redis: Any
    kafka: MemoryKafka
    conninfo: str
    cases: dict[str, str]
    csrf: dict[str, str]

    async def login(self, user: str) -> None:
        self.client.session.cookie_jar.clear()
        r = await self.client.post("/api/login", json={"user": user, "password": PASSWORD})
        assert r.status == 200
        self.csrf[user] = (await r.json())["csrf"]
        self.user = user

    async def post(self, path: str, body: dict[str, Any], csrf: bool = True) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf[self.user]} if csrf else {}
        r = await self.client.post(path, json={"reason_code": "other", **body}, headers=headers)
        return r.status, await r.json()

    async def get(self, path: str) -> tuple[int, Any]:
        r = await self.client.get(path)
        return r.status, await r.json()

    def row(self, case_id: str) -> dict[str, Any]:
        with psycopg.connect(self.conninfo) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            found = cur.execute("SELECT * FROM cases WHERE case_id = %s", (case_id,)).fetchone()
        assert found is not None
        return found


@pytest_asyncio.fixture(loop_scope="function")
async def api(services: Services) -> AsyncIterator[Api]:
    config = fresh_database(services.postgres_url)
    migrate(config)
    pool = await open_pool(config)
    redis, kafka = fakeredis.aioredis.FakeRedis(), MemoryKafka()
    lifecycle = HoldLifecycle(redis, kafka, Topics("holds", "police", "audit", "suspicious"), prefix=P, bank_code="B")
    users = UserStore(redis, P, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for name, role in (("lan", "officer"), ("hoa", "officer"), ("minh", "supervisor"), ("an", "police")):
        await users.create(name, role, PASSWORD, "test")
    seeds = {
        "crit": ("R12", "ACC1", Action.HOLD, Severity.CRITICAL, 5),
        "high": ("R2", "ACC2", Action.HOLD, Severity.HIGH, 30),
        "w1": ("R6a", "ACC3", Action.ALERT, Severity.LOW, 60),
        "w2": ("R6a", "ACC4", Action.ALERT, Severity.LOW, 50),
        "w3": ("R6a", "ACC5", Action.ALERT, Severity.LOW, 40),
    }
    cases: dict[str, str] = {}
    batch = Batch()
    for name, (rule, account, action, severity, ago) in seeds.items():
        hit, event = _hit(rule, account, action, severity, ago)
        at = NOW - timedelta(minutes=ago)
        out = build_outputs([hit], [event], now=at, bank_code="B", hold_duration_s=86_400)
        store, pipe = AlertStore(redis, P), redis.pipeline(transaction=True)
        store.record(pipe, await store.deduplicate(out, at), at)
        await pipe.execute()
        batch.alerts += out.alerts
        batch.holds += out.holds
        cases[name] = out.holds[0].hold_id if out.holds else out.alerts[0].alert_id
    async with pool.connection() as conn:
        await apply(conn, batch)
    work = CaseWork(lifecycle, pool, claim_ttl_s=600, reason_codes=CODES)
    app = create_app(
        redis,
        lifecycle,
        users,
        RedisAccountStore(redis, P),
        prefix=P,
        session_ttl_s=600,
        flush_interval_s=0,
        case_work=work,
    )
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Api(client, redis, kafka, config.conninfo(), cases, {})
    finally:
        await client.close()
        await pool.close()


async def test_roles_and_sessions_guard_every_new_route(api: Api) -> None:
    assert (await api.client.get("/api/case-queue")).status == 401
    assert (await api.client.post("/api/case-work/next", json={})).status == 401
    await api.login("an")  # police: no cases
    for path in ("/api/case-queue", "/api/case-queue.csv", f"/api/case-work/{api.cases['crit']}"):
        assert (await api.client.get(path)).status == 403, path
    assert (await api.post("/api/case-work/next", {"command_id": "p1"}))[0] == 403
    await api.login("lan")  # officer: no assignment, and no change without the CSRF token
    status, body = await api.post(f"/api/case-work/{api.cases['crit']}/assign", {"assignee": "hoa", "command_id": "a1"})
    assert (status, body["error"]) == (403, "forbidden")
    status, body = await api.post(
        "/api/case-work/bulk",
        {"action": "assign", "case_ids": [api.cases["w1"]], "assignee": "hoa", "command_id": "b0"},
    )
    assert (status, body["error"]) == (403, "forbidden")
    assert (await api.post(f"/api/case-work/{api.cases['crit']}/claim", {"command_id": "c0"}, csrf=False))[0] == 403
    status, body = await api.post(
        f"/api/case-work/{api.cases['crit']}/claim", {"command_id": "c1", "reason_code": "made-up"}
    )
    assert status == 400  # reason codes come from the configured list
    assert (await api.post(f"/api/case-work/{api.cases['crit']}/dance", {"command_id": "c2"}))[0] == 404
    assert (await api.post("/api/case-work/H-none/claim", {"command_id": "c3"}))[0] == 404


async def test_the_queue_pages_filters_searches_sorts_and_exports(api: Api) -> None:
    await api.login("lan")
    status, page = await api.get("/api/case-queue?limit=2")
    assert status == 200 and (page["total"], page["open_total"], page["total_exact"]) == (5, 5, True)
    assert [c["case_id"] for c in page["cases"]] == [api.cases["crit"], api.cases["high"]]  # severity first
    _, rest = await api.get("/api/case-queue?limit=2&offset=2")
    assert [c["case_id"] for c in rest["cases"]] == [api.cases["w1"], api.cases["w2"]]  # then the oldest
    _, r6a = await api.get("/api/case-queue?rule=R6a&sort=newest")
    assert [c["case_id"] for c in r6a["cases"]] == [api.cases["w3"], api.cases["w2"], api.cases["w1"]]
    for term in ("ACC2", "PAYEE-ACC2", "dev-ACC2", "ACC2-R2", api.cases["high"]):
        _, found = await api.get(f"/api/case-queue?status=all&q={term}")
        assert [c["case_id"] for c in found["cases"]] == [api.cases["high"]], term
    _, holds = await api.get("/api/case-queue?kind=hold&sort=expiry")
    assert {c["case_id"] for c in holds["cases"]} == {api.cases["crit"], api.cases["high"]}
    assert all(c["sla"]["hold_left_s"] > 0 and c["expires_at"] for c in holds["cases"])
    _, none = await api.get("/api/case-queue?amount_min=13000000")
    assert none["total"] == 0
    assert (await api.get("/api/case-queue?sort=random"))[0] == 400
    assert (await api.get("/api/case-queue?from=yesterday"))[0] == 400
    r = await api.client.get("/api/case-queue.csv?rule=R6a")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert [row["case_id"] for row in rows] == [api.cases["w1"], api.cases["w2"], api.cases["w3"]]
    assert rows[0]["rules"] == "R6a" and rows[0]["opened_at"].endswith("+07:00")


async def test_claim_lock_next_case_note_and_resolution_through_the_command_path(api: Api) -> None:
    crit, high = api.cases["crit"], api.cases["high"]
    await api.login("lan")
    status, body = await api.post("/api/case-work/next", {"command_id": "n1"})
    assert status == 200 and body["case_id"] == crit  # the most severe
    assert api.row(crit)["claimed_by"] == "lan" and api.row(crit)["workflow"] == "investigating"
    await api.login("hoa")
    status, body = await api.post(f"/api/case-work/{crit}/claim", {"command_id": "h1"})
    assert status == 409 and "claimed by lan" in body["message"]
    _, body = await api.post("/api/case-work/next", {"command_id": "h2"})
    assert body["case_id"] == high  # lan's case is skipped
    await api.login("lan")
    note = {"note": "Gọi khách hàng: không thực hiện giao dịch", "command_id": "note-1"}
    assert (await api.post(f"/api/case-work/{crit}/note", note))[1]["outcome"]["changed"] is True
    assert (await api.post(f"/api/case-work/{crit}/note", note))[1]["outcome"]["changed"] is False  # same command id
    status, body = await api.post(f"/api/case-work/{crit}/resolve", {"resolution": "fraud", "reason_code": "customer_confirmed",
                                                                     "reason": "customer denies", "command_id": "r1"})  # fmt: skip
    assert status == 200 and [o["action"] for o in body["outcomes"]] == ["confirm", "case_resolve"]
    assert (await AlertStore(api.redis, P).hold(crit)).status == "confirmed"  # type: ignore[union-attr]
    assert [r["kind"] for r in api.kafka.on("police")] == ["confirmed_fraud"]
    row = api.row(crit)
    assert (row["status"], row["workflow"], row["resolution"], row["is_open"], row["note_count"]) == (
        "confirmed",
        "resolved",
        "fraud",
        False,
        1,
    )
    audit = [a for a in api.kafka.on("audit") if a["subject"] == crit]
    assert [a["action"] for a in audit] == ["case_claim", "case_note", "confirm", "case_resolve"]
    assert audit[-1]["reason"] == "customer_confirmed: customer denies" and audit[-1]["who"] == "lan"
    _, detail = await api.get(f"/api/case-work/{crit}")
    kinds = [e["kind"] for e in detail["timeline"]]
    assert {
        "event",
        "alert",
        "hold_placed",
        "case_claim",
        "case_note",
        "hold_confirmed",
        "police_report",
        "case_resolve",
    } <= set(kinds)
    assert kinds.index("case_claim") < kinds.index("case_note") < kinds.index("case_resolve")
    assert (await api.post(f"/api/case-work/{crit}/claim", {"command_id": "c9"}))[0] == 409  # closed


async def test_bulk_dismiss_gives_a_result_per_case_and_a_supervisor_assigns(api: Api) -> None:
    warnings = [api.cases[w] for w in ("w1", "w2", "w3")]
    await api.login("lan")
    status, body = await api.post("/api/case-work/bulk", {"action": "dismiss", "case_ids": [*warnings, api.cases["high"], "A-none"],
                                                          "reason_code": "bulk_triage", "command_id": "bulk-1"})  # fmt: skip
    assert status == 200 and (body["ok"], body["failed"]) == (3, 2)
    by_case = {r["case_id"]: r for r in body["results"]}
    assert by_case[api.cases["high"]]["error"] == "conflict" and by_case["A-none"]["error"] == "not_found"
    assert all(api.row(w)["status"] == "dismissed" and not api.row(w)["is_open"] for w in warnings)
    again = await api.post(
        "/api/case-work/bulk",
        {"action": "dismiss", "case_ids": warnings, "reason_code": "bulk_triage", "command_id": "bulk-1"},
    )
    assert [r["changed"] for r in again[1]["results"]] == [False, False, False]  # a repeat changes nothing
    _, page = await api.get("/api/case-queue")
    assert page["total"] == 2
    await api.login("minh")
    status, body = await api.post(
        f"/api/case-work/{api.cases['high']}/assign", {"assignee": "hoa", "command_id": "as1"}
    )
    assert status == 200 and api.row(api.cases["high"])["assignee"] == "hoa"
    await api.login("hoa")
    _, mine = await api.get("/api/case-queue?assignee=me")
    assert [c["case_id"] for c in mine["cases"]] == [api.cases["high"]]
    _, body = await api.post("/api/case-work/next", {"command_id": "hn"})
    assert body["case_id"] == api.cases["high"]  # her assignment before the more severe shared case
