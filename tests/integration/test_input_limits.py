"""Input the worker must reject without stopping, on the real broker: a record just under the
broker's size limit (its dead letter cannot be produced whole), event times from wrong clocks,
records without a key, JSON nested past the recursion limit."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from tests.integration.conftest import Record, send
from tests.integration.test_pipeline import Account, _settle

pytestmark = pytest.mark.integration

BROKER_LIMIT = 1_048_588  # Kafka's default max.message.bytes


def _dead(records: list[Record], key: str) -> list[Record]:
    return [r for r in records if r.key == key]


def test_a_record_near_the_broker_limit_is_dead_lettered_truncated(worker: Any, producer: Any, read_topic: Any) -> None:
    dlq, alerts = read_topic("dlq"), read_topic("alerts")
    a = Account()
    head = orjson.dumps(a.transfer(1_000))[:-1] + b',"description":"'
    huge = head + b"x" * (BROKER_LIMIT - 200 - len(head)) + b'"}'  # accepted by the broker, only just
    producer.send(worker.topics["input"], huge, key=a.id.encode())
    # then the account's ordinary life: a 25M transfer without a face match is R1
    send(producer, worker.topics["input"], [*a.onboard(), a.transfer(25_000_000, after_s=400)])

    [dead] = _dead(dlq.wait_for(lambda rs: len(_dead(rs, a.id)) >= 1, timeout=60), a.id)
    h = dead.headers
    assert h["txmon-reason"] == b"oversized" and h["txmon-truncated"] == b"true"
    assert h["txmon-original-size"] == str(len(huge)).encode()
    topic, partition, offset = h["txmon-source"].decode().rsplit("/", 2)
    assert topic == worker.topics["input"] and partition.isdigit() and offset.isdigit()
    assert len(dead.value) < len(huge) and huge.startswith(dead.value) and len(dead.value) > 900_000
    got = _settle(alerts, a.id, 1, timeout=60)
    assert [x["rule_id"] for x in got] == ["R1"]  # the valid records after it were judged
    assert worker.health()["status"] == "ok"


def test_wrong_clocks_missing_keys_and_deep_nesting_are_dead_letters(
    worker: Any, producer: Any, read_topic: Any
) -> None:
    dlq, alerts = read_topic("dlq"), read_topic("alerts")
    a = Account()
    now = datetime.now(UTC)
    wrong_clocks = [
        {**a.transfer(1_000), "ts": "2099-01-01T09:00:00+07:00"},
        {**a.transfer(1_000), "ts": "0001-01-01T00:00:00Z"},
        {**a.transfer(1_000), "ts": "9999-12-31T23:59:59+07:00"},
        {**a.transfer(1_000), "ts": (now + timedelta(hours=1)).isoformat()},
        {**a.transfer(1_000), "ts": (now - timedelta(days=30)).isoformat()},
    ]
    send(producer, worker.topics["input"], list(wrong_clocks))
    nested = orjson.dumps(a.transfer(1_000))[:-1] + b',"x":' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    send(producer, worker.topics["input"], [nested], key=a.id)
    unkeyed = a.transfer(1_000)
    send(producer, worker.topics["input"], [orjson.dumps(unkeyed)])  # no key
    # the account's events from yesterday are late but accepted: its 25M is still R1
    send(producer, worker.topics["input"], [*a.onboard(), a.transfer(25_000_000, after_s=400)])

    mine = _dead(dlq.wait_for(lambda rs: len(_dead(rs, a.id)) >= 6, timeout=60), a.id)
    assert [r.headers["txmon-reason"] for r in mine] == [b"event_time_out_of_range"] * 5 + [b"malformed_json"]
    assert [orjson.loads(r.value)["ts"] for r in mine[:5]] == [e["ts"] for e in wrong_clocks]
    assert b"nested too deeply" in mine[5].headers["txmon-error"]
    deadline = time.monotonic() + 30
    while not [r for r in dlq.poll() if r.key is None and unkeyed["event_id"].encode() in r.value]:
        assert time.monotonic() < deadline, "the record without a key was not dead-lettered"
    [keyless] = [r for r in dlq.records if r.key is None and unkeyed["event_id"].encode() in r.value]
    assert keyless.headers["txmon-reason"] == b"missing_key"
    assert [x["rule_id"] for x in _settle(alerts, a.id, 1)] == ["R1"]
    metrics = worker.metrics()
    assert 'txmon_dead_letters_total{reason="event_time_out_of_range"}' in metrics
    assert 'txmon_dead_letters_total{reason="missing_key"}' in metrics
