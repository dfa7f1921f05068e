"""Alert and hold records in Redis (fakeredis): deduplication, one active hold per account, read-back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import fakeredis
import msgspec
import pytest

from alerts.holds import ALERT_TTL_S, AlertStore
from alerts.model import alert_id
from alerts.routing import Outputs, build_outputs
from rules.model import Action, Channel, RuleHit, Severity
from store.keys import Keys

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
DAY_S = 86_400

K = Keys("t:")


class Transfer(msgspec.Struct):
    event_id: str
    account_id: str
    amount: int = 5_000_000
    dest_account: str = "0011"
    dest_bank: str = "VCB"
    ip: str = "8.8.8.8"


EVENTS = [Transfer(f"e{i}", "A" if i < 10 else "B") for i in range(20)]


def hit(rule: str, row: int, action: Action = Action.HOLD) -> RuleHit:
    return RuleHit(
        rule_id=rule,
        rule_name=rule,
        ruleset_version="v1",
        row=row,
        event_id=f"e{row}",
        account_id=EVENTS[row].account_id,
        ts_ms=1_795_831_200_000,
        action=action,
        severity=Severity.CRITICAL,
        channels=(Channel.BANK, Channel.POLICE),
        reason_vi=f"lý do {rule}",
        reason_en=f"reason {rule}",
    )


def outputs(*hits: RuleHit, now: datetime = NOW, hold_s: int = DAY_S) -> Outputs:
    return build_outputs(hits, EVENTS, now=now, bank_code="VCB", hold_duration_s=hold_s)


@pytest.fixture
def store() -> AlertStore:
    return AlertStore(fakeredis.aioredis.FakeRedis(), "t:")


async def emit(store: AlertStore, out: Outputs, now: datetime = NOW) -> Outputs:
    """What the worker does: deduplicate, then record in one transaction."""
    fresh = await store.deduplicate(out, now)
    pipe = store.redis.pipeline(transaction=True)
    store.record(pipe, fresh, now)
    await pipe.execute()
    return fresh


# -------------------------------------------------------------- dedupe -----
async def test_nothing_recorded_means_everything_is_new(store: AlertStore) -> None:
    out = outputs(hit("R2", 1), hit("R6a", 2, Action.ALERT))
    fresh = await store.deduplicate(out, NOW)
    assert [a.alert_id for a in fresh.alerts] == [a.alert_id for a in out.alerts]
    assert len(fresh.police) == 2 and [h.hold_id for h in fresh.holds] == [out.holds[0].hold_id]


async def test_recorded_alerts_are_dropped(store: AlertStore) -> None:
    first = await emit(store, outputs(hit("R2", 1), hit("R6a", 2, Action.ALERT)))
    again = await store.deduplicate(outputs(hit("R2", 1), hit("R6a", 2, Action.ALERT)), NOW)
    assert len(first.alerts) == 2
    assert (again.alerts, again.police, again.holds) == ([], [], [])


async def test_only_the_new_alerts_of_a_redelivered_batch_remain(store: AlertStore) -> None:
    first = await emit(store, outputs(hit("R2", 1)))
    again = await emit(store, outputs(hit("R2", 1), hit("R3", 2), hit("R6a", 3, Action.ALERT)))
    assert [a.alert_id for a in again.alerts] == [alert_id("R3", "e2", account="A"), alert_id("R6a", "e3", account="A")]
    assert [p.report_id for p in again.police] == [
        alert_id("R3", "e2", account="A"),
        alert_id("R6a", "e3", account="A"),
    ]
    # The hold placed by the first delivery is still the account's hold.
    assert again.holds == [] and again.alerts[0].hold_id == first.holds[0].hold_id
    assert again.alerts[1].hold_id is None


async def test_the_same_alert_twice_in_one_batch_is_kept_once(store: AlertStore) -> None:
    fresh = await store.deduplicate(outputs(hit("R2", 1), hit("R2", 1)), NOW)
    assert len(fresh.alerts) == 1 and len(fresh.police) == 1
    assert fresh.holds[0].alert_ids == [alert_id("R2", "e1", account="A")]


async def test_the_batch_still_being_recorded_counts_as_recorded(store: AlertStore) -> None:
    """The worker judges a batch while the one before is saved (``streams.monitor``): that
    one's alerts and holds, handed as ``ahead``, give what recording them first would give."""
    later = (hit("R2", 1), hit("R3", 2), hit("R6a", 11, Action.ALERT))
    ahead = await store.deduplicate(outputs(hit("R2", 1)), NOW)
    unrecorded = await store.deduplicate(outputs(*later), NOW, ahead)
    await emit(store, outputs(hit("R2", 1)))
    recorded = await store.deduplicate(outputs(*later), NOW)
    assert [a.alert_id for a in unrecorded.alerts] == [
        alert_id("R3", "e2", account="A"),
        alert_id("R6a", "e11", account="B"),
    ]
    assert unrecorded.alerts[0].hold_id == ahead.holds[0].hold_id and unrecorded.holds == []
    assert msgspec.to_builtins(unrecorded) == msgspec.to_builtins(recorded)


async def test_empty_outputs(store: AlertStore) -> None:
    fresh = await emit(store, Outputs())
    assert (fresh.alerts, fresh.police, fresh.holds) == ([], [], [])


