"""Hold lifecycle and officer actions on fakeredis with an in-memory Kafka: state, topics, audit, idempotence."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import fakeredis
import msgspec
import orjson
import pytest

from alerts.audit import AuditTrail
from alerts.holds import AlertStore
from alerts.lifecycle import SYSTEM, Actor, Conflict, HoldLifecycle, NotFound
from alerts.model import HoldInstruction
from alerts.outbox import Outbox
from alerts.routing import Outputs, build_outputs
from rules.model import Action, Channel, RuleHit, Severity
from store.keys import Keys
from streams.lists import SuspiciousList, decode_update
from tests.unit.alerts.conftest import T0, TOPICS, Clock, MemoryKafka

LAN = Actor("lan", "officer")

K = Keys("t:")


class Transfer(msgspec.Struct):
    event_id: str
    account_id: str
    amount: int = 45_000_000
    dest_account: str = "0011223344"
    dest_bank: str = "VCB"
    description: str = "ten nguoi nhan"
    ip: str = "8.8.8.8"
    device_id: str = "phone-2"


def hit(rule: str, row: int, account: str, action: Action, police: bool, severity: Severity = Severity.HIGH) -> RuleHit:
    channels = (Channel.BANK, Channel.POLICE) if police else (Channel.BANK,)
    evidence = {"ip_country": "US", "biometric_match_on_device": False, "amount_vnd": 45_000_000}
    ts_ms, vi, en = int(T0.timestamp() * 1000) - 60_000, f"lý do {rule}", f"reason {rule}"
    return RuleHit(
        rule, rule.lower(), "v1", row, f"{account}-e{row}", account, ts_ms, action, severity, channels, vi, en, evidence
    )


async def seed(redis: Any, hits: list[RuleHit], now: datetime = T0) -> Outputs:
    """Alerts and holds written exactly as the worker writes them (``hits`` rows index their events)."""
    out = build_outputs(
        hits, [Transfer(h.event_id, h.account_id) for h in hits], now=now, bank_code="BANK1", hold_duration_s=86_400
    )
    store, pipe = AlertStore(redis, "t:"), redis.pipeline(transaction=True)
    fresh = await store.deduplicate(out, now)
    store.record(pipe, fresh, now)
    await pipe.execute()
    return fresh


@pytest.fixture
async def held(redis: Any) -> HoldInstruction:
    out = await seed(redis, [hit("R2", 0, "ACC1", Action.HOLD, police=True), hit("R3", 1, "ACC1", Action.HOLD, False)])
    return out.holds[0]


async def test_release_writes_redis_publishes_the_transition_and_audits_it(
    lifecycle: HoldLifecycle, kafka: MemoryKafka, redis: Any, held: HoldInstruction, clock: Clock
) -> None:
    clock.now = T0 + timedelta(minutes=5)
    outcome = await lifecycle.release(held.hold_id, LAN, "customer confirmed by phone", "cmd-1")

    assert outcome.changed and outcome.delivered and outcome.hold is not None and outcome.hold.status == "released"
    stored = await lifecycle.store.hold(held.hold_id)
    assert stored is not None and stored.status == "released" and stored.updated_by == "lan"
    assert await redis.get(K.account_hold("ACC1")) is None
    assert await redis.zscore(K.holds_expiry, held.hold_id) is None
    assert [t for t, _, _ in kafka.sent] == ["holds", "audit"]
    (instruction,) = kafka.on("holds")
    assert instruction["status"] == "released" and instruction["transition"] == "released"
    assert instruction["account_id"] == "ACC1" and len(instruction["alert_ids"]) == 2
    (audit,) = kafka.on("audit")
    assert audit["who"] == "lan" and audit["role"] == "officer" and audit["action"] == "release"
    assert audit["reason"] == "customer confirmed by phone" and audit["command_id"] == "cmd-1"
    assert audit["when"].startswith("2026-11-28T10:05") and audit["when"].endswith("+07:00")
    assert audit["before"]["status"] == "active" and audit["after"]["status"] == "released"
    assert audit["account_id"] == "ACC1" and audit["subject"] == held.hold_id
    assert await lifecycle.outbox.pending() == 0


async def test_the_same_command_twice_changes_nothing_the_second_time(
    lifecycle: HoldLifecycle, kafka: MemoryKafka, held: HoldInstruction
) -> None:
    first = await lifecycle.release(held.hold_id, LAN, "false positive", "cmd-1")
    again = await lifecycle.release(held.hold_id, LAN, "false positive", "cmd-1")
    other_id = await lifecycle.release(held.hold_id, Actor("minh", "officer"), "also false positive", "cmd-2")
    assert first.changed and not again.changed and not other_id.changed
    assert again.note == "same command seen before" and other_id.note == "already released"
    assert len(kafka.sent) == 2  # one transition, one audit record
    assert len(await lifecycle.audit.recent()) == 1


async def test_a_command_id_cannot_be_reused_for_another_command(
    lifecycle: HoldLifecycle, held: HoldInstruction
) -> None:
    await lifecycle.extend(held.hold_id, LAN, "waiting for the customer", "cmd-1", hours=12)
    with pytest.raises(Conflict, match="already used for extend"):
        await lifecycle.release(held.hold_id, LAN, "false positive", "cmd-1")


async def test_confirm_freezes_and_reports_confirmed_fraud_to_the_police_once(
    lifecycle: HoldLifecycle, kafka: MemoryKafka, redis: Any, held: HoldInstruction
) -> None:
    outcome = await lifecycle.confirm(held.hold_id, LAN, "customer says the phone was stolen", "cmd-9")
    assert outcome.hold is not None and outcome.hold.status == "confirmed"
    assert [t for t, _, _ in kafka.sent] == ["holds", "police", "audit"]
    (report,) = kafka.on("police")
    assert report["kind"] == "confirmed_fraud" and report["idempotency_key"] == f"BANK1:{held.hold_id}:confirmed_fraud"
    assert report["hold_id"] == held.hold_id and report["account_id"] == "ACC1" and report["amount_vnd"] == 45_000_000
    assert report["counterparty_account"] == "0011223344" and report["ip"] == "8.8.8.8" and report["rule_id"] == "R2"
    assert "ten nguoi nhan" not in str(report) and "customer says" not in str(report)  # no free text to the police
    frozen = (await redis.get(K.account_hold("ACC1"))).decode()
    assert frozen.startswith(f"{held.hold_id}|") and int(frozen.split("|")[1]) > 2**47  # no end
    assert kafka.on("audit")[0]["after"]["police_report"] == report["report_id"]

    again = await lifecycle.confirm(held.hold_id, Actor("minh", "supervisor"), "confirming again", "cmd-10")
    assert not again.changed and len(kafka.on("police")) == 1


async def test_fraud_found_after_a_release_can_still_be_confirmed(
    lifecycle: HoldLifecycle, kafka: MemoryKafka, held: HoldInstruction
) -> None:
    await lifecycle.release(held.hold_id, LAN, "looked fine", "c1")
    outcome = await lifecycle.confirm(held.hold_id, LAN, "police called: mule account", "c2")
    assert outcome.changed and [h["status"] for h in kafka.on("holds")] == ["released", "confirmed"]


@pytest.mark.parametrize(
    ("first", "then"), [("confirm", "release"), ("confirm", "extend"), ("release", "extend"), ("release", "expire")]
)
async def test_transitions_out_of_a_decided_hold_are_refused(
    lifecycle: HoldLifecycle, held: HoldInstruction, clock: Clock, first: str, then: str
) -> None:
    await getattr(lifecycle, first)(held.hold_id, LAN, "decided", "c1")
    clock.now = T0 + timedelta(days=3)
    with pytest.raises(Conflict, match="cannot be"):
        if then == "extend":
            await lifecycle.extend(held.hold_id, LAN, "more time", "c2", hours=24)
        elif then == "expire":
            await lifecycle._transition(held.hold_id, "expire", SYSTEM, "due", "c2")
        else:
            await getattr(lifecycle, then)(held.hold_id, LAN, "undo", "c2")


async def test_extend_moves_the_expiry_and_stops_at_the_longest_hold(
    lifecycle: HoldLifecycle, kafka: MemoryKafka, redis: Any, held: HoldInstruction
) -> None:
    first = await lifecycle.extend(held.hold_id, LAN, "customer unreachable", "c1", hours=24)
    assert first.hold is not None and first.hold.status == "extended"
    assert first.hold.expires_at.startswith("2026-11-30T10:00")  # 24 h after the original 24 h
    assert await redis.zscore(K.holds_expiry, held.hold_id) == (T0 + timedelta(days=2)).timestamp()
    assert (
        (await redis.get(K.account_hold("ACC1")))
        .decode()
        .endswith(str(int((T0 + timedelta(days=2)).timestamp() * 1000)))
    )
    for i in range(4):
        await lifecycle.extend(held.hold_id, LAN, "still unreachable", f"c-more-{i}", hours=72)
    last = await lifecycle.store.hold(held.hold_id)
    assert last is not None and last.expires_at.startswith("2026-12-02T10:00")  # 4 days after placement
    capped = await lifecycle.extend(held.hold_id, LAN, "one more day", "c-cap", hours=24)
    assert not capped.changed and "longest" in capped.note
    with pytest.raises(ValueError, match="1 to 72"):
        await lifecycle.extend(held.hold_id, LAN, "a week", "c-week", hours=168)


async def test_due_holds_expire_once_even_when_two_workers_run_the_timer(
    redis: Any, kafka: MemoryKafka, clock: Clock, held: HoldInstruction
) -> None:
    a = HoldLifecycle(redis, kafka, TOPICS, prefix="t:", clock=clock)
    b = HoldLifecycle(redis, kafka, TOPICS, prefix="t:", clock=clock)
    assert await a.expire_due() == []  # not due yet
    clock.now = T0 + timedelta(hours=24, seconds=1)
    outcomes = [o for batch in await asyncio.gather(a.expire_due(), b.expire_due()) for o in batch]
    assert sum(o.changed for o in outcomes) == 1
    assert [h["status"] for h in kafka.on("holds")] == ["expired"]
    (audit,) = kafka.on("audit")
    assert audit["who"] == "txmon" and audit["role"] == "system" and audit["action"] == "expire"
    assert await redis.get(K.account_hold("ACC1")) is None and await a.expire_due() == []


async def test_an_extended_hold_expires_at_its_new_time(
    lifecycle: HoldLifecycle, kafka: MemoryKafka, clock: Clock, held: HoldInstruction
) -> None:
    await lifecycle.extend(held.hold_id, LAN, "need a callback", "c1", hours=12)
    clock.now = T0 + timedelta(hours=25)
    assert [o.changed for o in await lifecycle.expire_due()] == []
    clock.now = T0 + timedelta(hours=36, seconds=1)
    assert [o.changed for o in await lifecycle.expire_due()] == [True]


async def test_racing_commands_change_a_hold_once(
    lifecycle: HoldLifecycle, kafka: MemoryKafka, held: HoldInstruction, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = lifecycle.store.hold

    async def slow_read(hold_id: str) -> HoldInstruction | None:
        hold = await read(hold_id)
        await asyncio.sleep(0.01)  # every racer reads "active" before any of them writes
        return hold

    monkeypatch.setattr(lifecycle.store, "hold", slow_read)
    outcomes = await asyncio.gather(
        *(lifecycle.release(held.hold_id, Actor(f"o{i}", "officer"), "fp", f"race-{i}") for i in range(5))
    )
    assert sum(o.changed for o in outcomes) == 1 and len(kafka.on("holds")) == 1
    assert sorted(o.note for o in outcomes) == ["", *["already released"] * 4]


async def test_a_kafka_outage_leaves_the_messages_in_the_outbox_until_a_flush(
    lifecycle: HoldLifecycle, kafka: MemoryKafka, held: HoldInstruction
) -> None:
    kafka.down = True
    outcome = await lifecycle.confirm(held.hold_id, LAN, "fraud", "c1")
    assert outcome.changed and not outcome.delivered and kafka.sent == []
    assert (await lifecycle.store.hold(held.hold_id)).status == "confirmed"  # type: ignore[union-attr]
    assert await lifecycle.outbox.pending() == 3
    with pytest.raises(ConnectionError):
        await lifecycle.flush_outbox()
    kafka.down = False
    assert await lifecycle.flush_outbox() == 3
    assert [t for t, _, _ in kafka.sent] == ["holds", "police", "audit"]  # in the order they were made
    assert await lifecycle.outbox.pending() == 0 and await lifecycle.flush_outbox() == 0


async def test_an_outbox_without_a_publisher_stages_for_the_next_flush(
    redis: Any, lifecycle: HoldLifecycle, kafka: MemoryKafka
) -> None:
    trail = AuditTrail(redis, Outbox(redis, None, "t:"), "audit", "t:")
    record = lifecycle.commands.record(SYSTEM, "user_create", "lan", "first supervisor", "cli-1", T0, None)
    pipe = redis.pipeline(transaction=True)
    trail.stage(pipe, record)
    await pipe.execute()
    with pytest.raises(RuntimeError, match="only stages"):
        await trail.outbox.deliver([])
    assert await lifecycle.flush_outbox() == 1 and kafka.on("audit")[0]["subject"] == "lan"


async def test_escalate_reports_bank_only_alerts_to_the_police_once(
    lifecycle: HoldLifecycle, kafka: MemoryKafka, redis: Any
) -> None:
    out = await seed(redis, [hit("R10", 0, "ACC2", Action.ALERT, police=False, severity=Severity.MEDIUM)])
    alert_id = out.alerts[0].alert_id
    outcome = await lifecycle.escalate(alert_id, LAN, "pattern matches a known mule ring", "c1")
    assert outcome.changed and [r.report_id for r in outcome.reports] == [alert_id]
    (report,) = kafka.on("police")
    assert report["kind"] == "rule_hit" and report["idempotency_key"] == f"BANK1:{alert_id}"
    assert (await redis.hget(K.case_status, alert_id)) == b"escalated"
    again = await lifecycle.escalate(alert_id, LAN, "again", "c2")
    assert not again.changed and len(kafka.on("police")) == 1


async def test_escalating_a_hold_whose_alerts_went_to_the_police_already_changes_nothing(
    lifecycle: HoldLifecycle, kafka: MemoryKafka, redis: Any
) -> None:
    out = await seed(redis, [hit("R2", 0, "ACC1", Action.HOLD, police=True)])
    outcome = await lifecycle.escalate(out.holds[0].hold_id, LAN, "to be sure", "c1")
    assert not outcome.changed and outcome.note == "already on the police channel" and kafka.sent == []


async def test_dismiss_closes_an_alert_without_a_hold_only(
    lifecycle: HoldLifecycle, kafka: MemoryKafka, redis: Any, held: HoldInstruction
) -> None:
    out = await seed(redis, [hit("R10", 0, "ACC2", Action.ALERT, police=False)])
    done = await lifecycle.dismiss(out.alerts[0].alert_id, LAN, "salary day", "c1")
    assert done.changed and kafka.on("audit")[0]["after"] == {"status": "dismissed"}
    assert not (await lifecycle.dismiss(out.alerts[0].alert_id, LAN, "salary day", "c2")).changed
    with pytest.raises(Conflict, match="release the hold instead"):
        await lifecycle.dismiss(held.alert_ids[0], LAN, "fp", "c3")


async def test_suspicious_list_add_and_remove_are_published_and_audited(
    lifecycle: HoldLifecycle, kafka: MemoryKafka, redis: Any
) -> None:
    added = await lifecycle.set_suspicious("0099887766", LAN, "reported by VCB", "c1", listed=True)
    assert added.changed and not (await lifecycle.set_suspicious("0099887766", LAN, "dup", "c2", listed=True)).changed
    assert await redis.sismember(K.suspicious, "0099887766")  # the set R7 looks payees up in
    assert [(e.account_id, e.reason, e.by) for e in await lifecycle.suspicious()] == [
        ("0099887766", "reported by VCB", "lan")
    ]
    removed = await lifecycle.set_suspicious("0099887766", LAN, "cleared by police", "c3", listed=False)
    assert (
        removed.changed and await lifecycle.suspicious() == [] and not await redis.sismember(K.suspicious, "0099887766")
    )
    assert [(e["account_id"], e["action"], e["by"], e["source"]) for e in kafka.on("suspicious")] == [
        ("0099887766", "add", "lan", "bank:BANK1"),
        ("0099887766", "remove", "lan", "bank:BANK1"),
    ]
    assert [a["action"] for a in kafka.on("audit")] == ["suspicious_add", "suspicious_remove"]
    assert [k for t, k, _ in kafka.sent if t == "suspicious"] == ["0099887766", "0099887766"]


async def test_officer_list_updates_are_what_the_workers_apply(lifecycle: HoldLifecycle, kafka: MemoryKafka) -> None:
    await lifecycle.set_suspicious("0011", LAN, "mule", "c1", listed=True)
    await lifecycle.set_suspicious("0022", LAN, "mule", "c2", listed=True)
    await lifecycle.set_suspicious("0011", LAN, "cleared", "c3", listed=False)
    worker_redis = fakeredis.aioredis.FakeRedis()
    listed = SuspiciousList(worker_redis, "w:")
    await listed.apply(decode_update(orjson.dumps(v)) for v in kafka.on("suspicious"))
    assert await worker_redis.smembers(Keys("w:").suspicious) == {b"0022"}


async def test_unknown_holds_and_alerts_are_not_found_and_reasons_are_required(
    lifecycle: HoldLifecycle, held: HoldInstruction
) -> None:
    with pytest.raises(NotFound):
        await lifecycle.release("H-nope", LAN, "fp", "c1")
    with pytest.raises(NotFound):
        await lifecycle.escalate("A-nope", LAN, "fp", "c2")
    with pytest.raises(ValueError, match="needs a reason"):
        await lifecycle.release(held.hold_id, LAN, "   ", "c3")
    assert (await lifecycle.store.hold(held.hold_id)).status == "active"  # type: ignore[union-attr]


async def test_audit_trail_reads_newest_first_with_filters(lifecycle: HoldLifecycle, held: HoldInstruction) -> None:
    await lifecycle.extend(held.hold_id, LAN, "wait", "c1", hours=12)
    await lifecycle.set_suspicious("0099", Actor("minh", "supervisor"), "list it", "c2", listed=True)
    await lifecycle.release(held.hold_id, LAN, "fp", "c3")
    assert [r.action for r in await lifecycle.audit.recent()] == ["release", "suspicious_add", "extend"]
    assert [r.action for r in await lifecycle.audit.recent(who="minh")] == ["suspicious_add"]
    assert [r.action for r in await lifecycle.audit.recent(account_id="ACC1")] == ["release", "extend"]
    assert [r.command_id for r in await lifecycle.audit.recent(action="extend")] == ["c1"]


async def test_version_changes_with_new_alerts_and_with_commands(
    lifecycle: HoldLifecycle, redis: Any, held: HoldInstruction
) -> None:
    v0 = await lifecycle.version()
    await seed(redis, [hit("R10", 0, "ACC2", Action.ALERT, police=False)], now=T0 + timedelta(seconds=1))
    v1 = await lifecycle.version()
    await lifecycle.release(held.hold_id, LAN, "fp", "c1")
    assert len({v0, v1, await lifecycle.version()}) == 3
