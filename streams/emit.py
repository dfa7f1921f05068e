"""Emit: a batch's alerts, police reports, holds and dead letters produced and acknowledged.

The batch loop (``streams.monitor``) writes state and commits offsets only after
``acknowledged`` returns, so a crash before that redelivers the batch and emits the
same deterministic ids again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError

from alerts.model import encoder
from alerts.routing import Outputs
from streams.codec import DeadLetter
from streams.dead_letters import dead_letter_record, stub_record
from streams.metrics import Metrics
from streams.settings import Settings

_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError)


@dataclass(frozen=True, slots=True)
class Sent:
    """Outputs handed to the producer, not yet acknowledged (``acknowledged``)."""

    futures: list[asyncio.Future]  # type: ignore[type-arg]
    dead: Sequence[DeadLetter]  # the first ``len(dead)`` futures are theirs
    records: Sequence[ConsumerRecord]


async def send_outputs(
    producer: AIOKafkaProducer,
    settings: Settings,
    metrics: Metrics,
    records: Sequence[ConsumerRecord],
    out: Outputs,
    dead: Sequence[DeadLetter],
) -> Sent:
    """Hand ``out`` and the dead letters of ``records`` to the producer (sent at once: no linger)."""
    s, send = settings, producer.send
    pending = [await send_dead_letter(producer, settings, metrics, records[d.index], d) for d in dead]
    outgoing = [
        *((s.alerts_topic, a.account_id, encoder.encode(a)) for a in out.alerts),
        *((s.police_topic, p.account_id, encoder.encode(p)) for p in out.police),
        *((s.holds_topic, h.account_id, encoder.encode(h)) for h in out.holds),
    ]
    pending += [await send(topic, value, key=key.encode()) for topic, key, value in outgoing]
    return Sent(pending, dead, records)


async def acknowledged(producer: AIOKafkaProducer, settings: Settings, metrics: Metrics, sent: Sent) -> None:
    """Wait until every output of ``sent`` is acknowledged; a dead letter too large for its
    topic is replaced by a stub; any other failure is raised."""
    if not sent.futures:
        return
    results = await asyncio.gather(*sent.futures, return_exceptions=True)
    for k, result in enumerate(results):
        if not isinstance(result, BaseException):
            continue
        if k < len(sent.dead) and isinstance(result, _TOO_LARGE):  # the topic's limit is below ours
            d = sent.dead[k]
            await (await send_dead_letter(producer, settings, metrics, sent.records[d.index], d, stub=True))
            continue
        raise result


async def send_dead_letter(
    producer: AIOKafkaProducer,
    settings: Settings,
    metrics: Metrics,
    rec: ConsumerRecord,
    d: DeadLetter,
    *,
    stub: bool = False,
) -> asyncio.Future:  # type: ignore[type-arg]
    """Produce the dead letter of ``rec``, truncated to fit (``streams.dead_letters``)."""
    source = f"{rec.topic}/{rec.partition}/{rec.offset}"
    value, key, headers = (
        stub_record(rec.key, d.reason, source, len(rec.value or b""))
        if stub
        else dead_letter_record(rec.value, rec.key, d.reason, d.detail, source, limit=settings.dead_letter_max_bytes)
    )
    if not stub:
        metrics.dead_letters.labels(d.reason).inc()
    try:
        future: asyncio.Future = await producer.send(  # type: ignore[type-arg]
            settings.dead_letter_topic, value, key=key, headers=headers
        )
    except _TOO_LARGE:
        if stub:
            raise
        return await send_dead_letter(producer, settings, metrics, rec, d, stub=True)
    return future
