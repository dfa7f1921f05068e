"""Per-rule outcomes (hit / no hit / error) kept with the evaluation, and a failing rule made
visible on the alert path instead of silently passed (issue 12 point 8)."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from alerts.routing import build_outputs, utc_now
from rules.config import load_ruleset
from rules.engine import RuleEngine
from rules.model import Outcome
from rules.registry import RuleResult
from rules.state import States
from streams.codec import to_columns
from streams.events import decode_event
from tests.unit.rules.conftest import FakeGeo, ev, onboarded, transfer


def _batch(events: list[dict[str, Any]]) -> Any:
    return to_columns([decode_event(orjson.dumps(e)) for e in events])


def _engine_where_r3(evaluate: Any) -> RuleEngine:
    ruleset = load_ruleset()
    rules = tuple(
        dataclasses.replace(r, definition=dataclasses.replace(r.definition, evaluate=evaluate))
        if r.definition.id == "R3"
        else r
        for r in ruleset.rules
    )
    return RuleEngine(dataclasses.replace(ruleset, rules=rules), FakeGeo())


EVENTS = [*onboarded(), transfer(50, device="stranger"), *onboarded(account="B")]


def test_every_rule_has_an_outcome() -> None:
    result = RuleEngine(load_ruleset(), FakeGeo()).evaluate(_batch(EVENTS), States.empty(2))
    outcomes = {e.rule_id: e for e in result.executions}
    judged = [r.definition.id for r in load_ruleset().rules if r.definition.evaluate is not None]
    assert list(outcomes) == judged
    assert outcomes["R3"].outcome is Outcome.HIT and outcomes["R3"].hits == 1
    assert outcomes["R7"].outcome is Outcome.NO_HIT and outcomes["R7"].hits == 0
    assert result.errors == {}


def _boom(ctx: Any, params: Any) -> RuleResult:
    raise ZeroDivisionError("division by zero")


def _fails_explaining(ctx: Any, params: Any) -> RuleResult:
    def explain(row: int) -> tuple[str, str, dict[str, Any]]:
        raise KeyError(row)

    return RuleResult(hit=ctx.is_transfer, escalated=None, explain=explain)


@pytest.mark.parametrize("evaluate", [_boom, _fails_explaining], ids=["raises", "raises half-way"])
def test_a_failing_rule_is_an_outcome_and_an_alert_per_account(evaluate: Any) -> None:
    batch = _batch(EVENTS)
    result = _engine_where_r3(evaluate).evaluate(batch, States.empty(2))
    [r3] = [e for e in result.executions if e.rule_id == "R3"]
    assert r3.outcome is Outcome.ERROR and r3.error and r3.hits == 0
    assert set(result.errors) == {"R3"}
    errors = [h for h in result.hits if h.rule_id == "R3:error"]
    assert not [h for h in result.hits if h.rule_id == "R3"]  # nothing half-decided
    assert sorted((h.account_id, h.event_id, h.evidence["events_not_judged"]) for h in errors) == [
        ("A", EVENTS[3]["event_id"], 4),
        ("B", EVENTS[-1]["event_id"], 3),
    ]
    assert {str(h.action) for h in errors} == {"alert"} and "R3" in errors[0].reason_en
    # the other rules still decided, and the state still advanced past the batch
    assert {e.rule_id for e in result.executions if e.outcome is Outcome.ERROR} == {"R3"}
    state = result.states[0]
    assert state is not None and state.last_transfer_device == "stranger"
    out = build_outputs(result.hits, result.batch.events, now=utc_now(), bank_code="970400", hold_duration_s=60)
    alerts = [a for a in out.alerts if a.rule_id == "R3:error"]
    assert len(alerts) == 2 and all(a.alert_id.startswith("A-R3:error-") for a in alerts)
    assert not [h for h in out.holds if any("R3:error" in a for a in h.alert_ids)]


def test_an_error_alert_never_takes_the_id_of_the_rules_own_alert() -> None:
    batch = _batch([*onboarded(), ev("login", 40, device_id="x"), transfer(50, device="stranger")])
    failed = _engine_where_r3(_boom).evaluate(batch, States.empty(1))
    fine = RuleEngine(load_ruleset(), FakeGeo()).evaluate(batch, States.empty(1))
    now = utc_now()
    ids_failed = {
        a.alert_id for a in build_outputs(failed.hits, batch.events, now=now, bank_code="", hold_duration_s=1).alerts
    }
    ids_fine = {
        a.alert_id for a in build_outputs(fine.hits, batch.events, now=now, bank_code="", hold_duration_s=1).alerts
    }
    assert any(i.startswith("A-R3-") for i in ids_fine) and not any(i.startswith("A-R3-") for i in ids_failed)
    assert ids_failed.isdisjoint(i for i in ids_fine if i.startswith("A-R3-"))
