"""Start and stop the local stack for the demo and the benchmarks: services and workers, by PID.

``Stack`` brings Kafka and Redis up with ``deploy/services.sh`` unless they are
already running, and takes them down at the end only if it started them.
``WorkerProcess`` runs ``txmon worker`` (or any module) with its own topics.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition

from streams.kafka_client import kafka_python_options
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ROOT / "deploy" / "services.sh"


def free_port() -> int:
    """A TCP port on 127.0.0.1 free now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cluster_ports(n: int) -> list[int]:
    """``n`` free ports for Redis Cluster nodes whose cluster bus port (+10000) is free too."""
    ports: list[int] = []
    while len(ports) < n:
        p = free_port()
        if p + 10_000 >= 65_536 or p in ports:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", p + 10_000))
        except OSError:
            continue
        ports.append(p)
    return ports


@contextmanager
def local_services() -> Iterator[bool]:
    """Kafka and Redis up for the block; yields whether this call started them."""
    running = subprocess.run(["bash", str(SERVICES), "status"], capture_output=True, check=False).returncode == 0
    if not running:
        subprocess.run(["bash", str(SERVICES), "up"], check=True)
    try:
        yield not running
    finally:
        if not running:
            subprocess.run(["bash", str(SERVICES), "down"], check=False)


# The generator simulates days of a bank's traffic in minutes, from a fixed date: its event times
# are not the times its records arrive. Workers fed with it accept any event time (bounds of ten
# years), so the demo and benchmarks judge all of it; the bounds themselves are tested elsewhere.
SIMULATED_CLOCK = {"TXMON_MAX_EVENT_AGE_S": str(10 * 365 * 86_400), "TXMON_MAX_EVENT_FUTURE_S": str(10 * 365 * 86_400)}


def namespace_env(prefix: str, **extra: str) -> dict[str, str]:
    """Settings for a worker whose topics, group and Redis keys are all its own."""
    ns = f"{prefix}{uuid.uuid4().hex[:6]}"
    return {
        "TXMON_APP_ID": f"txmon-{ns}",
        "TXMON_CONSUMER_GROUP": f"{ns}-monitor",
        "TXMON_STATE_PREFIX": f"{ns}:",
        "TXMON_INPUT_TOPIC": f"{ns}.events",
        "TXMON_ALERTS_TOPIC": f"{ns}.alerts.bank",
        "TXMON_POLICE_TOPIC": f"{ns}.alerts.police",
        "TXMON_HOLDS_TOPIC": f"{ns}.holds",
        "TXMON_DEAD_LETTER_TOPIC": f"{ns}.events.dlq",
        "TXMON_AUDIT_TOPIC": f"{ns}.audit",
        "TXMON_RULES_TOPIC": f"{ns}.rules",
        "TXMON_SUSPICIOUS_TOPIC": f"{ns}.suspicious",
        "TXMON_FREEZE_REQUESTS_TOPIC": f"{ns}.police.requests",
        "TXMON_CASES_GROUP": f"{ns}-cases",
        **extra,
    }


@dataclass
class WorkerProcess:
    env: dict[str, str]
    web_port: int
    log_path: Path
    module: str = "streams.cli"
    args: tuple[str, ...] = ("worker", "--quiet")
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self, timeout: float = 120.0, health_path: str = "/ready") -> None:
        env = {**os.environ, **self.env, "TXMON_WEB_PORT": str(self.web_port)}
        url = f"http://127.0.0.1:{self.web_port}{health_path}"
        self.proc = start_healthy(["-m", self.module, *self.args], env, self.log_path, url, timeout)

    def get(self, path: str) -> bytes:
        url = f"http://127.0.0.1:{self.web_port}{path}"
        with urllib.request.urlopen(url, timeout=3) as r:  # noqa: S310 (loopback only)
            return bytes(r.read())

    def health(self) -> dict[str, Any]:
        data: dict[str, Any] = orjson.loads(self.get("/health"))
        return data

    def metric(self, name: str) -> dict[str, float]:
        """Samples of one metric family from /metrics, by label text (`''` when unlabelled)."""
        out: dict[str, float] = {}
        for line in self.get("/metrics").decode().splitlines():
            if line.startswith(name) and not line.startswith("#"):
                head, _, value = line.rpartition(" ")
                labels = head[len(name) :]
                if labels.startswith("{") or labels == "":
                    out[labels.strip("{}")] = float(value)
        return out

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        stop_process(self.proc, sig, timeout)


def start_healthy(
    python_args: list[str], env: dict[str, str], log_path: Path, health_url: str, timeout: float
) -> subprocess.Popen[bytes]:
    """Start ``python PYTHON_ARGS`` in its own session (output to ``log_path``) and wait until
    ``health_url`` (a worker's or the console's ``/ready``) answers 200; if it exits or stays
    unready, stop it and raise with the log's tail."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, *python_args],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"{' '.join(python_args)} exited with {proc.returncode}; {log_path}:\n{_tail(log_path)}"
            raise RuntimeError(msg)
        try:
            with urllib.request.urlopen(health_url, timeout=2) as r:  # noqa: S310 (loopback only)
                if r.status == 200:
                    return proc
        except OSError:
            pass  # not listening yet, or not healthy yet (an HTTP error is an OSError)
        time.sleep(0.3)
    stop_process(proc, timeout=10)
    msg = f"{' '.join(python_args)} not healthy after {timeout:.0f} s; {log_path}:\n{_tail(log_path)}"
    raise RuntimeError(msg)


def stop_process(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    """Signal a started process (by its PID) and wait for it; kill it if it does not stop in time."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _tail(log_path: Path, n: int = 4000) -> str:
    return log_path.read_text(errors="replace")[-n:] if log_path.exists() else ""


def read_all(kafka: Settings, topic: str, timeout: float = 20.0) -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
    """Every record now on ``topic`` (up to the end offsets at call time)."""
    consumer = KafkaConsumer(**kafka_python_options(kafka), enable_auto_commit=False, group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out: list[tuple[bytes | None, bytes, dict[str, bytes]]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(consumer.position(tp) < end[tp] for tp in tps):
            for batch in consumer.poll(timeout_ms=500, max_records=50_000).values():
                out.extend((m.key, m.value, dict(m.headers)) for m in batch)
        return out
    finally:
        consumer.close()


def load_suspicious_list(env: dict[str, str], csv_path: Path) -> None:
    """Publish a CSV of suspicious accounts on the worker's suspicious-list topic, as a bank would."""
    subprocess.run(
        [sys.executable, "-m", "streams.cli", "suspicious", "load", str(csv_path), "--by", "loadtest"],
        env={**os.environ, **env},
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
