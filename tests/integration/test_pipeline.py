"""End to end on real Kafka and Redis: events in, alerts, police reports, holds and dead letters out."""

from __future__ import annotations

import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import redis

from store.keys import Keys
from tests.integration.conftest import Record, Worker, add_to_suspicious_list, send

pytestmark = pytest.mark.integration

VN_IP = "14.160.10.20"
US_IP = "8.8.8.8"
# 09:00 in Hanoi yesterday: recent, since the worker rejects events a week older than their arrival
T0 = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0) - timedelta(days=1)


class Account:
    """Builds a consistent event history for one fresh account."""

    def __init__(self) -> None:
        self.id = "9704" + uuid.uuid4().hex[:10]
        self.n = 0
        self.t = T0

    def ev(self, type_: str, after_s: float = 10, **fields: Any) -> dict[str, Any]:
        self.n += 1
        self.t += timedelta(seconds=after_s)
        return {
            "type": type_,
            "event_id": f"{self.id}-{self.n}",
            "account_id": self.id,
            "ts": self.t.isoformat(),
            **fields,
        }

    def onboard(self, device: str = "phone-1") -> list[dict[str, Any]]:
        return [
            self.ev("device_binding", device_id=device),
            self.ev("biometric_verification", device_id=device, result="matched"),
            self.ev("login", device_id=device, ip=VN_IP),
            self.ev("transfer", device_id=device, ip=VN_IP, **_pay(200_000)),
        ]

    def transfer(self, amount: int, device: str = "phone-1", ip: str = VN_IP, after_s: float = 10) -> dict[str, Any]:
        return self.ev("transfer", after_s, device_id=device, ip=ip, **_pay(amount))


def _pay(amount: int) -> dict[str, Any]:
    return {"amount": amount, "dest_account": "0011223344", "dest_bank": "VCB", "channel": "mobile"}


def _of(records: list[Record], account: str) -> list[dict[str, Any]]:
    return [r.json() for r in records if r.key == account]


def _settle(reader: Any, account: str, n: int, timeout: float = 30) -> list[dict[str, Any]]:
    reader.wait_for(lambda rs: len(_of(rs, account)) >= n, timeout)
    return _of(reader.records, account)


def test_sim_swap_drain_is_held_and_reported_to_police(worker: Any, producer: Any, read_topic: Any) -> None:
    alerts, police, holds = read_topic("alerts"), read_topic("police"), read_topic("holds")
    a = Account()
    drain = [a.ev("otp_phone_change", new_phone="09xxxx1234"), a.transfer(45_000_000, after_s=40)]
    send(producer, worker.topics["input"], [*a.onboard(), *drain])

    got = sorted(_settle(alerts, a.id, 3), key=lambda x: x["rule_id"])
    # 40 s after the change: inside R12's 3 min too; 45M without a face match: R1
    assert [x["rule_id"] for x in got] == ["R1", "R12", "R2"]
    assert {x["event_id"] for x in got} == {drain[1]["event_id"]}
    assert all(x["action"] == "hold" for x in got) and "OTP" in got[2]["reason_en"] and got[2]["reason_vi"]
    hold = _settle(holds, a.id, 1)[0]
    assert hold["status"] == "active" and sorted(hold["alert_ids"]) == sorted(x["alert_id"] for x in got)
    report = _settle(police, a.id, 2)[0]  # R1 is a bank-only rule
    assert report["amount_vnd"] == 45_000_000 and report["counterparty_bank"] == "VCB"
    assert "description" not in report and "new_phone" not in report


def test_otp_change_confirmed_by_biometrics_is_not_held(worker: Any, producer: Any, read_topic: Any) -> None:
    alerts = read_topic("alerts")
    a, b = Account(), Account()
    confirmed = [
        a.ev("otp_phone_change", new_phone="09xxxx1234"),
        a.ev("biometric_verification", device_id="phone-1", result="matched"),
        a.transfer(5_000_000),
    ]
    marker = [*b.onboard(), b.ev("otp_phone_change", new_phone="09xx"), b.transfer(1_000_000)]
    send(producer, worker.topics["input"], [*a.onboard(), *confirmed, *marker])
    _settle(alerts, b.id, 1)  # events after a's are processed, so a's would be there by now
    assert _of(alerts.records, a.id) == []


