"""Never judge twice: redelivered events (same offset) and a bank's resends (same event id, later
offset) leave decisions and state exactly as if each event had come once."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from rules.engine import Sources
from rules.state import MAX_APPLIED, RESEND_HORIZON_MS
from streams.codec import to_columns
from streams.events import decode_event
from tests.unit.rules.conftest import Runner, ev, onboarded, transfer


def judge(runner: Runner, events: list[dict[str, Any]], partition: int = 0, first_offset: int = 0) -> list[Any]:
    """Judge ``events`` as records ``first_offset, first_offset + 1, ...`` of one input partition."""
    batch = to_columns([decode_event(orjson.dumps(e)) for e in events])
    n = len(events)
    sources = Sources(np.full(n, partition, np.int32), np.arange(first_offset, first_offset + n, dtype=np.int64))
    result = runner.store.judge(batch, sources=sources)
    runner.replayed += result.replayed
    return result.hits


def moved_to_a_new_phone() -> list[dict[str, Any]]:
    """The issue's minimal case: onboard on D1, 12 transfers, a proper move to D2 with a face
    match, one payment from D2 (1,850,076 VND of transfers that day would be wrong: 1,350,066)."""
    events = onboarded("D1")  # includes a 1,000,000 transfer
    events += [transfer(60 + i * 60, 25_000 + i, device="D1") for i in range(12)]
    events += [
        ev("device_binding", 2000, device_id="D2"),
        ev("biometric_verification", 2001, device_id="D2", result="matched"),
        transfer(2100, 50_000, device="D2"),
    ]
    return events


def test_a_redelivery_after_a_crash_is_skipped_whole() -> None:
    events = moved_to_a_new_phone()
    runner = Runner()
    assert judge(runner, events) == []
    before = runner.state["A"]
    assert before.last_transfer_device == "D2" and before.day_total == 1_000_000 + sum(range(25_000, 25_012)) + 50_000
    saved = orjson.dumps(sorted(before.fields()))  # the field list: the comparison below is by value
    snapshot = (before.last_transfer_device, before.day_total, before.transfer_count, list(before.known_devices))
    # SIGKILL after the state write, before the offset commit: the whole batch comes again,
    # split differently, followed by a new transfer from D2.
    hits = judge(runner, events[:7]) + judge(runner, events[7:], first_offset=7)
    hits += judge(runner, [transfer(2200, 70_000, device="D2")], first_offset=len(events))
    assert hits == []
    after = runner.state["A"]
    assert saved == orjson.dumps(sorted(after.fields()))
    assert (after.last_transfer_device, after.transfer_count) == ("D2", snapshot[2] + 1)
    assert after.day_total == snapshot[1] + 70_000 and after.known_devices == snapshot[3]
    assert after.offsets == {0: len(events)}


def test_a_bank_resend_after_many_money_events_is_not_counted_twice() -> None:
    """Nine transfers of 2M, the first resent byte for byte a minute later (a new offset), then
    1.5M: the day total is 19.5M, under R1's 20M, so no hold; with more events between, too."""
    runner = Runner()
    judge(runner, onboarded("d1"))  # 1,000,000 already that day
    nine = [transfer(100 + i, 2_000_000) for i in range(9)]
    assert judge(runner, nine, first_offset=3) == []
    assert judge(runner, [nine[0]], first_offset=12) == []  # the resend
    hits = judge(runner, [transfer(200, 1_500_000 - 1_000_000)], first_offset=13)
    assert [h.rule_id for h in hits if h.rule_id == "R1"] == []
    assert runner.state["A"].day_total == 19_000_000 + 500_000 and runner.replayed == 1


def test_a_resend_is_recognised_after_hundreds_of_money_events() -> None:
    runner = Runner()
    judge(runner, onboarded("d1"))
    many = [transfer(100 + i, 1_000) for i in range(MAX_APPLIED - 10)]
    judge(runner, many, first_offset=3)
    count = runner.state["A"].transfer_count
    judge(runner, [many[0], many[100]], first_offset=3 + len(many))
    assert runner.replayed == 2 and runner.state["A"].transfer_count == count


def test_the_resend_memory_is_bounded_by_its_horizon() -> None:
    """Documented limit: a resend older than the horizon (event time) counts as a new event."""
    runner = Runner()
    judge(runner, onboarded("d1"))
    old = transfer(100, 1_000)
    judge(runner, [old], first_offset=3)
    later = transfer(100 + RESEND_HORIZON_MS // 1000 + 60, 1_000)
    judge(runner, [later], first_offset=4)
    state = runner.state["A"]
    assert len(state.applied) == len(state.applied_ms) == 1
    judge(runner, [old], first_offset=5)
    assert runner.replayed == 0 and runner.state["A"].transfer_count == 4


def test_offsets_are_kept_per_partition_when_an_account_moves() -> None:
    """After a partition-count change an account's events come from another partition, whose
    offsets are unrelated: they are judged, never skipped for the old partition's offsets."""
    runner = Runner()
    judge(runner, onboarded("d1"), partition=1, first_offset=500)
    judge(runner, [transfer(300, 12_000)], partition=3, first_offset=7)
    assert runner.state["A"].offsets == {1: 502, 3: 7} and runner.state["A"].transfer_count == 2
    judge(runner, [transfer(400, 12_000)], partition=3, first_offset=7)  # at offset 7 again: redelivered
    judge(
        runner, [transfer(500, 12_000)], partition=1, first_offset=9
    )  # its old partition only grows: below 502 is a redelivery
    assert runner.state["A"].transfer_count == 2
