"""Real Kafka, Redis and PostgreSQL for the integration tests, started once per test run.

The services run on free ports in a temporary run folder, so a `make up`
instance on the default ports is left alone. If they cannot start, the run
fails: integration tests are never skipped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer

from loadtest.stack import cluster_ports, free_port, namespace_env, start_healthy, stop_process
from store.keys import Keys
from tests.integration.tls import TlsFiles, make_tls

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SecuredKafka:
    """The session broker's secured listeners (tests/integration/test_kafka_security.py)."""

    sasl_ssl: str  # SASL_SSL, SCRAM-SHA-512, bootstrap host:port
    mtls: str  # SSL with ssl.client.auth=required
    user: str
    password: str
    tls: TlsFiles


@dataclass(frozen=True)
class Services:
    bootstrap: str
    redis_url: str
    env: dict[str, str]
    postgres_url: str = ""
    secured: SecuredKafka | None = None


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    run_dir = tmp_path_factory.mktemp("services")
    kafka, controller, redis, postgres = free_port(), free_port(), free_port(), free_port()
    # The same broker also listens with SASL_SSL and mutual TLS, certificates from a CA made here.
    secured = SecuredKafka(
        f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}", "txmon-test", "scram-" + os.urandom(6).hex(),
        make_tls(tmp_path_factory.mktemp("tls")),
    )  # fmt: skip
    env = {
        **os.environ,
        "TXMON_RUN_DIR": str(run_dir),
        "TXMON_KAFKA_PORT": str(kafka),
        "TXMON_KAFKA_CONTROLLER_PORT": str(controller),
        "TXMON_REDIS_PORT": str(redis),
        "TXMON_POSTGRES_PORT": str(postgres),
        "TXMON_KAFKA_SASL_SSL_PORT": secured.sasl_ssl.rsplit(":", 1)[1],
        "TXMON_KAFKA_MTLS_PORT": secured.mtls.rsplit(":", 1)[1],
        "TXMON_KAFKA_TLS_DIR": str(secured.tls.dir),
        "TXMON_KAFKA_SCRAM_USER": secured.user,
        "TXMON_KAFKA_SCRAM_PASSWORD": secured.password,
    }
    script = ROOT / "deploy" / "services.sh"
    started = subprocess.run(["bash", str(script), "up"], env=env, capture_output=True, text=True, timeout=900)
    try:
        if started.returncode != 0:
            pytest.fail(f"Kafka/Redis/PostgreSQL did not start:\n{started.stdout[-3000:]}\n{started.stderr[-3000:]}")
        pg = f"postgresql://txmon@127.0.0.1:{postgres}/txmon"
        yield Services(
            f"127.0.0.1:{kafka}", f"redis://127.0.0.1:{redis}/0", {**env, "TXMON_POSTGRES_URL": pg}, pg, secured
        )
    finally:
        subprocess.run(["bash", str(script), "down", "--purge"], env=env, capture_output=True, timeout=120)


@dataclass(frozen=True)
class Cluster:
    """A Redis Cluster of 3 masters and 3 replicas (``deploy/redis-cluster.sh``)."""

    ports: list[int]

    @property
    def env(self) -> dict[str, str]:
        """The settings that point txmon at it: two seed nodes, the cluster switch on."""
        return {
            "TXMON_REDIS_URL": f"redis://127.0.0.1:{self.ports[0]},127.0.0.1:{self.ports[1]}/0",
            "TXMON_REDIS_CLUSTER": "true",
        }

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(host="127.0.0.1", port=self.ports[0])


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    ports = cluster_ports(6)
    env = {
        **os.environ,
        "TXMON_RUN_DIR": str(tmp_path_factory.mktemp("redis-cluster")),
        "TXMON_REDIS_CLUSTER_PORTS": ",".join(map(str, ports)),
    }
    script = ROOT / "deploy" / "redis-cluster.sh"
    started = subprocess.run(["bash", str(script), "up"], env=env, capture_output=True, text=True, timeout=180)
    try:
        if started.returncode != 0:
            pytest.fail(f"the Redis Cluster did not start:\n{started.stdout[-3000:]}\n{started.stderr[-3000:]}")
        yield Cluster(ports)
    finally:
        subprocess.run(["bash", str(script), "down"], env=env, capture_output=True, timeout=120)


def sync_redis(env: dict[str, str]) -> redis.Redis | redis.RedisCluster:
    """A blocking client for what ``env`` points txmon at (one Redis or a cluster)."""
    url = env["TXMON_REDIS_URL"]
    if env.get("TXMON_REDIS_CLUSTER") == "true":
        host, _, port = url.split("//", 1)[1].split(",", 1)[0].partition(":")
        return redis.RedisCluster(host=host, port=int(port))
    return redis.Redis.from_url(url)


