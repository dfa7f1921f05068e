"""End to end on real Kafka and Redis: R6b (shared per-IP store), R8 and R9 (incoming money),
R10 (unusual time / amount), and resends that must not be counted twice."""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import orjson
import pytest
import redis

from store.keys import Keys
from tests.integration.conftest import add_to_suspicious_list, send
from tests.integration.test_pipeline import VN_IP, Account, _of, _settle

pytestmark = pytest.mark.integration


def _foreign_ip() -> str:
    """A US address of its own, so tests sharing the session worker never share an IP."""
    return f"104.16.{random.randrange(256)}.{random.randrange(1, 255)}"


def _incoming(a: Account, payer: str, amount: int, after_s: float = 60) -> dict[str, Any]:
    return a.ev("incoming_transfer", after_s, amount=amount, src_account=payer, src_bank="VCB", channel="api")


def test_mule_pass_through_is_held_and_reported(worker: Any, producer: Any, read_topic: Any) -> None:
    alerts, police, holds = read_topic("alerts"), read_topic("police"), read_topic("holds")
    mule, honest = Account(), Account()
    fan_in = [_incoming(mule, f"0{k}11223344", 3_000_000) for k in range(5)]
    send(producer, worker.topics["input"], [*mule.onboard(), *fan_in])
    face = mule.ev("biometric_verification", device_id="phone-1", result="matched")
    send(producer, worker.topics["input"], [face, mule.transfer(12_500_000, after_s=5)])  # 12.7M of 15M out
    # the same inflow from only four payers is not a mule pattern
    few = [_incoming(honest, f"0{k % 4}11223344", 3_000_000) for k in range(5)]
    face_h = honest.ev("biometric_verification", device_id="phone-1", result="matched")
    send(producer, worker.topics["input"], [*honest.onboard(), *few, face_h, honest.transfer(12_500_000, after_s=5)])

    got = _settle(alerts, mule.id, 1)
    assert [(x["rule_id"], x["action"]) for x in got] == [("R8", "hold")]
    evidence = got[0]["evidence"]
    assert evidence["distinct_payers"] == 5 and evidence["inflow_vnd"] == 15_000_000
    assert evidence["outflow_vnd"] == 12_700_000 and evidence["out_share_pct"] == 85
    assert "mule" in got[0]["reason_en"] and got[0]["reason_vi"]
    assert _settle(holds, mule.id, 1)[0]["status"] == "active"
    assert _settle(police, mule.id, 1)[0]["rule_id"] == "R8"
    alerts.wait_for(lambda rs: False, timeout=2)
    assert [x["rule_id"] for x in _of(alerts.records, honest.id)] == []


def test_tainted_inbound_alerts_bank_and_police(worker: Any, producer: Any, read_topic: Any) -> None:
    alerts, police = read_topic("alerts"), read_topic("police")
    listed = "77" + uuid.uuid4().hex[:8]
    add_to_suspicious_list(worker, listed, "police list")
    a = Account()
    inflow = [_incoming(a, listed, 900_000) for _ in range(4)] + [_incoming(a, "0123456789", 900_000)]
    send(producer, worker.topics["input"], [*a.onboard(), *inflow])
    got = _settle(alerts, a.id, 1)
    assert [(x["rule_id"], x["action"], x["event_id"]) for x in got] == [("R9", "alert", inflow[3]["event_id"])]
    assert got[0]["evidence"]["tainted_transfers"] == 4 and got[0]["evidence"]["payer_account"] == listed
    report = _settle(police, a.id, 1)[0]
    assert report["counterparty_account"] == listed and report["amount_vnd"] == 900_000


def test_unusual_time_and_amount_alert_the_bank(worker: Any, producer: Any, read_topic: Any) -> None:
    alerts, police = read_topic("alerts"), read_topic("police")
    a = Account()  # its clock starts at 09:00 in Hanoi
    habit = [a.transfer(500_000, after_s=600) for _ in range(4)]  # with onboarding's 200k: mean 440k
    face = a.ev("biometric_verification", device_id="phone-1", result="matched")
    big = a.transfer(5_000_000, after_s=5)  # 11x the usual amount, face-matched: R10 only
    late = a.ev("biometric_verification", 14 * 3600, device_id="phone-1", result="matched")
    night = a.transfer(400_000, after_s=5)  # 23:xx in Hanoi but small: nothing
    send(producer, worker.topics["input"], [*a.onboard(), *habit, face, big, late, night])
    got = _settle(alerts, a.id, 1)
    assert [(x["rule_id"], x["event_id"]) for x in got] == [("R10", big["event_id"])]
    assert got[0]["evidence"]["usual_amount_vnd"] == 440_000 and got[0]["action"] == "alert"
    alerts.wait_for(lambda rs: False, timeout=2)
    assert len(_of(alerts.records, a.id)) == 1 and _of(police.records, a.id) == []


