"""R6b decides on the set of events alone: whatever the batch split, the interleaving of
partitions (several workers, one lagging behind) or which worker completes a ring, the
same alert ids come out, and they are exactly those the rule's definition names, computed
here by brute force from all the events at once."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import orjson
import pytest

from rules.config import load_ruleset
from rules.engine import RuleEngine
from rules.ip_cluster import merge_account, merge_ip, ring_visits
from rules.state import States
from streams.codec import to_columns
from streams.events import decode_event
from tests.unit.rules.conftest import T0, FakeGeo, Runner, ev

DAY_MS = 86_400_000
W = DAY_MS  # rules.yaml R6b window
MIN_ACCOUNTS = 3
T0_MS = int(T0.timestamp() * 1000)


def _scenario(seed: int) -> list[dict[str, Any]]:
    """Five to eight accounts logging in and paying from two foreign IPs and a home one over
    four days; each account's events in time order."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for a in range(rng.randint(5, 8)):
        at = rng.uniform(0, 2 * 86_400)
        for i in range(rng.randint(1, 5)):
            at += rng.choice([1, 600, 5 * 3600, 20 * 3600, 30 * 3600])
            ip = rng.choice(["8.8.8.8", "8.8.8.8", "8.8.4.4", "14.0.0.1"])
            kind = rng.choice(["login", "login", "transfer"])
            fields: dict[str, Any] = {"ip": ip, "device_id": f"d{a}"}
            if kind == "transfer":
                fields |= {"amount": 100_000, "dest_account": "0011", "dest_bank": "VCB"}
            events.append(ev(kind, round(at, 3), f"A{a}", **fields) | {"event_id": f"A{a}-{i}"})
    return sorted(events, key=lambda e: e["ts"])


def _ms(e: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(e["ts"]).timestamp() * 1000)


def oracle(events: list[dict[str, Any]]) -> set[str]:
    """The definition, by brute force: a visit (an account's run of events on a foreign IP with
    gaps under 24 h, named by its first event) is alerted when some 24-hour window holds events
    of three or more accounts on that IP, one of them of this visit."""
    foreign = [e for e in events if e["ip"].startswith("8.")]
    visit_of: dict[str, str] = {}
    for ip in {e["ip"] for e in foreign}:
        for account in {e["account_id"] for e in foreign if e["ip"] == ip}:
            mine = sorted((_ms(e), e["event_id"]) for e in foreign if e["ip"] == ip and e["account_id"] == account)
            first, last = mine[0][1], mine[0][0]
            for t, eid in mine:
                if t - last >= W:
                    first = eid
                visit_of[eid], last = first, t
    alerted: set[str] = set()
    for x in {_ms(e) for e in foreign}:
        for ip in {e["ip"] for e in foreign}:
            inside = [e for e in foreign if e["ip"] == ip and x <= _ms(e) < x + W]
            if len({e["account_id"] for e in inside}) >= MIN_ACCOUNTS:
                alerted |= {visit_of[e["event_id"]] for e in inside}
    return alerted


def _r6b(batches: list[list[dict[str, Any]]]) -> set[str]:
    runner = Runner()
    ids = [h.event_id for batch in batches for h in runner.run(batch) if h.rule_id == "R6b"]
    assert len(ids) == len(set(ids)), "an alert raised twice"
    return set(ids)


def _as_workers(events: list[dict[str, Any]], rng: random.Random, lag: bool) -> list[list[dict[str, Any]]]:
    """The events spread over three partitions by account, cut into batches of random size and
    interleaved at random as three workers would reach Redis; with ``lag`` one partition is
    judged only after the others are done."""
    parts: list[list[dict[str, Any]]] = [[], [], []]
    for e in events:
        parts[int(e["account_id"][1:]) % 3].append(e)
    queues = []
    for p in parts:
        batches, i = [], 0
        while i < len(p):
            n = rng.randint(1, 4)
            batches.append(p[i : i + n])
            i += n
        queues.append(batches)
    if lag:
        return [b for q in queues for b in q]
    out = []
    while any(queues):
        q = rng.choice([q for q in queues if q])
        out.append(q.pop(0))
    return out