def test_new_device_without_biometrics_is_held(worker: Any, producer: Any, read_topic: Any) -> None:
    alerts = read_topic("alerts")
    a, b = Account(), Account()
    fraud = [a.ev("device_binding", device_id="phone-new"), a.transfer(3_000_000, device="phone-new")]
    ok = [
        b.ev("device_binding", device_id="phone-2"),
        b.ev("biometric_verification", device_id="phone-2", result="matched"),
        b.transfer(3_000_000, device="phone-2"),  # verified: trusted
        b.ev("login", device_id="tablet", ip="14.160.1.1"),
        b.transfer(3_000_000, device="tablet", after_s=600),  # used before, never verified, not last: R3
    ]
    send(producer, worker.topics["input"], [*a.onboard(), *fraud, *b.onboard(), *ok])
    got = _settle(alerts, a.id, 1)
    assert [(x["rule_id"], x["event_id"]) for x in got] == [("R3", fraud[1]["event_id"])]
    assert got[0]["evidence"]["device_id"] == "phone-new"
    got_b = _settle(alerts, b.id, 1)
    assert [(x["rule_id"], x["event_id"]) for x in got_b] == [("R3", ok[4]["event_id"])]


def test_foreign_ip_alerts_and_escalates(worker: Any, producer: Any, read_topic: Any) -> None:
    alerts, police = read_topic("alerts"), read_topic("police")
    traveller, thief = Account(), Account()
    trip = [traveller.ev("login", device_id="phone-1", ip=US_IP), traveller.transfer(300_000, ip=US_IP)]
    takeover = [
        thief.ev("login", device_id="evil", ip=US_IP),
        thief.transfer(25_000_000, device="evil", ip=US_IP),
    ]
    send(producer, worker.topics["input"], [*traveller.onboard(), *trip, *thief.onboard(), *takeover])
    got_t = _settle(alerts, traveller.id, 2)
    assert {(x["rule_id"], x["action"]) for x in got_t} == {("R6a", "alert")}
    assert got_t[0]["evidence"]["ip_country"] == "US" and got_t[0]["evidence"]["first_time_from_country"]
    assert not got_t[1]["evidence"]["first_time_from_country"]
    got_x = _settle(alerts, thief.id, 5)
    assert sorted((x["rule_id"], x["action"]) for x in got_x) == [
        ("R1", "hold"),  # 25M without a face match
        ("R12", "hold"),  # the transfer came 10 s after the new-device login
        ("R3", "hold"),
        ("R6a", "hold"),
        ("R6a", "hold"),
    ]
    assert len(_settle(police, thief.id, 3)) == 3
    assert _of(police.records, traveller.id) == []


def test_malformed_events_are_dead_lettered_with_reason(worker: Any, producer: Any, read_topic: Any) -> None:
    dlq, alerts = read_topic("dlq"), read_topic("alerts")
    a = Account()
    bad_json = b'{"type": "transfer", "amount": '
    naive = orjson.dumps({**a.transfer(1_000), "ts": "2026-11-28T09:00:00"})
    float_amount = orjson.dumps({**a.transfer(1_000), "amount": 10.5})
    send(producer, worker.topics["input"], [bad_json, naive, float_amount], key=a.id)
    # a valid neighbour in the same batch still flows
    send(producer, worker.topics["input"], [a.ev("device_binding", device_id="x"), a.transfer(1_000, device="x")])
    dlq.wait_for(lambda rs: len([r for r in rs if r.key == a.id]) >= 3)
    mine = [r for r in dlq.records if r.key == a.id]
    assert [r.value for r in mine] == [bad_json, naive, float_amount]
    assert [r.headers["txmon-reason"] for r in mine] == [b"malformed_json", b"schema_violation", b"schema_violation"]
    assert b"timezone" in mine[1].headers["txmon-error"]
    assert b"$.amount" in mine[2].headers["txmon-error"]
    # a device bound without a face match, on an account without biometrics on file: R3 and R4
    assert sorted(x["rule_id"] for x in _settle(alerts, a.id, 2)) == ["R3", "R4"]
    assert 'txmon_dead_letters_total{reason="schema_violation"}' in worker.metrics()


