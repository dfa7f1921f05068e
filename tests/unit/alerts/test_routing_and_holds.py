"""Alerts, police reports and holds from rule hits; deduplication and one active hold per account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import fakeredis
import msgspec
import pytest

from alerts.holds import AlertStore
from alerts.model import PoliceReport, alert_id
from alerts.routing import build_outputs
from rules.model import Action, Channel, RuleHit, Severity

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


class Transfer(msgspec.Struct):
    event_id: str
    account_id: str
    amount: int = 5_000_000
    dest_account: str = "0011"
    dest_bank: str = "VCB"
    description: str = "tien nha"
    ip: str = "8.8.8.8"
    device_id: str = "d9"


def hit(rule: str, row: int, account: str = "A", action: Action = Action.HOLD, police: bool = True) -> RuleHit:
    channels = (Channel.BANK, Channel.POLICE) if police else (Channel.BANK,)
    return RuleHit(
        rule_id=rule,
        rule_name=rule.lower(),
        ruleset_version="v1",
        row=row,
        event_id=f"e{row}",
        account_id=account,
        ts_ms=1_795_831_200_000,
        action=action,
        severity=Severity.HIGH,
        channels=channels,
        reason_vi="lý do",
        reason_en="reason",
        evidence={"ip_country": "US"},
    )


def outputs(hits: list[RuleHit]) -> Any:
    events = [Transfer(f"e{i}", "A" if i < 5 else "B") for i in range(10)]
    return build_outputs(hits, events, now=NOW, bank_code="BANK1", hold_duration_s=86_400)


def test_alert_ids_are_deterministic_per_rule_and_event() -> None:
    assert alert_id("R2", "e1") == alert_id("R2", "e1")
    assert alert_id("R2", "e1") != alert_id("R3", "e1") != alert_id("R2", "e2")


def test_one_hold_per_account_carrying_every_hold_alert() -> None:
    out = outputs([hit("R2", 1), hit("R3", 2), hit("R6a", 3, action=Action.ALERT), hit("R3", 6, account="B")])
    assert [(h.account_id, len(h.alert_ids)) for h in out.holds] == [("A", 2), ("B", 1)]
    assert out.alerts[2].hold_id is None and out.alerts[0].hold_id == out.alerts[1].hold_id
    assert out.holds[0].expires_at.startswith("2026-11-29T10:00")  # 24 h later, in +07:00


def test_police_reports_only_for_police_routes_and_only_allowed_fields() -> None:
    out = outputs([hit("R2", 1), hit("R3", 2, police=False)])
    assert [p.rule_id for p in out.police] == ["R2"]
    report = msgspec.to_builtins(out.police[0])
    assert set(report) <= set(PoliceReport.__struct_fields__)
    assert "tien nha" not in str(report) and report["amount_vnd"] == 5_000_000
    assert report["idempotency_key"] == f"BANK1:{out.alerts[0].alert_id}"
    assert out.alerts[0].reason_vi and out.alerts[0].reason_en


@pytest.fixture
def store() -> AlertStore:
    return AlertStore(fakeredis.aioredis.FakeRedis(), "t:")


async def _record(store: AlertStore, out: Any, now: datetime = NOW) -> Any:
    fresh = await store.deduplicate(out, now)
    pipe = store.redis.pipeline(transaction=True)
    store.record(pipe, fresh, now)
    await pipe.execute()
    return fresh


async def test_recorded_alerts_are_not_emitted_again(store: AlertStore) -> None:
    first = await _record(store, outputs([hit("R2", 1)]))
    again = await _record(store, outputs([hit("R2", 1)]))
    assert len(first.alerts) == 1 and again.alerts == [] and again.holds == [] and again.police == []
    assert [a.alert_id for a in await store.alerts([first.alerts[0].alert_id])] == [first.alerts[0].alert_id]


async def test_a_second_hold_on_a_held_account_attaches_to_the_first(store: AlertStore) -> None:
    first = await _record(store, outputs([hit("R2", 1)]))
    later = await _record(store, outputs([hit("R3", 2)]))
    assert later.holds == [] and later.alerts[0].hold_id == first.holds[0].hold_id
    hold = await store.active_hold("A", NOW)
    assert hold is not None and set(hold.alert_ids) == {first.alerts[0].alert_id, later.alerts[0].alert_id}


async def test_an_expired_hold_does_not_block_a_new_one(store: AlertStore) -> None:
    await _record(store, outputs([hit("R2", 1)]))
    two_days = NOW + timedelta(days=2)
    assert await store.active_hold("A", two_days) is None
    later = await _record(store, outputs([hit("R3", 2)]), now=two_days)
    assert len(later.holds) == 1
