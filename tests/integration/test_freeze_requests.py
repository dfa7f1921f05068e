"""Police freeze requests (R13) end to end on real Kafka and Redis: the CLI publishes a request, the
worker's agent freezes the account once, a resend changes nothing, a bad request is dead-lettered."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import redis

from store.keys import Keys
from tests.integration.conftest import ROOT, Record, Worker, send

pytestmark = pytest.mark.integration

AUTHORITY = "Công an TP Hà Nội - PC02"
# The agent joins its consumer group when the worker starts; the first request may wait for that.
FIRST_TIMEOUT_S = 90


def requests_topic(worker: Worker) -> str:
    return worker.env.get("TXMON_FREEZE_REQUESTS_TOPIC", "txmon.police.requests")


def _of(records: list[Record], account: str) -> list[dict[str, Any]]:
    return [r.json() for r in records if r.key == account]


def _metric(worker: Worker, outcome: str) -> float:
    found = re.search(rf'^txmon_freeze_requests_total{{outcome="{outcome}"}} (\S+)$', worker.metrics(), re.M)
    return float(found.group(1)) if found else 0.0


def _wait_metric(worker: Worker, outcome: str, at_least: float, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while (value := _metric(worker, outcome)) < at_least:
        assert time.monotonic() < deadline, f"{outcome} stayed at {value}:\n{worker.log_tail()}"
        time.sleep(0.3)
    return value


def test_a_request_freezes_the_account_once(worker: Worker, producer: Any, read_topic: Any) -> None:
    alerts, holds, audit = read_topic("alerts"), read_topic("holds"), read_topic("audit")
    account, request_id = "9704" + uuid.uuid4().hex[:10], f"PC02-{uuid.uuid4().hex[:12]}"
    before = datetime.now(tz=UTC)
    published = subprocess.run(
        [sys.executable, "-m", "streams.cli", "freeze", "request", "--account", account, "--authority", AUTHORITY,
         "--case", "VV-117/2026", "--reason", "Tài khoản nhận tiền lừa đảo", "--request-id", request_id,
         "--duration-h", "72"],
        env=worker.env, cwd=ROOT, check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert published.stdout.strip() == request_id

    alerts.wait_for(lambda rs: len(_of(rs, account)) >= 1, FIRST_TIMEOUT_S)
    got = _of(alerts.records, account)
    assert len(got) == 1, f"no R13 alert:\n{worker.log_tail(8000)}"
    alert = got[0]
    assert alert["rule_id"] == "R13" and alert["action"] == "freeze" and alert["event_id"] == request_id
    assert AUTHORITY in alert["reason_vi"] and "VV-117/2026" in alert["reason_en"]
    assert alert["evidence"]["authority"] == AUTHORITY and alert["evidence"]["duration_h"] == 72
    holds.wait_for(lambda rs: len(_of(rs, account)) >= 1)
    (hold,) = _of(holds.records, account)
    assert hold["kind"] == "freeze" and hold["status"] == "active" and hold["hold_id"] == alert["hold_id"]
    expires = datetime.fromisoformat(hold["expires_at"])
    assert before + timedelta(hours=72) <= expires <= datetime.now(tz=UTC) + timedelta(hours=72)
    r = redis.Redis.from_url(worker.services.redis_url)
    keys = Keys(worker.env["TXMON_STATE_PREFIX"])
    active, stored = r.get(keys.account_hold(account)), r.get(keys.hold(hold["hold_id"]))
    assert isinstance(active, bytes) and active.decode().startswith(hold["hold_id"] + "|")
    assert isinstance(stored, bytes) and orjson.loads(stored)["kind"] == "freeze"
    audit.wait_for(lambda rs: len(_of(rs, account)) >= 1)
    (record,) = _of(audit.records, account)
    assert record["action"] == "police_freeze" and record["who"] == AUTHORITY and record["role"] == "police"
    assert _metric(worker, "applied") >= 1

    # the police system resends it, twice: nothing new
    duplicates = _metric(worker, "duplicate")
    resent = orjson.dumps(alert["event"])
    send(producer, requests_topic(worker), [resent, resent], key=account)
    _wait_metric(worker, "duplicate", duplicates + 2)
    for reader in (alerts, holds, audit):
        reader.wait_for(lambda rs: False, timeout=2)  # anything late would show up now
    assert len(_of(alerts.records, account)) == 1
    assert len(_of(holds.records, account)) == 1
    assert len(_of(audit.records, account)) == 1


def test_a_bad_request_goes_to_the_dead_letter_topic(worker: Worker, producer: Any, read_topic: Any) -> None:
    dlq, alerts = read_topic("dlq"), read_topic("alerts")
    account = "9704" + uuid.uuid4().hex[:10]
    broken = b'{"request_id": "PC02-x", "account_id": '
    naive = orjson.dumps(
        {
            "request_id": f"PC02-{uuid.uuid4().hex[:12]}",
            "account_id": account,
            "requested_at": "2026-11-28T09:30:00",
            "authority": AUTHORITY,
            "case_ref": "VV-1",
            "reason": "x",
        }
    )
    send(producer, requests_topic(worker), [broken, naive], key=account)
    dlq.wait_for(lambda rs: len([r for r in rs if r.key == account]) >= 2, FIRST_TIMEOUT_S)
    mine = sorted((r for r in dlq.records if r.key == account), key=lambda r: r.headers["txmon-reason"])
    assert [r.value for r in mine] == [broken, naive]
    assert [r.headers["txmon-reason"] for r in mine] == [b"malformed_json", b"schema_violation"]
    assert b"timezone" in mine[1].headers["txmon-error"]
    assert all(r.headers["txmon-source"].startswith(requests_topic(worker).encode() + b"/") for r in mine)
    assert _metric(worker, "rejected") >= 2
    alerts.wait_for(lambda rs: False, timeout=2)
    assert _of(alerts.records, account) == []
