"""Police freeze requests (R13) on fakeredis with an in-memory Kafka: the contract, one alert and
one freeze per request, resends, the rule switched off, an account already on hold, officer actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson
import pytest

from alerts.console.cases import CaseReader, QueueFilter
from alerts.freeze import FreezeRequest, PoliceFreezes
from alerts.holds import AlertStore
from alerts.lifecycle import Actor, HoldLifecycle
from alerts.model import alert_id
from alerts.routing import build_outputs
from rules.config import ActiveRule, Ruleset, load_ruleset, load_ruleset_text
from rules.model import Action, Channel, RuleHit, Severity
from store.keys import Keys
from streams.account_store import RedisAccountStore
from tests.unit.alerts.conftest import T0, Clock, MemoryKafka

AUTHORITY = "Công an TP Hà Nội - PC02"
REQUEST = {
    "request_id": "PC02-2026-000117",
    "account_id": "ACC1",
    "requested_at": "2026-11-28T09:30:00+07:00",
    "authority": AUTHORITY,
    "case_ref": "VV-117/2026",
    "reason": "Tài khoản nhận tiền lừa đảo chiếm đoạt tài sản",
}
RULESET = load_ruleset()  # the shipped rules file: R13 freezes for 720 h by default

K = Keys("t:")


def request(**changes: Any) -> FreezeRequest:
    return msgspec.json.decode(orjson.dumps({**REQUEST, **changes}), type=FreezeRequest)


def r13(yaml_rule: str) -> Ruleset:
    return load_ruleset_text(f"version: test-r13\nrules:\n  R13: {yaml_rule}\n")


# -------------------------------------------------------------- contract -----
def test_a_valid_request_decodes_and_ignores_unknown_fields() -> None:
    req = request(extra_field="from the police system", duration_h=48)
    assert req.request_id == "PC02-2026-000117" and req.authority == AUTHORITY and req.duration_h == 48
    assert req.requested_at == datetime(2026, 11, 28, 2, 30, tzinfo=UTC)
    assert request().duration_h is None


def test_a_naive_request_time_is_rejected() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"timezone.*\$\.requested_at"):
        request(requested_at="2026-11-28T09:30:00")


@pytest.mark.parametrize("missing", ["request_id", "account_id", "requested_at", "authority", "case_ref", "reason"])
def test_every_required_field_is_required(missing: str) -> None:
    data = {k: v for k, v in REQUEST.items() if k != missing}
    with pytest.raises(msgspec.ValidationError, match=f"missing required field `{missing}`"):
        msgspec.json.decode(orjson.dumps(data), type=FreezeRequest)


@pytest.mark.parametrize(
    ("name", "value", "where"),
    [
        ("duration_h", 0, "$.duration_h"),
        ("duration_h", 2161, "$.duration_h"),
        ("duration_h", 1.5, "$.duration_h"),
        ("request_id", "x" * 129, "$.request_id"),
        ("request_id", "", "$.request_id"),
        ("reason", "   ", "$.reason"),
        ("account_id", 970412345678, "$.account_id"),
    ],
)
def test_out_of_bounds_fields_are_rejected(name: str, value: Any, where: str) -> None:
    with pytest.raises(msgspec.ValidationError) as err:
        request(**{name: value})
    assert where in str(err.value)


def test_the_longest_request_id_and_duration_are_accepted() -> None:
    assert request(request_id="x" * 128, duration_h=2160).duration_h == 2160


# -------------------------------------------------------------- applying -----
@pytest.fixture
def freezes(lifecycle: HoldLifecycle) -> PoliceFreezes:
    return PoliceFreezes(lifecycle, "alerts")


def rule(ruleset: Ruleset = RULESET) -> ActiveRule | None:
    return ruleset.rule("R13")


async def test_a_request_gives_one_alert_one_freeze_and_an_audit_record(
    freezes: PoliceFreezes, kafka: MemoryKafka, redis: Any
) -> None:
    result = await freezes.apply(request(), rule(), RULESET.version)

    assert result.status == "applied" and result.alert is not None
    assert [t for t, _, _ in kafka.sent] == ["alerts", "holds", "audit"]
    (alert,) = kafka.on("alerts")
    assert alert["alert_id"] == alert_id("R13", "PC02-2026-000117") == result.alert.alert_id
    assert alert["rule_id"] == "R13" and alert["action"] == "freeze" and alert["severity"] == "critical"
    assert alert["channels"] == ["bank"] and alert["ruleset_version"] == RULESET.version
    assert alert["event_type"] == "FreezeRequest" and alert["event_id"] == "PC02-2026-000117"
    for text in (alert["reason_vi"], alert["reason_en"]):
        assert AUTHORITY in text and "VV-117/2026" in text and "ACC1" in text
    assert "phong tỏa" in alert["reason_vi"] and "freeze" in alert["reason_en"]
    ev = alert["evidence"]
    assert ev["request_id"] == "PC02-2026-000117" and ev["authority"] == AUTHORITY and ev["case_ref"] == "VV-117/2026"
    assert ev["reason"] == REQUEST["reason"] and ev["duration_h"] == 720 and ev["duration_from"] == "rule default"
    assert ev["requested_at"].startswith("2026-11-28T09:30:00")
    (hold,) = kafka.on("holds")
    assert hold["kind"] == "freeze" and hold["status"] == "active" and hold["transition"] == "placed"
    assert hold["hold_id"] == alert["hold_id"] == "H-" + alert["alert_id"].removeprefix("A-")
    assert hold["alert_ids"] == [alert["alert_id"]] and hold["account_id"] == "ACC1"
    assert datetime.fromisoformat(hold["expires_at"]) == T0 + timedelta(hours=720)
    (audit,) = kafka.on("audit")
    assert audit["who"] == AUTHORITY and audit["role"] == "police" and audit["action"] == "police_freeze"
    assert audit["reason"] == f"VV-117/2026: {REQUEST['reason']}" and audit["account_id"] == "ACC1"
    assert audit["after"]["applied"] and audit["after"]["kind"] == "freeze" and "before" not in audit
    # queryable like any hold: one active hold per account, in the expiry index, the alert recorded
    active = (await redis.get(K.account_hold("ACC1"))).decode()
    assert active.startswith(hold["hold_id"] + "|")
    assert await redis.zscore(K.holds_expiry, hold["hold_id"]) == (T0 + timedelta(hours=720)).timestamp()
    stored = await AlertStore(redis, "t:").active_hold("ACC1", T0)
    assert stored is not None and stored.kind == "freeze"
    assert await redis.exists(K.alert(alert["alert_id"])) == 1


async def test_the_request_duration_wins_over_the_default(freezes: PoliceFreezes, kafka: MemoryKafka) -> None:
    await freezes.apply(request(duration_h=48), rule(), RULESET.version)
    (hold,) = kafka.on("holds")
    assert datetime.fromisoformat(hold["expires_at"]) == T0 + timedelta(hours=48)
    assert kafka.on("alerts")[0]["evidence"]["duration_from"] == "request"


async def test_a_resent_request_changes_nothing(
    freezes: PoliceFreezes, kafka: MemoryKafka, redis: Any, clock: Clock
) -> None:
    first = await freezes.apply(request(), rule(), RULESET.version)
    clock.now = T0 + timedelta(minutes=3)
    again = await freezes.apply(request(), rule(), RULESET.version)
    assert first.status == "applied" and again.status == "duplicate" and again.alert is None
    # after the command record is gone (30 days), the alert record still knows the request
    await redis.delete(
        freezes.lc.commands.command_key(Actor(AUTHORITY, "police"), "police_freeze:PC02-2026-000117", system=True)
    )
    later = await freezes.apply(request(reason="gửi lại"), rule(), RULESET.version)
    assert later.status == "duplicate" and later.outcome.note == "request already applied"
    assert [t for t, _, _ in kafka.sent] == ["alerts", "holds", "audit"]


async def test_two_requests_on_one_account_keep_one_freeze_with_the_later_end(
    freezes: PoliceFreezes, kafka: MemoryKafka, clock: Clock
) -> None:
    await freezes.apply(request(duration_h=240), rule(), RULESET.version)
    clock.now = T0 + timedelta(hours=1)
    shorter = await freezes.apply(request(request_id="PC02-2", duration_h=24), rule(), RULESET.version)
    longer = await freezes.apply(request(request_id="PC02-3", duration_h=480), rule(), RULESET.version)
    first_hold = kafka.on("holds")[0]
    assert shorter.status == longer.status == "applied"
    assert len(kafka.on("alerts")) == 3 and len(kafka.on("holds")) == 2  # the shorter one changed nothing
    assert {a["hold_id"] for a in kafka.on("alerts")} == {first_hold["hold_id"]}
    extended = kafka.on("holds")[1]
    assert extended["hold_id"] == first_hold["hold_id"] and extended["transition"] == "frozen"
    assert datetime.fromisoformat(extended["expires_at"]) == clock.now + timedelta(hours=480)
    assert len(extended["alert_ids"]) == 3


async def test_with_r13_disabled_the_request_is_only_audited(
    freezes: PoliceFreezes, kafka: MemoryKafka, redis: Any
) -> None:
    off = r13("{enabled: false, action: freeze, severity: critical, channels: [bank]}")
    result = await freezes.apply(request(), rule(off), off.version)
    assert result.status == "not_applied" and result.alert is None
    assert [t for t, _, _ in kafka.sent] == ["audit"]
    (audit,) = kafka.on("audit")
    assert audit["after"]["applied"] is False and "test-r13" in audit["after"]["note"]
    assert audit["after"]["request"]["case_ref"] == "VV-117/2026"
    assert await redis.get(K.account_hold("ACC1")) is None
    # handled once: the same request after R13 is switched back on stays as it was decided
    assert (await freezes.apply(request(), rule(), RULESET.version)).status == "duplicate"
    assert len(kafka.sent) == 1


async def test_action_alert_gives_the_alert_without_a_freeze(freezes: PoliceFreezes, kafka: MemoryKafka) -> None:
    alert_only = r13("{action: alert, severity: high, channels: [bank, police]}")
    result = await freezes.apply(request(), rule(alert_only), alert_only.version)
    assert result.status == "applied" and result.alert is not None and result.alert.hold_id is None
    assert [t for t, _, _ in kafka.sent] == ["alerts", "police", "audit"]
    (report,) = kafka.on("police")
    assert report["rule_id"] == "R13" and report["account_id"] == "ACC1" and report["reporting_bank"] == "BANK1"
    assert "until" not in kafka.on("alerts")[0]["reason_en"]


def _hit(account: str) -> RuleHit:
    ts_ms = int(T0.timestamp() * 1000) - 60_000
    return RuleHit(
        "R2",
        "otp",
        "v1",
        0,
        f"{account}-e0",
        account,
        ts_ms,
        Action.HOLD,
        Severity.CRITICAL,
        (Channel.BANK,),
        "vi",
        "en",
    )


class _Event(msgspec.Struct):
    event_id: str
    account_id: str
    amount: int = 5_000_000


async def _held(redis: Any, account: str = "ACC1") -> str:
    """A temporary hold placed by the worker on a rule hit, 24 h; returns its id."""
    out = build_outputs(
        [_hit(account)], [_Event(f"{account}-e0", account)], now=T0, bank_code="BANK1", hold_duration_s=86_400
    )
    store = AlertStore(redis, "t:")
    fresh = await store.deduplicate(out, T0)
    pipe = redis.pipeline(transaction=True)
    store.record(pipe, fresh, T0)
    await pipe.execute()
    return fresh.holds[0].hold_id


async def test_a_hold_in_force_becomes_the_freeze(
    freezes: PoliceFreezes, kafka: MemoryKafka, redis: Any, clock: Clock
) -> None:
    hold_id = await _held(redis)
    clock.now = T0 + timedelta(minutes=10)
    result = await freezes.apply(request(), rule(), RULESET.version)

    assert result.status == "applied" and result.alert is not None and result.alert.hold_id == hold_id
    (instruction,) = kafka.on("holds")
    assert instruction["hold_id"] == hold_id and instruction["kind"] == "freeze"
    assert instruction["transition"] == "frozen" and instruction["status"] == "active"
    assert datetime.fromisoformat(instruction["expires_at"]) == clock.now + timedelta(hours=720)
    assert datetime.fromisoformat(instruction["created_at"]) == T0  # the same case, opened by the rule hit
    assert AUTHORITY in instruction["reason_vi"] and len(instruction["alert_ids"]) == 2
    ev = kafka.on("alerts")[0]["evidence"]
    assert ev["previous_hold_id"] == hold_id and ev["previous_hold_kind"] == "hold"
    audit = kafka.on("audit")[0]
    assert audit["before"]["kind"] == "hold" and audit["after"]["kind"] == "freeze"
    stored = await AlertStore(redis, "t:").active_hold("ACC1", clock.now + timedelta(days=2))
    assert stored is not None and stored.hold_id == hold_id and stored.kind == "freeze"
    assert len(stored.alert_ids) == 2
    # the console shows one case, a freeze, with both alerts
    queue = await CaseReader(redis, RedisAccountStore(redis, "t:"), "t:").queue(QueueFilter(), now=clock.now)
    (case,) = queue["cases"]
    assert case["case_id"] == hold_id and case["kind"] == "freeze" and case["rules"] == ["R13", "R2"]


async def test_a_confirmed_fraud_hold_only_gains_the_request(
    freezes: PoliceFreezes, lifecycle: HoldLifecycle, kafka: MemoryKafka, redis: Any
) -> None:
    hold_id = await _held(redis)
    await lifecycle.confirm(hold_id, Actor("lan", "officer"), "mule account", "c1")
    kafka.sent.clear()
    result = await freezes.apply(request(), rule(), RULESET.version)
    assert result.status == "applied" and result.alert is not None and result.alert.hold_id == hold_id
    assert [t for t, _, _ in kafka.sent] == ["alerts", "audit"]  # frozen with no end already
    stored = await lifecycle.store.hold(hold_id)
    assert stored is not None and stored.status == "confirmed" and len(stored.alert_ids) == 2


async def test_an_expired_hold_does_not_count(
    freezes: PoliceFreezes, kafka: MemoryKafka, redis: Any, clock: Clock
) -> None:
    old = await _held(redis)
    clock.now = T0 + timedelta(days=2)  # the 24 h hold has run out, not yet released by the timer
    await freezes.apply(request(), rule(), RULESET.version)
    (instruction,) = kafka.on("holds")
    assert instruction["hold_id"] != old and instruction["transition"] == "placed" and instruction["kind"] == "freeze"


async def test_officer_actions_work_on_a_freeze(
    freezes: PoliceFreezes, lifecycle: HoldLifecycle, kafka: MemoryKafka, redis: Any, clock: Clock
) -> None:
    result = await freezes.apply(request(), rule(), RULESET.version)
    assert result.outcome.hold is not None
    hold_id = result.outcome.hold.hold_id
    lan = Actor("lan", "officer")
    extend = await lifecycle.extend(hold_id, lan, "police asked for more", "c1", hours=24)
    assert not extend.changed and "longest" in extend.note  # 30 days is already past the 4-day cap
    released = await lifecycle.release(hold_id, lan, "police letter lifting the freeze", "c2")
    assert released.changed and released.hold is not None and released.hold.kind == "freeze"
    assert kafka.on("holds")[-1]["status"] == "released" and kafka.on("holds")[-1]["kind"] == "freeze"
    assert await redis.get(K.account_hold("ACC1")) is None
    confirmed = await lifecycle.confirm(hold_id, lan, "fraud confirmed", "c3")
    assert confirmed.changed and kafka.on("holds")[-1]["kind"] == "freeze"
    assert kafka.on("police")[-1]["kind"] == "confirmed_fraud"


async def test_a_freeze_expires_at_its_end(
    freezes: PoliceFreezes, lifecycle: HoldLifecycle, kafka: MemoryKafka, clock: Clock
) -> None:
    await freezes.apply(request(duration_h=2), rule(), RULESET.version)
    clock.now = T0 + timedelta(hours=1)
    assert [o for o in await lifecycle.expire_due() if o.changed] == []
    clock.now = T0 + timedelta(hours=2, seconds=1)
    (expired,) = await lifecycle.expire_due()
    assert expired.changed and kafka.on("holds")[-1]["status"] == "expired"
    assert kafka.on("holds")[-1]["kind"] == "freeze"
