"""R1 biometric amount gate: per-transfer and daily limits, the face-match window, Vietnam's midnight."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.rules.conftest import T0, Runner, ev, onboarded, transfer

# T0 is 02:00 UTC = 09:00 in Hanoi; Hanoi's midnight is 17:00 UTC, i.e. T0 + 15 h.
MIDNIGHT = (datetime(2026, 11, 28, 17, 0, tzinfo=UTC) - T0).total_seconds()


def _r1(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for split in [None, *range(1, len(events))]:
        hits = Runner().hits(onboarded() + events, None if split is None else split + 3)
        out.append(",".join(sorted(e for rule, e in hits if rule == "R1")))
    assert len(set(out)) == 1, f"batch splits disagree: {out}"
    return [e for e in out[0].split(",") if e]


CASES = [
    ("exactly 10M is allowed", [transfer(1000, amount=10_000_000)], []),
    ("10M + 1 needs a face match", [transfer(1000, amount=10_000_001)], ["A-transfer-1000"]),
    (
        "a face match 300 s before covers it",
        [ev("biometric_verification", 700, device_id="d1", result="matched"), transfer(1000, amount=15_000_000)],
        [],
    ),
    (
        "a face match 301 s before does not",
        [ev("biometric_verification", 699, device_id="d1", result="matched"), transfer(1000, amount=15_000_000)],
        ["A-transfer-1000"],
    ),
    (
        "a failed face match does not",
        [ev("biometric_verification", 900, device_id="d1", result="not_matched"), transfer(1000, amount=15_000_000)],
        ["A-transfer-1000"],
    ),
    (
        "the day's total passing 20M",
        [transfer(1000, amount=9_000_000), transfer(1100, amount=9_000_000), transfer(1200, amount=3_000_000)],
        ["A-transfer-1200"],
    ),
    (
        "exactly 20M in the day is allowed",
        [transfer(1000, amount=9_000_000), transfer(1100, amount=9_000_000), transfer(1200, amount=1_000_000)],
        [],
    ),
    (
        "Hanoi's midnight resets the total",
        [
            transfer(MIDNIGHT - 10, amount=9_000_000),
            transfer(MIDNIGHT - 5, amount=9_000_000),
            transfer(MIDNIGHT, amount=9_000_000),
        ],
        [],
    ),
    (
        "UTC midnight does not",
        [
            transfer(MIDNIGHT - 3600 * 7 - 10, amount=9_000_000),
            transfer(MIDNIGHT - 3600 * 7 + 10, amount=9_000_000),
            transfer(MIDNIGHT - 3600 * 6, amount=3_000_000),
        ],
        [f"A-transfer-{MIDNIGHT - 3600 * 6}"],
    ),
]


@pytest.mark.parametrize(("name", "events", "expected"), CASES, ids=[c[0] for c in CASES])
def test_r1_amount_gate(name: str, events: list[dict[str, Any]], expected: list[str]) -> None:
    # onboarding's transfer of 1M is on the same day: totals above include it
    assert _r1(events) == expected, name


def test_r1_first_transfer_of_an_unknown_account_over_the_limit(runner: Runner) -> None:
    hits = runner.run([transfer(10, amount=12_000_000, account="NEW")])
    r1 = [h for h in hits if h.rule_id == "R1"]
    assert len(r1) == 1 and r1[0].evidence["over_single_limit"] and r1[0].evidence["last_biometric_match"] is None
