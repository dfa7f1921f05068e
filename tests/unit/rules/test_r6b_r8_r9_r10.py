"""R6b foreign-IP cluster, R8 mule pass-through, R9 tainted inbound, R10 unusual time/amount.

Every case is run whole and split into two batches at every point: the decision
must not depend on where a batch ends (state carries what the split cut off).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from rules.engine import batch_money_ids, id_hash
from rules.state import MAX_APPLIED, RESEND_HORIZON_MS
from streams.codec import to_columns
from streams.events import decode_event
from tests.unit.rules.conftest import MIDNIGHT_HANOI, T0, Runner, ev, incoming, onboarded, transfer

DAY = 86_400
LISTED = frozenset({"L1", "L2", "L3", "L4", "L5"})


def fired(rule: str, events: list[dict[str, Any]], listed: frozenset[str] = LISTED) -> list[str]:
    """Event ids ``rule`` fired on; the same whole and at every split (checked here)."""
    whole = [e for r, e in Runner(listed).hits(events) if r == rule]
    for split in range(1, len(events)):
        assert [e for r, e in Runner(listed).hits(events, split) if r == rule] == whole, split
    return whole


# --- R10 --------------------------------------------------------------------------------
NIGHT_FROM = MIDNIGHT_HANOI - 3600  # 23:00 in Hanoi
NIGHT_TO = MIDNIGHT_HANOI + 5 * 3600  # 05:00 in Hanoi
R10_NIGHT = [
    ("10M at 23:00 sharp", NIGHT_FROM, 10_000_000, True),
    ("10M one second before 23:00", NIGHT_FROM - 1, 10_000_000, False),
    ("10M at 04:59:59", NIGHT_TO - 1, 10_000_000, True),
    ("10M at 05:00 sharp", NIGHT_TO, 10_000_000, False),
    ("just under 10M at midnight", MIDNIGHT_HANOI, 9_999_999, False),
    ("10M at 23:30 UTC is 06:30 in Hanoi", MIDNIGHT_HANOI + 6.5 * 3600, 10_000_000, False),
]


@pytest.mark.parametrize(("name", "at", "amount", "hit"), R10_NIGHT, ids=[c[0] for c in R10_NIGHT])
def test_r10_high_value_at_night(name: str, at: float, amount: int, hit: bool) -> None:
    events = [*onboarded(), transfer(at, amount)]
    assert fired("R10", events) == ([events[-1]["event_id"]] if hit else [])


def _history(n: int, amount: int = 1_000_000) -> list[dict[str, Any]]:
    # onboarded() already holds one 1M transfer, at 2 s
    return [*onboarded(), *(transfer(10 + i, amount) for i in range(n - 1))]


R10_USUAL = [
    ("just over 3x the usual", 5, 1_000_000, 3_000_001, True),
    ("exactly 3x the usual", 5, 1_000_000, 3_000_000, False),
    ("only 4 earlier transfers", 4, 1_000_000, 9_000_000, False),
    ("20x a small usual amount but under 2M", 5, 90_000, 1_800_000, False),
    ("20x a small usual amount, at 2M", 5, 100_000, 2_000_000, True),
]


@pytest.mark.parametrize(("name", "n", "usual", "amount", "hit"), R10_USUAL, ids=[c[0] for c in R10_USUAL])
def test_r10_far_above_the_usual_amount(name: str, n: int, usual: int, amount: int, hit: bool) -> None:
    events = [*_history(n, usual), transfer(100, amount)]
    if usual != 1_000_000:  # onboarded()'s own transfer is 1M: restate it at the usual amount
        events[2] = transfer(2, usual)
    assert fired("R10", events) == ([events[-1]["event_id"]] if hit else [])


def test_r10_evidence_gives_the_usual_amount() -> None:
    runner = Runner()
    runner.run(_history(5))
    [hit] = [h for h in runner.run([transfer(100, 4_000_000)]) if h.rule_id == "R10"]
    assert hit.evidence["usual_amount_vnd"] == 1_000_000 and hit.evidence["times_usual"] == 4.0
    assert "4.0× the usual 1.000.000 VND" in hit.reason_en


def test_r10_is_an_alert_for_the_bank_only() -> None:
    runner = Runner()
    [hit] = [h for h in runner.run([*onboarded(), transfer(NIGHT_FROM, 10_000_000)]) if h.rule_id == "R10"]
    assert str(hit.action) == "alert" and [str(c) for c in hit.channels] == ["bank"]


# --- R9 ---------------------------------------------------------------------------------
def test_r9_fires_on_the_fourth_transfer_from_listed_accounts() -> None:
    events = [incoming(10 * i, f"L{i}") for i in range(1, 5)]
    assert fired("R9", events) == [events[3]["event_id"]]


def test_r9_keeps_firing_after_the_fourth() -> None:
    events = [incoming(10 * i, f"L{i}") for i in range(1, 6)]
    assert fired("R9", events) == [events[3]["event_id"], events[4]["event_id"]]


def test_r9_counts_only_listed_payers() -> None:
    events = [incoming(10, "L1"), incoming(20, "L2"), incoming(30, "L3"), incoming(40, "X9"), incoming(50, "X8")]
    assert fired("R9", events) == []


def test_r9_counts_only_incoming_money() -> None:
    # paying a listed account is R7's business, not tainted inflow
    events = [*(transfer(10 * i, dest_account=f"L{i}") for i in range(1, 5))]
    assert fired("R9", events) == []


@pytest.mark.parametrize(("gap_s", "hit"), [(30 * DAY - 0.001, True), (30 * DAY, False)])
def test_r9_window_is_30_days(gap_s: float, hit: bool) -> None:
    events = [incoming(0, "L1"), incoming(10, "L2"), incoming(20, "L3"), incoming(gap_s, "L4")]
    assert fired("R9", events) == ([events[3]["event_id"]] if hit else [])


def test_r9_reason_and_channels() -> None:
    runner = Runner(LISTED)
    hits = runner.run([incoming(10 * i, f"L{i}", amount=2_000_000) for i in range(1, 5)])
    [hit] = [h for h in hits if h.rule_id == "R9"]
    assert hit.evidence["tainted_transfers"] == 4 and hit.evidence["payer_account"] == "L4"
    assert [str(c) for c in hit.channels] == ["bank", "police"] and "L4" in hit.reason_vi


# --- R8 ---------------------------------------------------------------------------------
def _fan_in(payers: int, at: float = 0, amount: int = 1_000_000) -> list[dict[str, Any]]:
    return [incoming(at + i, f"P{i}", amount) for i in range(payers)]


R8_CASES = [
    ("5 payers, 80 % sent on", _fan_in(5), [transfer(100, 4_000_000)], True),
    ("5 payers, 78 % sent on", _fan_in(5), [transfer(100, 3_900_000)], False),
    ("4 payers, all sent on", _fan_in(4), [transfer(100, 4_000_000)], False),
    ("the same payer 5 times", [incoming(i, "P0") for i in range(5)], [transfer(100, 5_000_000)], False),
    ("sent on in two steps", _fan_in(5), [transfer(100, 2_000_000), transfer(200, 2_000_000)], True),
    # The payers' 24 h is anchored on the inflow, the 48 h on the forwarding (issue 13 point 2).
    ("collected in a day, sent on 24 h later", _fan_in(5), [transfer(DAY, 4_000_000)], True),
    ("collected in a day, sent on 36 h later", _fan_in(5), [transfer(1.5 * DAY, 4_000_000)], True),
    ("sent on in the 48th hour after the inflow's hour", _fan_in(5), [transfer(2 * DAY + 1800, 4_000_000)], True),
    (
        "sent on in the 49th hour: the inflow has left the flow window",
        _fan_in(5),
        [transfer(2 * DAY + 3600, 4_000_000)],
        False,
    ),
    (
        "payers spread over exactly 24 h (both ends count)",
        [*_fan_in(4), incoming(DAY, "P4")],
        [transfer(DAY + 100, 4_000_000)],
        True,
    ),
    (
        "payers spread over 24 h and 1 ms",
        [*_fan_in(4), incoming(DAY + 0.001, "P4")],
        [transfer(DAY + 100, 4_000_000)],
        False,
    ),
    (
        "a payer who paid twice counts in the day of either payment",
        [incoming(0, "X"), *_fan_in(4, at=3600), incoming(30 * 3600, "X")],
        [transfer(40 * 3600, 4_800_000)],
        True,
    ),
    ("inflow under the 1M minimum", _fan_in(5, amount=100_000), [transfer(100, 500_000)], False),
]


@pytest.mark.parametrize(("name", "inflow", "outflow", "hit"), R8_CASES, ids=[c[0] for c in R8_CASES])
def test_r8_mule_pass_through(
    name: str, inflow: list[dict[str, Any]], outflow: list[dict[str, Any]], hit: bool
) -> None:
    events = inflow + outflow
    assert fired("R8", events) == ([events[-1]["event_id"]] if hit else [])


def test_r8_flow_window_counts_whole_hours() -> None:
    # money in at 00:xx, out 48 h later in the same hour of the day: in the window (hour + 48 before)
    base = 3600 * 10
    old_in = [incoming(base + i, f"P{i}", 10_000_000) for i in range(3)]
    fresh_in = [incoming(base + 47 * 3600 + i, f"Q{i}") for i in range(5)]
    send = [transfer(base + 48 * 3600 + 1800, 28_000_000)]
    assert fired("R8", old_in + fresh_in + send) == [send[0]["event_id"]]  # 28M of 35M = 80 %
    later = [transfer(base + 49 * 3600, 4_500_000)]  # the old 30M has left the window: 4.5M of 5M in
    assert fired("R8", old_in + fresh_in + later) == [later[0]["event_id"]]
    small = [transfer(base + 49 * 3600, 3_000_000)]  # 60 % of the 5M still in the window
    assert fired("R8", old_in + fresh_in + small) == []


def test_r8_evidence() -> None:
    runner = Runner()
    [hit] = [h for h in runner.run([*_fan_in(6), transfer(100, 5_000_000)]) if h.rule_id == "R8"]
    assert hit.evidence["distinct_payers"] == 6 and hit.evidence["inflow_vnd"] == 6_000_000
    assert hit.evidence["out_share_pct"] == 83 and str(hit.action) == "hold"


def _paid_in(amounts: list[int]) -> list[dict[str, Any]]:
    return [incoming(i, f"P{i}", v) for i, v in enumerate(amounts)]


R8_HOLD_CASES = [
    ("5 payers of 1M each: scam victims, held", [1_000_000] * 5, "hold"),
    ("one of the 5 under 1M: an alert", [1_000_000] * 4 + [999_999], "alert"),
    ("20 QR payments of 300k (a new shop, a class fund): an alert", [300_000] * 20, "alert"),
    ("20 small payments and 5 of victim size: held", [300_000] * 20 + [2_000_000] * 5, "hold"),
]


@pytest.mark.parametrize(("name", "amounts", "action"), R8_HOLD_CASES, ids=[c[0] for c in R8_HOLD_CASES])
def test_r8_holds_victim_sized_inflows_and_alerts_purchase_sized(name: str, amounts: list[int], action: str) -> None:
    events = [*_paid_in(amounts), transfer(100, sum(amounts) * 9 // 10)]
    hits = [h for h in Runner().run(events) if h.rule_id == "R8"]
    assert [(h.event_id, str(h.action)) for h in hits] == [(events[-1]["event_id"], action)]
    assert [str(c) for c in hits[0].channels] == (["bank", "police"] if action == "hold" else ["bank"])
    assert hits[0].evidence["payers_of_hold_size"] == sum(v >= 1_000_000 for v in amounts)


def test_r8_inflows_kept_before_amounts_were_count_as_victim_sized() -> None:
    """A version-3 state has ``inflow_*`` without ``inflow_vnd``: those payers still count toward
    the hold (as they did before), and the next inflow lines the amounts up again."""
    runner = Runner()
    runner.run(_paid_in([300_000] * 3))
    old = runner.state["A"]
    assert old.inflow_vnd == [300_000] * 3
    old.lists.inflow_vnd = []  # as the record of before decodes
    later = [incoming(50 + i, f"Q{i}", 1_000_000) for i in range(2)]
    [hit] = [h for h in runner.run([*later, transfer(100, 2_600_000)]) if h.rule_id == "R8"]
    assert str(hit.action) == "hold" and hit.evidence["payers_of_hold_size"] == 5
    state = runner.state["A"]
    assert state.inflow_vnd[:3] == [-1] * 3 and len(state.inflow_vnd) == len(state.inflow_ms)


def test_r8_state_is_bounded() -> None:
    runner = Runner()
    runner.run([incoming(i * 60, f"P{i}") for i in range(200)] + [transfer(i * 3600, 1000) for i in range(200)])
    state = runner.state["A"]
    assert state.flow_hour == sorted(state.flow_hour)
    assert (
        len(state.payers) <= 32
        and len(state.inflow_ms) == len(state.inflow_from) == len(state.inflow_vnd) <= 64
        and len(state.flow_hour) == len(state.flow_in) == len(state.flow_out) <= 72
        and len(state.applied) == len(state.applied_ms) <= MAX_APPLIED
        and min(state.applied_ms) > max(state.applied_ms) - RESEND_HORIZON_MS
    )


# --- R6b --------------------------------------------------------------------------------
def login(at: float, account: str, ip: str = "8.8.8.8") -> dict[str, Any]:
    return ev("login", at, account, ip=ip, device_id=f"dev-{account}")


def test_r6b_third_account_alerts_the_whole_ring() -> None:
    """The first two accounts are alerted when the third arrives; a fourth joins; a second
    login of the same visit is not a new alert."""
    events = [login(0, "A1"), login(10, "A2"), login(20, "A3"), login(30, "A3"), login(40, "A4")]
    assert sorted(fired("R6b", events)) == sorted(events[i]["event_id"] for i in (0, 1, 2, 4))


def test_r6b_ignores_home_ips_and_other_foreign_ips() -> None:
    events = [login(0, "A1"), login(10, "A2", ip="8.8.4.4"), login(20, "A3", ip="14.1.1.1")]
    assert fired("R6b", events) == []


@pytest.mark.parametrize(("gap_s", "hit"), [(DAY - 0.001, True), (DAY, False)])
def test_r6b_window_is_24_hours(gap_s: float, hit: bool) -> None:
    events = [login(0, "A1"), login(10, "A2"), login(gap_s, "A3")]
    assert sorted(fired("R6b", events)) == (sorted(e["event_id"] for e in events) if hit else [])


def test_r6b_a_visit_lasts_while_its_gaps_are_under_the_window() -> None:
    """A1 keeps using the IP (gaps under 24 h): still there when A2 and A3 come two days later;
    its alert names the first event of its visit."""
    events = [
        login(0, "A1"),
        login(DAY - 1, "A1"),
        login(2 * DAY - 2, "A1"),
        login(2 * DAY, "A2"),
        login(2 * DAY + 5, "A3"),
    ]
    assert sorted(fired("R6b", events)) == sorted(events[i]["event_id"] for i in (0, 3, 4))


def test_r6b_accounts_seen_by_other_workers_count() -> None:
    """The IP's store is shared: visits another worker stored count here, and are alerted too."""
    here = Runner(LISTED)
    t0 = int(T0.timestamp() * 1000)
    here.ip_accounts["8.8.8.8"] = {  # stored by another worker
        "B1": [(t0, t0, "b1", "Login")],
        "B2": [(t0 + 5_000, t0 + 5_000, "b2", "Transfer")],
        "B0": [(t0 - DAY * 1000, t0 - DAY * 1000, "b0", "Login")],
    }
    hits = [h for h in here.run([login(20, "A1")]) if h.rule_id == "R6b"]
    assert sorted((h.account_id, h.event_id, h.row) for h in hits) == [
        ("A1", "A1-login-20", 0),
        ("B1", "b1", -1),
        ("B2", "b2", -1),
    ]
    mine = next(h for h in hits if h.account_id == "A1")
    assert mine.evidence["accounts_on_ip"] == 3 and mine.evidence["other_accounts"] == ["B1", "B2"]
    b2 = next(h for h in hits if h.account_id == "B2")
    assert (
        b2.event_type == "Transfer"
        and b2.ts_ms == t0 + 5_000
        and b2.event
        == {
            "event_id": "b2",
            "account_id": "B2",
            "ip": "8.8.8.8",
        }
    )
    assert here.ip_accounts["8.8.8.8"]["A1"] == [(t0 + 20_000, t0 + 20_000, "A1-login-20", "Login")]
    assert not [h for h in here.run([login(30, "A1")]) if h.rule_id == "R6b"], "raised once"


