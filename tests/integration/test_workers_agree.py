"""One topic of bank traffic with fraud scenarios (8 partitions), judged by 1 worker on one Redis
and by 1, 2 and 3 workers in one consumer group on the Redis Cluster: every rule's alert ids
are the same in every run, and the same as ``txmon backtest`` of the same events."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from loadtest.bank_traffic import Generator
from loadtest.scenario_labels import SUSPICIOUS_FILE
from loadtest.stack import SIMULATED_CLOCK, load_suspicious_list, read_all
from rules.config import load_ruleset
from streams.backtest import run as backtest
from streams.lists import updates_from_csv
from streams.settings import Settings
from tests.integration.conftest import ROOT, Cluster, Services, Worker, free_port, make_worker

pytestmark = pytest.mark.integration
EVENTS, ACCOUNTS, PARTITIONS = 30_000, 3_000, 8


def _metric(w: Worker, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{w.web_port}/metrics", timeout=5) as r:  # noqa: S310
        lines = r.read().decode().splitlines()
    return sum(float(line.split()[-1]) for line in lines if line.startswith(name + " ") or line.startswith(name + "{"))


def _judge(
    services: Services, tmp: Path, input_topic: str, workers: int, redis_env: dict[str, str], total: int
) -> tuple[set[tuple[str, str]], int, float]:
    """Run ``workers`` workers in one group over ``input_topic``; returns the (rule, event id) of
    every alert they emitted, how many alerts were emitted twice, and the seconds it took."""
    # generated traffic runs on a simulated clock: days of events, sent in seconds
    first = make_worker(services, tmp, **redis_env, **SIMULATED_CLOCK, TXMON_TOPIC_PARTITIONS=str(PARTITIONS))
    env = {**first.env, "TXMON_INPUT_TOPIC": input_topic}
    subprocess.run([sys.executable, "-m", "streams.cli", "topics"], env=env, cwd=ROOT, check=True, capture_output=True)
    load_suspicious_list(env, SUSPICIOUS_FILE)
    crew = []
    for i in range(workers):
        port = free_port()
        log = tmp / f"worker-{workers}-{i}-{port}.log"
        crew.append(Worker(services, {**env, "TXMON_WEB_PORT": str(port)}, port, log, topics=first.topics))
    t0 = time.monotonic()
    try:
        for w in crew:
            w.start()
        deadline, last, stable_since = time.monotonic() + 300, -1.0, time.monotonic()
        while True:
            try:
                done = sum(_metric(w, "txmon_records_total") for w in crew)
                emitted = sum(_metric(w, "txmon_alerts_total") for w in crew)
            except TimeoutError:  # a worker deep in a batch on a loaded host answers late: ask again
                assert time.monotonic() < deadline, f"no /metrics answer:\n{crew[0].log_tail()}"
                continue
            if emitted != last:
                last, stable_since = emitted, time.monotonic()
            if done >= total and time.monotonic() - stable_since > 4:
                break
            assert time.monotonic() < deadline, f"{done} of {total} judged:\n{crew[0].log_tail()}"
            time.sleep(0.5)
        seconds = time.monotonic() - t0
    finally:
        for w in crew:
            w.stop(signal.SIGTERM)
    _all_committed(services.bootstrap, env["TXMON_CONSUMER_GROUP"], input_topic)
    alerts = [
        orjson.loads(v) for _, v, _ in read_all(Settings(kafka_bootstrap=services.bootstrap), first.topics["alerts"])
    ]
    ids = Counter((a["rule_id"], a["event_id"]) for a in alerts)
    return set(ids), sum(n - 1 for n in ids.values()), seconds


def _all_committed(bootstrap: str, group: str, topic: str) -> None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        end = consumer.end_offsets(tps)
        assert {tp.partition: consumer.committed(tp) for tp in tps} == {tp.partition: end[tp] for tp in tps}
    finally:
        consumer.close()


def test_one_two_and_three_workers_decide_alike_and_as_the_backtest(
    services: Services, redis_cluster: Cluster, tmp_path: Path
) -> None:
    records = list(Generator(20_261_202, ACCOUNTS, scenario_every=60).take(EVENTS))
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(value for _, value in records) + b"\n")
    topic = f"agree{time.time_ns() % 10**8}.events"
    producer = KafkaProducer(bootstrap_servers=services.bootstrap, acks="all", linger_ms=5)
    try:
        env = {**services.env, "TXMON_KAFKA_BOOTSTRAP": services.bootstrap, "TXMON_INPUT_TOPIC": topic}
        env["TXMON_TOPIC_PARTITIONS"] = str(PARTITIONS)
        subprocess.run(
            [sys.executable, "-m", "streams.cli", "topics"], env=env, cwd=ROOT, check=True, capture_output=True
        )
        for key, value in records:
            producer.send(topic, value, key=key)
        producer.flush(60)
    finally:
        producer.close(10)

    listed = frozenset(u.account_id for u in updates_from_csv(SUSPICIOUS_FILE, by="test"))
    report = backtest(path, load_ruleset(), suspicious=listed, keep_decisions=True)
    expected = {(rule, event_id) for event_id, rule in report.decisions}
    by_rule = Counter(rule for rule, _ in expected)
    assert {"R1", "R2", "R6a", "R6b", "R7", "R8", "R9", "R12"} <= set(by_rule), by_rule

    single = {"TXMON_REDIS_URL": services.redis_url}
    runs: dict[str, Any] = {"1 worker, one Redis": _judge(services, tmp_path, topic, 1, single, EVENTS)}
    for n in (1, 2, 3):
        runs[f"{n} worker(s), Redis Cluster"] = _judge(services, tmp_path, topic, n, redis_cluster.env, EVENTS)
    for name, (ids, duplicates, seconds) in runs.items():
        print(f"{name}: {len(ids)} alert ids, {duplicates} sent twice, {seconds:.1f} s")
        for rule in sorted(by_rule):
            got = {i for i in ids if i[0] == rule}
            want = {i for i in expected if i[0] == rule}
            assert got == want, f"{name} {rule}: missing {sorted(want - got)[:5]}, extra {sorted(got - want)[:5]}"
        assert ids == expected, name
