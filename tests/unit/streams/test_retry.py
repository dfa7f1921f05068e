"""The batch retry: an outage of any length is many rounds of one loop (no recursion), a stop
request ends it without committing, and a batch failing on a bug is split to its poison record."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from aiokafka import ConsumerRecord
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from alerts.routing import Outputs
from rules.config import load_ruleset
from rules.engine import RuleEngine
from rules.geo import load_geoip
from streams.codec import DeadLetter
from streams.metrics import Metrics
from streams.monitor import Monitor, StopRetrying, backoff_s
from streams.settings import Settings


def _record(offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("in", 0, offset, 0, 0, b"A1", b"{}", None, 2, 2, ())


class FlakyMonitor(Monitor):
    """``handle`` fails ``outage`` times on Redis, then on a bug for records named in ``poison``."""

    def __init__(self, outage: int, poison: frozenset[int] = frozenset()) -> None:
        super().__init__(Settings(), RuleEngine(load_ruleset(), load_geoip()), Metrics(), Redis())
        self.outage, self.poison = outage, poison
        self.handled: list[int] = []
        self.dead: list[int] = []
        self.slept = 0
        self.stop_after_sleeps: int | None = None

    async def handle(self, records: Sequence[ConsumerRecord]) -> None:
        if self.outage:
            self.outage -= 1
            msg = "Redis is down"
            raise RedisConnectionError(msg)
        if any(r.offset in self.poison for r in records):
            msg = "a bug"
            raise ValueError(msg)
        self.handled += [r.offset for r in records]

    async def sleep(self, n: timedelta | float | str) -> None:  # type: ignore[override]  # fake clock
        self.slept += 1
        if self.stop_after_sleeps is not None and self.slept >= self.stop_after_sleeps:
            self._stopped.set()

    async def _emit(self, records: Sequence[ConsumerRecord], out: Outputs, dead: Sequence[DeadLetter]) -> None:
        self.dead += [records[d.index].offset for d in dead]


async def test_an_outage_of_thousands_of_rounds_is_ridden_through_without_recursion() -> None:
    m = FlakyMonitor(outage=5_000)  # the old recursive retry died after ~986 rounds
    await m._handle_isolating([_record(i) for i in range(4)])
    assert m.handled == [0, 1, 2, 3] and m.slept == 5_000 and m.failing is None


async def test_a_stop_during_an_outage_ends_the_retry_without_handling() -> None:
    m = FlakyMonitor(outage=10**9)
    m.stop_after_sleeps = 3
    with pytest.raises(StopRetrying):
        await m._handle_isolating([_record(0)])
    assert m.handled == [] and m.failing is not None and "retrying" in m.failing


async def test_a_poison_record_is_isolated_and_its_neighbours_handled_in_order() -> None:
    m = FlakyMonitor(outage=0, poison=frozenset({5}))
    await m._handle_isolating([_record(i) for i in range(8)])
    assert m.dead == [5] and m.handled == [0, 1, 2, 3, 4, 6, 7]


def test_the_backoff_grows_and_is_capped() -> None:
    assert [backoff_s(a) for a in (1, 2, 3)] == [0.4, 0.8, 1.6]
    assert backoff_s(10**6) == 5.0
