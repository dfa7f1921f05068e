"""One contract for ``streams.account_store.AccountStore``, run against every implementation:
in memory (objects, and the codec's bytes), one real Redis and a real Redis Cluster. The
back-test and the worker decide alike only while these agree."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from typing import cast

import pytest

from rules.ip_cluster import MAX_VISITS, IpVisits, merge_ip
from rules.state import MAX_IP_ACCOUNTS, AccountState
from rules.state_codec import STATE_CODEC
from store import connect
from streams.account_store import AccountStore, MemoryAccountStore, RedisAccountStore
from tests.integration.conftest import Cluster, Services

pytestmark = pytest.mark.integration
W = 86_400_000
KINDS = ["memory", "memory-bytes", "redis", "cluster"]


@pytest.fixture(params=KINDS)
def where(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(kind, Redis URL): the session's one Redis or its Redis Cluster; no URL in memory."""
    kind = request.param
    if kind == "redis":
        return kind, cast(Services, request.getfixturevalue("services")).redis_url
    if kind == "cluster":
        return kind, cast(Cluster, request.getfixturevalue("redis_cluster")).env["TXMON_REDIS_URL"]
    return kind, ""


@contextlib.asynccontextmanager
async def opened(where: tuple[str, str]) -> AsyncIterator[AccountStore]:
    """The store, its client closed on this test's own event loop."""
    kind, url = where
    if not url:
        yield MemoryAccountStore(STATE_CODEC if kind == "memory-bytes" else None)
        return
    client = connect(url, cluster=kind == "cluster")
    try:
        yield RedisAccountStore(client, f"c{uuid.uuid4().hex[:6]}:")
    finally:
        await client.aclose()


def _state(i: int) -> AccountState:
    return AccountState(
        last_transfer_device=f"d{i}",
        known_devices=[f"d{i}", "shared"],
        bio={f"d{i}": 1_700_000_000_000 + i},
        otp_change_ms=i,
        offsets={0: 10 * i, 3: i},
        applied=[i, i + 1],
    )


async def test_an_account_without_a_record_has_no_state(where: tuple[str, str]) -> None:
    async with opened(where) as store:
        assert await store.load(["nobody", "nobody-else"]) == [None, None]
        assert await store.load([]) == []


async def test_a_saved_state_reads_back_whole_with_its_applied_offsets(where: tuple[str, str]) -> None:
    async with opened(where) as store:
        accounts = [f"A{i}" for i in range(50)]  # spread over every master of a cluster
        await store.save(accounts, [_state(i) for i in range(50)])
        got = await store.load([*reversed(accounts), "nobody"])
        assert got == [*(_state(i) for i in reversed(range(50))), None]


async def test_a_second_save_replaces_the_record(where: tuple[str, str]) -> None:
    async with opened(where) as store:
        await store.save(["A1", "A2"], [_state(1), _state(2)])
        await store.save(["A1"], [_state(7)])
        assert await store.load(["A1", "A2"]) == [_state(7), _state(2)]


def _updates(rng: random.Random, n_accounts: int) -> IpVisits:
    batch: IpVisits = {}
    for _ in range(rng.randint(1, 6)):
        start = rng.randint(0, 4 * W)
        visit = (start, start + rng.randint(0, 600_000), f"e{rng.randint(0, 9)}", rng.choice(["Login", "Transfer"]))
        batch.setdefault(f"A{rng.randint(0, n_accounts)}", []).append(visit)
    return {a: sorted(v) for a, v in batch.items()}


async def test_ip_visits_merge_as_merge_ip_does_and_a_replay_changes_nothing(where: tuple[str, str]) -> None:
    async with opened(where) as store:
        rng = random.Random(5)
        expected: dict[str, IpVisits] = {}
        for case in range(12):
            ip = f"198.51.100.{case}"
            for _ in range(6):
                batch = _updates(rng, MAX_IP_ACCOUNTS + 8 if case % 3 == 0 else 4)
                expected[ip] = merge_ip(expected.get(ip, {}), batch, W)
                assert (await store.merge_ip({ip: batch}, W))[ip] == expected[ip], case
                assert (await store.merge_ip({ip: batch}, W))[ip] == expected[ip], "redelivered"
            assert len(expected[ip]) <= MAX_IP_ACCOUNTS
            assert all(len(v) <= MAX_VISITS for v in expected[ip].values())


async def test_one_merge_answers_every_ip_of_the_batch(where: tuple[str, str]) -> None:
    async with opened(where) as store:
        a = {"A1": [(1_000, 2_000, "e1", "Login")]}
        b = {"A2": [(5_000, 6_000, "e2", "Transfer")]}
        assert await store.merge_ip({"203.0.113.1": a, "203.0.113.2": b}, W) == {"203.0.113.1": a, "203.0.113.2": b}
        assert await store.merge_ip({}, W) == {}
