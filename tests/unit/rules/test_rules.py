"""R2, R3 and R6a, table-driven: every case is judged in one batch, split at every point into
two batches, and one event per batch; state crosses batches packed to msgpack as in Redis."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import orjson
import pytest

from rules.config import load_ruleset
from rules.engine import RuleEngine
from rules.ip_cluster import IpVisits, merge_ip
from rules.model import RuleHit
from rules.state import States
from rules.state_codec import STATE_CODEC
from streams.codec import decode_records

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
HANOI = timezone(timedelta(hours=7))
S, DAY = 1_000, 86_400_000  # milliseconds


class PrefixGeo:
    """Country by IP prefix, so the tests do not depend on the real data set; '' when unknown."""

    PREFIXES = {"14.": "VN", "113.": "VN", "8.": "US", "202.": "KH"}

    def countries(self, ips: Sequence[str | None]) -> np.ndarray:
        return np.array(
            [next((c for p, c in self.PREFIXES.items() if (ip or "").startswith(p)), "") for ip in ips],
            dtype="<U2",
        )


ENGINE = RuleEngine(load_ruleset(), PrefixGeo())


def stored(store: dict[str, bytes], accounts: Sequence[str]) -> States:
    """The accounts' states from ``store`` (account -> record bytes, as Redis keeps them)."""
    return STATE_CODEC.decode([store.get(a) for a in accounts])


def keep(store: dict[str, bytes], accounts: Sequence[str], states: States) -> None:
    """Save a batch's new states into ``store`` as record bytes."""
    store.update(zip(accounts, STATE_CODEC.encode(states), strict=True))


def ev(kind: str, ms: int, account: str = "A", eid: str | None = None, **fields: Any) -> dict[str, Any]:
    """An event ``ms`` milliseconds after T0, stamped in +07:00 as banks send it."""
    ts = (T0 + timedelta(milliseconds=ms)).astimezone(HANOI).isoformat(timespec="milliseconds")
    return {"type": kind, "event_id": eid or f"{account}-{kind}-{ms}", "account_id": account, "ts": ts, **fields}