def test_redelivered_event_yields_one_alert_and_one_hold(worker: Any, producer: Any, read_topic: Any) -> None:
    alerts, holds = read_topic("alerts"), read_topic("holds")
    a, marker = Account(), Account()
    fraud = [a.ev("device_binding", device_id="phone-new"), a.transfer(3_000_000, device="phone-new")]
    send(producer, worker.topics["input"], [*a.onboard(), *fraud])
    first = _settle(alerts, a.id, 1)
    send(producer, worker.topics["input"], [fraud[1], fraud[1]])  # the bank resends it twice
    send(producer, worker.topics["input"], [*marker.onboard(), marker.transfer(10_000, device="other")])
    _settle(alerts, marker.id, 1)
    assert len(_of(alerts.records, a.id)) == 1
    assert len(_settle(holds, a.id, 1)) == 1
    holds.wait_for(lambda rs: False, timeout=2)  # anything late would show up now
    assert len(_of(holds.records, a.id)) == 1
    r = redis.Redis.from_url(worker.services.redis_url)
    keys = Keys(worker.env["TXMON_STATE_PREFIX"])
    active = r.get(keys.account_hold(a.id))
    assert isinstance(active, bytes) and active.decode().startswith(first[0]["hold_id"] + "|")
    assert r.exists(keys.alert(first[0]["alert_id"])) == 1


def test_event_sent_twice_in_one_batch_yields_one_alert(worker: Any, producer: Any, read_topic: Any) -> None:
    alerts, holds = read_topic("alerts"), read_topic("holds")
    a, marker = Account(), Account()
    fraud = [a.ev("device_binding", device_id="phone-new"), a.transfer(3_000_000, device="phone-new")]
    send(producer, worker.topics["input"], [*a.onboard(), fraud[0], fraud[1], fraud[1]])
    send(producer, worker.topics["input"], [*marker.onboard(), marker.transfer(10_000, device="other")])
    _settle(alerts, marker.id, 1)
    _settle(holds, marker.id, 1)
    assert len(_of(alerts.records, a.id)) == 1
    assert len(_of(holds.records, a.id)) == 1


def test_payee_added_to_the_suspicious_list_is_held(worker: Any, producer: Any, read_topic: Any) -> None:
    alerts, police = read_topic("alerts"), read_topic("police")
    mule = "77" + uuid.uuid4().hex[:8]
    add_to_suspicious_list(worker, mule)
    a, b = Account(), Account()
    send(producer, worker.topics["input"], [*a.onboard(), {**a.transfer(7_000_000), "dest_account": mule}])
    send(producer, worker.topics["input"], [*b.onboard(), {**b.transfer(7_000_000), "dest_account": "0099887766"}])
    got = _settle(alerts, a.id, 1)
    assert [(x["rule_id"], x["action"]) for x in got] == [("R7", "hold")]
    assert got[0]["evidence"]["payee_account"] == mule
    assert _settle(police, a.id, 1)[0]["counterparty_account"] == mule
    alerts.wait_for(lambda rs: False, timeout=2)
    assert _of(alerts.records, b.id) == []


def test_ready_says_ready_while_kafka_and_redis_answer(worker: Worker) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/ready", timeout=10) as r:  # noqa: S310
        assert r.status == 200
        assert orjson.loads(r.read())["status"] == "ready"
    assert "txmon_ready 1.0" in worker.metrics()