# --- resends across batches --------------------------------------------------------------
def test_a_resent_transfer_in_a_later_batch_is_not_counted_twice() -> None:
    runner = Runner()
    runner.run(onboarded())
    face = ev("biometric_verification", 100, device_id="d1", result="matched")
    big = transfer(110, 12_000_000)
    assert not [h for h in runner.run([face, big]) if h.rule_id == "R1"]  # covered by the face match
    runner.run([big])  # redelivered after a crash, in a later batch
    assert runner.replayed == 1
    assert runner.state["A"].day_total == 13_000_000  # 1M at onboarding + 12M, once
    # 7M more makes 20M: not over the daily limit; counting the resend would make it 32M
    assert not [h for h in runner.run([transfer(1000, 7_000_000)]) if h.rule_id == "R1"]


def test_money_ids_are_the_id_hash_of_each_money_event() -> None:
    """The batch's ids are hashed at once; each must equal ``id_hash`` (what states store)."""
    events = [transfer(1, 100), ev("login", 2), incoming(3, "P1", 200), transfer(4, 300)]
    events[2]["event_id"] = "chuyển-khoản-ñ"  # not ASCII: hashed as UTF-8 bytes
    batch = to_columns([decode_event(orjson.dumps(e)) for e in events])
    ids = batch_money_ids(batch).tolist()
    assert ids == [id_hash(e["event_id"]) if e["type"] != "login" else 0 for e in events]
    assert all(0 < h < 2**63 for h in (ids[0], ids[2], ids[3]))
    # stored in account states: the values must never change (crc32 << 31 ^ adler32 of the UTF-8 bytes)
    assert id_hash("ev-0000000001") == 512412613380276970
    assert id_hash("chuyển-khoản-ñ") == 3852918689308215811


