"""R8's established payee: a shop sweeping its takings to the account it has paid on earlier
days is not a mule; a forwarding to a payee first paid inside the inflow window, or never, is.

Every case runs whole and split into two batches at every point (``fired``).
"""

from __future__ import annotations

from typing import Any

import pytest

from rules.config import DEFAULT_RULES_FILE, load_ruleset_text
from rules.engine import RuleEngine
from rules.state import FLOW_RETENTION_H, LARGE_OUTFLOW_VND, MAX_OUTFLOWS, MAX_PAID_DAYS, PAID_RETENTION_DAYS
from tests.unit.rules.conftest import FakeGeo, Runner, incoming, transfer
from tests.unit.rules.test_r6b_r8_r9_r10 import DAY, fired

HOUR = 3600
SWEEP_AT = 5 * DAY  # 09:00 in Hanoi: the flow window starts at 09:00 two days before
WINDOW_DAY_STARTS = 3 * DAY - 9 * HOUR  # 00:00 in Hanoi on the flow window's first day


def _sweep(*paid_at: float, dest: str = "0011", to: str = "0011") -> list[dict[str, Any]]:
    """Earlier payments to ``dest`` at ``paid_at``, then five payers and 90 % sent on to ``to``."""
    earlier = [transfer(t, 200_000, dest_account=dest) for t in paid_at]
    takings = [incoming(SWEEP_AT - 3000 + i, f"P{i}", 2_000_000) for i in range(5)]
    return [*earlier, *takings, transfer(SWEEP_AT, 9_000_000, dest_account=to)]


CASES = [
    ("usual payee, paid on two earlier days", _sweep(0, DAY), False),
    ("usual payee, paid on one earlier day only", _sweep(0, 2 * HOUR), True),
    ("the second day is the last ms before the inflow window's first day", _sweep(0, WINDOW_DAY_STARTS - 0.001), False),
    ("the second day is the inflow window's first day", _sweep(0, WINDOW_DAY_STARTS), True),
    ("payee first paid inside the inflow window", _sweep(WINDOW_DAY_STARTS, 4 * DAY), True),
    ("a fresh payee, another one established", _sweep(0, DAY, dest="0011", to="9999"), True),
    ("never paid anyone before", _sweep(), True),
]


@pytest.mark.parametrize(("name", "events", "held"), CASES, ids=[c[0] for c in CASES])
def test_r8_established_payee(name: str, events: list[dict[str, Any]], held: bool) -> None:
    assert fired("R8", events) == ([events[-1]["event_id"]] if held else [])


def test_r8_evidence_and_reason_name_the_payee_history() -> None:
    [hit] = [h for h in Runner().run(_sweep(0)) if h.rule_id == "R8"]
    assert hit.evidence["payee_paid_days_before"] == 1 and hit.evidence["established_payee_days"] == 2
    assert "paid on only 1 earlier day" in hit.reason_en and "chỉ nhận tiền 1 ngày" in hit.reason_vi
    [fresh] = [h for h in Runner().run(_sweep()) if h.rule_id == "R8"]
    assert "never paid before" in fresh.reason_en and "chưa từng nhận tiền" in fresh.reason_vi


def test_r8_exception_off_holds_the_sweep() -> None:
    text = DEFAULT_RULES_FILE.read_text(encoding="utf-8").replace(
        "established_payee_days: 2", "established_payee_days: 0"
    )
    runner = Runner()
    runner.store.engine = RuleEngine(load_ruleset_text(text), FakeGeo())
    events = _sweep(0, DAY)
    assert [e for r, e in runner.hits(events) if r == "R8"] == [events[-1]["event_id"]]


def test_r8_payee_days_are_bounded_and_in_day_order() -> None:
    runner = Runner()
    # 50 days, three payees a day, and a late payment on an old day
    events = [transfer(d * DAY + p * 60, 1000, dest_account=f"X{p}") for d in range(50) for p in range(3)]
    runner.run([*events, transfer(40 * DAY + 5, 1000, dest_account="LATE")])
    state = runner.state["A"]
    assert len(state.paid_to) == len(state.paid_day) <= MAX_PAID_DAYS
    assert state.paid_day == sorted(state.paid_day)
    assert min(state.paid_day) > max(state.paid_day) - PAID_RETENTION_DAYS
    assert len(set(zip(state.paid_to, state.paid_day, strict=True))) == len(state.paid_to)  # each pair once
    assert ("LATE", state.paid_day[state.paid_to.index("LATE")]) in zip(state.paid_to, state.paid_day, strict=True)


