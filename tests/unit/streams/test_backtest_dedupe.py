"""The back-test drops a hit exactly when the worker would: by the hit's alert id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from alerts.routing import build_outputs, hit_alert_id
from rules.columns import EventBatch
from rules.config import load_ruleset
from rules.engine import RuleEngine
from streams.account_store import MemoryAccountStore
from streams.backtest import InMemory
from streams.codec import to_columns
from streams.events import decode_event
from tests.unit.rules.conftest import FakeGeo, transfer

LISTED = "0011"  # the payee of ``conftest.transfer``


def _batch(events: list[dict[str, Any]]) -> EventBatch:
    return to_columns([decode_event(orjson.dumps(e)) for e in events])


def test_one_event_id_on_two_accounts_is_alerted_on_both_as_the_worker_does() -> None:
    # event_id is unique per account only: two accounts' transfers may share one (the two
    # legs of an intra-bank transfer do), and the worker's alert ids name the account.
    store = InMemory(RuleEngine(load_ruleset(), FakeGeo()), frozenset({LISTED}))
    events = [transfer(10, account=a, event_id="ref-1", ip="14.1.1.1") for a in ("A", "B")]
    result = store.judge(_batch(events))
    hits = result.hits
    r7 = sorted(h.account_id for h in hits if h.rule_id == "R7" and h.event_id == "ref-1")
    assert r7 == ["A", "B"]
    now = datetime(2026, 12, 1, tzinfo=UTC)
    alerts = build_outputs(hits, result.batch.events, now=now, bank_code="B", hold_duration_s=60).alerts
    assert sorted(hit_alert_id(h) for h in hits) == sorted(a.alert_id for a in alerts)


def test_a_hit_raised_before_is_not_raised_again() -> None:
    store = InMemory(RuleEngine(load_ruleset(), FakeGeo()), frozenset({LISTED}))
    first = store.judge(_batch([transfer(10, account="A", event_id="ref-1", ip="14.1.1.1")])).hits
    assert [h.rule_id for h in first if h.rule_id == "R7"] == ["R7"]
    # the same event again, as a batch redelivered to a worker whose state write was lost
    store.store = MemoryAccountStore(suspicious=frozenset({LISTED}))  # every state lost
    again = store.judge(_batch([transfer(10, account="A", event_id="ref-1", ip="14.1.1.1")])).hits
    assert [h for h in again if h.rule_id == "R7"] == []
