"""What a worker reports about itself: alive (``/health``) and ready to judge (``/ready``).

Liveness says only that the batch loop still turns; readiness says the worker is judging
events correctly right now: Kafka and Redis answer, the last batch did not fail, it is not
retrying, and the state it judges against is the one it wrote (``StateMarker``).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from store import Keys, RedisClient

T = TypeVar("T")
PROBE_TIMEOUT_S = 2.0
STUCK_AFTER_S = 120.0  # no batch loop turn for this long, without a known wait: not alive


class StateLost(Exception):
    """Redis no longer holds the state this worker wrote (restarted empty, flushed, replaced).

    Not retriable: judging on against empty state would hold legitimate customers and miss
    fraud. The worker stops judging until ``txmon state rebuild`` has restored the state.
    """

    retriable = False


@dataclass(slots=True)
class Readiness:
    """The batch loop's own view; ``/ready`` adds live probes of Kafka and Redis."""

    beat: float = 0.0  # monotonic time the loop last turned
    retrying: str | None = None  # the error a batch is being retried for
    last_batch_error: str | None = None  # the last batch failed (isolated and dead-lettered)
    state_lost: str | None = None
    loop_error: str | None = None  # the batch loop ended on this error
    started: bool = False

    def turned(self) -> None:
        self.beat = time.monotonic()

    def liveness(self) -> str | None:
        """Why the batch loop is not alive (None: alive). Waiting out an outage or a lost state
        is alive: restarting the process would not help."""
        if self.loop_error:
            return f"batch loop ended: {self.loop_error}"
        waiting = self.retrying or self.state_lost
        if self.started and not waiting and time.monotonic() - self.beat > STUCK_AFTER_S:
            return f"batch loop has not turned for {time.monotonic() - self.beat:.0f} s"
        return None

    def reasons(self) -> list[str]:
        out = []
        if self.loop_error:
            out.append(f"batch loop ended: {self.loop_error}")
        if not self.started:
            out.append("starting")
        if self.state_lost:
            out.append(f"state lost: {self.state_lost}")
        if self.retrying:
            out.append(f"retrying a batch: {self.retrying}")
        if self.last_batch_error:
            out.append(f"last batch failed: {self.last_batch_error}")
        return out


class StateMarker:
    """A random generation token in Redis, written once with the first state.

    Every batch reads it back in its state round trip: when Redis restarts empty (or is
    flushed), the token is gone and the worker knows before judging anything against the
    empty state. ``txmon state rebuild`` writes a new token after restoring the state.
    """

    def __init__(self, redis: RedisClient, prefix: str = "txmon:") -> None:
        self.redis = redis
        self.key = Keys(prefix).state_generation

    async def read(self) -> str | None:
        raw = await self.redis.get(self.key)
        return None if raw is None else _text(raw)

    async def create(self) -> str:
        """A new token unless one is there already (another worker may have won); returns the token."""
        await self.redis.set(self.key, secrets.token_hex(8), nx=True)
        token = await self.read()
        assert token is not None  # noqa: S101  (just set)
        return token

    async def replace(self) -> str:
        token = secrets.token_hex(8)
        await self.redis.set(self.key, token)
        return token

    def queue_read(self, pipe: Any) -> None:
        pipe.get(self.key)

    def check(self, expected: str | None, reply: object) -> None:
        found = None if reply is None else _text(reply)  # type: ignore[arg-type]
        if found != expected:
            what = "gone (Redis restarted empty or was flushed)" if found is None else f"replaced by {found}"
            msg = f"the state generation marker {self.key} is {what}; expected {expected}"
            raise StateLost(msg)


async def probe(call: Awaitable[T]) -> T | None:
    """The answer of a call to Redis or Kafka, or None when it fails or takes over PROBE_TIMEOUT_S."""
    try:
        return await asyncio.wait_for(call, PROBE_TIMEOUT_S)
    except (RedisError, KafkaError, OSError, TimeoutError):
        return None


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    """The partitions of ``topic``, asked of a broker now: a consumer holds metadata only for
    what it is assigned, so right after its start it may know none."""
    cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001  (no public call returns it)
    return sorted(cluster.partitions_for_topic(topic) or ())


async def not_ready_reasons(readiness: Readiness, redis: RedisClient, consumer: AIOKafkaConsumer | None) -> list[str]:
    """Why the worker is not ready now (empty: ready): its own view, then live probes."""
    reasons = readiness.reasons()
    if readiness.started:
        if await probe(redis.ping()) is None:
            reasons.append("Redis does not answer")
        if consumer is not None and await probe(consumer.topics()) is None:  # a metadata request
            reasons.append("Kafka does not answer")
    return reasons


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw
