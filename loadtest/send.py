"""Produce generated bank traffic to Kafka (kafka-python), or write it as JSON Lines.

    python -m loadtest.send --bootstrap 127.0.0.1:9092 --topic txmon.events --events 100000 --rate 20000
    python -m loadtest.send --events 50000 --out traffic.jsonl

It connects as txmon does: TXMON_KAFKA_BOOTSTRAP and the TXMON_KAFKA_* security settings (SASL_SSL,
mutual TLS) from the environment; ``--bootstrap`` and ``--topic`` override the bootstrap servers and
TXMON_INPUT_TOPIC.

Bounded by ``--events`` (and ``--seconds``); prints progress and the
generation stats (expected rule hits included) as JSON at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import orjson
from kafka import KafkaProducer

from loadtest.bank_traffic import GenerationStats, Generator
from streams.kafka_client import KafkaSetupError, check_kafka_now, kafka_python_options
from streams.settings import Settings, SettingsError


def produce(
    records: Iterable[tuple[bytes, bytes]],
    kafka: Settings,
    topic: str,
    *,
    rate: float = 0.0,
    seconds: float = 0.0,
    progress: Callable[[int], None] | None = None,
    stamp: bool = False,
) -> int:
    """Send ``records`` keyed by account; optionally paced to ``rate`` events/s. Returns how many."""
    producer = KafkaProducer(
        **kafka_python_options(kafka),
        acks="all",
        linger_ms=10,
        batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    sent = 0
    start = time.monotonic()
    try:
        for key, value in records:
            # stamp: the Kafka timestamp is the send time, which latency is measured from
            producer.send(topic, value, key=key, timestamp_ms=int(time.time() * 1000) if stamp else None)
            sent += 1
            if sent % 1000 == 0:
                elapsed = time.monotonic() - start
                if rate > 0 and sent / rate > elapsed:  # pace in 1000-event slices
                    time.sleep(sent / rate - elapsed)
                if progress is not None and sent % 10_000 == 0:
                    progress(sent)
                if seconds and elapsed > seconds:
                    break
        producer.flush(timeout=120)
    finally:
        producer.close(timeout=30)
    return sent


def write_jsonl(records: Iterable[tuple[bytes, bytes]], path: Path) -> int:
    n = 0
    with path.open("wb") as f:
        for _, value in records:
            f.write(value.replace(b"\n", b" ") + b"\n")
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", help="bootstrap servers (default: TXMON_KAFKA_BOOTSTRAP)")
    p.add_argument("--topic", help="topic (default: TXMON_INPUT_TOPIC)")
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--accounts", type=int, default=5_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--scenario-every", type=int, default=1_000)
    p.add_argument("--malformed-every", type=int, default=5_000)
    p.add_argument("--rate", type=float, default=0.0, help="events per second (0: as fast as possible)")
    p.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: no limit)")
    p.add_argument("--out", type=Path, help="write JSON Lines here instead of producing to Kafka")
    p.add_argument("--label-file", type=Path, help="write the generation stats (expected hits) here")
    args = p.parse_args(argv)
    try:
        settings = Settings.from_environment()
        if args.bootstrap:
            settings = settings.model_copy(update={"kafka_bootstrap": args.bootstrap})
        if not args.out:
            check_kafka_now(settings)
    except (SettingsError, KafkaSetupError) as exc:
        print(f"loadtest.send: {exc}", file=sys.stderr)
        return 2

    gen = Generator(args.seed, args.accounts, scenario_every=args.scenario_every, malformed_every=args.malformed_every)
    records = gen.take(args.events)
    if args.out:
        write_jsonl(records, args.out)
    else:

        def show(n: int) -> None:
            print(f"\rproduced {n:,}", end="", file=sys.stderr, flush=True)

        topic = args.topic or settings.input_topic
        produce(records, settings, topic, rate=args.rate, seconds=args.seconds, progress=show)
        print(file=sys.stderr)
    stats: GenerationStats = gen.stats
    text = orjson.dumps(stats.as_dict(), option=orjson.OPT_INDENT_2).decode()
    if args.label_file:
        args.label_file.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
