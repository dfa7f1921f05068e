"""Command ids belong to whoever issued them: officers cannot squat, block or replay system
jobs' ids (hold expiry, police freeze requests) or each other's, and one hold that cannot
expire never keeps the others of the round active."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from alerts.freeze import PoliceFreezes
from alerts.lifecycle import Actor, HoldLifecycle
from alerts.model import HoldInstruction
from rules.model import Action
from store.keys import Keys
from tests.unit.alerts.conftest import T0, Clock, MemoryKafka
from tests.unit.alerts.test_freeze import RULESET, request, rule
from tests.unit.alerts.test_lifecycle import hit, seed

LAN, MINH = Actor("lan", "officer"), Actor("minh", "officer")

K = Keys("t:")


async def _holds(redis: Any, *accounts: str) -> list[HoldInstruction]:
    hits = [hit("R2", i, account, Action.HOLD, police=False) for i, account in enumerate(accounts)]
    out = await seed(redis, hits)
    return sorted(out.holds, key=lambda h: accounts.index(h.account_id))


async def test_an_officer_taking_a_holds_expiry_id_does_not_block_its_expiry(
    lifecycle: HoldLifecycle, redis: Any, clock: Clock, kafka: MemoryKafka
) -> None:
    target, other, decoy = await _holds(redis, "ACC1", "ACC2", "ACC3")
    # The ids the expiry job will use, taken first by an officer on another hold.
    for hold in (target, other):
        squat = f"expire:{hold.hold_id}:{hold.expires_at}"
        assert (await lifecycle.extend(decoy.hold_id, LAN, "squatting", squat, hours=1)).changed
    clock.now = T0 + timedelta(days=1, seconds=1)
    expired = await lifecycle.expire_due()
    assert sorted(o.subject for o in expired if o.changed) == sorted([target.hold_id, other.hold_id])
    assert {h["hold_id"]: h["status"] for h in kafka.on("holds")}[target.hold_id] == "expired"
    for hold in (target, other):
        stored = await lifecycle.store.hold(hold.hold_id)
        assert stored is not None and stored.status == "expired"


async def test_an_officer_taking_a_police_requests_id_does_not_stop_the_freeze(
    lifecycle: HoldLifecycle, redis: Any, kafka: MemoryKafka
) -> None:
    (decoy,) = await _holds(redis, "ACC9")
    req = request()
    await lifecycle.extend(decoy.hold_id, LAN, "squatting", f"police_freeze:{req.request_id}", hours=1)
    result = await PoliceFreezes(lifecycle, "alerts").apply(req, rule(), RULESET.version)
    assert result.status == "applied" and result.alert is not None
    assert [h["kind"] for h in kafka.on("holds") if h["account_id"] == "ACC1"] == ["freeze"]


async def test_reusing_another_officers_id_neither_replays_nor_reveals_their_command(
    lifecycle: HoldLifecycle, redis: Any
) -> None:
    (hold,) = await _holds(redis, "ACC1")
    first = await lifecycle.release(hold.hold_id, LAN, "private note: customer Nguyen Van A, 0912345678", "c-1")
    assert first.changed and first.audit is not None
    second = await lifecycle.release(hold.hold_id, MINH, "guessing lan's id", "c-1")
    assert not second.changed and second.note == "already released" and second.audit is None
    assert "Nguyen" not in str(second)
    # MINH's id is MINH's alone: his next command with it runs as his own, audited as his
    confirmed = await lifecycle.confirm(hold.hold_id, MINH, "mule confirmed", "c-1")
    assert confirmed.changed and confirmed.audit is not None and confirmed.audit.who == "minh"
    assert first.audit.audit_id != confirmed.audit.audit_id
    # and LAN's own repeat still replays LAN's outcome
    again = await lifecycle.release(hold.hold_id, LAN, "double click", "c-1")
    assert not again.changed and again.note == "same command seen before"


async def test_one_hold_that_cannot_expire_does_not_keep_the_others_active(
    lifecycle: HoldLifecycle, redis: Any, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    broken, fine, also_fine = await _holds(redis, "ACC1", "ACC2", "ACC3")
    await redis.set(K.hold(broken.hold_id), b"{not json")  # a record no decoder accepts
    clock.now = T0 + timedelta(days=1, seconds=1)
    expired = await lifecycle.expire_due()
    assert sorted(o.subject for o in expired if o.changed) == sorted([fine.hold_id, also_fine.hold_id])
    assert lifecycle.expiry_failures == 1 and broken.hold_id in caplog.text
    # the broken hold stays due: the next round tries it again
    assert await redis.zscore(K.holds_expiry, broken.hold_id) is not None
