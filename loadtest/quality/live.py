"""The generated events through a real worker: its own Kafka and Redis (started with
``deploy/services.sh`` on free ports and stopped by PID), or running ones (``--bootstrap``).

Records are produced keyed by account with the event's own time as the Kafka timestamp, as a
bank's core system would have sent them, so the worker's event-time bounds see no skew; the
input topic is created first without time-based retention, or the broker would delete the
week-old records before the worker reads them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from loadtest.quality.scoring import Decision
from loadtest.stack import ROOT, SERVICES, WorkerProcess, free_port, namespace_env, read_all
from streams.kafka_client import kafka_python_options
from streams.settings import Settings


@dataclass
class LiveRun:
    decisions: list[Decision] = field(default_factory=list)
    sent: int = 0
    processed: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    duplicates: float = 0.0  # events the worker counted as duplicates (not judged again)
    holds: int = 0
    seconds: float = 0.0


@contextmanager
def own_services(run_dir: Path) -> Iterator[dict[str, str]]:
    """Kafka and Redis of our own, on free ports, for the block; stopped (by PID) after it.
    ``deploy/services.sh`` also starts PostgreSQL (unused here): it gets a free port too, so a
    case store already on 5432 does not stop the run."""
    ports = {
        "TXMON_KAFKA_PORT": free_port(),
        "TXMON_KAFKA_CONTROLLER_PORT": free_port(),
        "TXMON_REDIS_PORT": free_port(),
        "TXMON_POSTGRES_PORT": free_port(),
    }
    env = {**os.environ, "TXMON_RUN_DIR": str(run_dir), **{k: str(v) for k, v in ports.items()}}
    subprocess.run(["bash", str(SERVICES), "up"], env=env, check=True, stdout=subprocess.DEVNULL)
    try:
        yield {
            "TXMON_KAFKA_BOOTSTRAP": f"127.0.0.1:{ports['TXMON_KAFKA_PORT']}",
            "TXMON_REDIS_URL": f"redis://127.0.0.1:{ports['TXMON_REDIS_PORT']}/0",
        }
    finally:
        subprocess.run(["bash", str(SERVICES), "down", "--purge"], env=env, check=False, stdout=subprocess.DEVNULL)


def _produce(events: list[dict[str, Any]], bootstrap: str, topic: str) -> int:
    producer = KafkaProducer(
        **kafka_python_options(Settings(kafka_bootstrap=bootstrap)), acks="all", linger_ms=20, batch_size=512 * 1024
    )
    try:
        for e in events:
            ms = int(datetime.fromisoformat(e["ts"]).timestamp() * 1000)
            producer.send(topic, orjson.dumps(e), key=e["account_id"].encode(), timestamp_ms=ms)
        producer.flush(timeout=120)
    finally:
        producer.close(timeout=30)
    return len(events)


def run_live(events: list[dict[str, Any]], servers: dict[str, str], web_port: int, log: Path) -> LiveRun:
    env = namespace_env("quality", **servers)
    bootstrap = servers["TXMON_KAFKA_BOOTSTRAP"]
    topics = {k: env[f"TXMON_{k.upper()}_TOPIC"] for k in ("input", "alerts", "holds", "dead_letter")}
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topics["input"], 8, 1, topic_configs={"retention.ms": "-1"})])
    finally:
        admin.close()
    subprocess.run(
        [sys.executable, "-m", "streams.cli", "topics"],
        env={**os.environ, **env},
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    out = LiveRun(sent=_produce(events, bootstrap, topics["input"]))
    worker = WorkerProcess(env, web_port, log)
    worker.start()
    t0 = time.monotonic()
    try:
        last, still = -1, time.monotonic()
        while out.processed < out.sent:
            out.processed = int(worker.health()["records_processed"])
            if out.processed != last:
                last, still = out.processed, time.monotonic()
            elif time.monotonic() - still > 120:
                msg = f"the worker stopped at {out.processed:,} of {out.sent:,} records; see {log}"
                raise RuntimeError(msg)
            time.sleep(0.5)
        out.seconds = time.monotonic() - t0
        time.sleep(2.0)  # the last batch's outputs flushed
        out.duplicates = sum(worker.metric("txmon_duplicate_events_total").values())
    finally:
        worker.stop()
    kafka = Settings(kafka_bootstrap=bootstrap)
    for _, value, _ in read_all(kafka, topics["alerts"]):
        a = orjson.loads(value)
        ms = int(datetime.fromisoformat(a["event_ts"]).timestamp() * 1000)
        out.decisions.append((a["account_id"], a["event_id"], a["rule_id"], a["action"], ms))
    out.holds = len(read_all(kafka, topics["holds"]))
    for _, _, headers in read_all(kafka, topics["dead_letter"]):
        reason = headers.get("txmon-reason", b"?").decode()
        out.dead_letters[reason] = out.dead_letters.get(reason, 0) + 1
    return out
