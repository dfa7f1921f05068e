"""Adaptive batch limits, and the overlapped save: offsets only after the batch before is saved,
a failed save judges that batch (and every batch judged after it) again instead of committing
it, and saves keep the order of the batches."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import TopicPartition
from redis.asyncio import Redis

from alerts.routing import Outputs
from rules.config import load_ruleset
from rules.engine import RuleEngine
from streams.batching import AdaptiveBatch
from streams.emit import Sent
from streams.metrics import Metrics
from streams.monitor import Monitor, _Pending
from streams.settings import Settings
from tests.unit.rules.conftest import FakeGeo
from tests.unit.streams.test_retry import Record


@pytest.mark.parametrize(
    ("fetches", "size"),
    [
        ([], 500),  # starts small
        ([500], 1_000),  # a full fetch: backlog, doubles
        ([500, 1_000, 2_000, 4_000, 8_000, 16_000], 20_000),  # capped at the maximum
        ([500, 1_000, 2_000, 4_000, 8_000, 16_000, 20_000], 20_000),
        ([500, 1_000, 300], 1_000),  # more than half full: stays
        ([500, 1_000, 10], 1_000),  # light again: halves
        ([500, 1_000, 10, 10, 10], 500),  # never below the minimum
        ([0, 0], 500),
    ],
)
def test_the_limit_follows_the_backlog(fetches: list[int], size: int) -> None:
    b = AdaptiveBatch(Settings(batch_min_records=500, batch_max_records=20_000))
    for n in fetches:
        b.fetched(n)
    assert b.size == size


def test_a_minimum_above_the_maximum_is_the_maximum() -> None:
    b = AdaptiveBatch(Settings(batch_min_records=5_000, batch_max_records=1_000))
    assert b.size == 1_000
    b.fetched(1_000)
    assert b.size == 1_000


class Consumer:
    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def assignment(self) -> set[TopicPartition]:
        return set()


def monitor() -> tuple[Monitor, Consumer]:
    m = Monitor(Settings(commit_interval_ms=0), RuleEngine(load_ruleset(), FakeGeo()), Metrics(), Redis())
    consumer = Consumer()
    m.consumer = consumer  # type: ignore[assignment]
    return m, consumer


def pending(m: Monitor, tail: asyncio.Future[None], first: int = 7, verdict: Any = None) -> _Pending:
    tp = TopicPartition("in", 0)
    records: list[Any] = [Record(first), Record(first + 1)]
    return _Pending({tp: records}, records, m.engine, tail, verdict)


def done(exc: Exception | None = None) -> asyncio.Future[None]:
    f: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    if exc is None:
        f.set_result(None)
    else:
        f.set_exception(exc)
    return f


async def test_offsets_are_committed_only_once_the_batch_is_saved() -> None:
    m, consumer = monitor()
    saved: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    m._pending = [pending(m, saved)]
    settling = asyncio.ensure_future(m._settle())
    await asyncio.sleep(0)
    assert consumer.commits == [] and not settling.done()  # the save is still in flight
    saved.set_result(None)
    await settling
    assert consumer.commits == [{TopicPartition("in", 0): 9}]
    assert m.metrics.registry.get_sample_value("txmon_records_total") == 2
    await m._settle()  # nothing pending: nothing more
    assert len(consumer.commits) == 1


async def test_a_failed_save_judges_the_batch_again_before_its_offsets_are_committed() -> None:
    m, consumer = monitor()
    judged: list[list[int]] = []

    async def handle(records: Sequence[Any]) -> None:
        assert consumer.commits == []
        judged.append([r.offset for r in records])

    m.handle = handle  # type: ignore[method-assign]
    failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    failed.set_exception(ConnectionError("redis went away"))
    m._pending = [pending(m, failed)]
    await m._settle()
    assert judged == [[7, 8]]
    assert consumer.commits == [{TopicPartition("in", 0): 9}]


def judging_records(m: Monitor) -> list[list[int]]:
    """The offsets of each batch ``m`` judges again (``handle``), in order."""
    judged: list[list[int]] = []

    async def handle(records: Sequence[Any]) -> None:
        judged.append([r.offset for r in records])

    m.handle = handle  # type: ignore[method-assign]
    return judged


async def test_the_next_batch_is_judged_after_the_last_one_in_flight() -> None:
    m, consumer = monitor()
    ahead = object()
    m._pending = [pending(m, done(), 7, object()), pending(m, done(), 9, ahead)]
    assert await m._settle_ahead() is ahead  # the last one stays in flight
    assert consumer.commits == [{TopicPartition("in", 0): 9}] and len(m._pending) == 1


async def test_after_a_failed_save_every_batch_is_judged_again_in_order_and_from_redis() -> None:
    m, consumer = monitor()
    judged = judging_records(m)
    # The second tail fails because the first did (``_finish`` waits for the tail before it).
    failed = ConnectionError("redis went away")
    m._pending = [pending(m, done(failed), 7, object()), pending(m, done(failed), 9, object())]
    assert await m._settle_ahead() is None  # the new batch reads Redis only
    assert judged == [[7, 8], [9, 10]] and m._pending == []
    assert consumer.commits == [{TopicPartition("in", 0): 9}, {TopicPartition("in", 0): 11}]


async def test_a_last_batch_that_already_failed_is_not_judged_after() -> None:
    m, _ = monitor()
    judged = judging_records(m)
    m._pending = [pending(m, done(ConnectionError("down")), 7, object())]
    assert await m._settle_ahead() is None
    assert judged == [[7, 8]]


class Saves:
    def __init__(self) -> None:
        self.saved: list[Any] = []

    async def save_batch(self, packed: Any, *args: Any) -> None:
        self.saved.append(packed)


def verdict(packed: str) -> Any:
    class V:
        fresh, now = Outputs(), None

    v = V()
    v.packed = packed  # type: ignore[attr-defined]
    return v


async def test_a_batch_is_saved_only_after_the_batch_before_it() -> None:
    m, _ = monitor()
    m.producer, m.store, m.judge.count = object(), Saves(), lambda v: None  # type: ignore[assignment,method-assign]
    before: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    finishing = asyncio.ensure_future(m._finish(verdict("second"), Sent([], [], []), before))
    await asyncio.sleep(0.01)
    assert m.store.saved == [] and not finishing.done()  # type: ignore[attr-defined]
    before.set_result(None)
    await finishing
    assert m.store.saved == ["second"]  # type: ignore[attr-defined]


async def test_a_batch_is_not_saved_when_the_batch_before_it_failed() -> None:
    m, _ = monitor()
    m.producer, m.store = object(), Saves()  # type: ignore[assignment]
    with pytest.raises(ConnectionError):
        await m._finish(verdict("second"), Sent([], [], []), done(ConnectionError("down")))
    assert m.store.saved == []  # type: ignore[attr-defined]
