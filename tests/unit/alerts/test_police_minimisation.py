"""Police reports carry only what the plan lists (account, bank, amounts, counterparties, IPs,
devices, times, rule reasons), on every path that makes one: the worker's routing, a police
freeze request routed to the police, escalation, confirmed fraud, and the console's police view.
The police's own free text (names, phone and ID numbers) never comes back to them in a report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import orjson
import pytest

from alerts.console.cases import CaseReader
from alerts.freeze import PoliceFreezes
from alerts.lifecycle import Actor, HoldLifecycle
from alerts.model import PoliceReport
from rules.model import Action
from store.keys import Keys
from streams.account_store import RedisAccountStore
from tests.unit.alerts.conftest import MemoryKafka
from tests.unit.alerts.test_freeze import r13, request
from tests.unit.alerts.test_lifecycle import hit, seed

LAN = Actor("lan", "officer")
PERSONAL = ("Nguyễn Văn An", "0912345678", "001203004567", "Trần Thị Bình", "Lê Văn Cường", "ten nguoi nhan")
FIELDS = set(PoliceReport.__struct_fields__)
ROUTED = r13("{action: freeze, severity: critical, channels: [bank, police]}")

K = Keys("t:")


def pii_request(**changes: Any) -> Any:
    return request(
        reason="Chủ tài khoản Nguyễn Văn An, SĐT 0912345678, CCCD 001203004567, nhận tiền lừa đảo",
        authority="Công an TP Hà Nội - PC02 - Đại úy Trần Thị Bình",
        case_ref="VV-117/2026 nghi phạm Lê Văn Cường",
        **changes,
    )


def assert_minimal(reports: list[dict[str, Any]], *, at_least: int = 1) -> None:
    assert len(reports) >= at_least
    for report in reports:
        assert set(report) <= FIELDS, set(report) - FIELDS
        text = orjson.dumps(report).decode()
        leaked = [p for p in PERSONAL if p in text]
        assert not leaked, (leaked, report)
        assert report["account_id"] and report["reason_vi"] and report["reason_en"]


async def test_the_workers_routing_sends_the_rule_facts_and_no_free_text(redis: Any, kafka: MemoryKafka) -> None:
    out = await seed(redis, [hit("R2", 0, "ACC1", Action.HOLD, police=True)])  # the event has a description
    reports = [msgspec.to_builtins(r) for r in out.police]
    assert_minimal(reports)
    (report,) = reports
    assert (report["amount_vnd"], report["counterparty_account"], report["ip"]) == (45_000_000, "0011223344", "8.8.8.8")
    assert report["reason_en"] == "reason R2"  # the rule's own reason


async def test_a_police_request_routed_to_the_police_comes_back_without_its_text(
    lifecycle: HoldLifecycle, kafka: MemoryKafka
) -> None:
    result = await PoliceFreezes(lifecycle, "alerts").apply(pii_request(), ROUTED.rule("R13"), ROUTED.version)
    assert result.status == "applied"
    assert_minimal(kafka.on("police"))
    # the bank's own alert keeps the request's words for the officers
    assert "0912345678" in orjson.dumps(kafka.on("alerts")).decode()


Path = Callable[[HoldLifecycle, str], Any]


async def _escalate(lc: HoldLifecycle, case_id: str) -> Any:
    return await lc.escalate(case_id, LAN, "to the police", "x1")


async def _confirm(lc: HoldLifecycle, case_id: str) -> Any:
    return await lc.confirm(case_id, LAN, "fraud; the caller was Nguyễn Văn An 0912345678", "x2")


@pytest.mark.parametrize("act", [_escalate, _confirm], ids=["escalate", "confirm"])
async def test_escalating_or_confirming_a_police_freeze_reports_no_free_text(
    lifecycle: HoldLifecycle, kafka: MemoryKafka, act: Path
) -> None:
    bank_only = r13("{action: freeze, severity: critical, channels: [bank]}")
    result = await PoliceFreezes(lifecycle, "alerts").apply(pii_request(), bank_only.rule("R13"), bank_only.version)
    assert result.alert is not None and result.alert.hold_id is not None and kafka.on("police") == []
    outcome = await act(lifecycle, result.alert.hold_id)
    assert outcome.changed
    assert_minimal(kafka.on("police"))
    assert_minimal([msgspec.to_builtins(r) for r in outcome.reports])


async def test_escalating_a_standalone_police_alert_reports_no_free_text(
    lifecycle: HoldLifecycle, kafka: MemoryKafka
) -> None:
    alert_only = r13("{action: alert, severity: high, channels: [bank]}")
    result = await PoliceFreezes(lifecycle, "alerts").apply(pii_request(), alert_only.rule("R13"), alert_only.version)
    assert result.alert is not None and result.alert.hold_id is None
    await _escalate(lifecycle, result.alert.alert_id)
    assert_minimal(kafka.on("police"))


async def test_the_consoles_police_view_shows_no_free_text(lifecycle: HoldLifecycle, redis: Any) -> None:
    await PoliceFreezes(lifecycle, "alerts").apply(pii_request(), ROUTED.rule("R13"), ROUTED.version)
    await seed(redis, [hit("R2", 0, "ACC2", Action.HOLD, police=True)])
    # Reports the police queue holds, and those the view makes from police-routed alerts alone.
    await redis.delete(K.police_queue)
    assert_minimal(await CaseReader(redis, RedisAccountStore(redis, "t:"), "t:").police_reports(), at_least=2)
