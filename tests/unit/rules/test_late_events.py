"""Wrong clocks must not switch detection off: events too far from their arrival are dead
letters (``streams.codec``), and a late but accepted event counts in its own window without
moving the account's clock back. Every case is judged whole and split at every point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pytest

from rules.ip_cluster import IpVisits, merge_ip
from rules.model import RuleHit
from streams.codec import EventTimeBounds, decode_records
from tests.unit.rules.test_rules import DAY, ENGINE, T0, S, ev, keep, login, onboard, stored, transfer

BOUNDS = EventTimeBounds.of_seconds(7 * 86_400, 300)
T0_MS = int(T0.timestamp() * 1000)  # 09:00 in Hanoi
YEAR_2099_MS = (4_070_908_800 - int(T0.timestamp())) * 1000  # 2099-01-01 UTC, as an offset from T0


def judge_arriving(batches: Sequence[Sequence[tuple[dict[str, Any], int]]], *, bounded: bool = True) -> list[RuleHit]:
    """Like ``test_rules.judge``, each event with its arrival (ms after T0), decoded as the worker does."""
    store: dict[str, bytes] = {}
    ip_visits: dict[str, IpVisits] = {}
    raised: set[tuple[str, str]] = set()
    hits: list[RuleHit] = []
    for pairs in batches:
        raw = [orjson.dumps(e) for e, _ in pairs]
        keys = [str(e["account_id"]).encode() for e, _ in pairs]
        arrival = [T0_MS + at for _, at in pairs]
        decoded = decode_records(raw, keys, arrival_ms=arrival, bounds=BOUNDS if bounded else None)
        batch = decoded.batch
        states = stored(store, batch.accounts)
        countries, ips = ENGINE.foreign_ips(batch)
        for ip, visits in ENGINE.ip_updates(batch, countries).items():
            ip_visits[ip] = merge_ip(ip_visits.get(ip, {}), visits, ENGINE.ip_window_ms() or 0)
        seen = {ip: ip_visits[ip] for ip in ips if ip in ip_visits}
        listed = np.zeros(len(batch), np.bool_)
        result = ENGINE.evaluate(batch, states, listed, ip_accounts=seen, countries=countries)
        keep(store, batch.accounts, result.states)
        for h in result.hits:  # hits already raised are dropped, as the worker's alert records do
            if (h.rule_id, h.event_id) not in raised:
                raised.add((h.rule_id, h.event_id))
                hits.append(h)
    return hits


def _splits(pairs: list[tuple[dict[str, Any], int]]) -> list[list[list[tuple[dict[str, Any], int]]]]:
    return [[pairs], *([pairs[:k], pairs[k:]] for k in range(1, len(pairs)))]


def fired(rule: str, pairs: list[tuple[dict[str, Any], int]]) -> list[str]:
    """Event ids ``rule`` fired on, the same whole and split at every point (checked here)."""
    decisions = [sorted(h.event_id for h in judge_arriving(b) if h.rule_id == rule) for b in _splits(pairs)]
    assert all(d == decisions[0] for d in decisions), decisions
    return decisions[0]


def missed_somewhere(rule: str, pairs: list[tuple[dict[str, Any], int]]) -> bool:
    """Without the bound: some batch split misses what the bounded worker finds (the failure
    the bound fixes: a wrong clock moves the account's windows, depending on batch ends)."""
    expected = fired(rule, pairs)
    return any(
        sorted(h.event_id for h in judge_arriving(b, bounded=False) if h.rule_id == rule) != expected
        for b in _splits(pairs)
    )


def on_time(events: list[dict[str, Any]], at: int) -> list[tuple[dict[str, Any], int]]:
    return [(e, at) for e in events]


def _day_of_27m() -> list[tuple[dict[str, Any], int]]:
    """A face match, then 9M + 9M (18M, under the 20M daily limit) and 9M more after the match expired."""
    return on_time([*onboard(), transfer(3 * S, amount=9_000_000, eid="t1")], 3 * S) + on_time(
        [transfer(4 * S, amount=9_000_000, eid="t2")], 4 * S
    )


def test_a_1000_vnd_transfer_dated_2099_does_not_stop_r1() -> None:
    future = transfer(YEAR_2099_MS, amount=1_000, eid="t2099")
    events = [*_day_of_27m(), (future, 3600 * S), (transfer(3600 * S, amount=9_000_000, eid="t3"), 3600 * S)]
    assert fired("R1", events) == ["t3"]
    assert missed_somewhere("R1", events)  # the 2099 day replaces today's total


def test_a_late_transfer_from_yesterday_does_not_stop_r1() -> None:
    late = transfer(-DAY + 3600 * S, amount=1_000, eid="late")  # 10:00 yesterday in Hanoi, arriving now
    events = [*_day_of_27m(), (late, 3600 * S), (transfer(3600 * S, amount=9_000_000, eid="t3"), 3600 * S)]
    assert fired("R1", events) == ["t3"]  # accepted (within a week); today's total is kept


def _mule(credit_2099: bool) -> list[tuple[dict[str, Any], int]]:
    """Five payers of 4M each within an hour, then 19M sent on: R8's pass-through."""
    pairs = on_time(onboard(), 0)
    for i, payer in enumerate(["P3", "P4", "P5", "P6", "P7"]):
        at = (60 + 60 * i) * S
        credit = ev("incoming_transfer", at, eid=f"in{i}", amount=4_000_000, src_account=payer, src_bank="VCB")
        pairs.append((credit, at))
        if credit_2099 and i == 2:
            wrong = ev("incoming_transfer", YEAR_2099_MS, eid="in2099", amount=10_000, src_account="P9", src_bank="X")
            pairs.append((wrong, at))
    pairs.append((transfer(3600 * S, amount=19_000_000, eid="out"), 3600 * S))
    return pairs


def test_a_credit_dated_2099_does_not_stop_r8() -> None:
    assert fired("R8", _mule(credit_2099=False)) == ["out"]
    assert fired("R8", _mule(credit_2099=True)) == ["out"]
    assert missed_somewhere("R8", _mule(credit_2099=True))


def _ring(login_2099: bool) -> list[tuple[dict[str, Any], int]]:
    pairs = []
    for i, account in enumerate(["R1x", "R2x", "R3x"]):
        at = (100 + 60 * i) * S
        pairs += on_time(onboard(account), at)
        if login_2099 and i == 0:
            pairs.append((login(YEAR_2099_MS, "8.8.4.4", "dz", "RZ"), at))
        pairs.append((login(at, "8.8.4.4", "d1", account), at))
    return pairs


@pytest.mark.parametrize("login_2099", [False, True])
def test_a_login_dated_2099_does_not_stop_r6b(login_2099: bool) -> None:
    ring = sorted(e["event_id"] for e, _ in _ring(login_2099) if e["type"] == "login" and e["account_id"] != "RZ")
    assert fired("R6b", _ring(login_2099)) == ring  # all three, the first two when the third arrives


def test_without_the_bound_a_login_dated_2099_stops_r6b() -> None:
    assert missed_somewhere("R6b", _ring(login_2099=True))
