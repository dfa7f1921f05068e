"""Fault: Redis paused (SIGSTOP) for 15 s in the middle of a stream, then resumed (SIGCONT).

Self-contained: the test starts its own Kafka and Redis (``deploy/services.sh``, its own run
folder and ports) and one worker, sends bank traffic with fraud scenarios at a steady rate,
freezes the Redis process by its PID while events keep arriving, and compares the worker's
alerts by id with ``txmon backtest`` of the same events: nothing missing, nothing extra, and
the worker healthy and caught up again. The figures are printed (run with ``-s``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer

from loadtest.bank_traffic import Generator
from loadtest.scenario_labels import SUSPICIOUS_FILE
from loadtest.stack import SIMULATED_CLOCK, WorkerProcess, free_port, load_suspicious_list, namespace_env, read_all
from rules.config import load_ruleset
from streams.backtest import run as backtest
from streams.lists import updates_from_csv
from streams.settings import Settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
EVENTS, RATE, PAUSE_AT_S, PAUSE_S = 24_000, 2_000, 3.0, 15.0


@dataclass(frozen=True)
class Stack:
    bootstrap: str
    redis_url: str
    redis_pid: int
    env: dict[str, str]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    run_dir = tmp_path_factory.mktemp("pause-services")
    kafka, controller, redis = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "TXMON_RUN_DIR": str(run_dir),
        "TXMON_KAFKA_PORT": str(kafka),
        "TXMON_KAFKA_CONTROLLER_PORT": str(controller),
        "TXMON_REDIS_PORT": str(redis),
        "TXMON_POSTGRES_PORT": str(free_port()),  # its own, as every port here: the suite runs beside `make up`
    }
    script = ROOT / "deploy" / "services.sh"
    started = subprocess.run(["bash", str(script), "up"], env=env, capture_output=True, text=True, timeout=900)
    try:
        if started.returncode != 0:
            pytest.fail(f"Kafka/Redis did not start:\n{started.stdout[-3000:]}\n{started.stderr[-3000:]}")
        pid = int((run_dir / "redis" / "redis.pid").read_text().strip())
        yield Stack(f"127.0.0.1:{kafka}", f"redis://127.0.0.1:{redis}/0", pid, env)
    finally:
        subprocess.run(["bash", str(script), "down", "--purge"], env=env, capture_output=True, timeout=120)


def _send_steadily(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]], started: threading.Event) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        t0 = time.monotonic()
        started.set()
        for i, (key, value) in enumerate(records):
            if i % 200 == 0:
                time.sleep(max(0.0, t0 + i / RATE - time.monotonic()))
            producer.send(topic, value, key=key)
        producer.flush(60)
    finally:
        producer.close(10)


def _records(w: WorkerProcess) -> float:
    try:
        return sum(w.metric("txmon_records_total").values())
    except (OSError, urllib.error.URLError):
        return -1.0


def _status(w: WorkerProcess, path: str) -> int:
    """The HTTP status of one of the worker's pages (0: no answer in time)."""
    try:
        w.get(path)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0
    return 200


def test_redis_paused_15_s_loses_nothing_and_the_worker_recovers(stack: Stack, tmp_path: Path) -> None:
    records = list(Generator(20_261_203, 2_000, scenario_every=60).take(EVENTS))
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(v for _, v in records) + b"\n")
    listed = frozenset(u.account_id for u in updates_from_csv(SUSPICIOUS_FILE, by="test"))
    expected = {
        (rule, event_id)
        for event_id, rule in backtest(path, load_ruleset(), suspicious=listed, keep_decisions=True).decisions
    }

    env = {
        **stack.env,
        **namespace_env("pause", **SIMULATED_CLOCK),  # generated traffic: days of events sent in seconds
        "TXMON_KAFKA_BOOTSTRAP": stack.bootstrap,
        "TXMON_REDIS_URL": stack.redis_url,
        "TXMON_TOPIC_PARTITIONS": "4",
    }
    subprocess.run([sys.executable, "-m", "streams.cli", "topics"], env=env, cwd=ROOT, check=True, capture_output=True)
    load_suspicious_list(env, SUSPICIOUS_FILE)
    worker = WorkerProcess(env, free_port(), tmp_path / "worker.log")
    worker.start(timeout=90)
    started = threading.Event()
    sender = threading.Thread(target=_send_steadily, args=(stack.bootstrap, env["TXMON_INPUT_TOPIC"], records, started))
    paused = False
    try:
        sender.start()
        started.wait(30)
        time.sleep(PAUSE_AT_S)
        before = _records(worker)
        os.kill(stack.redis_pid, signal.SIGSTOP)
        paused = True
        time.sleep(PAUSE_S - 3)
        probes = {p: _status(worker, p) for p in ("/health", "/ready")}  # what a probe sees while Redis is stopped
        time.sleep(3)
        during = _records(worker)
        os.kill(stack.redis_pid, signal.SIGCONT)
        paused = False
        resumed_at = time.monotonic()
        progressed = caught_up = None
        deadline = resumed_at + 180
        while caught_up is None:
            assert time.monotonic() < deadline, worker.log_path.read_text(errors="replace")[-4000:]
            done = _records(worker)
            if progressed is None and done > during:
                progressed = time.monotonic() - resumed_at
            if done >= EVENTS:
                caught_up = time.monotonic() - resumed_at
            time.sleep(0.2)
        sender.join(60)
        health, ready = worker.health(), _status(worker, "/ready")
        alerts = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the last batch's alerts are out before its records count
            alerts = [
                orjson.loads(v)
                for _, v, _ in read_all(Settings(kafka_bootstrap=stack.bootstrap), env["TXMON_ALERTS_TOPIC"])
            ]
            if {(a["rule_id"], a["event_id"]) for a in alerts} >= expected:
                break
            time.sleep(1)
    finally:
        if paused:
            os.kill(stack.redis_pid, signal.SIGCONT)
        sender.join(60)
        worker.stop()

    got = Counter((a["rule_id"], a["event_id"]) for a in alerts)
    lost, extra = expected - set(got), set(got) - expected
    duplicates = sum(n - 1 for n in got.values())
    print(
        f"\nRedis paused {PAUSE_S:.0f} s after {before:.0f} records: sent {EVENTS}, expected {len(expected)} alerts, "
        f"got {len(got)}, lost {len(lost)}, extra {len(extra)}, duplicates {duplicates}; records judged during the "
        f"pause {max(during - before, 0):.0f}; first batch {progressed:.1f} s after SIGCONT, caught up in {caught_up:.1f} s; during the pause "
        f"/health {probes['/health']}, /ready {probes['/ready']}; after it /ready {ready}"
    )
    assert 0 < before < EVENTS, "paused mid-stream: events were being judged and more were coming"
    assert health["status"] == "ok" and ready in (200, 404), "ready again (404: a worker without /ready)"
    assert not lost and not extra, (sorted(lost)[:5], sorted(extra)[:5])
