"""How long a worker killed with SIGKILL takes, once restarted, to judge again.

    python -m loadtest.restart_time [--instance-id ID] [--session-ms 10000] [--rounds 3]

Against the Kafka and Redis of the ``TXMON_*`` settings (``TXMON_KAFKA_BOOTSTRAP``, the Kafka
security settings, ``TXMON_REDIS_URL``; the local ones by default), like every txmon command: a
worker judges a steady trickle of events; it is killed with SIGKILL and started again at once;
printed per round: seconds from the restart until ``/health`` answers and until the first record is
judged. ``--instance-id`` gives the batch loop static group membership
(``TXMON_GROUP_INSTANCE_ID``). Stops everything it started.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
from kafka import KafkaProducer

from loadtest.stack import ROOT, WorkerProcess, free_port, namespace_env
from streams.kafka_client import kafka_python_options
from streams.settings import Settings


def _trickle(settings: Settings, topic: str, stop: threading.Event, per_s: float = 200.0) -> None:
    producer = KafkaProducer(**kafka_python_options(settings), linger_ms=5, acks="all")
    n = 0
    try:
        while not stop.is_set():
            n += 1
            account = f"9704{n % 500:08d}"
            event = {
                "type": "login",
                "event_id": f"restart-{n}",
                "account_id": account,
                "ts": datetime.now(UTC).isoformat(),
                "ip": "14.160.1.2",
                "device_id": f"d-{account}",
            }
            producer.send(topic, orjson.dumps(event), key=account.encode())
            time.sleep(1 / per_s)
    finally:
        producer.close(timeout=10)


def _first_judged(worker: WorkerProcess, since: float, timeout: float = 180.0) -> tuple[float, float]:
    healthy = judged = 0.0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not judged:
        try:
            health = worker.health()
        except OSError:
            time.sleep(0.1)
            continue
        healthy = healthy or time.monotonic() - since
        if int(health.get("records_processed", 0)) > 0:
            judged = time.monotonic() - since
        time.sleep(0.1)
    return healthy, judged


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--instance-id", default="", help="TXMON_GROUP_INSTANCE_ID of the worker (default: none)")
    p.add_argument("--session-ms", type=int, default=10_000, help="TXMON_SESSION_TIMEOUT_MS")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    settings = Settings.from_environment()  # the worker inherits the same TXMON_* environment
    env = namespace_env(
        "rs",
        TXMON_TOPIC_PARTITIONS="4",
        TXMON_GROUP_INSTANCE_ID=args.instance_id,
        TXMON_SESSION_TIMEOUT_MS=str(args.session_ms),
    )
    log = Path(ROOT / ".run" / f"restart-{env['TXMON_APP_ID']}.log")
    worker = WorkerProcess(env, free_port(), log)
    worker.start()
    stop = threading.Event()
    feeder = threading.Thread(target=_trickle, args=(settings, env["TXMON_INPUT_TOPIC"], stop), daemon=True)
    feeder.start()
    try:
        time.sleep(5)  # judging the trickle
        for k in range(1, args.rounds + 1):
            worker.stop(signal.SIGKILL)
            since = time.monotonic()
            worker = WorkerProcess(env, worker.web_port, log)
            worker.start(timeout=180, health_path="/metrics")  # /health says 503 until the loop runs
            healthy, judged = _first_judged(worker, since)
            print(f"round {k}: /health ok after {healthy:.1f} s, first record judged after {judged:.1f} s", flush=True)
            time.sleep(3)
    finally:
        stop.set()
        feeder.join(15)
        worker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
