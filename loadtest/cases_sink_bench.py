"""How fast ``txmon cases`` stores the topics, and how far behind it stays under a steady stream.

    .venv/bin/python -m loadtest.cases_sink_bench [--alerts 200000] [--rate 4500] [--seconds 20]

On the Kafka and PostgreSQL of ``make up`` (or ``--bootstrap`` / ``--server``), on topics and
a database of its own (the database is dropped at the end). Two figures:
1. throughput: ``--alerts`` alerts (one in 20 with a hold, their hold records and an audit
   record per hold) already on the topics, stored from a cold start: records/s;
2. lag: alerts produced at ``--rate`` per second for ``--seconds`` while the sink runs; the
   largest age of the newest stored record, sampled after every batch (seconds behind).
The bench's alert rate: about 2.3 % of 200,000 events/s are alerts, so ~4,500 alerts/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import msgspec
import psycopg
from aiokafka import AIOKafkaProducer

from alerts.cases.db import PgConfig, migrate, open_pool
from loadtest.stack import namespace_env
from streams.case_sink import SinkStats, run_sink, source_topics
from streams.kafka_client import aiokafka_options
from streams.settings import Settings
from streams.topics import ensure_topics
from tests.integration.case_helpers import audit, make_alert, make_hold, state

BENCH_DB = "txmon_sink_bench"


def records(start: int, n: int) -> list[tuple[str, bytes]]:
    enc = msgspec.json.encode
    out: list[tuple[str, bytes]] = []
    for i in range(start, start + n):
        account = f"9704{i % 300_000:08d}"
        if i % 20:
            a = make_alert("R6a", f"ev-{i}", account, minutes=i / 1000, type="login", ip=f"8.8.{i % 250}.{i % 200}")
            out.append(("alerts", enc(a)))
            continue
        a = make_alert("R2", f"ev-{i}", account, minutes=i / 1000, amount=1_000_000 + i, dest_account=f"d{i}")
        hold = make_hold([a])
        a = msgspec.structs.replace(a, hold_id=hold.hold_id)
        claim = audit("case_claim", hold.hold_id, i / 1000 + 1, **state("investigating", claimed_by="lan"))
        out += [("alerts", enc(a)), ("holds", enc(hold)), ("audit", enc(claim))]
    return out


async def produce(producer: AIOKafkaProducer, topic_of: dict[str, str], batch: list[tuple[str, bytes]]) -> None:
    futures = [await producer.send(topic_of[kind], raw, key=raw[-12:]) for kind, raw in batch]
    await asyncio.gather(*futures)


async def bench(settings: Settings, args: argparse.Namespace) -> None:
    topic_of: dict[str, str] = {kind: topic for topic, kind in source_topics(settings).items()}
    await ensure_topics(settings, list(topic_of.values()))
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all", linger_ms=5,
                                max_batch_size=1024 * 1024)  # fmt: skip
    await producer.start()
    config = PgConfig(settings.postgres_url.get_secret_value(), sslmode="disable")
    pool = await open_pool(config)
    try:
        backlog = records(0, args.alerts)
        await produce(producer, topic_of, backlog)
        stop = asyncio.Event()

        first: list[tuple[float, int]] = []

        def until_all(stats: SinkStats) -> None:
            if not first:  # from the end of the first batch: joining the group is not throughput
                first.append((time.perf_counter(), stats.records))
            if stats.records >= len(backlog):
                stop.set()

        stats = await run_sink(settings, stop, pool=pool, on_batch=until_all)
        took, before = time.perf_counter() - first[0][0], first[0][1]
        rate = (stats.records - before) / took
        print(
            f"throughput: {stats.records:,} records ({args.alerts:,} alerts), after the first batch "
            f"{stats.records - before:,} in {took:.1f} s = {rate:,.0f} records/s ({stats.batches} batches)"
        )

        stop = asyncio.Event()
        behind: list[float] = []

        def sample(s: SinkStats) -> None:
            behind.append(s.lag_s)

        sink = asyncio.create_task(run_sink(settings, stop, pool=pool, on_batch=sample))
        sent, start, step = 0, time.perf_counter(), max(args.rate // 10, 1)
        while time.perf_counter() - start < args.seconds:
            await produce(producer, topic_of, records(args.alerts + sent, step))
            sent += step
            await asyncio.sleep(max(start + sent / args.rate - time.perf_counter(), 0))
        await asyncio.sleep(3)
        stop.set()
        await sink
        rate = sent / (time.perf_counter() - start - 3)
        worst = max(behind) if behind else 0.0
        median = sorted(behind)[len(behind) // 2] if behind else 0.0
        print(
            f"lag at {rate:,.0f} alerts/s for {args.seconds} s: newest stored record at most {worst:.2f} s old "
            f"(median {median:.2f} s over {len(behind)} batches)"
        )
    finally:
        await producer.stop()
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=4_500)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--bootstrap", default=os.environ.get("TXMON_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument(
        "--server", default=os.environ.get("TXMON_POSTGRES_URL", "postgresql://txmon@127.0.0.1:5432/txmon")
    )
    args = parser.parse_args()
    base = args.server.rsplit("/", 1)[0]
    admin = PgConfig(base + "/postgres", sslmode="disable").conninfo()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    try:
        env: dict[str, Any] = {k.removeprefix("TXMON_").lower(): v for k, v in namespace_env("sinkbench").items()}
        settings = Settings(
            **env, kafka_bootstrap=args.bootstrap, postgres_url=f"{base}/{BENCH_DB}", topic_partitions=8
        )
        migrate(PgConfig(f"{base}/{BENCH_DB}", sslmode="disable"))
        asyncio.run(bench(settings, args))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")


if __name__ == "__main__":
    main()
