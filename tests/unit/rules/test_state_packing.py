"""State after a batch packs to its records and back unchanged (no numpy scalars leak into it)."""

from __future__ import annotations

from loadtest.bank_traffic import Generator
from rules.config import load_ruleset
from rules.engine import RuleEngine
from rules.geo import load_geoip
from rules.state import States
from rules.state_codec import STATE_CODEC
from streams.codec import decode_records


def test_states_after_generated_traffic_round_trip_through_msgpack() -> None:
    records = list(Generator(seed=3, n_accounts=200, scenario_every=50).take(5_000))
    decoded = decode_records([v for _, v in records], [k for k, _ in records])
    evaluation = RuleEngine(load_ruleset(), load_geoip()).evaluate(
        decoded.batch, States.empty(len(decoded.batch.accounts))
    )
    states = [s for s in evaluation.states if s is not None]
    assert len(states) == len(evaluation.states)
    assert any(s.otp_confirmed for s in states)
    assert any(s.inflow_ms and len(s.inflow_ms) == len(s.inflow_from) for s in states)  # R8's inflows
    again = STATE_CODEC.decode(STATE_CODEC.encode(evaluation.states))
    assert list(again) == list(evaluation.states)
