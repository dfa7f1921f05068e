"""Login throttling (per client, per user, globally, with backoff; never a real user locked out by
others' failures alone), the supervisors' TOTP second factor, and officers' requests staying
quick while bad logins flood in (issue 12 point 11)."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import fakeredis
import pytest
from argon2 import PasswordHasher

from alerts import totp
from alerts.console.login import forwarded_client
from alerts.console.throttle import Limits, LoginThrottle
from store.keys import Keys
from tests.unit.alerts.consoles import PASSWORD, Console, P, start_console


async def _login(console: Console, user: str, password: str, ip: str, **extra: Any) -> Any:
    body = {"user": user, "password": password, **extra}
    return await console.client.post("/api/login", json=body, headers={"X-Forwarded-For": ip})


async def _user_keys(console: Console) -> list[str]:
    return sorted([k.decode() async for k in console.redis.scan_iter(f"{Keys(P).login_throttle}user:*")])


async def test_a_spray_of_40_names_from_one_client_is_throttled_and_makes_no_keys_for_unknown_names() -> None:
    stopped = time.time()  # a slow login on a loaded machine must not outlast the 1 s backoff
    async with start_console(client_of=forwarded_client, login_clock=lambda: stopped) as console:
        names = [f"guess{i:02d}" for i in range(38)] + ["lan", "minh"]
        statuses = [(await _login(console, n, "Summer2026!", "198.51.100.7")).status for n in names]
        assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}  # then 1 s, 2 s, 4 s ... apart
        r = await _login(console, "guess99", "Summer2026!", "198.51.100.7")
        assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
        assert await _user_keys(console) == []  # the throttled attempts never reached lan and minh
        assert (await _login(console, "lan", PASSWORD, "203.0.113.9")).status == 200  # another client


async def test_others_failures_never_lock_a_supervisor_out_of_their_own_browser() -> None:
    async with start_console(client_of=forwarded_client) as console:
        assert (await _login(console, "minh", PASSWORD, "10.0.0.5")).status == 200  # minh's usual browser
        device = console.client.session.cookie_jar.filter_cookies(console.client.make_url("/api/login"))
        assert "txmon_device" in device
        console.client.session.cookie_jar.clear()
        # An attacker with many addresses (no device token) tries minh's password 60 times.
        for i in range(60):
            r = await _login(console, "minh", f"guess-{i}-password", f"198.51.100.{i}")
            assert r.status in (401, 429)
        assert await _user_keys(console) == [f"{Keys(P).login_throttle}user:minh"]
        assert (await _login(console, "minh", PASSWORD, "198.51.100.200")).status == 429  # a new browser waits
        console.client.session.cookie_jar.update_cookies({"txmon_device": device["txmon_device"].value})
        assert (await _login(console, "minh", PASSWORD, "10.0.0.5")).status == 200  # minh's own is let in
        assert (await _login(console, "lan", PASSWORD, "10.0.0.6")).status == 200  # and nobody else is affected


async def test_backoff_doubles_per_client_and_per_user_and_ends_after_the_window() -> None:
    now = [1_800_000_000.0]
    throttle = LoginThrottle(fakeredis.aioredis.FakeRedis(), "t:", Limits(), clock=lambda: now[0])
    waits = []
    for _ in range(8):
        refusal = await throttle.admit("1.2.3.4", "minh", device_ok=False)
        if refusal is not None:
            waits.append(refusal.retry_after_s)
            now[0] += refusal.retry_after_s
            refusal = await throttle.admit("1.2.3.4", "minh", device_ok=False)
        assert refusal is None
        await throttle.failed("1.2.3.4", "minh")
        await throttle.done("1.2.3.4")
    assert waits == [1, 2, 4]  # failures 5, 6, 7 from that client
    assert await throttle.admit("1.2.3.4", "minh", device_ok=False) is not None
    now[0] += 15 * 60 + 1  # the window lapses
    assert await throttle.admit("1.2.3.4", "minh", device_ok=False) is None


async def test_the_global_limit_stops_a_distributed_spray_but_not_known_browsers() -> None:
    throttle = LoginThrottle(fakeredis.aioredis.FakeRedis(), "t:", Limits(global_free=20))
    for i in range(20):
        assert await throttle.admit(f"10.1.0.{i}", None, device_ok=False) is None
        await throttle.failed(f"10.1.0.{i}", None)
        await throttle.done(f"10.1.0.{i}")
    refusal = await throttle.admit("10.1.1.1", None, device_ok=False)
    assert refusal is not None and 0 < refusal.retry_after_s <= 60
    assert await throttle.admit("10.1.1.2", "lan", device_ok=True) is None


# --- TOTP for supervisors


async def test_supervisors_need_a_fresh_totp_code() -> None:
    async with start_console(supervisor_totp=True, client_of=forwarded_client) as console:
        r = await _login(console, "minh", PASSWORD, "10.0.0.1")
        assert r.status == 403 and (await r.json())["error"] == "totp_enrolment_required"
        _, secret = await console.users.enrol_totp("minh")
        assert (await _login(console, "minh", PASSWORD, "10.0.0.2")).status == 401  # no code
        code = totp.totp(secret, time.time())
        wrong = str((int(code) + 1) % 1_000_000).zfill(6)
        r = await _login(console, "minh", PASSWORD, "10.0.0.3", code=wrong)
        assert r.status == 401 and (await r.json())["error"] == "bad_credentials"
        assert (await _login(console, "minh", "wrong-password-x", "10.0.0.4", code=code)).status == 401
        r = await _login(console, "minh", PASSWORD, "10.0.0.5", code=code)
        assert r.status == 200 and (await r.json())["role"] == "supervisor"
        r = await _login(console, "minh", PASSWORD, "10.0.0.6", code=code)  # the same code replayed
        assert r.status == 401
        assert (await _login(console, "lan", PASSWORD, "10.0.0.7")).status == 200  # officers: password only
        listed = {u.name: u.public() for u in await console.users.all()}
        assert listed["minh"]["totp"] is True and "totp_secret" not in listed["minh"]


async def test_two_logins_with_one_code_at_once_let_one_in() -> None:
    async with start_console(supervisor_totp=True, client_of=forwarded_client) as console:
        _, secret = await console.users.enrol_totp("minh")
        code = totp.totp(secret, time.time())
        both = await asyncio.gather(*(_login(console, "minh", PASSWORD, f"10.0.1.{i}", code=code) for i in (1, 2)))
        assert sorted(r.status for r in both) == [200, 401]


# --- a flood of bad logins and an officer's queue


async def _latencies(console: Console, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = await console.client.get("/api/queue")
        assert r.status == 200
        out.append(time.perf_counter() - t0)
        await asyncio.sleep(0.01)
    return out


def _p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95) - 1]


async def test_an_officers_queue_stays_quick_under_120_concurrent_bad_logins(
    capsys: pytest.CaptureFixture[str],
) -> None:
    attackers, limits = 120, Limits()
    # The production hasher (argon2id, 64 MiB, t=3): the CPU cost a real flood has.
    async with start_console(hasher=PasswordHasher(), client_of=forwarded_client, login_limits=limits) as console:
        await console.login("lan")
        baseline = await _latencies(console, 30)
        flood = asyncio.ensure_future(
            asyncio.gather(*(_login(console, "minh", f"bad-password-{i}", f"198.51.100.{i}") for i in range(attackers)))
        )
        started, during = time.perf_counter(), list[float]()
        while not flood.done() or len(during) < 30:  # the officer works through the whole flood
            during += await _latencies(console, 1)
        lasted = time.perf_counter() - started
        statuses = [r.status for r in await flood]
        refused, checked = statuses.count(429), statuses.count(401)
        with capsys.disabled():
            print(
                f"\nqueue latency: baseline median {statistics.median(baseline) * 1000:.1f} ms "
                f"p95 {_p95(baseline) * 1000:.1f} ms; during {attackers} concurrent bad logins ({lasted:.1f} s) "
                f"median {statistics.median(during) * 1000:.1f} ms p95 {_p95(during) * 1000:.1f} ms; "
                f"{checked} passwords checked, {refused} refused at once"
            )
        assert checked + refused == attackers
        # Only the slots and the short queue are ever hashed; the rest cost the console nothing.
        assert checked <= limits.hash_slots + limits.hash_queue
        assert _p95(during) < max(0.5, 10 * _p95(baseline))
