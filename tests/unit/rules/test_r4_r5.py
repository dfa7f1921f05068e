"""R4 (no biometrics on file / expired ID) and R5 (organisation Internet Banking without the representative)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.rules.conftest import MIDNIGHT_HANOI, Runner, ev, onboarded, transfer


def _hits(rule: str, events: list[dict[str, Any]]) -> list[str]:
    results = []
    for split in [None, *range(1, len(events))]:
        hits = Runner().hits(events, split)
        results.append([e for r, e in hits if r == rule])
    assert all(r == results[0] for r in results), f"batch splits disagree: {results}"
    return results[0]


R4_CASES = [
    ("an onboarded account", onboarded() + [transfer(100)], []),
    ("no biometrics ever", [ev("device_binding", 0, device_id="d1"), transfer(100)], ["A-transfer-100"]),
    (
        "a failed match is not on file",
        [ev("biometric_verification", 0, device_id="d1", result="not_matched"), transfer(100)],
        ["A-transfer-100"],
    ),
    (
        "ID expired before today",
        onboarded() + [ev("id_document_change", 50, document_type="cccd", expires_on="2026-11-27"), transfer(100)],
        ["A-transfer-100"],
    ),
    (
        "ID expiring today is still valid",
        onboarded() + [ev("id_document_change", 50, document_type="cccd", expires_on="2026-11-28"), transfer(100)],
        [],
    ),
    (
        "valid until Hanoi's midnight, expired after it",
        onboarded()
        + [
            ev("id_document_change", 50, document_type="cccd", expires_on="2026-11-28"),
            transfer(MIDNIGHT_HANOI - 1),
            transfer(MIDNIGHT_HANOI),
        ],
        [f"A-transfer-{MIDNIGHT_HANOI}"],
    ),
    (
        "a renewed ID clears it",
        onboarded()
        + [
            ev("id_document_change", 50, document_type="cccd", expires_on="2026-01-01"),
            ev("id_document_change", 60, document_type="cccd", expires_on="2041-01-01"),
            transfer(100),
        ],
        [],
    ),
]


@pytest.mark.parametrize(("name", "events", "expected"), R4_CASES, ids=[c[0] for c in R4_CASES])
def test_r4(name: str, events: list[dict[str, Any]], expected: list[str]) -> None:
    assert _hits("R4", events) == expected, name


def _org(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "account_type": "organisation"} for e in events]


R5_CASES = [
    (
        "organisation, internet, no recent match",
        _org(onboarded() + [transfer(1000, channel="internet")]),
        ["A-transfer-1000"],
    ),
    (
        "organisation, mobile app (Internet Banking covers it)",
        _org(onboarded() + [transfer(1000, channel="mobile")]),
        ["A-transfer-1000"],
    ),
    ("organisation, counter", _org(onboarded() + [transfer(1000, channel="counter")]), []),
    ("organisation, no channel named", _org(onboarded() + [transfer(1000)]), []),
    ("individual, internet", onboarded() + [transfer(1000, channel="internet")], []),
    (
        "representative matched 300 s before",
        _org(
            onboarded()
            + [ev("biometric_verification", 700, device_id="d1", result="matched"), transfer(1000, channel="internet")]
        ),
        [],
    ),
    (
        "representative matched 301 s before",
        _org(
            onboarded()
            + [ev("biometric_verification", 699, device_id="d1", result="matched"), transfer(1000, channel="internet")]
        ),
        ["A-transfer-1000"],
    ),
]


@pytest.mark.parametrize(("name", "events", "expected"), R5_CASES, ids=[c[0] for c in R5_CASES])
def test_r5(name: str, events: list[dict[str, Any]], expected: list[str]) -> None:
    assert _hits("R5", events) == expected, name
