"""The one device-trust definition (R3, R6a, R12), a missing device id, and R5's channel set:
edges judged whole and split at every point."""

from __future__ import annotations

from typing import Any

import pytest

from rules.config import ConfigError, load_ruleset_text
from rules.engine import RuleEngine
from streams.backtest import InMemory
from tests.unit.rules.conftest import FakeGeo, Runner, StoredStates, ev, onboarded, transfer

abroad = "8.8.8.8"


def _decisions(events: list[dict[str, Any]], runner_of: Any = Runner) -> list[set[tuple[str, str]]]:
    """(rule, action) hit per way of cutting ``events`` into two batches (and whole)."""
    out = []
    for split in [None, *range(1, len(events))]:
        runner = runner_of()
        found = runner.run(events) if split is None else runner.run(events[:split]) + runner.run(events[split:])
        out.append({(h.rule_id, str(h.action)) for h in found})
    return out


def _only(events: list[dict[str, Any]], runner_of: Any = Runner) -> set[tuple[str, str]]:
    found = _decisions(events, runner_of)
    assert all(d == found[0] for d in found), found
    return found[0]


TRUST_CASES = [
    (
        "abroad, logging in on a second device bound and face-verified a week earlier: a warning",
        [
            ev("device_binding", 10, device_id="tablet"),
            ev("biometric_verification", 11, device_id="tablet", result="matched"),
            transfer(20, device="d1", ip="14.1.1.1"),  # the phone paid last
            ev("login", 7 * 86_400, device_id="tablet", ip=abroad),
        ],
        {("R6a", "alert")},
    ),
    (
        "abroad on a device whose latest face match failed: a hold",
        [
            ev("biometric_verification", 11, device_id="tablet", result="matched"),
            ev("biometric_verification", 12, device_id="tablet", result="not_matched"),
            transfer(20, device="d1", ip="14.1.1.1"),
            ev("login", 86_400, device_id="tablet", ip=abroad),
        ],
        {("R6a", "hold")},
    ),
    (
        "abroad on the phone that paid last: a warning",
        [ev("login", 86_400, device_id="d1", ip=abroad)],
        {("R6a", "alert")},
    ),
    (
        "abroad over web banking naming no device: an unknown device, held like a never-seen one",
        [ev("login", 86_400, ip=abroad, channel="internet")],
        {("R6a", "hold")},
    ),
    (
        "abroad with a never-seen device: a hold",
        [ev("login", 86_400, device_id="stranger", ip=abroad, channel="internet")],
        {("R6a", "hold")},
    ),
]


@pytest.mark.parametrize(("name", "tail", "expected"), TRUST_CASES, ids=[c[0] for c in TRUST_CASES])
def test_device_trust(name: str, tail: list[dict[str, Any]], expected: set[tuple[str, str]]) -> None:
    assert _only(onboarded() + tail) == expected, name


def _runner_with(text: str) -> Any:
    base = load_ruleset_text(text)

    class Configured(Runner):
        def __init__(self) -> None:
            super().__init__()
            self.store = InMemory(RuleEngine(base, FakeGeo()))
            self.state, self.ip_accounts = StoredStates(self.store.store), self.store.ip_accounts

    return Configured


RULES = """
version: t
{extra}
rules:
  R3: {{action: hold, severity: high, channels: [bank]}}
  R5: {{action: hold, severity: high, channels: [bank], params: {r5}}}
  R6a:
    action: alert
    severity: medium
    channels: [bank]
    escalation: {{action: hold, severity: high, channels: [bank]}}
"""


def test_a_missing_device_is_trusted_where_the_rules_file_says_none_is_required() -> None:
    events = [*onboarded(), ev("login", 86_400, ip=abroad, channel="internet"), transfer(86_500, device=None)]
    lenient = _runner_with(RULES.format(extra="device_id_required_on: [mobile]", r5="{}"))
    assert _only(events, lenient) == {("R6a", "alert")}
    strict = _runner_with(RULES.format(extra="device_id_required_on: [internet, none]", r5="{}"))
    assert _only(events, strict) == {("R6a", "hold"), ("R3", "hold")}


def test_r5_channels_come_from_the_rules_file() -> None:
    org = [{**e, "account_type": "organisation"} for e in [*onboarded(), transfer(1000, channel="mobile")]]
    web_only = _runner_with(RULES.format(extra="", r5="{electronic_channels: [internet]}"))
    assert _only(org, web_only) == set()
    default = _runner_with(RULES.format(extra="", r5="{}"))
    assert _only(org, default) == {("R5", "hold")}


@pytest.mark.parametrize(
    ("extra", "r5", "words"),
    [
        ("device_id_required_on: [sms]", "{}", ["device_id_required_on", "sms"]),
        ("", "{electronic_channels: [fax]}", ["R5", "fax"]),
    ],
)
def test_unknown_channels_are_refused(extra: str, r5: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        load_ruleset_text(RULES.format(extra=extra, r5=r5))
    assert all(w in str(err.value) for w in words)