# --- money swept to an established payee is not passed on -------------------------------
def _swept_then(sweep: int, *, then: int, paid_at: tuple[float, ...] = (0, DAY), at: float = 0) -> list[dict[str, Any]]:
    """Usual payee 0011 paid at ``paid_at``; 10M from five payers; ``sweep`` to 0011 at
    ``at`` after the takings (0: right after them), then ``then`` to a fresh payee."""
    earlier = [transfer(t, 200_000, dest_account="0011") for t in paid_at]
    takings = [incoming(SWEEP_AT - 3000 + i, f"P{i}", 2_000_000) for i in range(5)]
    swept = [transfer(SWEEP_AT + at, sweep, dest_account="0011")] if sweep else []
    return [*earlier, *takings, *swept, transfer(SWEEP_AT + 600, then, dest_account="7777")]


SWEPT = [
    ("the owner's bill after the evening sweep", _swept_then(9_000_000, then=500_000), False),
    ("a small sweep, then most of the takings to a fresh payee", _swept_then(1_000_000, then=8_500_000), True),
    ("the swept money and the fresh payee's are 80 % only together", _swept_then(4_000_000, then=4_000_000), False),
    (
        "a sweep to a payee paid on one earlier day counts as passed on",
        _swept_then(4_000_000, then=4_000_000, paid_at=(0,)),
        True,
    ),  # fmt: skip
    ("sent on 150 % of the inflow: still a pass-through", _swept_then(0, then=15_000_000), True),
    ("sent on more than 150 %: the account's own balance", _swept_then(0, then=15_001_000), False),
    ("sweeps count toward the 150 %", _swept_then(7_000_000, then=8_500_000), False),
    ("the sweep a minute before the fresh payee's transfer", _swept_then(9_000_000, then=1_000_000, at=540), False),
]


@pytest.mark.parametrize(("name", "events", "held"), SWEPT, ids=[c[0] for c in SWEPT])
def test_r8_counts_only_money_not_swept_to_established_payees(
    name: str, events: list[dict[str, Any]], held: bool
) -> None:
    assert fired("R8", events) == ([events[-1]["event_id"]] if held else [])


def test_r8_evidence_gives_the_swept_money() -> None:
    [hit] = [h for h in Runner().run(_swept_then(1_000_000, then=8_500_000)) if h.rule_id == "R8"]
    assert hit.evidence["outflow_to_established_vnd"] == 1_000_000 and hit.evidence["outflow_vnd"] == 8_500_000


def test_r8_outflows_kept_are_the_newest_within_the_flow_retention() -> None:
    runner = Runner()
    events = [transfer(d * DAY + p * 60, 1000 + p, dest_account=f"X{p % 3}") for d in range(6) for p in range(40)]
    new = [transfer(6 * DAY, LARGE_OUTFLOW_VND, dest_account="NEW"), transfer(6 * DAY + 1, 7, dest_account="SMALL")]
    runner.run([*events, *new])
    state = runner.state["A"]
    assert len(state.outflow_ms) == len(state.outflow_to) == len(state.outflow_vnd) == MAX_OUTFLOWS
    # a large transfer to a new payee is kept (R15), a small one is not (neither rule counts it)
    assert (state.outflow_to[-1], state.outflow_vnd[-1]) == (
        "NEW",
        LARGE_OUTFLOW_VND,
    ) and "SMALL" not in state.outflow_to
    assert set(state.outflow_to) == {"X0", "X1", "X2", "NEW"} and state.outflow_ms == sorted(state.outflow_ms)
    assert min(state.outflow_ms) > max(state.outflow_ms) - FLOW_RETENTION_H * HOUR * 1000
