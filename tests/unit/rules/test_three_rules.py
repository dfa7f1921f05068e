"""R2, R3, R6a: positive, negative and edge cases, in one batch and split across batches."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.rules.conftest import Runner, ev, onboarded, transfer

DAY = 86_400


def _every_split(events: list[dict[str, Any]]) -> list[list[tuple[str, str]]]:
    """Hits with the events in one batch and with every split into two batches."""
    return [Runner().hits(events, split) for split in [None, *range(1, len(events))]]


R2_CASES = [
    ("transfer 60 s after OTP change", [ev("otp_phone_change", 100, new_phone="09x"), transfer(160)], ["R2"]),
    ("exactly at the window end", [ev("otp_phone_change", 100, new_phone="09x"), transfer(100 + DAY)], ["R2"]),
    ("1 ms past the window", [ev("otp_phone_change", 100, new_phone="09x"), transfer(100 + DAY + 0.001)], []),
    (
        "biometric after the change confirms it",
        [
            ev("otp_phone_change", 100, new_phone="09x"),
            ev("biometric_verification", 110, device_id="d1", result="matched"),
            transfer(160),
        ],
        [],
    ),
    (
        "biometric before the change does not",
        [
            ev("biometric_verification", 90, device_id="d1", result="matched"),
            ev("otp_phone_change", 100, new_phone="09x"),
            transfer(160),
        ],
        ["R2"],
    ),
    (
        "a failed biometric does not confirm",
        [
            ev("otp_phone_change", 100, new_phone="09x"),
            ev("biometric_verification", 110, device_id="d1", result="not_matched"),
            transfer(160),
        ],
        ["R2"],
    ),
    (
        "a login after the change is not a transfer",
        [ev("otp_phone_change", 100, new_phone="09x"), ev("login", 120, ip="14.1.1.1", device_id="d1")],
        [],
    ),
]


@pytest.mark.parametrize(("name", "tail", "expected"), R2_CASES, ids=[c[0] for c in R2_CASES])
def test_r2_otp_phone_change(name: str, tail: list[dict[str, Any]], expected: list[str]) -> None:
    events = onboarded() + tail
    for hits in _every_split(events):
        assert [rule for rule, _ in hits if rule == "R2"] == expected, name


def test_r2_window_and_confirmation_survive_across_batches(runner: Runner) -> None:
    runner.run([*onboarded(), ev("otp_phone_change", 100, new_phone="09x")])
    assert runner.hits([transfer(5_000)]) == [("R2", "A-transfer-5000")]
    runner.run([ev("biometric_verification", 6_000, device_id="d1", result="matched")])
    assert runner.hits([transfer(7_000)]) == []


R3_CASES = [
    ("the previous transfer's device", [transfer(100, device="d1")], []),
    ("another device, never verified", [transfer(100, device="d2")], ["R3"]),
    (
        "another device verified after the last transfer",
        [ev("biometric_verification", 90, device_id="d2", result="matched"), transfer(100, device="d2")],
        [],
    ),
    (
        "latest biometric on the device failed",
        [
            ev("biometric_verification", 80, device_id="d2", result="matched"),
            ev("biometric_verification", 90, device_id="d2", result="not_matched"),
            transfer(100, device="d2"),
        ],
        ["R3"],
    ),
    (
        "switching back to an older, face-verified device needs no fresh match",
        [
            ev("biometric_verification", 80, device_id="d2", result="matched"),
            transfer(90, device="d2"),
            transfer(100, device="d1"),
        ],
        [],
    ),
    ("a counter transfer naming no device is not R3", [transfer(100, device=None, channel="counter")], []),
    ("an app transfer naming no device is R3", [transfer(100, device=None, channel="mobile")], ["R3"]),
    ("a web transfer naming no device is R3", [transfer(100, device=None, channel="internet")], ["R3"]),
]


@pytest.mark.parametrize(("name", "tail", "expected"), R3_CASES, ids=[c[0] for c in R3_CASES])
def test_r3_new_device_without_biometrics(name: str, tail: list[dict[str, Any]], expected: list[str]) -> None:
    for hits in _every_split(onboarded() + tail):
        assert [rule for rule, _ in hits if rule == "R3"] == expected, name


def test_r3_first_transfer_of_an_unknown_account(runner: Runner) -> None:
    assert runner.hits([transfer(10, device="x", account="NEW")]) == [
        ("R3", "NEW-transfer-10"),
        ("R4", "NEW-transfer-10"),
    ]


def test_r3_evidence_says_whether_the_device_was_ever_seen(runner: Runner) -> None:
    runner.run(onboarded())
    hits = runner.run(
        [ev("login", 50, device_id="d2", ip="14.1.1.1"), transfer(60, device="d2"), transfer(70, device="d3")]
    )
    seen = {h.evidence["device_id"]: h.evidence["device_never_seen"] for h in hits if h.rule_id == "R3"}
    assert seen == {"d2": False, "d3": True}


R6A_CASES = [
    ("home country", [ev("login", 100, ip="14.2.2.2", device_id="d1")], []),
    ("unknown address", [ev("login", 100, ip="10.0.0.1", device_id="d1")], []),
    ("invalid address", [ev("login", 100, ip="not-an-ip", device_id="d1")], []),
    ("foreign login, trusted device", [ev("login", 100, ip="8.8.8.8", device_id="d1")], [("R6a", "alert")]),
    ("foreign small transfer, trusted device", [transfer(100, ip="8.8.8.8")], [("R6a", "alert")]),
    (
        "foreign large transfer, no fresh face match",
        [transfer(400, amount=10_000_000, ip="8.8.8.8")],
        [("R6a", "hold")],
    ),
    ("foreign, just under large", [transfer(100, amount=9_999_999, ip="8.8.8.8")], [("R6a", "alert")]),
    ("foreign, untrusted device", [ev("login", 100, ip="8.8.8.8", device_id="evil")], [("R6a", "hold")]),
    (
        "foreign after an unconfirmed OTP change",
        [ev("otp_phone_change", 50, new_phone="09x"), ev("login", 100, ip="8.8.8.8", device_id="d1")],
        [("R6a", "hold")],
    ),
    (
        "foreign after a confirmed OTP change",
        [
            ev("otp_phone_change", 50, new_phone="09x"),
            ev("biometric_verification", 60, device_id="d1", result="matched"),
            ev("login", 100, ip="8.8.8.8", device_id="d1"),
        ],
        [("R6a", "alert")],
    ),
    ("OTP-phone change events are not judged by IP", [ev("otp_phone_change", 50, new_phone="09x", ip="8.8.8.8")], []),
]


@pytest.mark.parametrize(("name", "tail", "expected"), R6A_CASES, ids=[c[0] for c in R6A_CASES])
def test_r6a_foreign_ip(name: str, tail: list[dict[str, Any]], expected: list[tuple[str, str]]) -> None:
    for split in [None, *range(3, 3 + len(tail))]:
        r = Runner()
        hits = (
            r.run(onboarded() + tail)
            if split is None
            else r.run((onboarded() + tail)[:split]) + r.run((onboarded() + tail)[split:])
        )
        assert [(h.rule_id, str(h.action)) for h in hits if h.rule_id == "R6a"] == expected, name


def test_r6a_escalation_routes_to_police_and_classifies_first_time(runner: Runner) -> None:
    runner.run(onboarded())
    first = runner.run([ev("login", 100, ip="8.8.8.8", device_id="d1")])
    again = runner.run(
        [ev("login", 200, ip="8.8.4.4", device_id="d1"), ev("login", 300, ip="202.1.1.1", device_id="evil")]
    )
    assert first[0].evidence["first_time_from_country"] is True
    assert first[0].channels == ("bank",)
    assert [h.evidence["first_time_from_country"] for h in again] == [False, True]
    assert [h.evidence["ip_country"] for h in again] == ["US", "KH"]
    assert again[1].channels == ("bank", "police") and str(again[1].action) == "hold"
    assert "KH" in again[1].reason_en and "nước ngoài" in again[1].reason_vi
