"""Kafka for the hold lifecycle: the aiokafka ``Publisher``, its topics, and the worker's expiry timer.

``alerts.lifecycle`` knows Kafka only as ``alerts.audit.Publisher``; this module
implements it (creating the topics officers' actions write, where missing) and
attaches a timer to the worker that releases holds whose time is up:

    attach_hold_expiry(app, worker_lifecycle(settings, redis))
"""

from __future__ import annotations

import asyncio
import logging

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from mode import Service
from redis.exceptions import RedisError

from alerts.lifecycle import HoldLifecycle, LifecycleError, Topics
from store import RedisClient
from streams.kafka_client import aiokafka_options
from streams.metrics import Metrics
from streams.settings import Settings
from streams.topics import ensure_topics

log = logging.getLogger(__name__)
EXPIRY_INTERVAL_S = 5.0


class KafkaPublisher(Service):
    """``alerts.audit.Publisher`` on an idempotent aiokafka producer (acks from all replicas)."""

    def __init__(self, settings: Settings, client_id: str) -> None:
        super().__init__()
        self.settings = settings
        self.client_id = client_id
        self.producer: AIOKafkaProducer | None = None

    async def on_start(self) -> None:
        s = self.settings
        await ensure_topics(s, [s.holds_topic, s.police_topic, s.audit_topic, s.suspicious_topic])
        self.producer = AIOKafkaProducer(
            **aiokafka_options(s),
            client_id=self.client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=0,  # officer actions are rare and awaited one by one
        )
        await self.producer.start()

    async def on_stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    async def answers(self) -> bool:
        """A broker answers a metadata request now (the console's and expiry's readiness)."""
        if self.producer is None:
            return False
        try:
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 2.0)
        except (KafkaError, OSError, TimeoutError):
            return False
        return True

    async def publish(self, topic: str, key: str, value: bytes) -> None:
        if self.producer is None:
            msg = "the Kafka publisher has not started yet"
            raise KafkaError(msg)
        await self.producer.send_and_wait(topic, value, key=key.encode())


def hold_lifecycle(settings: Settings, redis: RedisClient, publisher: KafkaPublisher) -> HoldLifecycle:
    s = settings
    topics = Topics(s.holds_topic, s.police_topic, s.audit_topic, s.suspicious_topic)
    return HoldLifecycle(redis, publisher, topics, prefix=s.state_prefix, bank_code=s.bank_code)


def worker_lifecycle(settings: Settings, redis: RedisClient) -> HoldLifecycle:
    """The lifecycle a worker uses for expiry; its publisher starts with the app (see below)."""
    return hold_lifecycle(settings, redis, KafkaPublisher(settings, f"{settings.app_id}-holds"))


def attach_hold_expiry(
    app: faust.App, lifecycle: HoldLifecycle, metrics: Metrics, interval_s: float = EXPIRY_INTERVAL_S
) -> None:
    """Every ``interval_s``, release the holds whose time is up and publish what the outbox holds.

    Runs on every worker: an expiry's command id names the hold and its expiry
    time, so two workers expiring the same hold change it once. A
    ``KafkaPublisher`` given in the lifecycle starts and stops with the app.
    """
    publisher = lifecycle.outbox.publisher
    if isinstance(publisher, Service):

        @app.task
        async def start_hold_publisher() -> None:
            await app.add_runtime_dependency(publisher)

    @app.timer(interval=interval_s, name="txmon.hold_expiry")
    async def expire_holds() -> None:
        metrics.hold_expiry_runs.inc()
        try:
            await lifecycle.flush_outbox()
            expired = await lifecycle.expire_due()
        except (RedisError, KafkaError, OSError, LifecycleError) as exc:
            # The next tick retries; undelivered transitions wait in the outbox.
            metrics.hold_expiry_failures.inc()
            metrics.count_error("hold_expiry", exc)
            log.warning("hold expiry failed this round: %r", exc)
            return
        changed = [o.subject for o in expired if o.changed]
        metrics.holds_expired.inc(len(changed))
        if changed:
            log.info("expired %d holds: %s", len(changed), ", ".join(changed[:10]))
