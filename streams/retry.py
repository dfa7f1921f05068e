"""When to retry, and how long to wait: one policy for the batch loop and the control agents.

An exception says itself whether retrying can help: txmon's own errors carry a ``retriable``
class flag (``False``: the input or the command is at fault, retrying it unchanged cannot help),
and so do aiokafka's. Infrastructure failures that no record causes (Redis or the network
unreachable, a Kafka request timing out) are retried until they pass, however long the outage;
anything else is the batch's fault and is isolated and dead-lettered by the caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, MessageSizeTooLargeError
from redis.exceptions import DataError, RedisError

from streams.metrics import Metrics
from streams.readiness import Readiness, StateLost

log = logging.getLogger(__name__)
T = TypeVar("T")

BASE_DELAY_S = 0.2
MAX_DELAY_S = 5.0

# aiokafka marks some outages "not retriable" (KafkaTimeoutError: resending the same request at
# once cannot help); for a worker every broker-side failure is an outage to wait out, except
# a record too large for the broker, which only that record causes.
_KAFKA_OUTAGES = (KafkaTimeoutError, KafkaConnectionError)


def backoff_s(attempt: int, base: float = BASE_DELAY_S, cap: float = MAX_DELAY_S) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, ...): doubling from ``base``, at most ``cap``."""
    return min(base * 2.0 ** min(max(attempt, 1), 32), cap)


def retriable(exc: BaseException) -> bool:
    """Whether ``exc`` is a passing fault worth retrying the same work for."""
    if isinstance(exc, _KAFKA_OUTAGES):
        return True
    if isinstance(exc, MessageSizeTooLargeError):
        return False  # caused by one record's size: retrying never helps
    if isinstance(exc, KafkaError):
        return True  # a broker-side failure (leader moved, not authorised yet): wait it out
    flag = getattr(type(exc), "retriable", None)
    if isinstance(flag, bool):
        return flag  # txmon's own errors say it
    if isinstance(exc, DataError):
        return False  # redis-py refused a value before sending it: the data is at fault
    return isinstance(exc, RedisError | OSError | asyncio.TimeoutError)


class Stopping(Exception):  # noqa: N818  (control flow, not an error)
    """The worker was told to stop while a batch was still pending: leave it uncommitted."""


class BatchRetry:
    """The batch loop's failure handling: one loop, no recursion, whatever the outage's length.

    ``handle(records)`` judges a batch; ``dead_letter(records)`` dead-letters one record that
    keeps failing. A passing fault is retried with capped backoff for as long as it lasts
    (reported through ``readiness.retrying``); any other error splits the batch until the record
    at fault is alone. ``StateLost`` waits for ``on_state_lost`` (the rebuild), then retries.
    """

    def __init__(
        self,
        metrics: Metrics,
        readiness: Readiness,
        stopping: Callable[[], bool],
        sleep: Callable[[float], Awaitable[None]],
        on_state_lost: Callable[[StateLost], Awaitable[None]],
        on_change: Callable[[], None],
    ) -> None:
        self.metrics, self.readiness = metrics, readiness
        self.stopping, self.sleep = stopping, sleep
        self.on_state_lost, self.on_change = on_state_lost, on_change

    async def isolating(
        self,
        records: Sequence[T],
        handle: Callable[[Sequence[T]], Awaitable[None]],
        dead_letter: Callable[[Sequence[T]], Awaitable[None]],
    ) -> None:
        parts: list[Sequence[T]] = [records]
        failed = 0
        while parts:
            part = parts.pop()
            error = await self.retrying(handle, part)
            if error is None:
                continue
            self.metrics.count_batch_failure(error, retried=False)
            if len(part) == 1:
                failed += 1
                error = await self.retrying(dead_letter, part)
                if error is not None:
                    raise error
                continue
            half = len(part) // 2
            parts += [part[half:], part[:half]]  # the first half first: order per account holds
        self.readiness.last_batch_error = (
            f"{failed} of {len(records)} records failed evaluation and were dead-lettered" if failed else None
        )
        self.on_change()

    async def retrying(self, work: Callable[[Sequence[T]], Awaitable[None]], part: Sequence[T]) -> Exception | None:
        """Run ``work(part)`` until it succeeds (None) or fails in a way retrying cannot fix (the error)."""
        attempt = 0
        try:
            while True:
                attempt += 1
                try:
                    await work(part)
                    return None
                except StateLost as exc:
                    await self.on_state_lost(exc)
                    attempt = 0
                    continue
                except Exception as exc:
                    if not retriable(exc):
                        log.exception("batch of %d failed on an error retrying cannot fix", len(part))
                        return exc
                    self.metrics.count_batch_failure(exc, retried=True)
                    self.readiness.retrying = f"{type(exc).__name__}: {exc}"[:300]
                    self.on_change()
                    if attempt <= 5 or attempt % 12 == 0:  # the first few, then one line a minute
                        log.warning("batch of %d failed (attempt %d), retrying: %r", len(part), attempt, exc)
                if self.stopping():
                    raise Stopping
                await self.sleep(backoff_s(attempt))
                if self.stopping():
                    raise Stopping
        finally:
            if self.readiness.retrying is not None:
                self.readiness.retrying = None
                self.on_change()
