"""Readiness probes: does a server answer now? ``None`` when it does, else the reason, in words.

``/health`` (liveness) says the process loop runs; ``/ready`` asks these, so a worker that cannot
reach Redis or Kafka, or whose last batch is being retried, is taken out of service instead of
saying "ok" (Kubernetes readiness probe, load balancers, `loadtest.stack.start_healthy`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

PROBE_TIMEOUT_S = 3.0


async def redis_answers(redis: Any, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    try:
        await asyncio.wait_for(redis.ping(), timeout_s)
    except (RedisError, OSError, TimeoutError) as exc:
        return f"Redis does not answer: {exc!r}"
    return None


async def kafka_answers(producer: AIOKafkaProducer | None, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """A metadata request through the producer's own connection (what every output goes through)."""
    if producer is None:
        return "the Kafka producer has not started"
    try:
        await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout_s)
    except (KafkaError, OSError, TimeoutError) as exc:
        return f"Kafka does not answer: {exc!r}"
    return None
