"""Kafka I/O for the benchmark: fast pre-loading, paced load, the raw-consume ceiling, and reading
back what the worker wrote.

kafka-python's producer tops out near 11k events/s here (measured: 200k events
in ~18 s), below the 20k events/s the latency test must offer, so the
benchmark loads with aiokafka's batch API (``create_batch``/``send_batch``),
partitioning keys with Kafka's own murmur2 partitioner like any client would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from streams.events import decode_event
from streams.kafka_client import aiokafka_options
from streams.settings import Settings

Record = tuple[bytes, bytes]


async def _send_all(producer: AIOKafkaProducer, topic: str, records: Sequence[Record], stamp_ms: int | None) -> None:
    partitions = sorted(await producer.partitions_for(topic))
    partitioner = DefaultPartitioner()
    batches: dict[int, object] = {}
    pending = []
    for key, value in records:
        p = partitioner(key, partitions, partitions)
        batch = batches.get(p)
        if batch is None:
            batch = batches[p] = producer.create_batch()
        if batch.append(key=key, value=value, timestamp=stamp_ms) is None:  # type: ignore[attr-defined]
            pending.append(await producer.send_batch(batch, topic, partition=p))
            batch = batches[p] = producer.create_batch()
            batch.append(key=key, value=value, timestamp=stamp_ms)  # type: ignore[attr-defined]
    for p, batch in batches.items():
        if batch.record_count():  # type: ignore[attr-defined]
            pending.append(await producer.send_batch(batch, topic, partition=p))
    await asyncio.gather(*pending)


def _producer(kafka: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(**aiokafka_options(kafka), acks="all", max_batch_size=1024 * 1024, linger_ms=5)


async def preload(kafka: Settings, topic: str, records: Sequence[Record], chunk: int = 50_000) -> float:
    """Produce every record as fast as possible; returns events/s."""
    producer = _producer(kafka)
    await producer.start()
    t = time.perf_counter()
    try:
        for i in range(0, len(records), chunk):
            await _send_all(producer, topic, records[i : i + chunk], None)
    finally:
        await producer.stop()
    return len(records) / (time.perf_counter() - t)


async def paced_load(
    kafka: Settings, topic: str, records: Sequence[Record], rate: float, slice_s: float = 0.01
) -> tuple[list[int], float]:
    """Offer ``records`` at ``rate`` events/s in 10 ms slices, each slice stamped with its send time.

    Returns the send time (epoch ms) of every record, by position, and the achieved rate.
    """
    producer = _producer(kafka)
    await producer.start()
    sent_at: list[int] = []
    per_slice = max(1, int(rate * slice_s))
    start = time.perf_counter()
    try:
        for i in range(0, len(records), per_slice):
            due = start + (i / rate)
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            now_ms = int(time.time() * 1000)
            part = records[i : i + per_slice]
            await _send_all(producer, topic, part, now_ms)
            sent_at.extend([now_ms] * len(part))
    finally:
        await producer.stop()
    return sent_at, len(records) / (time.perf_counter() - start)


async def ceiling(kafka: Settings, topic: str, expected: int, group: str) -> float:
    """Raw consume + decode with the worker's client and decoder: no rules, no state, no output."""
    consumer = AIOKafkaConsumer(
        topic,
        **aiokafka_options(kafka),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=32 * 1024 * 1024,
    )
    await consumer.start()
    seen, first = 0, 0.0
    try:
        deadline = time.monotonic() + 600
        while seen < expected and time.monotonic() < deadline:
            fetched = await consumer.getmany(timeout_ms=100, max_records=20_000)
            if fetched and not first:
                first = time.perf_counter()
            for recs in fetched.values():
                for r in recs:
                    with contextlib.suppress(ValueError):  # msgspec errors are ValueErrors; malformed count too
                        decode_event(r.value)
                seen += len(recs)
        elapsed = time.perf_counter() - first
    finally:
        await consumer.stop()
    return seen / elapsed


def stamped(kafka: Settings, topic: str) -> list[tuple[int, bytes]]:
    """(timestamp ms, value) of every record now on ``topic``."""
    from kafka import KafkaConsumer, TopicPartition

    from streams.kafka_client import kafka_python_options

    out: list[tuple[int, bytes]] = []
    consumer = KafkaConsumer(**kafka_python_options(kafka), enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        while any(consumer.position(tp) < end[tp] for tp in tps):
            for batch in consumer.poll(timeout_ms=500).values():
                out.extend((m.timestamp, m.value) for m in batch)
    finally:
        consumer.close()
    return out