def test_foreign_ip_cluster_counts_accounts_seen_by_other_workers(worker: Any, producer: Any, read_topic: Any) -> None:
    alerts, police = read_topic("alerts"), read_topic("police")
    ip = _foreign_ip()
    r = redis.Redis.from_url(worker.services.redis_url)
    store = Keys(worker.env["TXMON_STATE_PREFIX"]).ip_accounts(ip)
    first, second, third = Account(), Account(), Account()
    first_login = first.ev("login", device_id="phone-1", ip=ip)
    send(producer, worker.topics["input"], [*first.onboard(), first_login])
    _settle(alerts, first.id, 1)  # R6a
    assert set(r.hkeys(store)) == {first.id.encode()}
    # another worker (another partition) stored a visit of a second account to the same IP
    seen_ms = int(second.t.timestamp() * 1000)
    r.hset(store, second.id, orjson.dumps([[seen_ms, seen_ms, f"{second.id}-elsewhere", "Transfer"]]))
    send(producer, worker.topics["input"], [*third.onboard(), third.ev("login", device_id="phone-1", ip=ip)])
    got = _settle(alerts, third.id, 2)
    r6b = [x for x in got if x["rule_id"] == "R6b"]
    assert len(r6b) == 1 and r6b[0]["evidence"]["accounts_on_ip"] == 3
    assert r6b[0]["evidence"]["other_accounts"] == sorted([first.id, second.id])
    assert any(p["rule_id"] == "R6b" for p in _settle(police, third.id, 1))
    # the first two are part of the ring: alerted on the first event of their visits
    assert [x["event_id"] for x in _settle(alerts, first.id, 2) if x["rule_id"] == "R6b"] == [first_login["event_id"]]
    [other] = _settle(alerts, second.id, 1)
    assert (other["rule_id"], other["event_id"], other["event_type"]) == ("R6b", f"{second.id}-elsewhere", "Transfer")
    assert other["event"] == {
        "event_id": f"{second.id}-elsewhere",
        "account_id": second.id,
        "ip": ip,
        "ts": other["event_ts"],
    }
    assert set(r.hkeys(store)) == {first.id.encode(), second.id.encode(), third.id.encode()}
    assert 0 < r.pttl(store) <= 7 * 86_400_000
    # a fourth login of the first account, later: same visit, no second R6b alert for anyone
    send(producer, worker.topics["input"], [first.ev("login", 600, device_id="phone-1", ip=ip)])
    alerts.wait_for(lambda rs: len(_of(rs, first.id)) >= 3, timeout=5)
    assert sorted(x["rule_id"] for x in _of(alerts.records, first.id)) == ["R6a", "R6a", "R6b"]
    ring = {first.id, second.id, third.id}
    assert len([x for x in alerts.records if x.key in ring and x.json()["rule_id"] == "R6b"]) == 3


def test_a_resent_transfer_is_not_counted_twice(worker: Any, producer: Any, read_topic: Any) -> None:
    alerts = read_topic("alerts")
    a, marker = Account(), Account()
    face = a.ev("biometric_verification", device_id="phone-1", result="matched")
    big = a.transfer(12_000_000, after_s=5)  # face-matched: no R1
    send(producer, worker.topics["input"], [*a.onboard(), face, big])
    time.sleep(1.5)  # a later batch
    send(producer, worker.topics["input"], [big])  # redelivered
    time.sleep(1.5)
    # the day's true total is 0.2M + 12M + 7.5M = 19.7M (under 20M); counting the resend would make it 31.7M
    more = a.transfer(7_500_000, after_s=30)
    send(producer, worker.topics["input"], [more, *marker.onboard(), marker.transfer(15_000_000, ip=VN_IP)])
    _settle(alerts, marker.id, 1)  # R1 on the marker: everything before it was judged
    alerts.wait_for(lambda rs: False, timeout=2)
    assert _of(alerts.records, a.id) == []
