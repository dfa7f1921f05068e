"""Shared doubles for the alerts tests: an in-memory Kafka publisher, a settable clock, and a
hold lifecycle on fakeredis wired to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import fakeredis
import orjson
import pytest

from alerts.lifecycle import HoldLifecycle, Topics

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # 10:00 in Hanoi
TOPICS = Topics("holds", "police", "audit", "suspicious")


@dataclass
class MemoryKafka:
    """The Publisher protocol in memory, dead letters included; ``down`` makes every publish
    fail like a broker outage."""

    sent: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    dead: list[tuple[str, bytes | None, bytes, Any]] = field(default_factory=list)
    down: bool = False

    async def publish(self, topic: str, key: str, value: bytes) -> None:
        if self.down:
            raise ConnectionError("broker unreachable")
        self.sent.append((topic, key, orjson.loads(value)))

    async def send_dead_letter(self, topic: str, key: bytes | None, value: bytes, headers: Any) -> None:
        self.dead.append((topic, key, value, headers))

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [v for t, _, v in self.sent if t == topic]


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def redis() -> Any:
    return fakeredis.aioredis.FakeRedis()


@pytest.fixture
def kafka() -> MemoryKafka:
    return MemoryKafka()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lifecycle(redis: Any, kafka: MemoryKafka, clock: Clock) -> HoldLifecycle:
    return HoldLifecycle(redis, kafka, TOPICS, prefix="t:", bank_code="BANK1", clock=clock)
