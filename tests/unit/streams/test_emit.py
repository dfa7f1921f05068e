"""The worker's dead-letter emission never fails for size: too large is truncated, and what the
broker still refuses as too large goes as a value-less stub with its source and reason."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import ConsumerRecord
from aiokafka.errors import MessageSizeTooLargeError
from redis.asyncio import Redis

from alerts.routing import Outputs
from rules.config import load_ruleset
from rules.engine import RuleEngine
from rules.geo import load_geoip
from streams.codec import DeadLetter
from streams.metrics import Metrics
from streams.monitor import Monitor
from streams.settings import Settings


class Broker:
    """A producer whose topic refuses records over ``limit`` bytes (as a broker answers)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sent: list[tuple[str, bytes, bytes | None, dict[str, bytes]]] = []

    async def send(self, topic: str, value: bytes, key: bytes | None = None, headers: Any = ()) -> asyncio.Future[Any]:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if len(value) > self.limit:
            done.set_exception(MessageSizeTooLargeError())
        else:
            self.sent.append((topic, value, key, dict(headers)))
            done.set_result(None)
        return done


def _record(value: bytes, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("in", 3, offset, 0, 0, b"A1", value, None, len(value), len(value), ())


async def test_a_dead_letter_the_broker_refuses_goes_as_a_stub() -> None:
    settings = Settings(dead_letter_topic="dlq")
    monitor = Monitor(settings, RuleEngine(load_ruleset(), load_geoip()), Metrics(), Redis())
    broker = Broker(limit=500_000)  # the topic's max.message.bytes, below TXMON_DEAD_LETTER_MAX_BYTES
    monitor.producer = broker  # type: ignore[assignment]
    records = [_record(b"x" * 900_000, 7), _record(b"{", 8)]
    dead = [DeadLetter(0, "oversized", "too long"), DeadLetter(1, "malformed_json", "truncated")]
    await monitor._emit(records, Outputs(), dead)
    [(_, stub_value, key, stub), (_, small, _, plain)] = sorted(broker.sent, key=lambda s: s[3]["txmon-source"])
    assert stub_value == b"" and key == b"A1" and stub["txmon-reason"] == b"oversized"
    assert stub["txmon-source"] == b"in/3/7" and stub["txmon-original-size"] == b"900000"
    assert small == b"{" and plain["txmon-reason"] == b"malformed_json" and "txmon-truncated" not in plain
