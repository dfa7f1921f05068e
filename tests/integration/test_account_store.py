"""One contract for ``streams.account_store.AccountStore``, run against every implementation:
in memory (objects, and the codec's bytes), one real Redis and a real Redis Cluster. The
back-test and the worker decide alike only while these agree: the back-test calls the memory
store's synchronous twins, the worker ``read_batch`` and ``save_batch`` on Redis."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from rules.ip_cluster import MAX_VISITS, IpVisits, merge_ip
from rules.state import MAX_IP_ACCOUNTS, States
from rules.state_codec import STATE_CODEC
from store import connect
from streams.account_store import AccountStore, BatchRead, MemoryAccountStore, RedisAccountStore
from streams.lists import ListUpdate
from streams.readiness import StateLost, StateMarker
from streams.state_codec import RecordCodec
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


def _states(*ids: int | None) -> States:
    """Accounts' states, each set apart by its number (None: no state)."""
    return States.of([None if i is None else _fields(i) for i in ids])


def _fields(i: int) -> dict[str, Any]:
    return {
        "last_transfer_device": f"d{i}",
        "known_devices": [f"d{i}", "shared"],
        "bio": {f"d{i}": 1_700_000_000_000 + i},
        "otp_change_ms": i,
        "day_total": 1_000 * i,
        "offsets": {0: 10 * i, 3: i},
        "applied": [i, i + 1],
    }


async def test_an_account_without_a_record_has_no_state(where: tuple[str, str]) -> None:
    async with opened(where) as store:
        assert await store.load(["nobody", "nobody-else"]) == [None, None]
        assert await store.load([]) == []


async def test_a_saved_state_reads_back_whole_with_its_applied_offsets(where: tuple[str, str]) -> None:
    async with opened(where) as store:
        accounts = [f"A{i}" for i in range(50)]  # spread over every master of a cluster
        await store.save(accounts, _states(*range(50)))
        got = await store.load([*reversed(accounts), "nobody"])
        assert got == _states(*reversed(range(50)), None)


async def test_a_second_save_replaces_the_record(where: tuple[str, str]) -> None:
    async with opened(where) as store:
        await store.save(["A1", "A2"], _states(1, 2))
        await store.save(["A1"], _states(7))
        assert await store.load(["A1", "A2"]) == _states(7, 2)


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


async def _put_on_list(store: AccountStore, accounts: list[str]) -> None:
    if isinstance(store, MemoryAccountStore):
        store.suspicious = frozenset(accounts)
    else:
        assert isinstance(store, RedisAccountStore)
        await store.suspicious.apply([ListUpdate(account_id=a) for a in accounts])


async def test_read_batch_is_load_the_list_and_merge_ip_together(where: tuple[str, str]) -> None:
    async with opened(where) as store:
        accounts = [f"A{i}" for i in range(30)]
        await store.save_packed(store.pack(accounts[:20], _states(*range(20))))
        await _put_on_list(store, ["P1", "P3"])
        rng, expected = random.Random(9), dict[str, IpVisits]()
        for _ in range(4):
            updates = {f"203.0.113.{k}": _updates(rng, 5) for k in range(3)}
            expected = {ip: merge_ip(expected.get(ip, {}), v, W) for ip, v in updates.items()}
            read = await store.read_batch([*reversed(accounts), "nobody"], ["P0", "P1", "P3", "P4"], updates, W)
            assert read.states == _states(*([None] * 10), *reversed(range(20)), None)
            assert read.listed == frozenset({"P1", "P3"})
            assert read.ip_accounts == expected
        assert await store.load(accounts[:2]) == _states(0, 1)  # reading changed no state


async def test_read_batch_of_nothing_reads_nothing(where: tuple[str, str]) -> None:
    async with opened(where) as store:
        await _put_on_list(store, ["P1"])
        assert await store.read_batch([], [], {}, W) == BatchRead(States.empty(0), frozenset(), {})
        read = await store.read_batch(["A1"], [], {}, W)  # no counterparty asked: none listed
        assert read == BatchRead(States.empty(1), frozenset(), {})


async def test_a_packed_save_replaces_the_records_whole(where: tuple[str, str]) -> None:
    async with opened(where) as store:
        await store.save(["A1", "A2"], _states(1, 2))
        packed = store.pack(["A2", "A3"], _states(8, 9))
        assert await store.load(["A2", "A3"]) == _states(2, None)  # packing saves nothing
        await store.save_packed(packed)
        assert await store.load(["A1", "A2", "A3"]) == _states(1, 8, 9)


@pytest.mark.parametrize("codec", [None, STATE_CODEC], ids=["objects", "bytes"])
async def test_the_memory_stores_synchronous_twins_agree_with_its_methods(
    codec: RecordCodec | None,
) -> None:
    sync, wrapped = MemoryAccountStore(codec, frozenset({"P2"})), MemoryAccountStore(codec, frozenset({"P2"}))
    rng = random.Random(3)
    for step in range(6):
        accounts = [f"A{i}" for i in rng.sample(range(10), 6)]
        updates = {f"198.51.100.{rng.randint(0, 3)}": _updates(rng, 4)}
        payees = [f"P{rng.randint(0, 3)}" for _ in range(3)]
        read = sync.read_batch_now(accounts, payees, updates, W)
        assert read == await wrapped.read_batch(accounts, payees, updates, W), step
        states = _states(*(rng.randint(0, 99) for _ in accounts))
        sync.save_packed_now(sync.pack(accounts, states))
        await wrapped.save_packed(wrapped.pack(accounts, states))
        assert sync.load_now(accounts) == await wrapped.load(accounts) == states, step
        assert sync.accounts() == wrapped.accounts() and sync.ip_accounts == wrapped.ip_accounts
        assert sync.load_now(sync.accounts()) == wrapped.load_now(wrapped.accounts())


class _Recorded:
    """A pipeline that notes each command queued on it, in order."""

    def __init__(self, pipe: Any, calls: list[tuple[str, object]]) -> None:
        self._pipe, self._calls = pipe, calls

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._pipe, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self._calls.append((name, args[0] if args else None))
            return real(*args, **kwargs)

        return call


@pytest.mark.parametrize("where", ["redis", "cluster"], indirect=True)
async def test_the_workers_read_is_one_round_trip_ending_with_the_state_marker(
    where: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with opened(where) as store:
        assert isinstance(store, RedisAccountStore)
        marker = StateMarker(store.redis, store.states.keys.prefix)
        token = await marker.create()
        await store.save(["A1"], _states(1))
        await _put_on_list(store, ["P1"])
        calls: list[tuple[str, object]] = []
        real_pipeline = store.redis.pipeline
        monkeypatch.setattr(store.redis, "pipeline", lambda **kw: _Recorded(real_pipeline(**kw), calls))
        visits = {"203.0.113.9": {"A1": [(1_000, 2_000, "e1", "Login")]}}
        read = await store.read_batch(["A1", "A2"], ["P1"], visits, W, marker=marker, generation=token)
        assert read == BatchRead(_states(1, None), frozenset({"P1"}), visits)
        assert [name for name, _ in calls].count("execute") == 1  # one round trip
        assert calls[-2:] == [("get", marker.key), ("execute", None)]  # the marker read last
        monkeypatch.undo()
        await store.redis.delete(marker.key)  # Redis restarted empty, say
        with pytest.raises(StateLost):
            await store.read_batch(["A1"], [], {}, W, marker=marker, generation=token)
