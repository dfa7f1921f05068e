"""Honest health: a worker whose Redis is gone says so on /ready, stays alive on /health, and
still stops within TXMON_STOP_TIMEOUT_S on SIGTERM while it retries (it needed SIGKILL before)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from loadtest.send import produce
from tests.faults.conftest import PrivateRedis
from tests.faults.harness import FaultRun
from tests.faults.test_worker_faults import ready

pytestmark = pytest.mark.integration


def test_a_worker_without_redis_is_alive_not_ready_and_stops_on_sigterm(
    fault_run: Callable[..., FaultRun], private_redis: PrivateRedis
) -> None:
    run = fault_run(private_redis.url)
    w = run.add_worker()
    w.env["TXMON_STOP_TIMEOUT_S"] = "6"
    w.start()
    records = run.traffic.records
    produce(records[:200], run.kafka, run.topics["input"])
    run.wait_judged(60)
    assert ready(w)[0] == 200 and "txmon_ready 1.0" in w.metrics()
    private_redis.stop()
    produce(records[200:400], run.kafka, run.topics["input"])
    deadline = time.monotonic() + 30
    while "retrying a batch" not in (answer := ready(w))[1].get("reason", ""):
        assert time.monotonic() < deadline, f"/ready did not report the retries: {answer}"
        time.sleep(0.3)
    status, body = answer
    assert status == 503 and body["status"] == "not_ready" and "Redis does not answer" in body["reason"]
    assert w.health()["status"] == "ok"  # alive: a restart would not bring Redis back
    metrics = w.metrics()
    assert "txmon_ready 0.0" in metrics and 'txmon_batch_failures_total{kind="redis"}' in metrics
    assert "txmon_consumer_lag_records{" in metrics and "txmon_consumer_lag_seconds{" in metrics
    t = time.monotonic()
    w.stop(signal.SIGTERM, timeout=30)
    stopped_s = time.monotonic() - t
    assert w.proc is not None and w.proc.returncode is not None and w.proc.returncode != -signal.SIGKILL
    assert stopped_s < 6 + 8, f"SIGTERM took {stopped_s:.1f} s while retrying"
    print(f'{{"sigterm_while_retrying_s": {stopped_s:.1f}}}')
