"""Fault: the Kafka broker stopped (SIGTERM) and killed (SIGKILL) mid-stream, and restarted each time.

A broker and Redis of this module's own (deploy/services.sh in a run folder of its own: the session's
broker is shared by other tests and must not be stopped). Generated bank traffic is produced at a
steady rate while a real worker judges it; the broker is stopped, started again, killed, started
again. Then what came out is compared, by id, with `txmon backtest` of the same events:

- no expected alert or hold missing, none the back-test does not give;
- no alert id with two different contents (a repeated alert must be the same alert), no account
  with two hold ids;
- the worker answers healthy (ready) again, and the time it took to resume after each restart.

The figures are printed (run with -s) and attached to the test's report as "broker-faults".
One input partition: events of different accounts are then judged in the file's order, as the
back-test judges them, so even R6b (shared across accounts) must match exactly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from alerts.model import alert_id
from loadtest.stack import ROOT, SIMULATED_CLOCK, WorkerProcess, namespace_env, read_all
from rules.config import load_ruleset
from streams.backtest import run as backtest
from streams.settings import Settings
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration

EVENTS, ACCOUNTS, SEED, RATE = 40_000, 2_000, 23, 2_000.0  # 20 s of traffic
HOLD_ACTIONS = {"hold", "freeze"}
WALL_CLOCK_FIELDS = {"detected_at"}  # when the worker judged it: differs on a legitimate redelivery


@dataclass
class Broker:
    """This module's Kafka and Redis (services.sh); the broker stopped and killed by its PID."""

    env: dict[str, str]
    bootstrap: str
    redis_url: str

    def services(self, command: str, *args: str) -> None:
        done = subprocess.run(
            ["bash", str(ROOT / "deploy" / "services.sh"), command, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def pid(self) -> int:
        return int((Path(self.env["TXMON_RUN_DIR"]) / "kafka" / "kafka.pid").read_text())

    def signal(self, sig: signal.Signals) -> float:
        """Send ``sig`` to the broker and wait until it has exited; returns how long that took."""
        pid, t = self.pid(), time.monotonic()
        os.kill(pid, sig)
        while Path(f"/proc/{pid}").exists() and time.monotonic() - t < 60:
            try:  # a child of services.sh's setsid wrapper, not ours: it is reaped by init
                if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                    break
            except OSError:
                break
            time.sleep(0.05)
        return time.monotonic() - t


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    run_dir = tmp_path_factory.mktemp("broker-faults")
    kafka, controller, redis = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "TXMON_RUN_DIR": str(run_dir),
        "TXMON_KAFKA_PORT": str(kafka),
        "TXMON_KAFKA_CONTROLLER_PORT": str(controller),
        "TXMON_REDIS_PORT": str(redis),
        "TXMON_POSTGRES_PORT": str(free_port()),  # its own, as every port here: the suite runs beside `make up`
    }
    b = Broker(env, f"127.0.0.1:{kafka}", f"redis://127.0.0.1:{redis}/0")
    try:
        b.services("up")
        yield b
    finally:
        subprocess.run(["bash", str(ROOT / "deploy" / "services.sh"), "down", "--purge"], env=env, timeout=120)


def processed(worker: WorkerProcess) -> float:
    try:
        return worker.metric("txmon_records_total").get("", 0.0)
    except OSError:
        return -1.0  # not answering


def wait_processed(worker: WorkerProcess, n: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while processed(worker) < n:
        assert time.monotonic() < deadline, f"the worker judged {processed(worker):,.0f} of {n:,} events"
        time.sleep(0.1)


def ready(worker: WorkerProcess) -> bool:
    """/ready where the worker has it, else /health: 200 means judging again."""
    for path in ("/ready", "/health"):
        try:
            worker.get(path)
            return True
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 404:
                continue
            return False
        except OSError:
            return False
    return False


def recover(broker: Broker, worker: WorkerProcess) -> float:
    """Start the broker again; returns seconds from its being back until the worker judged new records."""
    broker.services("up")
    back, before = time.monotonic(), processed(worker)
    while processed(worker) <= before or not ready(worker):
        assert time.monotonic() - back < 180, (
            f"the worker did not resume within 180 s:\n{worker.log_path.read_text()[-4000:]}"
        )
        time.sleep(0.2)
    return time.monotonic() - back


def _content(value: dict[str, Any]) -> bytes:
    return orjson.dumps({k: v for k, v in value.items() if k not in WALL_CLOCK_FIELDS}, option=orjson.OPT_SORT_KEYS)


def test_broker_stopped_and_killed_mid_stream_loses_nothing_and_adds_nothing(broker: Broker, tmp_path: Path) -> None:
    # The load generator, as a bank's producer: a process of its own (kafka-python, acks=all, idempotent),
    # riding through the outages; the same arguments with --out give the same events for the back-test.
    traffic = [sys.executable, "-m", "loadtest.send", "--events", str(EVENTS), "--accounts", str(ACCOUNTS)]
    traffic += ["--seed", str(SEED), "--scenario-every", "200", "--malformed-every", "2000"]
    events = tmp_path / "events.jsonl"
    subprocess.run([*traffic, "--out", str(events)], cwd=ROOT, check=True, capture_output=True, timeout=120)
    report = backtest(events, load_ruleset(), keep_decisions=True)
    account_of = {}
    for line in events.read_bytes().splitlines():
        try:
            e = orjson.loads(line)
            account_of[str(e["event_id"])] = str(e["account_id"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue  # malformed on purpose: dead-lettered by both
    expected = {alert_id(rule, event, account=acct): event for acct, event, rule, _, _ in report.hits}
    expected_held = {account_of[e] for (e, _), action in report.decisions.items() if action in HOLD_ACTIONS}

    env = namespace_env(
        "bf",
        TXMON_KAFKA_BOOTSTRAP=broker.bootstrap,
        TXMON_REDIS_URL=broker.redis_url,
        TXMON_TOPIC_PARTITIONS="1",
        TXMON_LOG_LEVEL="INFO",
        **SIMULATED_CLOCK,  # the generator's clock runs days ahead of the wall clock
    )
    created = subprocess.run(
        [sys.executable, "-m", "streams.cli", "topics"],
        env={**broker.env, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    worker = WorkerProcess(env, free_port(), tmp_path / "worker.log")
    worker.start()
    t0 = time.monotonic()
    figures: dict[str, Any] = {"sent": EVENTS}
    producer: subprocess.Popen[bytes] | None = None
    try:
        with (tmp_path / "send.log").open("wb") as log:
            producer = subprocess.Popen(
                [*traffic, "--rate", str(RATE)], env={**broker.env, **env}, cwd=ROOT, stdout=log, stderr=log
            )
        wait_processed(worker, EVENTS // 4)  # mid-stream: a quarter judged, the rest still coming
        figures["sigterm_stop_s"] = round(broker.signal(signal.SIGTERM), 1)
        time.sleep(3)  # an outage the worker notices
        figures["resume_after_sigterm_s"] = round(recover(broker, worker), 1)
        wait_processed(worker, EVENTS * 5 // 8)
        broker.signal(signal.SIGKILL)
        time.sleep(3)
        figures["resume_after_sigkill_s"] = round(recover(broker, worker), 1)
        assert producer.wait(240) == 0, (tmp_path / "send.log").read_text()[-3000:]

        kafka = Settings(kafka_bootstrap=broker.bootstrap)
        deadline = time.monotonic() + 180
        while True:
            alerts = [orjson.loads(v) for _, v, _ in read_all(kafka, env["TXMON_ALERTS_TOPIC"], 30)]
            if {a["alert_id"] for a in alerts} >= set(expected) or time.monotonic() > deadline:
                break
            time.sleep(1)
        time.sleep(2)  # anything still on its way (an alert the back-test does not give) lands too
        alerts = [orjson.loads(v) for _, v, _ in read_all(kafka, env["TXMON_ALERTS_TOPIC"], 30)]
        holds = [orjson.loads(v) for _, v, _ in read_all(kafka, env["TXMON_HOLDS_TOPIC"], 30)]
        figures["seconds"] = round(time.monotonic() - t0, 1)
        figures["worker_ready_after"] = ready(worker)
    finally:
        if producer is not None and producer.poll() is None:
            producer.kill()
            producer.wait(10)
        worker.stop()

    got = Counter(a["alert_id"] for a in alerts)
    contents: dict[str, set[bytes]] = defaultdict(set)
    for a in alerts:
        contents[a["alert_id"]].add(_content(a))
    conflicting = sorted(i for i, c in contents.items() if len(c) > 1)
    hold_ids: dict[str, set[str]] = defaultdict(set)
    for h in holds:
        hold_ids[h["account_id"]].add(h["hold_id"])
    held = set(hold_ids)
    missing, unexpected = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    figures |= {
        "alerts_expected": len(expected),
        "alerts_got": len(got),
        "alerts_lost": len(missing),
        "alerts_unexpected": len(unexpected),
        "alert_records_repeated": sum(n - 1 for n in got.values()),
        "alerts_with_two_contents": len(conflicting),
        "holds_expected_accounts": len(expected_held),
        "holds_got_accounts": len(held),
        "holds_lost": len(expected_held - held),
        "holds_unexpected": len(held - expected_held),
        "accounts_with_two_hold_ids": sum(len(ids) > 1 for ids in hold_ids.values()),
        "unexpected_by_rule": dict(Counter(i.split("-")[1] for i in unexpected)),
        "lost_by_rule": dict(Counter(i.split("-")[1] for i in missing)),
    }
    print("\nbroker-faults:", orjson.dumps(figures).decode())
    (tmp_path / "broker-faults.json").write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))

    assert figures["worker_ready_after"], worker.log_path.read_text()[-4000:]
    assert missing == [], figures
    assert unexpected == [], figures
    assert conflicting == [], [sorted(contents[i]) for i in conflicting[:2]]
    assert held == expected_held, figures
    assert figures["accounts_with_two_hold_ids"] == 0, figures
