"""``txmon cases``: the case-store sink, and ``txmon cases rebuild``.

The sink reads the alerts, holds, police and audit topics in its own consumer
group (``TXMON_CASES_GROUP``) and writes each fetched batch into PostgreSQL in
one transaction (``alerts.cases.project``), then commits the offsets. A crash
between the two redelivers the batch, which changes nothing: every row is
keyed by the id of its record. The worker's hot path and Redis are untouched.

``rebuild`` empties the store and replays the four topics from their start,
then sets the sink group's offsets to where it stopped (run it with the sink
stopped); the rows are the same as the sink's, whatever the order it read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from psycopg_pool import AsyncConnectionPool

from alerts.cases.db import PgConfig, migrate, open_pool
from alerts.cases.project import Batch, Kind, apply
from streams.kafka_client import aiokafka_options
from streams.settings import Settings
from streams.topics import ensure_topics

log = logging.getLogger(__name__)
MAX_BATCH = 5_000


def pg_config(settings: Settings) -> PgConfig:
    s = settings
    return PgConfig(
        s.postgres_url.get_secret_value(),
        s.postgres_sslmode,
        s.postgres_sslrootcert,
        s.postgres_sslcert,
        s.postgres_sslkey,
    )


def source_topics(settings: Settings) -> dict[str, Kind]:
    s = settings
    return {s.alerts_topic: "alerts", s.holds_topic: "holds", s.police_topic: "police", s.audit_topic: "audit"}


@dataclass
class SinkStats:
    """What the sink did: records applied, their rate, and how far behind the topics it is."""

    records: int = 0
    batches: int = 0
    rejected: int = 0
    started: float = field(default_factory=time.monotonic)
    lag_records: int = 0
    lag_s: float = 0.0

    def rate(self) -> float:
        return self.records / max(time.monotonic() - self.started, 1e-9)


async def _consumer(settings: Settings, *, subscribe: bool) -> AIOKafkaConsumer:
    topics = source_topics(settings)
    await ensure_topics(settings, list(topics))
    consumer = AIOKafkaConsumer(
        **aiokafka_options(settings),
        group_id=settings.cases_group,
        client_id=f"{settings.app_id}-cases",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    if subscribe:
        consumer.subscribe(list(topics))
    return consumer


async def _apply_fetched(
    pool: AsyncConnectionPool, kinds: dict[str, Kind], fetched: dict[TopicPartition, list], stats: SinkStats
) -> int:
    batch = Batch()
    newest_ms = 0
    for tp, records in fetched.items():
        for r in records:
            batch.add(kinds[tp.topic], r.value)
            newest_ms = max(newest_ms, r.timestamp)
    if len(batch) or batch.rejected:
        async with pool.connection() as conn:
            await apply(conn, batch)
    stats.records += len(batch)
    stats.rejected += batch.rejected
    stats.batches += 1
    if newest_ms:
        stats.lag_s = max(time.time() - newest_ms / 1000, 0.0)
    if batch.rejected:
        log.warning("cases: %d records were not what their topic carries; skipped", batch.rejected)
    return len(batch)


async def _lag(consumer: AIOKafkaConsumer) -> int:
    tps = list(consumer.assignment())
    if not tps:
        return 0
    ends = await consumer.end_offsets(tps)
    behind = 0
    for tp in tps:
        behind += max(ends[tp] - await consumer.position(tp), 0)
    return behind


async def run_sink(
    settings: Settings,
    stop: asyncio.Event,
    *,
    pool: AsyncConnectionPool | None = None,
    on_batch: Callable[[SinkStats], None] | None = None,
    report_every_s: float = 10.0,
) -> SinkStats:
    """Apply batches until ``stop`` is set; offsets are committed after each batch is stored."""
    async with _store(settings, pool) as store:
        return await _sink_loop(settings, store, stop, on_batch, report_every_s)


@contextlib.asynccontextmanager
async def _store(settings: Settings, pool: AsyncConnectionPool | None) -> AsyncIterator[AsyncConnectionPool]:
    """The given pool, or a pool of its own on a migrated store, closed at the end."""
    if pool is not None:
        yield pool
        return
    await asyncio.to_thread(migrate, pg_config(settings))
    own = await open_pool(pg_config(settings))
    try:
        yield own
    finally:
        await own.close()


async def _sink_loop(
    settings: Settings,
    pool: AsyncConnectionPool,
    stop: asyncio.Event,
    on_batch: Callable[[SinkStats], None] | None,
    report_every_s: float,
) -> SinkStats:
    kinds = source_topics(settings)
    consumer = await _consumer(settings, subscribe=True)
    stats = SinkStats()
    last_report = time.monotonic()
    try:
        while not stop.is_set():
            fetched = await consumer.getmany(timeout_ms=200, max_records=MAX_BATCH)
            if not fetched:
                stats.lag_s = 0.0
                continue
            await _apply_fetched(pool, kinds, fetched, stats)
            await consumer.commit()
            if on_batch is not None:
                on_batch(stats)
            if time.monotonic() - last_report >= report_every_s:
                stats.lag_records = await _lag(consumer)
                log.info(
                    "cases: %d records in %d batches, %.0f records/s, lag %d records / %.1f s",
                    stats.records, stats.batches, stats.rate(), stats.lag_records, stats.lag_s,
                )  # fmt: skip
                last_report = time.monotonic()
    finally:
        await consumer.stop()
    return stats


async def rebuild(settings: Settings, pool: AsyncConnectionPool | None = None) -> SinkStats:
    """Empty the store, replay the topics from their start, and hand the sink group the end offsets."""
    async with _store(settings, pool) as store:
        return await _replay(settings, store)


async def _replay(settings: Settings, pool: AsyncConnectionPool) -> SinkStats:
    kinds = source_topics(settings)
    consumer = await _consumer(settings, subscribe=False)
    stats = SinkStats()
    try:
        tps = [TopicPartition(t, p) for t in kinds for p in sorted(consumer.partitions_for_topic(t) or {0})]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        async with pool.connection() as conn:
            await conn.execute("TRUNCATE cases, case_alerts, case_events")
            await conn.commit()
        while any([await consumer.position(tp) < end[tp] for tp in tps]):
            fetched = await consumer.getmany(timeout_ms=500, max_records=MAX_BATCH)
            # Only what was there when the rebuild began: the sink picks up the rest.
            fetched = {tp: [r for r in rs if r.offset < end[tp]] for tp, rs in fetched.items()}
            await _apply_fetched(pool, kinds, fetched, stats)
        await consumer.commit({tp: OffsetAndMetadata(end[tp], "") for tp in tps})
    finally:
        await consumer.stop()
    return stats


def run_sink_command(settings: Settings) -> int:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"txmon cases: {', '.join(source_topics(settings))} -> PostgreSQL ({settings.cases_group})", flush=True)
        await run_sink(settings, stop)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0


def rebuild_command(settings: Settings) -> int:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    stats = asyncio.run(rebuild(settings))
    took = time.monotonic() - started
    print(f"rebuilt the case store from {stats.records} records in {took:.1f} s ({stats.records / took:.0f}/s)")
    return 0
