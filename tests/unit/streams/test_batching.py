"""Adaptive batch limits, and the overlapped save: offsets only after the batch before is saved,
and a failed save judges that batch again instead of committing it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import TopicPartition
from redis.asyncio import Redis

from rules.config import load_ruleset
from rules.engine import RuleEngine
from streams.batching import AdaptiveBatch
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


def pending(m: Monitor, tail: asyncio.Future[None]) -> _Pending:
    tp = TopicPartition("in", 0)
    records: list[Any] = [Record(7), Record(8)]
    return _Pending({tp: records}, records, m.engine, tail)


async def test_offsets_are_committed_only_once_the_batch_is_saved() -> None:
    m, consumer = monitor()
    saved: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    m._pending = pending(m, saved)
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
    m._pending = pending(m, failed)
    await m._settle()
    assert judged == [[7, 8]]
    assert consumer.commits == [{TopicPartition("in", 0): 9}]