@pytest.mark.parametrize("seed", range(60))
def test_r6b_alerts_are_the_definition_in_any_batch_split_and_worker_order(seed: int) -> None:
    events = _scenario(seed)
    expected = oracle(events)
    rng = random.Random(seed)
    assert _r6b([events]) == expected, "one batch (the back-test of a small file)"
    assert _r6b([[e] for e in events]) == expected, "one event per batch"
    k = rng.randint(1, len(events) - 1)
    assert _r6b([events[:k], events[k:]]) == expected, f"split at {k}"
    for lag in (False, True, False):
        assert _r6b(_as_workers(events, rng, lag)) == expected, f"three workers, lag={lag}"


def test_the_random_rings_exercise_the_rule() -> None:
    counts = [len(oracle(_scenario(seed))) for seed in range(60)]
    assert sum(1 for c in counts if c) >= 20 and sum(1 for c in counts if not c) >= 3


def test_merging_is_order_free_and_idempotent() -> None:
    rng = random.Random(7)
    for _ in range(200):
        updates = [
            {
                f"A{rng.randint(0, 4)}": [
                    (t, t, f"e{t}", "Login") for t in sorted(rng.sample(range(0, 5 * W, W // 3), 3))
                ]
            }
            for _ in range(5)
        ]
        one: dict[str, Any] = {}
        for u in updates:
            one = merge_ip(one, u, W)
        other: dict[str, Any] = {}
        for u in reversed(updates):
            other = merge_ip(other, u, W)
            other = merge_ip(other, u, W)  # redelivered
        assert one == other


def test_visits_coalesce_under_the_window_only() -> None:
    assert merge_account([(0, 0, "a", "Login"), (W - 1, W - 1, "b", "Login")], W) == [(0, W - 1, "a", "Login")]
    assert merge_account([(W, W, "b", "Login"), (0, 0, "a", "Login")], W) == [
        (0, 0, "a", "Login"),
        (W, W, "b", "Login"),
    ]


def test_a_ring_names_the_accounts_of_its_fullest_window() -> None:
    visits = {"A": [(0, 0, "a", "Login")], "B": [(10, 10, "b", "Login")], "C": [(W - 1, W - 1, "c", "Login")]}
    found = {account: peers for account, _, peers in ring_visits(visits, W, 3)}
    assert found == {"A": ["B", "C"], "B": ["A", "C"], "C": ["A", "B"]}
    visits["C"] = [(W, W, "c", "Login")]
    assert ring_visits(visits, W, 3) == []


def test_back_tests_without_explanations_get_bare_earlier_hits() -> None:
    """``explain=False`` leaves reasons and evidence empty on hits of earlier events too."""
    engine = RuleEngine(load_ruleset(), FakeGeo())
    batch = to_columns([decode_event(orjson.dumps(ev("login", 20, "A3", ip="8.8.8.8", device_id="d")))])
    stored = {"A1": [(T0_MS, T0_MS, "a1", "Login")], "A2": [(T0_MS + 1, T0_MS + 1, "a2", "Login")]}
    countries, _ = engine.foreign_ips(batch)
    merged = {"8.8.8.8": merge_ip(stored, engine.ip_updates(batch, countries)["8.8.8.8"], W)}  # as the caller does
    for explain in (True, False):
        hits = [
            h
            for h in engine.evaluate(batch, States.empty(1), ip_accounts=merged, explain=explain).hits
            if h.rule_id == "R6b"
        ]
        assert sorted(h.event_id for h in hits) == ["A3-login-20", "a1", "a2"]
        assert all(bool(h.reason_en) == explain and bool(h.evidence) == explain for h in hits)