def transfer(
    ms: int,
    device: str | None = "d1",
    amount: int = 1_000_000,
    ip: str | None = "14.0.0.1",
    account: str = "A",
    eid: str | None = None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {"amount": amount, "dest_account": "0011", "dest_bank": "VCB"}
    fields |= {k: v for k, v in (("device_id", device), ("ip", ip)) if v is not None}
    return ev("transfer", ms, account, eid, **fields)


def login(ms: int, ip: str | None, device: str | None = "d1", account: str = "A") -> dict[str, Any]:
    return ev("login", ms, account, **{k: v for k, v in (("device_id", device), ("ip", ip)) if v is not None})


def otp(ms: int, account: str = "A", **kw: Any) -> dict[str, Any]:
    return ev("otp_phone_change", ms, account, new_phone="09******12", **kw)


def bio(
    ms: int, device: str = "d1", result: str = "matched", account: str = "A", eid: str | None = None
) -> dict[str, Any]:
    return ev("biometric_verification", ms, account, eid, device_id=device, result=result)


def onboard(account: str = "A", device: str = "d1") -> list[dict[str, Any]]:
    """Bound device, matched face, a first transfer from Vietnam: the account's usual state."""
    return [
        ev("device_binding", 0, account, device_id=device),
        bio(1 * S, device, account=account),
        transfer(2 * S, device, account=account),
    ]


LISTED = frozenset({"P1", "P2"})  # payers on the shared suspicious list


def judge(batches: Sequence[Sequence[dict[str, Any]]]) -> list[RuleHit]:
    """Run batches in order through one engine, with state packed between them, R6b's
    per-IP visits merged before each batch is judged, and hits already raised dropped
    (the worker's Lua script and alert records)."""
    store: dict[str, bytes] = {}
    ip_visits: dict[str, IpVisits] = {}
    raised: set[tuple[str, str]] = set()
    hits: list[RuleHit] = []
    for events in batches:
        batch = decode_records([orjson.dumps(e) for e in events], None).batch  # as the worker
        states = stored(store, batch.accounts)
        listed = np.fromiter((d in LISTED for d in batch.dest or ()), np.bool_, len(batch))
        countries, ips = ENGINE.foreign_ips(batch)
        for ip, visits in ENGINE.ip_updates(batch, countries).items():
            ip_visits[ip] = merge_ip(ip_visits.get(ip, {}), visits, ENGINE.ip_window_ms() or 0)
        seen = {ip: ip_visits[ip] for ip in ips if ip in ip_visits}
        result = ENGINE.evaluate(batch, states, listed, ip_accounts=seen, countries=countries)
        assert result.errors == {}
        keep(store, batch.accounts, result.states)
        for h in result.hits:
            if (h.rule_id, h.event_id) not in raised:
                raised.add((h.rule_id, h.event_id))
                hits.append(h)
    return hits


def partitions(events: list[dict[str, Any]]) -> Iterator[tuple[str, list[list[dict[str, Any]]]]]:
    yield "one batch", [events]
    for k in range(1, len(events)):
        yield f"split at {k}", [events[:k], events[k:]]
    yield "one event per batch", [[e] for e in events]


def decisions(hits: list[RuleHit], rule: str) -> list[tuple[str, str]]:
    return [(h.event_id, str(h.action)) for h in hits if h.rule_id == rule]


def check_every_partition(events: list[dict[str, Any]], rule: str, expected: list[tuple[str, str]]) -> None:
    for how, batches in partitions(events):
        assert decisions(judge(batches), rule) == expected, how


# ---------------------------------------------------------------- R2 -----
A = onboard()
R2_CASES = [
    ("transfer a minute after the change", [*A, otp(100 * S), transfer(160 * S)], ["A-transfer-160000"]),
    ("exactly at window_s", [*A, otp(100 * S), transfer(100 * S + DAY)], [f"A-transfer-{100 * S + DAY}"]),
    ("1 ms past window_s", [*A, otp(100 * S), transfer(100 * S + DAY + 1)], []),
    ("match after the change confirms it", [*A, otp(100 * S), bio(110 * S), transfer(160 * S)], []),
    ("match before the change does not", [*A, bio(90 * S), otp(100 * S), transfer(160 * S)], ["A-transfer-160000"]),
    (
        "a not_matched result does not",
        [*A, otp(100 * S), bio(110 * S, result="not_matched"), transfer(160 * S)],
        ["A-transfer-160000"],
    ),
    (
        "a new change needs a new match",
        [*A, otp(100 * S), bio(110 * S), otp(120 * S), transfer(160 * S)],
        ["A-transfer-160000"],
    ),
    ("same millisecond: the match after the change", [*A, otp(100 * S), bio(100 * S), transfer(160 * S)], []),
    (
        "every transfer in the window",
        [*A, otp(100 * S), transfer(110 * S), transfer(120 * S, device=None)],
        ["A-transfer-110000", "A-transfer-120000"],
    ),
    ("a login is not a transfer", [*A, otp(100 * S), login(110 * S, "14.0.0.9")], []),
    ("no change, no hit", [*A, transfer(100 * S)], []),
    ("another account's change", [*A, otp(100 * S, account="B"), transfer(110 * S)], []),
    ("first events of an unknown account", [otp(0, account="N"), transfer(5 * S, account="N")], ["N-transfer-5000"]),
]


@pytest.mark.parametrize(("name", "events", "expected"), R2_CASES, ids=[c[0] for c in R2_CASES])
def test_r2_otp_phone_change(name: str, events: list[dict[str, Any]], expected: list[str]) -> None:
    check_every_partition(events, "R2", [(e, "hold") for e in expected])


def test_r2_hit_is_a_critical_hold_for_bank_and_police_with_evidence() -> None:
    (hit,) = [h for h in judge([[*A, otp(100 * S), transfer(160 * S, amount=7_000_000)]]) if h.rule_id == "R2"]
    assert (hit.severity, hit.channels) == ("critical", ("bank", "police"))
    assert hit.evidence["seconds_since_otp_change"] == 60 and hit.evidence["amount_vnd"] == 7_000_000
    assert "7.000.000 VND" in hit.reason_vi and "7.000.000 VND" in hit.reason_en


# ---------------------------------------------------------------- R3 -----
R3_CASES = [
    ("the previous transfer's device", [*A, transfer(100 * S, "d1")], []),
    ("another device, never seen", [*A, transfer(100 * S, "d2")], ["A-transfer-100000"]),
    (
        "another device, seen but never verified",
        [*A, login(90 * S, "14.0.0.1", "d2"), transfer(100 * S, "d2")],
        ["A-transfer-100000"],
    ),
    ("another device with a matched biometric", [*A, bio(90 * S, "d2"), transfer(100 * S, "d2")], []),
    (
        "latest biometric on the device not_matched",
        [*A, bio(80 * S, "d2"), bio(90 * S, "d2", "not_matched"), transfer(100 * S, "d2")],
        ["A-transfer-100000"],
    ),
    (
        "not_matched then matched",
        [*A, bio(80 * S, "d2", "not_matched"), bio(90 * S, "d2"), transfer(100 * S, "d2")],
        [],
    ),
    ("a match on another device", [*A, bio(90 * S, "d3"), transfer(100 * S, "d2")], ["A-transfer-100000"]),
    (
        "a match by another account",
        [*A, bio(90 * S, "d2", account="B"), transfer(100 * S, "d2")],
        ["A-transfer-100000"],
    ),
    (
        "a match before the previous transfer still verifies the device (DOMAIN.md trust)",
        [*A, bio(50 * S, "d2"), transfer(60 * S, "d1"), transfer(70 * S, "d2")],
        [],
    ),
    (
        "verified device, then back to the old, verified one",
        [*A, bio(50 * S, "d2"), transfer(60 * S, "d2"), transfer(70 * S, "d2"), transfer(80 * S, "d1")],
        [],
    ),
    (
        "back to a device used before but never verified",
        [*A, login(40 * S, "14.0.0.1", "d3"), bio(50 * S, "d2"), transfer(60 * S, "d2"), transfer(70 * S, "d3")],
        ["A-transfer-70000"],
    ),
    (
        "a device whose latest face match failed",
        [*A, bio(50 * S, "d2"), bio(55 * S, "d2", "not_matched"), transfer(60 * S, "d2")],
        ["A-transfer-60000"],
    ),
    # Order decides, not clocks: a match stamped in the previous transfer's millisecond, or
    # before it by a skewed clock, still came after it.
    (
        "match in the previous transfer's millisecond",
        [*A, transfer(50 * S, "d1"), bio(50 * S, "d2"), transfer(60 * S, "d2")],
        [],
    ),
    (
        "match stamped before the previous transfer, arriving after",
        [*A, transfer(50 * S, "d1"), bio(49 * S, "d2"), transfer(60 * S, "d2")],
        [],
    ),
    (
        "transfer naming no device (nor channel): an unknown device",
        [*A, transfer(100 * S, None), transfer(110 * S, "d1")],
        ["A-transfer-100000"],
    ),
    ("first transfer of an unknown account", [transfer(0, "x", account="N")], ["N-transfer-0"]),
    ("unknown account verified first", [bio(0, "x", account="N"), transfer(S, "x", account="N")], []),
]


@pytest.mark.parametrize(("name", "events", "expected"), R3_CASES, ids=[c[0] for c in R3_CASES])
def test_r3_new_device_without_biometrics(name: str, events: list[dict[str, Any]], expected: list[str]) -> None:
    check_every_partition(events, "R3", [(e, "hold") for e in expected])


def test_r3_evidence_tells_never_seen_from_not_last_used() -> None:
    events = [*A, login(50 * S, "14.0.0.1", "d2"), transfer(60 * S, "d2"), transfer(70 * S, "d3")]
    for how, batches in partitions(events):
        seen = {h.evidence["device_id"]: h.evidence["device_never_seen"] for h in judge(batches) if h.rule_id == "R3"}
        assert seen == {"d2": False, "d3": True}, how


# --------------------------------------------------------------- R6a -----
ALERT, HOLD = "alert", "hold"
BIG = 10_000_000
R6A_CASES = [
    ("home country", [*A, login(100 * S, "14.9.9.9")], []),
    ("second home prefix", [*A, transfer(100 * S, ip="113.1.1.1")], []),
    ("unknown address", [*A, login(100 * S, "10.0.0.1")], []),
    ("invalid address", [*A, login(100 * S, "not-an-ip")], []),
    ("no address", [*A, login(100 * S, None)], []),
    ("foreign login, trusted device", [*A, login(100 * S, "8.8.8.8")], [ALERT]),
    ("foreign small transfer, trusted device", [*A, transfer(100 * S, ip="8.8.8.8")], [ALERT]),
    ("foreign transfer just under large_amount_vnd", [*A, transfer(100 * S, amount=BIG - 1, ip="8.8.8.8")], [ALERT]),
    ("foreign transfer at large_amount_vnd", [*A, transfer(400 * S, amount=BIG, ip="8.8.8.8")], [HOLD]),
    (
        "large foreign transfer, face match exactly large_face_match_s before",
        [*A, bio(100 * S), transfer(400 * S, amount=BIG, ip="8.8.8.8")],
        [ALERT],
    ),
    (
        "large foreign transfer, face match 1 ms too early",
        [*A, bio(100 * S), transfer(400 * S + 1, amount=BIG, ip="8.8.8.8")],
        [HOLD],
    ),
    ("foreign login, never-seen device", [*A, login(100 * S, "8.8.8.8", "evil")], [HOLD]),
    (
        "foreign login, device verified since the last transfer",
        [*A, bio(90 * S, "d2"), login(100 * S, "8.8.8.8", "d2")],
        [ALERT],
    ),
    ("foreign login after an unconfirmed OTP change", [*A, otp(50 * S), login(100 * S, "8.8.8.8")], [HOLD]),
    ("OTP change exactly otp_window_s before", [*A, otp(50 * S), login(50 * S + DAY, "8.8.8.8")], [HOLD]),
    ("OTP change 1 ms more than otp_window_s before", [*A, otp(50 * S), login(50 * S + DAY + 1, "8.8.8.8")], [ALERT]),
    ("OTP change confirmed by a match", [*A, otp(50 * S), bio(60 * S), login(100 * S, "8.8.8.8")], [ALERT]),
    ("an OTP change event is not judged by IP", [*A, otp(50 * S, ip="8.8.8.8")], []),
    ("first event of an unknown account", [login(0, "202.1.1.1", "x", account="N")], [HOLD]),
]


@pytest.mark.parametrize(("name", "events", "expected"), R6A_CASES, ids=[c[0] for c in R6A_CASES])
def test_r6a_foreign_ip(name: str, events: list[dict[str, Any]], expected: list[str]) -> None:
    check_every_partition(events, "R6a", [(events[-1]["event_id"], action) for action in expected])


@pytest.mark.parametrize(
    ("events", "action", "severity", "channels"),
    [
        ([*A, login(100 * S, "8.8.8.8")], "alert", "medium", ("bank",)),
        ([*A, login(100 * S, "8.8.8.8", "evil")], "hold", "high", ("bank", "police")),
        ([*A, otp(50 * S), login(100 * S, "8.8.8.8")], "hold", "high", ("bank", "police")),
        ([*A, transfer(400 * S, amount=BIG, ip="8.8.8.8")], "hold", "high", ("bank", "police")),
    ],
)
def test_r6a_escalation_follows_rules_yaml(
    events: list[dict[str, Any]], action: str, severity: str, channels: tuple[str, ...]
) -> None:
    (hit,) = [h for h in judge([events]) if h.rule_id == "R6a"]
    assert (hit.action, hit.severity, hit.channels) == (action, severity, channels)
    assert hit.evidence["ip_country"] == "US" and "8.8.8.8" in hit.reason_en and "8.8.8.8" in hit.reason_vi
    assert hit.evidence["device_trusted"] is (hit.evidence["device_id"] != "evil")


def test_r6a_first_time_from_country_then_not() -> None:
    events = [
        *A,
        login(100 * S, "8.8.8.8"),
        login(200 * S, "8.8.4.4"),
        transfer(300 * S, ip="202.1.1.1"),
        login(400 * S, "8.1.1.1"),
    ]
    for how, batches in partitions(events):
        r6a = [h for h in judge(batches) if h.rule_id == "R6a"]
        got = [(h.evidence["ip_country"], h.evidence["first_time_from_country"]) for h in r6a]
        assert got == [("US", True), ("US", False), ("KH", True), ("US", False)], how
        assert "first time" in r6a[0].reason_en and "first time" not in r6a[1].reason_en
