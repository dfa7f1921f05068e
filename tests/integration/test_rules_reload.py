"""Hot reload: a new rules version published on the control topic takes over a running worker
while traffic flows, with no event lost or judged twice."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadtest.bank_traffic import Generator
from loadtest.stack import SIMULATED_CLOCK
from tests.integration.conftest import ROOT, Worker, make_worker, send
from tests.integration.test_pipeline import Account

pytestmark = pytest.mark.integration


@pytest.fixture
def reload_worker(services: Any, tmp_path: Path) -> Any:
    w = make_worker(services, tmp_path, **SIMULATED_CLOCK)  # generated background traffic
    w.start()
    try:
        yield w
    finally:
        w.stop()


def _drain(a: Account, gap_s: float) -> list[dict[str, Any]]:
    """A login from a never-used device, then a transfer from it ``gap_s`` later (R12's signal)."""
    return [a.ev("login", device_id="stolen", ip="14.160.1.1"), a.transfer(2_000_000, device="stolen", after_s=gap_s)]


def _publish(worker: Worker, text: str, tmp: Path) -> None:
    path = tmp / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "streams.cli", "rules", "publish", str(path)], env=worker.env, cwd=ROOT, check=True
    )


def _wait_version(worker: Worker, version: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while worker.health()["ruleset_version"] != version:
        assert time.monotonic() < deadline, f"worker still on {worker.health()['ruleset_version']}"
        time.sleep(0.2)


def test_threshold_change_takes_over_while_traffic_flows(
    reload_worker: Worker, producer: Any, read_topic_of: Any, tmp_path: Path
) -> None:
    w = reload_worker
    alerts = read_topic_of(w, "alerts")
    background = [v for _, v in Generator(21, 500).take(30_000)]
    keys = [orjson.loads(v).get("account_id", "x") if v.startswith(b"{") else None for v in background]
    flowing = threading.Thread(target=_send_raw, args=(producer, w.topics["input"], background, keys))

    def r12(account: Account) -> list[dict[str, Any]]:
        return [r.json() for r in alerts.records if r.key == account.id and r.json()["rule_id"] == "R12"]

    before, a_after_short, a_after_long = Account(), Account(), Account()
    send(producer, w.topics["input"], [*before.onboard(), *_drain(before, 100)])
    old_version = w.health()["ruleset_version"]
    # judged before the change is published (a worker's first batch can wait for its group to form)
    alerts.wait_for(lambda _: bool(r12(before)), timeout=30)

    flowing.start()
    text = (ROOT / "rules" / "rules.yaml").read_text(encoding="utf-8")
    new_text = text.replace("params: {window_s: 180}", "params: {window_s: 30}")
    new_text = new_text.replace(f'version: "{old_version}"', 'version: "reload-test-2"')
    assert new_text != text and "window_s: 30" in new_text
    _publish(w, new_text, tmp_path)
    _wait_version(w, "reload-test-2")
    send(producer, w.topics["input"], [*a_after_long.onboard(), *_drain(a_after_long, 100)])
    send(producer, w.topics["input"], [*a_after_short.onboard(), *_drain(a_after_short, 20)])
    flowing.join(timeout=120)

    alerts.wait_for(lambda _: bool(r12(a_after_short)), timeout=30)
    assert [x["ruleset_version"] for x in r12(before)] == [old_version]  # 100 s < 180 s: old window
    assert r12(a_after_long) == []  # 100 s > 30 s: the new window decides
    assert [x["ruleset_version"] for x in r12(a_after_short)] == ["reload-test-2"]

    total = len(background) + 2 * 6 + 6
    deadline = time.monotonic() + 60
    while _records(w) < total and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _records(w) == total  # every event judged once: none lost, none twice
    ids = [r.json()["alert_id"] for r in alerts.poll()]
    assert len(ids) == len(set(ids))
    assert "txmon_rules_reloads_total 1.0" in w.metrics()


def test_an_invalid_version_is_ignored(reload_worker: Worker, tmp_path: Path) -> None:
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=reload_worker.services.bootstrap)
    p.send(reload_worker.topics["rules"], b"version: bad\nrules: {R2: {action: maybe}}", key=b"ruleset", partition=0)
    p.flush()
    p.close()
    deadline = time.monotonic() + 20
    while "txmon_rules_rejected_total 1.0" not in reload_worker.metrics():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert reload_worker.health()["ruleset_version"] != "bad"


def _send_raw(producer: Any, topic: str, values: list[bytes], keys: list[str | None]) -> None:
    for value, key in zip(values, keys, strict=True):
        producer.send(topic, value, key=key.encode() if key else None)
        time.sleep(0.0001)
    producer.flush(timeout=60)


def _records(w: Worker) -> int:
    for line in w.metrics().splitlines():
        if line.startswith("txmon_records_total "):
            return int(float(line.split()[1]))
    return 0
