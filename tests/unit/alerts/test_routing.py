"""Rule hits → alerts (bank), police reports and holds: ids, one hold per account, minimal police data."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import numpy as np
import orjson
import pytest

from alerts.model import Alert, HoldInstruction, PoliceReport, alert_id, encoder, hold_id_for
from alerts.routing import Outputs, build_outputs
from rules.config import load_ruleset
from rules.engine import RuleEngine
from rules.model import Action, Channel, RuleHit, Severity
from rules.state import States
from streams.codec import decode_records

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
TS = "2026-11-28T09:00:00+07:00"
VIETNAMESE = re.compile("[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]")


def event(kind: str, eid: str, account: str = "A", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": eid, "account_id": account, "ts": TS, **fields}


def transfer(eid: str, account: str = "A", **fields: Any) -> dict[str, Any]:
    base = {"amount": 25_000_000, "dest_account": "9704001", "dest_bank": "TCB", "ip": "8.8.8.8"}
    return event("transfer", eid, account, **base, device_id="dev-2", description="tra no anh Tuan 0912345678") | fields


def decoded(events: list[dict[str, Any]]) -> Any:
    return decode_records([orjson.dumps(e) for e in events], None).batch


def hit(rule: str, row: int, batch: Any, action: Action = Action.HOLD, police: bool = False) -> RuleHit:
    return RuleHit(
        rule_id=rule,
        rule_name=f"rule {rule}",
        ruleset_version="v1",
        row=row,
        event_id=batch.event_id[row],
        account_id=batch.accounts[batch.account[row]],
        ts_ms=int(batch.ts_ms[row]),
        action=action,
        severity=Severity.HIGH,
        channels=(Channel.BANK, Channel.POLICE) if police else (Channel.BANK,),
        reason_vi=f"lý do {rule}",
        reason_en=f"reason {rule}",
        evidence={"ip_country": "US"},
    )


def route(hits: list[RuleHit], batch: Any, now: datetime = NOW, hold_s: int = 86_400) -> Outputs:
    return build_outputs(hits, batch.events, now=now, bank_code="VCB", hold_duration_s=hold_s)


BATCH = decoded([transfer("t1"), transfer("t2"), event("login", "l1", ip="8.8.8.8"), transfer("t3", "B")])


# ------------------------------------------------------------------ ids -----
def test_alert_ids_are_deterministic() -> None:
    assert alert_id("R2", "t1") == alert_id("R2", "t1")
    assert len({alert_id("R2", "t1"), alert_id("R3", "t1"), alert_id("R2", "t2"), alert_id("R2", "t1 ")}) == 4
    assert alert_id("R2", "t1").startswith("A-R2-") and hold_id_for(alert_id("R2", "t1")).startswith("H-R2-")
    # The separator keeps (rule, event) pairs apart that would concatenate alike.
    assert alert_id("R1", "2x") != alert_id("R12", "x")
    # An event is (account, event_id): two accounts' events of one id are two alerts.
    assert alert_id("R1", "t1", account="A") != alert_id("R1", "t1", account="B")
    assert alert_id("R1", "t1", account="A") != alert_id("R1", "t1")


def test_two_accounts_events_of_one_id_make_two_alerts_and_two_holds() -> None:
    batch = decoded([transfer("ref-9", "A"), transfer("ref-9", "B")])
    out = route([hit("R1", 0, batch), hit("R1", 1, batch)], batch)
    assert len({a.alert_id for a in out.alerts}) == 2
    assert [h.account_id for h in out.holds] == ["A", "B"] and len({h.hold_id for h in out.holds}) == 2


def test_redelivered_hits_get_the_same_alert_and_hold_ids() -> None:
    hits = [hit("R2", 0, BATCH), hit("R3", 1, BATCH)]
    first, again = route(hits, BATCH), route(hits, BATCH, now=NOW + timedelta(minutes=5))
    assert [a.alert_id for a in first.alerts] == [a.alert_id for a in again.alerts]
    assert [a.alert_id for a in first.alerts] == [alert_id("R2", "t1", account="A"), alert_id("R3", "t2", account="A")]
    assert [h.hold_id for h in first.holds] == [h.hold_id for h in again.holds]


# ---------------------------------------------------------------- holds -----
def test_one_hold_per_account_per_batch_with_every_hold_alert() -> None:
    hits = [
        hit("R6a", 2, BATCH, Action.ALERT),
        hit("R2", 0, BATCH),
        hit("R3", 1, BATCH),
        hit("R13", 1, BATCH, Action.FREEZE),
        hit("R3", 3, BATCH),
    ]
    out = route(hits, BATCH)
    ids = [a.alert_id for a in out.alerts]
    assert [(h.account_id, h.alert_ids) for h in out.holds] == [("A", ids[1:4]), ("B", [ids[4]])]
    hold_a, hold_b = out.holds
    assert hold_a.hold_id == hold_id_for(ids[1])  # the first hold-worthy hit names it
    assert (hold_a.reason_en, hold_a.reason_vi) == ("reason R2", "lý do R2")
    assert [a.hold_id for a in out.alerts] == [None, hold_a.hold_id, hold_a.hold_id, hold_a.hold_id, hold_b.hold_id]
    assert {h.status for h in out.holds} == {"active"} and {h.transition for h in out.holds} == {"placed"}
    assert {h.bank_code for h in out.holds} == {"VCB"}


def test_alert_only_hits_place_no_hold() -> None:
    assert route([hit("R6a", 2, BATCH, Action.ALERT), hit("R6a", 0, BATCH, Action.ALERT)], BATCH).holds == []


@pytest.mark.parametrize(
    ("hold_s", "expires"), [(86_400, "2026-11-29T10:00:00.000+07:00"), (90, "2026-11-28T10:01:30.000+07:00")]
)
def test_hold_lasts_hold_duration_s_stamped_in_vietnam_time(hold_s: int, expires: str) -> None:
    (hold,) = route([hit("R2", 0, BATCH)], BATCH, hold_s=hold_s).holds
    assert hold.created_at == hold.updated_at == "2026-11-28T10:00:00.000+07:00"
    assert hold.expires_at == expires
    assert datetime.fromisoformat(hold.expires_at) - datetime.fromisoformat(hold.created_at) == timedelta(
        seconds=hold_s
    )


# --------------------------------------------------------------- police -----
def test_police_report_names_the_payer_of_incoming_money() -> None:
    batch = decoded(
        [
            event("incoming_transfer", "i1", amount=900_000, src_account="7700100001", src_bank="ACB"),
            transfer("t1"),
            event("login", "l1", ip="8.8.8.8"),
        ]
    )
    out = route(
        [hit("R9", 0, batch, police=True), hit("R8", 1, batch, police=True), hit("R6b", 2, batch, police=True)], batch
    )
    incoming, outgoing, login = out.police
    assert (incoming.money_direction, incoming.counterparty_account, incoming.counterparty_bank) == (
        "in",
        "7700100001",
        "ACB",
    )
    assert incoming.amount_vnd == 900_000
    assert (outgoing.money_direction, outgoing.counterparty_account, outgoing.counterparty_bank) == (
        "out",
        "9704001",
        "TCB",
    )
    assert (login.money_direction, login.amount_vnd, login.counterparty_account) == (None, None, None)


def test_police_reports_only_for_police_routed_hits() -> None:
    hits = [hit("R2", 0, BATCH, police=True), hit("R3", 1, BATCH), hit("R6a", 2, BATCH, Action.ALERT, police=True)]
    out = route(hits, BATCH)
    assert [(p.rule_id, p.report_id) for p in out.police] == [
        ("R2", out.alerts[0].alert_id),
        ("R6a", out.alerts[2].alert_id),
    ]
    assert [p.hold_id for p in out.police] == [out.holds[0].hold_id, None]
    assert {p.idempotency_key for p in out.police} == {f"VCB:{out.alerts[0].alert_id}", f"VCB:{out.alerts[2].alert_id}"}


def test_police_report_carries_what_the_police_need_and_nothing_more() -> None:
    batch = decoded(
        [transfer("t1", label="fraud"), event("otp_phone_change", "o1", new_phone="0987654321", old_phone="0912000111")]
    )
    out = route([hit("R2", 0, batch, police=True), hit("R12", 1, batch, police=True)], batch)
    money, otp = (orjson.loads(encoder.encode(p)) for p in out.police)
    assert set(money) | set(otp) <= set(PoliceReport.__struct_fields__)
    assert money["amount_vnd"] == 25_000_000 and money["counterparty_account"] == "9704001"
    assert (money["counterparty_bank"], money["ip"], money["device_id"], money["ip_country"]) == (
        "TCB",
        "8.8.8.8",
        "dev-2",
        "US",
    )
    assert money["event_ts"] == "2026-11-28T09:00:00+07:00" and money["reporting_bank"] == "VCB"
    assert "amount_vnd" not in otp and "counterparty_account" not in otp
    text = str(money) + str(otp)
    for private in (
        "tra no",
        "0912345678",
        "0987654321",
        "0912000111",
        "fraud",
        "description",
        "new_phone",
        "old_phone",
    ):
        assert private not in text
    # The bank channel keeps the whole event for officers.
    assert out.alerts[0].event["description"] == "tra no anh Tuan 0912345678"
    assert out.alerts[1].event["new_phone"] == "0987654321"


# -------------------------------------------------------------- content -----
def test_alert_carries_the_hit_and_its_event() -> None:
    (alert,) = route([hit("R2", 0, BATCH, police=True)], BATCH).alerts
    assert (alert.rule_id, alert.rule_name, alert.ruleset_version) == ("R2", "rule R2", "v1")
    assert (alert.account_id, alert.event_id, alert.event_type) == ("A", "t1", "Transfer")
    assert (alert.action, alert.severity, alert.channels) == ("hold", "high", ["bank", "police"])
    assert alert.event_ts == alert.event["ts"] == "2026-11-28T09:00:00+07:00"
    assert alert.detected_at == "2026-11-28T10:00:00.000+07:00" and alert.bank_code == "VCB"
    assert msgspec.json.decode(encoder.encode(alert), type=Alert) == alert


class NoGeo:
    def countries(self, ips: Any) -> np.ndarray:
        return np.array(["US" if ip else "" for ip in ips], dtype="<U2")


def test_engine_hits_have_reasons_in_both_languages_on_every_channel() -> None:
    events = [
        event("otp_phone_change", "o1", new_phone="0987654321"),
        transfer("t1", device_id="never-seen"),
        event("login", "l1", ip="8.8.8.8"),
    ]
    batch = decoded(events)
    hits = RuleEngine(load_ruleset(), NoGeo()).evaluate(batch, States.empty(1)).hits
    out = route(hits, batch)
    assert {"R2", "R3", "R6a"} <= {a.rule_id for a in out.alerts}
    items: list[Alert | PoliceReport | HoldInstruction] = [*out.alerts, *out.police, *out.holds]
    for item in items:
        assert VIETNAMESE.search(item.reason_vi), item.reason_vi
        assert item.reason_en.isascii() and item.reason_en and item.reason_en != item.reason_vi
    assert {p.rule_id for p in out.police} == {a.rule_id for a in out.alerts if "police" in a.channels}
    assert "0987654321" not in str([msgspec.to_builtins(p) for p in out.police])
