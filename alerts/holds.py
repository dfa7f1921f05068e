"""Alert and hold records in Redis: deduplication, one active hold per account, queries.

Keys (``store.keys``, all in the global slot so officer commands can WATCH them together):
  alert:{alert_id}          the alert JSON (its presence means "already emitted")
  alerts:queue              sorted set of alert ids by detection time (officer queue)
  hold:{hold_id}            the hold JSON, latest state
  hold:{hold_id}:alerts     set of alert ids attached to the hold
  hold:account:{account}    "{hold_id}|{expires_ms}" while a hold is active
  holds:expiry              sorted set of active hold ids by expiry time
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import msgspec

from alerts.model import Alert, HoldInstruction, encoder, hold_id_for
from alerts.routing import Outputs
from store import RedisClient, get_many
from store.keys import Keys

ALERT_TTL_S = 90 * 86_400
T = TypeVar("T")


class AlertStore:
    def __init__(self, redis: RedisClient, prefix: str = "txmon:") -> None:
        self.redis = redis
        self.k = Keys(prefix)

    async def deduplicate(self, out: Outputs, now: datetime, ahead: Outputs | None = None) -> Outputs:
        """Drop alerts already emitted; attach new alerts to a hold already active on the account.

        One round trip. Returns what is new: those alerts, their police
        reports, and holds for accounts without an active hold. ``ahead``: what the batch
        before emitted and is still recording (``streams.monitor``), counted as recorded.
        """
        if not out.alerts:
            return out
        pipe = self.redis.pipeline(transaction=False)
        for a in out.alerts:
            pipe.exists(self.k.alert(a.alert_id))
        for h in out.holds:
            pipe.get(self.k.account_hold(h.account_id))
        replies = await pipe.execute()
        seen = {a.alert_id for a, r in zip(out.alerts, replies, strict=False) if r}
        active = {
            h.account_id: raw
            for h, raw in zip(out.holds, replies[len(out.alerts) :], strict=True)
            if raw is not None and _still_active(raw, now)
        }
        if ahead is not None:
            seen.update(a.alert_id for a in ahead.alerts)
            active.update((h.account_id, account_hold_value(h)) for h in ahead.holds)
        fresh = Outputs()
        fresh.alerts = _first_of_each([a for a in out.alerts if a.alert_id not in seen], lambda a: a.alert_id)
        fresh.police = _first_of_each([p for p in out.police if p.report_id not in seen], lambda p: p.report_id)
        new_ids = {a.alert_id for a in fresh.alerts}
        for hold in out.holds:
            hold.alert_ids = list(dict.fromkeys(i for i in hold.alert_ids if i in new_ids))
            if not hold.alert_ids:
                continue
            placed_id, existing = hold.hold_id, active.get(hold.account_id)
            if existing is None:
                # Named by its first new alert: an alert already emitted named an earlier hold.
                first = next(a for a in fresh.alerts if a.alert_id == hold.alert_ids[0])
                hold.hold_id = hold_id_for(first.alert_id)
                hold.reason_vi, hold.reason_en = first.reason_vi, first.reason_en
                fresh.holds.append(hold)
                hold_id = hold.hold_id
            else:
                hold_id = _decode(existing).split("|", 1)[0]
            for a in fresh.alerts:
                if a.hold_id == placed_id:
                    a.hold_id = hold_id
            for p in fresh.police:
                if p.hold_id == placed_id:
                    p.hold_id = hold_id
        return fresh

    def record(self, pipe: Any, out: Outputs, now: datetime) -> None:
        """Queue the writes that make ``out`` queryable (run with the state write)."""
        for a in out.alerts:
            pipe.set(self.k.alert(a.alert_id), encoder.encode(a), ex=ALERT_TTL_S)
            pipe.zadd(self.k.alerts_queue, {a.alert_id: now.timestamp()})
            if a.hold_id is not None:
                pipe.sadd(self.k.hold_alerts(a.hold_id), a.alert_id)
        for h in out.holds:
            expires = datetime.fromisoformat(h.expires_at)
            pipe.set(self.k.hold(h.hold_id), encoder.encode(h))
            pipe.set(self.k.account_hold(h.account_id), account_hold_value(h))
            pipe.zadd(self.k.holds_expiry, {h.hold_id: expires.timestamp()})

    async def active_hold(self, account_id: str, now: datetime) -> HoldInstruction | None:
        raw = await self.redis.get(self.k.account_hold(account_id))
        if raw is None or not _still_active(raw, now):
            return None
        return await self.hold(_decode(raw).split("|", 1)[0])

    async def hold(self, hold_id: str) -> HoldInstruction | None:
        raw = await self.redis.get(self.k.hold(hold_id))
        if raw is None:
            return None
        hold = msgspec.json.decode(raw, type=HoldInstruction)
        members = await self.redis.smembers(self.k.hold_alerts(hold_id))
        hold.alert_ids = sorted({*hold.alert_ids, *(_decode(m) for m in members)})
        return hold

    async def alerts(self, alert_ids: Sequence[str]) -> list[Alert]:
        if not alert_ids:
            return []
        raws = await get_many(self.redis, [self.k.alert(i) for i in alert_ids])
        return [msgspec.json.decode(r, type=Alert) for r in raws if r is not None]


def _first_of_each(items: list[T], key: Callable[[T], str]) -> list[T]:
    """Keep the first item of each id: one event judged twice in a batch yields one alert."""
    seen: set[str] = set()
    kept = []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            kept.append(item)
    return kept


def _decode(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def account_hold_value(hold: HoldInstruction) -> str:
    """What ``hold:account:{account}`` holds while ``hold`` is active: ``{hold_id}|{expires_ms}``."""
    return f"{hold.hold_id}|{int(datetime.fromisoformat(hold.expires_at).timestamp() * 1000)}"


def _still_active(raw: bytes | str, now: datetime) -> bool:
    _, _, expires_ms = _decode(raw).partition("|")
    return expires_ms.isdigit() and int(expires_ms) > now.timestamp() * 1000