def test_r8_a_late_event_lands_in_its_own_hour() -> None:
    runner = Runner()
    runner.run([incoming(2 * 3600, "P1", 1_000_000)])
    runner.run([incoming(10, "P2", 2_000_000), transfer(2 * 3600 + 60, 500_000)])  # P2's credit arrives late
    runner.run([incoming(2 * 3600 + 120, "P3", 4_000_000)])
    state = runner.state["A"]
    hour0 = int(T0.timestamp()) // 3600
    assert state.flow_hour == [hour0, hour0 + 2]
    assert state.flow_in == [2_000_000, 5_000_000] and state.flow_out == [0, 500_000]


# --- the first event of an account never seen before -------------------------------------
@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (transfer(NIGHT_FROM, 10_000_000, account="NEW"), ["R10"]),  # the night rule needs no history
        (transfer(100, 9_000_000, account="NEW"), []),  # "3x the usual" needs 5 earlier transfers
        (incoming(100, "L1", account="NEW"), []),  # one tainted credit is not "more than 3"
        (login(100, "NEW"), []),  # one account on a foreign IP is not a cluster
    ],
    ids=["night transfer", "large transfer", "tainted credit", "foreign login"],
)
def test_first_event_of_an_unknown_account(event: dict[str, Any], expected: list[str]) -> None:
    hits = Runner(LISTED).hits([event])
    assert [r for r, _ in hits if r in ("R6b", "R8", "R9", "R10")] == expected