@dataclass
class Worker:
    """A real `txmon worker` process with its own topics, consumer group and Redis prefix."""

    services: Services
    env: dict[str, str]
    web_port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    topics: dict[str, str] = field(default_factory=dict)

    def start(self, timeout: float = 90.0) -> None:
        url = f"http://127.0.0.1:{self.web_port}/ready"  # ready: Kafka and Redis answer, state intact
        self.proc = start_healthy(["-m", "streams.cli", "worker", "--quiet"], self.env, self.log_path, url, timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        stop_process(self.proc, sig, timeout)

    def log_tail(self, n: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-n:] if self.log_path.exists() else ""

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/health", timeout=5) as r:  # noqa: S310
            data: dict[str, Any] = orjson.loads(r.read())
            return data

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/metrics", timeout=5) as r:  # noqa: S310
            return str(r.read().decode())


# Worker.topics names -> the setting that holds each topic.
TOPIC_SETTINGS = {
    "input": "TXMON_INPUT_TOPIC",
    "alerts": "TXMON_ALERTS_TOPIC",
    "police": "TXMON_POLICE_TOPIC",
    "holds": "TXMON_HOLDS_TOPIC",
    "dlq": "TXMON_DEAD_LETTER_TOPIC",
    "rules": "TXMON_RULES_TOPIC",
    "audit": "TXMON_AUDIT_TOPIC",
    "suspicious": "TXMON_SUSPICIOUS_TOPIC",
    "freeze_requests": "TXMON_FREEZE_REQUESTS_TOPIC",
}


def make_worker(services: Services, tmp: Path, **extra: str) -> Worker:
    """A worker with topics, consumer group and Redis keys of its own (``loadtest.stack.namespace_env``)."""
    web_port = free_port()
    env = {
        **services.env,
        "TXMON_KAFKA_BOOTSTRAP": services.bootstrap,
        "TXMON_REDIS_URL": services.redis_url,
        **namespace_env("t"),
        "TXMON_TOPIC_PARTITIONS": "4",
        "TXMON_WEB_PORT": str(web_port),
        "TXMON_BANK_CODE": "TESTBANK",
        "TXMON_LOG_LEVEL": "INFO",
        **extra,
    }
    topics = {name: env[setting] for name, setting in TOPIC_SETTINGS.items()}
    return Worker(services, env, web_port, tmp / f"worker-{env['TXMON_APP_ID']}.log", topics=topics)


@pytest.fixture(scope="session")
def worker(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    w = make_worker(services, tmp_path_factory.mktemp("worker"))
    w.start()
    try:
        yield w
    finally:
        w.stop()


@pytest.fixture(scope="session")
def producer(services: Services) -> Iterator[KafkaProducer]:
    p = KafkaProducer(bootstrap_servers=services.bootstrap, linger_ms=1, acks="all")
    try:
        yield p
    finally:
        p.close(timeout=10)


def send(producer: KafkaProducer, topic: str, events: list[dict[str, Any] | bytes], key: str | None = None) -> None:
    for e in events:
        if isinstance(e, bytes):
            producer.send(topic, e, key=key.encode() if key else None)
        else:
            producer.send(topic, orjson.dumps(e), key=str(e["account_id"]).encode())
    producer.flush(timeout=30)


@dataclass
class Record:
    key: str | None
    value: bytes
    headers: dict[str, bytes]

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = orjson.loads(self.value)
        return data


class TopicReader:
    """Everything on a topic since the test session began, polled until a condition holds."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
            consumer_timeout_ms=200,
        )
        self.records: list[Record] = []

    def poll(self) -> list[Record]:
        for batch in self.consumer.poll(timeout_ms=200).values():
            for m in batch:
                key = m.key.decode() if m.key is not None else None
                self.records.append(Record(key, m.value, {k: v for k, v in m.headers}))
        return self.records

    def wait_for(self, cond: Callable[[list[Record]], bool], timeout: float = 30.0) -> list[Record]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond(self.poll()):
                return self.records
        return self.records

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def read_topic(worker: Worker) -> Iterator[Callable[[str], TopicReader]]:
    readers: list[TopicReader] = []

    def open_reader(name: str) -> TopicReader:
        r = TopicReader(worker.services.bootstrap, worker.topics[name])
        readers.append(r)
        return r

    yield open_reader
    for r in readers:
        r.close()


@pytest.fixture
def read_topic_of() -> Iterator[Callable[[Worker, str], TopicReader]]:
    """Readers on any worker's topics (``read_topic`` is bound to the session worker)."""
    readers: list[TopicReader] = []

    def open_reader(w: Worker, name: str) -> TopicReader:
        r = TopicReader(w.services.bootstrap, w.topics[name])
        readers.append(r)
        return r

    yield open_reader
    for r in readers:
        r.close()


def add_to_suspicious_list(worker: Worker, account: str, reason: str = "SIMO report") -> None:
    """``txmon suspicious add`` as an operator runs it, then wait until the worker applied it."""
    command = [sys.executable, "-m", "streams.cli", "suspicious", "add", account, "--reason", reason]
    subprocess.run([*command, "--source", "SIMO"], env=worker.env, cwd=ROOT, check=True, capture_output=True)
    r = sync_redis(worker.env)
    key = Keys(worker.env["TXMON_STATE_PREFIX"]).suspicious
    deadline = time.monotonic() + 20
    while not r.sismember(key, account):
        assert time.monotonic() < deadline, "the worker did not apply the list update"
        time.sleep(0.2)