# --------------------------------------------------------------- holds -----
async def test_a_second_hold_on_a_held_account_joins_the_first(store: AlertStore) -> None:
    first = await emit(store, outputs(hit("R2", 1)))
    (held,) = first.holds
    later = await emit(
        store, outputs(hit("R3", 2), hit("R3", 11), now=NOW + timedelta(hours=1)), NOW + timedelta(hours=1)
    )
    # Account A keeps its hold; account B, not held before, gets its own.
    assert [h.account_id for h in later.holds] == ["B"]
    assert later.alerts[0].hold_id == held.hold_id and later.police[0].hold_id == held.hold_id
    assert later.alerts[1].hold_id == later.holds[0].hold_id != held.hold_id
    active = await store.active_hold("A", NOW + timedelta(hours=1))
    assert active is not None and active.hold_id == held.hold_id
    assert active.alert_ids == sorted([first.alerts[0].alert_id, later.alerts[0].alert_id])
    assert active.expires_at == held.expires_at  # joining does not extend it


@pytest.mark.parametrize(
    ("after", "blocked"),
    [
        (timedelta(hours=23, minutes=59, seconds=59, milliseconds=999), True),
        (timedelta(hours=24), False),  # expires_at itself: no longer active
        (timedelta(days=2), False),
    ],
)
async def test_an_expired_hold_does_not_block_a_new_one(store: AlertStore, after: timedelta, blocked: bool) -> None:
    first = await emit(store, outputs(hit("R2", 1)))
    later_now = NOW + after
    later = await emit(store, outputs(hit("R3", 2), now=later_now), later_now)
    if blocked:
        assert later.holds == [] and later.alerts[0].hold_id == first.holds[0].hold_id
        return
    (new_hold,) = later.holds
    assert new_hold.hold_id != first.holds[0].hold_id and later.alerts[0].hold_id == new_hold.hold_id
    active = await store.active_hold("A", later_now)
    assert active is not None and active.hold_id == new_hold.hold_id and active.alert_ids == [later.alerts[0].alert_id]
    old = await store.hold(first.holds[0].hold_id)  # the old record stays readable
    assert old is not None and old.alert_ids == [first.alerts[0].alert_id]


async def test_an_active_hold_on_another_account_does_not_block(store: AlertStore) -> None:
    await emit(store, outputs(hit("R2", 11)))
    later = await emit(store, outputs(hit("R2", 1)))
    assert [h.account_id for h in later.holds] == ["A"]


# ------------------------------------------------------------ read-back -----
async def test_record_then_read_back(store: AlertStore) -> None:
    out = await emit(store, outputs(hit("R2", 1), hit("R3", 2), hit("R6a", 3, Action.ALERT)))
    ids = [a.alert_id for a in out.alerts]
    assert await store.alerts(ids) == out.alerts
    assert await store.alerts([ids[2], "A-nope", ids[0]]) == [out.alerts[2], out.alerts[0]]
    assert await store.alerts([]) == []
    (hold,) = out.holds
    stored = await store.hold(hold.hold_id)
    assert stored is not None
    assert msgspec.structs.replace(stored, alert_ids=hold.alert_ids) == hold
    assert stored.alert_ids == sorted(ids[:2])
    assert await store.active_hold("A", NOW) == stored
    assert await store.active_hold("B", NOW) is None and await store.hold("H-nope") is None


async def test_recorded_keys_queue_and_expiry(store: AlertStore) -> None:
    out = await emit(store, outputs(hit("R2", 1), hit("R3", 11)))
    r = store.redis
    queue = cast(list[tuple[bytes, float]], await r.zrange(K.alerts_queue, 0, -1, withscores=True))
    assert {m.decode(): s for m, s in queue} == {a.alert_id: NOW.timestamp() for a in out.alerts}
    assert 0 < await r.ttl(K.alert(out.alerts[0].alert_id)) <= ALERT_TTL_S
    expiry = dict(cast(list[tuple[bytes, float]], await r.zrange(K.holds_expiry, 0, -1, withscores=True)))
    assert {k.decode(): v for k, v in expiry.items()} == {h.hold_id: NOW.timestamp() + DAY_S for h in out.holds}
    assert (
        await r.get(K.account_hold("A")) == f"{out.holds[0].hold_id}|{int((NOW.timestamp() + DAY_S) * 1000)}".encode()
    )


async def test_prefixes_keep_stores_apart(store: AlertStore) -> None:
    await emit(store, outputs(hit("R2", 1)))
    other = AlertStore(store.redis, "u:")
    fresh = await emit(other, outputs(hit("R2", 1)))
    assert len(fresh.alerts) == 1 and len(fresh.holds) == 1


async def test_a_new_hold_never_reuses_the_id_of_an_old_one(store: AlertStore) -> None:
    """A redelivered batch whose first hold-worthy alert was already emitted, plus a new one,
    after the first hold ended: the new hold is named by the new alert, the old record is kept."""
    first = await emit(store, outputs(hit("R2", 1)))
    later_now = NOW + timedelta(days=2)
    later = await emit(store, outputs(hit("R2", 1), hit("R3", 2), now=later_now), later_now)
    (old,), (new,) = first.holds, later.holds
    assert [a.alert_id for a in later.alerts] == [alert_id("R3", "e2", account="A")]
    assert new.hold_id != old.hold_id and later.alerts[0].hold_id == later.police[0].hold_id == new.hold_id
    assert new.alert_ids == [alert_id("R3", "e2", account="A")] and (new.reason_en, new.reason_vi) == (
        "reason R3",
        "lý do R3",
    )
    assert await store.hold(old.hold_id) == old
    active = await store.active_hold("A", later_now)
    assert active is not None and active.hold_id == new.hold_id and active.alert_ids == new.alert_ids
