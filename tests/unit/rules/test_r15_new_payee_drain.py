"""R15: large transfers to new payees minutes apart (a coached victim, a remotely controlled phone).

Every case runs whole and split into two batches at every point (``fired``). T0 is 09:00 in Hanoi.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.rules.conftest import MIDNIGHT_HANOI, Runner, onboarded, transfer
from tests.unit.rules.test_r6b_r8_r9_r10 import DAY, fired

M = 1_000_000
DAYTIME = DAY + 3600  # 10:00 in Hanoi, the day after T0


def _to(payee: str, at: float, amount: int, **kw: Any) -> dict[str, Any]:
    return transfer(at, amount, dest_account=payee, **kw)


def _paid_before(*payees: str) -> list[dict[str, Any]]:
    """Small payments on T0's day: these payees are not new the next day."""
    return [_to(p, 600 + i, 100_000) for i, p in enumerate(payees)]


CASES = [
    (
        "two 15M transfers to new payees 5 min apart",
        [_to("N1", DAYTIME, 15 * M), _to("N2", DAYTIME + 300, 15 * M)],
        True,
    ),
    (
        "the second one 15 min later: outside the window",
        [_to("N1", DAYTIME, 15 * M), _to("N2", DAYTIME + 900, 15 * M)],
        False,
    ),  # fmt: skip
    ("14 min 59 s later: inside", [_to("N1", DAYTIME, 15 * M), _to("N2", DAYTIME + 899, 15 * M)], True),
    ("29.99M in all by day", [_to("N1", DAYTIME, 15 * M), _to("N2", DAYTIME + 60, 14_990_000)], False),
    ("one under 10M by day does not count", [_to("N1", DAYTIME, 25 * M), _to("N2", DAYTIME + 60, 9_999_000)], False),
    (
        "a payee paid on an earlier day is not new",
        [*_paid_before("N1"), _to("N1", DAYTIME, 15 * M), _to("N2", DAYTIME + 60, 15 * M)],
        False,
    ),  # fmt: skip
    (
        "a payee first paid earlier the same day is still new",
        [_to("N1", DAYTIME - 3000, 100_000), _to("N1", DAYTIME, 15 * M), _to("N2", DAYTIME + 60, 15 * M)],
        True,
    ),  # fmt: skip
    ("the same new payee twice counts twice", [_to("N1", DAYTIME, 15 * M), _to("N1", DAYTIME + 60, 15 * M)], True),
    (
        "at night two 5M transfers are enough",
        [_to("N1", MIDNIGHT_HANOI + 3 * 3600, 5 * M), _to("N2", MIDNIGHT_HANOI + 3 * 3600 + 120, 5 * M)],
        True,
    ),  # fmt: skip
    (
        "at 06:00 the day's thresholds apply again",
        [_to("N1", MIDNIGHT_HANOI + 6 * 3600 - 300, 5 * M), _to("N2", MIDNIGHT_HANOI + 6 * 3600, 5 * M)],
        False,
    ),  # fmt: skip
    (
        "an organisation's transfers are not judged",
        [
            _to("N1", DAYTIME, 15 * M, account_type="organisation"),
            _to("N2", DAYTIME + 60, 15 * M, account_type="organisation"),
        ],
        False,
    ),  # fmt: skip
]


@pytest.mark.parametrize(("name", "events", "held"), CASES, ids=[c[0] for c in CASES])
def test_r15(name: str, events: list[dict[str, Any]], held: bool) -> None:
    assert fired("R15", [*onboarded(), *events]) == ([events[-1]["event_id"]] if held else [])


def test_r15_needs_three_times_the_usual_once_there_is_history() -> None:
    habit = [_to(f"H{i}", 3600 + 1200 * i, 12 * M) for i in range(5)]  # a customer who pays 12M often
    drain = [_to("N1", DAYTIME, 15 * M), _to("N2", DAYTIME + 60, 15 * M)]
    assert fired("R15", [*onboarded(), *habit, *drain]) == []  # 30M < 3 x 12M
    more = [*drain, _to("N3", DAYTIME + 120, 15 * M)]
    assert fired("R15", [*onboarded(), *habit, *more]) == [more[-1]["event_id"]]  # 45M >= 36M


def test_r15_reason_and_evidence() -> None:
    events = [*onboarded(), _to("N1", DAYTIME, 15 * M), _to("N2", DAYTIME + 60, 20 * M)]
    [hit] = [h for h in Runner().run(events) if h.rule_id == "R15"]
    assert hit.evidence["transfers_to_new_payees"] == 2 and hit.evidence["total_vnd"] == 35 * M
    assert hit.action == "hold" and "new payees" in hit.reason_en and "người nhận mới" in hit.reason_vi
