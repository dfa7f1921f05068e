"""The batch loop's one retry loop: any outage length without recursion, capped backoff,
the ``retriable`` flag deciding retry versus isolating the record at fault."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from alerts.routing import Outputs
from rules.config import ConfigError, load_ruleset
from rules.engine import RuleEngine
from streams.codec import DeadLetter
from streams.metrics import Metrics
from streams.monitor import Monitor
from streams.retry import MAX_DELAY_S, Stopping, backoff_s, retriable
from streams.settings import Settings
from tests.unit.rules.conftest import FakeGeo


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Record:
    def __init__(self, offset: int) -> None:
        self.offset, self.partition, self.topic = offset, 0, "in"
        self.key, self.value, self.timestamp = b"A", b"{}", 0


def monitor_with(clock: FakeClock) -> Monitor:
    m = Monitor(Settings(), RuleEngine(load_ruleset(), FakeGeo()), Metrics(), Redis())
    m.retry.sleep = clock.sleep
    return m


def sample(m: Monitor, name: str, **labels: str) -> float:
    return m.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_an_outage_of_thousands_of_rounds_needs_no_recursion() -> None:
    """~986 rounds were 2 h of outage and a RecursionError before; 5,000 rounds (7 h at the
    capped delay) under a recursion limit far below that must pass as one loop."""
    clock, rounds = FakeClock(), 5_000
    m = monitor_with(clock)
    calls: list[int] = []

    async def handle(records: Sequence[Any]) -> None:
        calls.append(len(records))
        if len(calls) <= rounds:
            raise RedisConnectionError("Connection refused")
        assert not m.readiness.reasons() or m.readiness.retrying  # retrying while it fails

    m.handle = handle  # type: ignore[method-assign]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        await m._handle_isolating([Record(i) for i in range(4)])
    finally:
        sys.setrecursionlimit(limit)
    assert calls == [4] * (rounds + 1)  # never split: an outage is not the batch's fault
    assert max(clock.sleeps) == MAX_DELAY_S and clock.sleeps[:3] == [0.4, 0.8, 1.6]
    assert clock.now == pytest.approx(sum(backoff_s(a) for a in range(1, rounds + 1)))
    assert sample(m, "txmon_batch_retries_total") == rounds
    assert sample(m, "txmon_batch_failures_total", kind="redis") == rounds
    assert m.readiness.retrying is None and m.readiness.last_batch_error is None


async def test_a_record_at_fault_is_isolated_and_dead_lettered() -> None:
    clock = FakeClock()
    m = monitor_with(clock)
    judged: list[int] = []
    dead: list[tuple[int, str]] = []

    async def handle(records: Sequence[Any]) -> None:
        if any(r.offset == 5 for r in records):
            msg = "poison"
            raise ValueError(msg)
        judged.extend(r.offset for r in records)

    async def emit(records: Sequence[Any], out: Outputs, letters: Sequence[DeadLetter]) -> None:
        dead.extend((records[d.index].offset, d.reason) for d in letters)

    m.handle = handle  # type: ignore[method-assign]
    m._emit = emit  # type: ignore[method-assign,assignment]
    await m._handle_isolating([Record(i) for i in range(8)])
    assert judged == [0, 1, 2, 3, 4, 6, 7]  # in order: per-account order survives the split
    assert dead == [(5, "processing_error")] and clock.sleeps == []
    assert m.readiness.last_batch_error is not None and "last batch failed" in m.readiness.reasons()[-1]


async def test_stopping_ends_a_retry_at_once() -> None:
    clock = FakeClock()
    m = monitor_with(clock)

    async def handle(records: Sequence[Any]) -> None:
        if len(clock.sleeps) == 3:
            await m.stop()
        raise RedisConnectionError("down")

    m.handle = handle  # type: ignore[method-assign]
    with pytest.raises(Stopping):
        await m._handle_isolating([Record(0)])
    assert len(clock.sleeps) == 3 and m.readiness.retrying is None


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (RedisConnectionError("refused"), True),
        (OSError("unreachable"), True),
        (KafkaTimeoutError(), True),  # aiokafka says not retriable; for a worker it is an outage
        (MessageSizeTooLargeError(), False),  # one record's size: never helps
        (ConfigError("bad"), False),  # txmon's own flag
        (ValueError("bug"), False),
    ],
)
def test_retriable_follows_the_flag_and_the_kind_of_fault(exc: BaseException, expected: bool) -> None:
    assert retriable(exc) is expected


def test_backoff_doubles_to_its_cap() -> None:
    assert [backoff_s(a) for a in (1, 2, 3, 4, 5, 6, 100, 10**6)] == [0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0, 5.0]
