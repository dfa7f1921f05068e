"""The independent generator: deterministic, labelled by intent, in the event contract, and
independent of the rules (no import of ``rules``, no threshold read from it)."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import orjson

from loadtest.quality.generate import START_2026_11_02, generate, incident_start_ms
from loadtest.quality.people import CALL_CENTRE_NETS
from loadtest.quality.scoring import agreement, rules_behind, score
from loadtest.quality.typologies import TYPOLOGIES
from streams.events import decode_event

PACKAGE = Path(__file__).resolve().parents[3] / "loadtest" / "quality"


def test_same_seed_same_events_other_seed_other_events() -> None:
    first, labels = generate(120, seed=5, start_ms=START_2026_11_02)
    again, labels_again = generate(120, seed=5, start_ms=START_2026_11_02)
    other, _ = generate(120, seed=6, start_ms=START_2026_11_02)
    assert first == again and labels == labels_again
    assert first != other


def test_every_typology_is_played_and_labelled_by_intent() -> None:
    events, accounts = generate(300, seed=2, start_ms=START_2026_11_02)
    assert set(Counter(a["typology"] for a in accounts.values())) == set(TYPOLOGIES)
    assert all(a["intent"] == TYPOLOGIES[a["typology"]].intent for a in accounts.values())
    assert {a["intent"] for a in accounts.values()} == {"hold", "alert", "none"}
    assert all("label" not in e for e in events)  # intent is per account, never a rule id on an event
    assert {e["account_id"] for e in events} == set(accounts)


def test_events_follow_the_contract_in_time_order_with_two_legged_references() -> None:
    events, _ = generate(200, seed=3, start_ms=START_2026_11_02)
    decoded = [decode_event(orjson.dumps(e)) for e in events]  # raises on any contract breach
    assert [d.ts for d in decoded] == sorted(d.ts for d in decoded)
    assert decoded[0].ts.timestamp() * 1000 >= START_2026_11_02
    legs: dict[str, list[str]] = {}
    for e in events:
        legs.setdefault(e["event_id"], []).append(e["type"])
    two = [sorted(v) for v in legs.values() if len(v) > 1]
    assert len({(e["account_id"], e["event_id"]) for e in events}) == len(events)  # nothing sent twice
    assert two and all(v == ["incoming_transfer", "transfer"] for v in two)
    # the week of history comes before every incident: nothing from the call centres before it
    start = incident_start_ms(START_2026_11_02)
    foreign_crime = [d for d in decoded if (d.ip or "").startswith(CALL_CENTRE_NETS)]
    assert foreign_crime and min(d.ts.timestamp() * 1000 for d in foreign_crime) >= start


def test_the_generator_never_reads_the_rules() -> None:
    for name in ("people.py", "typologies.py", "generate.py"):
        tree = ast.parse((PACKAGE / name).read_text(encoding="utf-8"))
        imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert imported and not [
            m for m in imported if m.startswith(("rules", "streams", "loadtest.fraud", "loadtest.bank"))
        ]


def test_scoring_counts_incident_days_only_and_compares_decisions() -> None:
    accounts = {"H": {"typology": "sim_swap", "intent": "hold"}, "N": {"typology": "retail", "intent": "none"}}
    t = incident_start_ms(START_2026_11_02)
    decisions = [("H", "e1", "R12", "hold", t + 5), ("N", "e2", "R3", "hold", t - 1), ("N", "e3", "R10", "alert", t)]
    rows = {r.typology: r for r in score(accounts, decisions, t)}
    assert rows["sim_swap"].hold_recall == 1.0 and rows["retail"].false_holds == 0
    assert agreement(decisions, decisions[:2]) == (2, 1, 0)


def test_a_hold_on_a_scam_victim_after_paying_a_mule_is_protective_not_false() -> None:
    t = incident_start_ms(START_2026_11_02)
    accounts = {
        "V": {"typology": "retail", "intent": "none", "scammed_from_ms": t + 100},
        "W": {"typology": "retail", "intent": "none", "scammed_from_ms": t + 100},
    }
    before = [("V", "e1", "R15", "hold", t + 99)]  # held before any payment to a mule: false
    after = [("W", "e2", "R15", "hold", t + 100)]
    [row] = [r for r in score(accounts, before + after, t) if r.typology == "retail"]
    assert (row.false_holds, row.protective) == (1, 1)
    assert rules_behind(accounts, before + after, t) == "R15 on retail (1)"


def test_victims_are_the_customers_who_paid_a_mule() -> None:
    events, manifest = generate(300, 5, START_2026_11_02)
    found = {a for a, m in manifest.items() if "scammed_from_ms" in m}
    assert found and all(manifest[a]["intent"] == "none" for a in found)
    mules = {a for a, m in manifest.items() if m["typology"] in ("rented_mule", "call_centre")}
    paid = {e["account_id"] for e in events if e["type"] == "transfer" and e.get("dest_account") in mules}
    assert found <= paid
