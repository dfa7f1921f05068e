"""Each remembered fact is one object (``rules.facts``): it owns its stored fields, and its
``advance`` changes those and nothing else, so the facts can advance in any order."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from rules.engine import batch_money_ids
from rules.features import FACTS, BatchContext, advance_states
from rules.state import FIELDS, States
from rules.state_codec import STATE_CODEC
from streams.codec import decode_records
from tests.unit.rules.test_batch_splits import SCENARIOS, _random_scenario
from tests.unit.rules.test_rules import ENGINE, LISTED

CASES = [(name, events) for name, events in SCENARIOS] + [(f"random {s}", _random_scenario(s)) for s in range(40)]


def test_every_stored_field_has_exactly_one_fact() -> None:
    owners: dict[str, list[str]] = {}
    for fact in FACTS:
        for name in fact.STORED:
            owners.setdefault(name, []).append(fact.__name__)
    assert {n: o for n, o in owners.items() if len(o) > 1} == {}
    assert set(owners) == set(FIELDS)


def test_every_fact_advances_its_own_fields() -> None:
    assert all("advance" in vars(fact) for fact in FACTS)


def _context(events: list[dict[str, Any]]) -> tuple[BatchContext, list[bytes | None]]:
    """The second half of ``events`` as a batch, over the states the first half left behind."""
    half = len(events) // 2
    store: dict[str, bytes] = {}
    for part in (events[:half], events[half:]):
        batch = decode_records([orjson.dumps(e) for e in part], None).batch
        packed = [store.get(a) for a in batch.accounts]
        states = STATE_CODEC.decode(packed)
        listed = np.fromiter((d in LISTED for d in batch.dest or ()), np.bool_, len(batch))
        countries, _ = ENGINE.foreign_ips(batch)
        ctx = BatchContext(
            batch, states, countries, ENGINE.ruleset.home_countries, listed, money_ids=batch_money_ids(batch)
        )
        if part is events[:half]:
            store.update(zip(batch.accounts, STATE_CODEC.encode(advance_states(ctx)), strict=True))
    return ctx, packed


def _fresh(ctx: BatchContext, packed: list[bytes | None]) -> BatchContext:
    """The same batch over its own copies of the states (``advance`` changes the lists in place)."""
    return BatchContext(
        ctx.batch,
        STATE_CODEC.decode(packed),
        ctx.countries,
        ctx.home_countries,
        ctx.counterparty_listed,
        money_ids=ctx.money_ids,
    )


@pytest.mark.parametrize(("name", "events"), CASES, ids=[c[0] for c in CASES])
def test_a_fact_changes_only_what_it_owns(name: str, events: list[dict[str, Any]]) -> None:
    ctx, packed = _context(events)
    before = list(STATE_CODEC.decode(packed).advanced())
    for fact in FACTS:
        mine = _fresh(ctx, packed)
        new = mine.states.advanced()
        vars(fact)["advance"](mine, new)
        changed = {f for old, s in zip(before, new, strict=True) for f in FIELDS if getattr(old, f) != getattr(s, f)}
        assert changed <= set(fact.STORED), (fact.__name__, changed - set(fact.STORED))


@pytest.mark.parametrize(("name", "events"), CASES, ids=[c[0] for c in CASES])
def test_the_order_of_the_facts_does_not_matter(name: str, events: list[dict[str, Any]]) -> None:
    ctx, packed = _context(events)
    forward = STATE_CODEC.encode(advance_states(_fresh(ctx, packed)))
    backward_ctx = _fresh(ctx, packed)
    new = backward_ctx.states.advanced()
    for fact in reversed(FACTS):
        vars(fact)["advance"](backward_ctx, new)
    assert STATE_CODEC.encode(new) == forward


def test_engine_timings_cover_every_rule_and_fact_and_decide_nothing() -> None:
    events = [event for _, scenario in CASES[:4] for event in scenario]
    batch = decode_records([orjson.dumps(e) for e in events], None).batch
    plain = ENGINE.evaluate(batch, States.empty(len(batch.accounts)))
    timings: dict[str, float] = {}
    ENGINE.timings = timings
    try:
        timed = ENGINE.evaluate(batch, States.empty(len(batch.accounts)))
    finally:
        ENGINE.timings = None
    assert [(h.rule_id, h.event_id, h.action) for h in timed.hits] == [
        (h.rule_id, h.event_id, h.action) for h in plain.hits
    ]
    rules = {f"rule:{r.definition.id}" for r in ENGINE.ruleset.rules if r.definition.evaluate is not None}
    facts = {f"fact:{f.__name__}" for f in FACTS}
    assert set(timings) == rules | facts | {"engine:prepare"}
    assert all(v >= 0 for v in timings.values())
