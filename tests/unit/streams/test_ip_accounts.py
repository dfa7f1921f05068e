"""R6b's shared store in Redis: commutative writes, bounded size and age, expiry (fakeredis)."""

from __future__ import annotations

import asyncio

import fakeredis

from rules.state import IP_RETENTION_MS, MAX_IP_ACCOUNTS
from streams.ip_accounts import IpAccountStore

IP = "8.8.4.4"
T = 1_764_295_200_000  # 2026-11-28 02:00 UTC, in ms


async def _round(store: IpAccountStore, updates: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """One batch as the monitor does it: load the batch's IPs, then save its updates."""
    pipe = store.redis.pipeline(transaction=False)
    store.queue_load(pipe, list(updates))
    loaded = store.unpack(list(updates), await pipe.execute())
    pipe = store.redis.pipeline(transaction=True)
    store.save(pipe, updates, loaded)
    await pipe.execute()
    return loaded


def test_writes_keep_the_latest_time_whatever_the_order() -> None:
    async def go() -> None:
        store = IpAccountStore(fakeredis.aioredis.FakeRedis(), "t:")
        await _round(store, {IP: {"A": T + 5_000, "B": T}})
        await _round(store, {IP: {"A": T + 1_000}})  # an older sighting from a slower worker
        assert await store.accounts(IP) == {"A": T + 5_000, "B": T}
        assert 0 < await store.redis.pttl(f"t:ip:{IP}") <= IP_RETENTION_MS

    asyncio.run(go())


def test_the_store_is_trimmed_to_the_newest_accounts_within_the_retention() -> None:
    async def go() -> None:
        store = IpAccountStore(fakeredis.aioredis.FakeRedis(), "t:")
        await _round(store, {IP: {"OLD": T - IP_RETENTION_MS}})
        await _round(store, {IP: {f"A{i:03d}": T + i for i in range(MAX_IP_ACCOUNTS + 10)}})
        kept = await store.accounts(IP)
        assert "OLD" not in kept and len(kept) == MAX_IP_ACCOUNTS
        assert min(kept.values()) == T + 10  # the newest ones stay

    asyncio.run(go())


def test_unknown_ips_load_as_nothing() -> None:
    async def go() -> None:
        store = IpAccountStore(fakeredis.aioredis.FakeRedis(), "t:")
        assert await _round(store, {IP: {"A": T}}) == {}
        assert await _round(store, {IP: {"B": T}}) == {IP: {"A": T}}

    asyncio.run(go())
