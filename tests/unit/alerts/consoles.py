"""A console over aiohttp's test client, fakeredis and an in-memory Kafka, seeded with four cases:
shared by the console's API and security tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import fakeredis
import msgspec
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from alerts.console import create_app
from alerts.holds import AlertStore
from alerts.lifecycle import HoldLifecycle, Topics
from alerts.routing import Outputs, build_outputs
from alerts.users import UserStore
from rules.model import Action, Channel, RuleHit, Severity
from rules.state import States
from streams.account_store import RedisAccountStore
from tests.unit.alerts.conftest import MemoryKafka

NOW = datetime.now(tz=UTC)
PASSWORD = "correct-horse-battery"
P = "c:"


class Transfer(msgspec.Struct):
    event_id: str
    account_id: str
    amount: int
    dest_account: str = "0011223344"
    dest_bank: str = "VCB"
    ip: str = "8.8.8.8"
    device_id: str = "phone-2"


def _hit(rule: str, account: str, action: Action, severity: Severity, police: bool, row: int = 0) -> RuleHit:
    channels = (Channel.BANK, Channel.POLICE) if police else (Channel.BANK,)
    vi, en = f"Chuyển tiền sau khi đổi số điện thoại OTP ({rule})", f"Transfer after an OTP phone change ({rule})"
    evidence = {"ip": "8.8.8.8", "ip_country": "US", "device_id": "phone-2", "biometric_match_on_device": False}
    ts_ms = int(NOW.timestamp() * 1000) - 60_000
    event_id = f"{account}-{rule}-{row}"
    return RuleHit(
        rule, f"rule {rule}", "v1", row, event_id, account, ts_ms, action, severity, channels, vi, en, evidence
    )


async def _seed(redis: Any, hits: list[RuleHit], at: datetime) -> Outputs:
    events = [Transfer(h.event_id, h.account_id, 10_000_000 * (i + 1)) for i, h in enumerate(hits)]
    out = build_outputs(hits, events, now=at, bank_code="BANK1", hold_duration_s=86_400)
    store, pipe = AlertStore(redis, P), redis.pipeline(transaction=True)
    fresh = await store.deduplicate(out, at)
    store.record(pipe, fresh, at)
    await pipe.execute()
    return fresh


@dataclass
class Console:
    client: TestClient[Any, Any]
    kafka: MemoryKafka
    redis: Any
    cases: dict[str, str]  # name -> case id
    users: UserStore

    async def login(self, user: str, password: str = PASSWORD) -> str:
        r = await self.client.post("/api/login", json={"user": user, "password": password})
        assert r.status == 200, await r.text()
        return str((await r.json())["csrf"])

    async def act(self, csrf: str | None, path: str, body: dict[str, Any], method: str = "POST") -> Any:
        headers = {"X-CSRF-Token": csrf} if csrf else {}
        return await self.client.request(method, path, json=body, headers=headers)

    async def get(self, path: str) -> Any:
        return await (await self.client.get(path)).json()

    async def status(self, path: str) -> int:
        return (await self.client.get(path)).status

    async def hold_status(self, hold_id: str) -> str:
        hold = await AlertStore(self.redis, P).hold(hold_id)
        assert hold is not None
        return hold.status


@asynccontextmanager
async def start_console(
    *, hasher: PasswordHasher | None = None, extra_routes: Sequence[web.RouteDef] = (), **app_options: Any
) -> AsyncIterator[Console]:
    """``app_options`` go to ``create_app`` (secure cookies, TOTP, client identity, limits);
    ``hasher`` defaults to a cheap argon2 (tests log in often)."""
    redis = fakeredis.aioredis.FakeRedis()
    kafka = MemoryKafka()
    topics = Topics("holds", "police", "audit", "suspicious")
    lifecycle = HoldLifecycle(redis, kafka, topics, prefix=P, bank_code="BANK1")
    users = UserStore(redis, P, hasher=hasher or PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for name, role in (("lan", "officer"), ("minh", "supervisor"), ("an", "police")):
        await users.create(name, role, PASSWORD, "test")
    # An old high-severity hold (police-routed), a newer critical hold, an old medium alert, a fresh high hold.
    seeds = {
        "old": ("R2", "ACC1", Action.HOLD, Severity.HIGH, True, timedelta(minutes=30)),
        "crit": ("R12", "ACC2", Action.HOLD, Severity.CRITICAL, False, timedelta(minutes=5)),
        "alone": ("R10", "ACC3", Action.ALERT, Severity.MEDIUM, False, timedelta(hours=2)),
        "newer": ("R3", "ACC4", Action.HOLD, Severity.HIGH, False, timedelta(minutes=1)),
    }
    cases = {}
    for name, (rule, account, action, severity, police, ago) in seeds.items():
        out = await _seed(redis, [_hit(rule, account, action, severity, police)], NOW - ago)
        cases[name] = out.holds[0].hold_id if out.holds else out.alerts[0].alert_id
    devices, bio = ["phone-1", "phone-2"], {"phone-1": 1_795_000_000_000}
    accounts = RedisAccountStore(redis, P)  # as the worker writes the state
    await accounts.save(["ACC1"], States.of([{"known_devices": devices, "bio": bio, "countries": ["VN", "US"]}]))
    options = {"prefix": P, "session_ttl_s": 60, "flush_interval_s": 0, **app_options}
    app = create_app(redis, lifecycle, users, accounts, **options)
    app.router.add_routes(extra_routes)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Console(client, kafka, redis, cases, users)
    finally:
        await client.close()
