"""Police freeze requests (R13) from Kafka: decode, dead-letter, apply once, count.

A low-volume Faust agent (concurrency 1) reads the requests topic in the app's
consumer group, so each request is handled by one worker, at least once: the
offset is committed after the request is applied, and a redelivered request
finds its command recorded and changes nothing (``alerts.freeze``). A record
that is not valid JSON or breaks the contract goes to the dead-letter topic with
the event monitor's headers (``txmon-reason``, ``txmon-error``, ``txmon-source``);
Redis or Kafka faults are retried until they pass, never dropped.

    handler = attach_freeze_requests(app, settings, lifecycle, metrics, ruleset)
    handler.use_ruleset(new_ruleset)  # from the rules listener
    handler.ready.set()               # once the listener has caught up
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import msgspec
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from alerts.freeze import RULE_ID, FreezeRequest, FreezeResult, PoliceFreezes
from alerts.lifecycle import HoldLifecycle
from rules.config import Ruleset
from streams.kafka_client import aiokafka_options
from streams.metrics import Metrics
from streams.retry import backoff_s
from streams.settings import Settings
from streams.topics import ensure_topics

if TYPE_CHECKING:  # Faust is imported by the worker only: `txmon freeze request` stays quick
    import faust

log = logging.getLogger(__name__)
RETRIES = 3  # for unexpected errors; Redis and Kafka faults are retried until they pass
Headers = list[tuple[str, bytes]]
SendDeadLetter = Callable[[str, bytes | None, bytes, Headers], Awaitable[None]]

_decode = msgspec.json.Decoder(FreezeRequest).decode
encoder = msgspec.json.Encoder()


def decode_request(raw: bytes | None) -> FreezeRequest:
    """Raises ``msgspec.ValidationError`` (schema) or ``msgspec.DecodeError`` (not JSON)."""
    if not raw:
        msg = "empty record value"
        raise msgspec.DecodeError(msg)
    return _decode(raw)


class FreezeRequestHandler:
    """One record of the requests topic in, its effect (or its dead letter) out."""

    def __init__(
        self,
        settings: Settings,
        freezes: PoliceFreezes,
        metrics: Metrics,
        ruleset: Ruleset,
        send_dead_letter: SendDeadLetter,
    ) -> None:
        self.settings = settings
        self.freezes = freezes
        self.metrics = metrics
        self.ruleset = ruleset
        self.send_dead_letter = send_dead_letter
        # Set once the rules listener has caught up: a request is judged by the rules in force.
        self.ready = asyncio.Event()

    def use_ruleset(self, ruleset: Ruleset) -> None:
        self.ruleset = ruleset

    async def handle(self, value: bytes | None, key: bytes | None, source: str) -> FreezeResult | None:
        """Apply one record; None when it was dead-lettered."""
        self.metrics.freeze_requests_received.inc()
        try:
            request = decode_request(value)
        except msgspec.ValidationError as exc:
            await self._dead_letter(value, key, source, "schema_violation", str(exc))
            return None
        except msgspec.DecodeError as exc:
            await self._dead_letter(value, key, source, "malformed_json", str(exc))
            return None
        attempt = 0
        while True:
            attempt += 1
            ruleset = self.ruleset  # the rules in force now; a retry sees a newer version
            try:
                result = await self.freezes.apply(request, ruleset.rule(RULE_ID), ruleset.version)
                break
            except (RedisError, KafkaError, OSError) as exc:
                self.metrics.count_error("freeze_requests", exc)
                log.warning("freeze request %s failed (attempt %d): %r", request.request_id, attempt, exc)
            except Exception as exc:
                log.exception("freeze request %s failed on an unexpected error", request.request_id)
                if attempt >= RETRIES:
                    detail = f"the request failed repeatedly ({type(exc).__name__}: {exc}); see worker log"
                    await self._dead_letter(value, key, source, "processing_error", detail)
                    return None
            await asyncio.sleep(backoff_s(attempt))
        self.metrics.freeze_requests.labels(result.status).inc()
        if result.status == "applied":
            hold = result.outcome.hold
            log.info(
                "police freeze request %s applied to account %s: %s",
                request.request_id,
                request.account_id,
                f"{hold.kind} {hold.hold_id} until {hold.expires_at}" if hold else "alert only",
            )
        elif result.status == "not_applied":
            log.warning("police freeze request %s recorded, not applied: R13 is off", request.request_id)
        return result

    async def _dead_letter(self, value: bytes | None, key: bytes | None, source: str, reason: str, detail: str) -> None:
        headers = [
            ("txmon-reason", reason.encode()),
            ("txmon-error", detail.encode()[:2000]),
            ("txmon-source", source.encode()),
        ]
        attempt = 0
        while True:  # a rejected request is never dropped: wait out a Kafka outage
            attempt += 1
            try:
                await self.send_dead_letter(self.settings.dead_letter_topic, key, value or b"", headers)
                break
            except (KafkaError, OSError) as exc:
                self.metrics.count_error("freeze_requests", exc)
                log.warning("dead-lettering a freeze request failed (attempt %d): %r", attempt, exc)
                await asyncio.sleep(backoff_s(attempt))
        log.warning("freeze request at %s dead-lettered: %s (%s)", source, reason, detail[:200])
        self.metrics.freeze_requests.labels("rejected").inc()
        self.metrics.dead_letters.labels(reason).inc()


def attach_freeze_requests(
    app: faust.App, settings: Settings, lifecycle: HoldLifecycle, metrics: Metrics, ruleset: Ruleset
) -> FreezeRequestHandler:
    """The agent on the requests topic; its outputs go through ``lifecycle``'s outbox."""

    async def send_dead_letter(topic: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        await app.producer.send_and_wait(topic, key, value, None, None, headers)

    handler = FreezeRequestHandler(
        settings, PoliceFreezes(lifecycle, settings.alerts_topic), metrics, ruleset, send_dead_letter
    )
    # Raw bytes in: decoding (and its dead letters) is ours, not Faust's log-and-skip.
    # internal=True: Faust creates the topic where missing before it subscribes; otherwise a
    # topic made later (by the first request) would be seen only at a metadata refresh, minutes on.
    topic = app.topic(
        settings.freeze_requests_topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        internal=True,
        partitions=settings.topic_partitions,
        replicas=settings.topic_replication,
    )

    @app.agent(topic, name="txmon.freeze_requests", concurrency=1)
    async def freeze_requests(stream: faust.StreamT[bytes]) -> AsyncIterator[FreezeResult | None]:
        await handler.ready.wait()
        async for event in stream.events():
            m = event.message
            # Yielded once handled, so the offset (acked when the next record is taken) follows.
            yield await handler.handle(m.value, m.key, f"{m.topic}/{m.partition}/{m.offset}")

    return handler


def new_request(
    account_id: str,
    authority: str,
    case_ref: str,
    reason: str,
    request_id: str | None = None,
    duration_h: int | None = None,
    requested_at: datetime | None = None,
) -> FreezeRequest:
    """A request checked against the contract (``msgspec.ValidationError`` names the field)."""
    data: dict[str, Any] = {
        "request_id": request_id or f"FR-{uuid4().hex[:20]}",
        "account_id": account_id,
        "requested_at": (requested_at or datetime.now(tz=UTC)).isoformat(),
        "authority": authority,
        "case_ref": case_ref,
        "reason": reason,
    }
    if duration_h is not None:
        data["duration_h"] = duration_h
    return msgspec.convert(data, FreezeRequest)


async def publish_freeze_request(settings: Settings, request: FreezeRequest) -> None:
    """Send one request, keyed by its account (a police-side integration does the same)."""
    await ensure_topics(settings, [settings.freeze_requests_topic])
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.freeze_requests_topic, encoder.encode(request), key=request.account_id.encode()
        )
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await producer.stop()
