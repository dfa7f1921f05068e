"""R12 takeover drain and R14 virtual-currency counterparty: edges and batch splits."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.rules.conftest import Runner, ev, onboarded, transfer

R12_CASES = [
    (
        "transfer 60 s after a new-device login",
        [ev("login", 100, device_id="new", ip="14.1.1.1"), transfer(160, device="new")],
        ["R12", "R3"],
    ),
    (
        "exactly at the 180 s window end",
        [ev("login", 100, device_id="new", ip="14.1.1.1"), transfer(280, device="new")],
        ["R12", "R3"],
    ),
    (
        "1 ms past the window",
        [ev("login", 100, device_id="new", ip="14.1.1.1"), transfer(280.001, device="new")],
        ["R3"],
    ),
    (
        "phone upgrade: bound, face match on the new device, then a transfer (Circular 50/2024)",
        [
            ev("login", 100, device_id="new", ip="14.1.1.1"),
            ev("device_binding", 110, device_id="new"),
            ev("biometric_verification", 120, device_id="new", result="matched"),
            transfer(130, device="new"),
        ],
        [],
    ),
    (
        "a failed face match on the new device does not clear it",
        [
            ev("login", 100, device_id="new", ip="14.1.1.1"),
            ev("device_binding", 110, device_id="new"),
            ev("biometric_verification", 120, device_id="new", result="not_matched"),
            transfer(130, device="new"),
        ],
        ["R12", "R3"],
    ),
    (
        "a face match on another device does not clear it",
        [
            ev("login", 100, device_id="new", ip="14.1.1.1"),
            ev("biometric_verification", 120, device_id="d1", result="matched"),
            transfer(130, device="new"),
        ],
        ["R12", "R3"],
    ),
    (
        "the usual, face-verified device pays after a new-device login: not the new device draining",
        [ev("login", 100, device_id="new", ip="14.1.1.1"), transfer(130, device="d1")],
        [],
    ),
    (
        "web login and transfer naming no device count as a new device",
        [ev("login", 100, ip="14.1.1.1", channel="internet"), transfer(130, device=None, channel="internet")],
        ["R12", "R3"],
    ),
    (
        "a counter transfer names no device and needs none",
        [ev("login", 100, ip="14.1.1.1", channel="counter"), transfer(130, device=None, channel="counter")],
        [],
    ),
    ("login from the usual device", [ev("login", 100, device_id="d1", ip="14.1.1.1"), transfer(120)], []),
    ("unconfirmed OTP change", [ev("otp_phone_change", 100, new_phone="09x"), transfer(130)], ["R12"]),
    (
        "OTP change confirmed by biometrics",
        [
            ev("otp_phone_change", 100, new_phone="09x"),
            ev("biometric_verification", 110, device_id="d1", result="matched"),
            transfer(130),
        ],
        [],
    ),
    (
        "a login is not a transfer",
        [ev("otp_phone_change", 100, new_phone="09x"), ev("login", 110, device_id="d1", ip="14.1.1.1")],
        [],
    ),
]


@pytest.mark.parametrize(("name", "tail", "expected"), R12_CASES, ids=[c[0] for c in R12_CASES])
def test_r12_takeover_drain(name: str, tail: list[dict[str, Any]], expected: list[str]) -> None:
    events = onboarded() + tail
    for split in [None, *range(1, len(events))]:
        hits = Runner().hits(events, split)
        assert sorted(rule for rule, _ in hits if rule in ("R12", "R3")) == sorted(expected), (name, split)


def test_r12_reason_names_the_trigger(runner: Runner) -> None:
    runner.run(onboarded())
    hits = runner.run([ev("login", 100, device_id="new", ip="14.1.1.1"), transfer(130, device="new")])
    r12 = next(h for h in hits if h.rule_id == "R12")
    assert r12.evidence["seconds_after_trigger"] == 30 and "never-used device" in r12.reason_en


@pytest.mark.parametrize(
    ("payee", "expected"),
    [("8800111222", ["R14"]), ("8800111223", []), ("0011", [])],
)
def test_r14_listed_counterparty(runner: Runner, payee: str, expected: list[str]) -> None:
    runner.run(onboarded())
    hits = runner.hits([transfer(100, dest_account=payee)])
    assert [rule for rule, _ in hits if rule == "R14"] == expected
