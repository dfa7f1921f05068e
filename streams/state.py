"""Per-account rule state in Redis: one record per account (``rules.state_codec``), read in one round trip.

Each account belongs to one input partition, so one worker at a time owns its record.
Records have no TTL: their size is bounded per account (``rules.state``). Keys are
``store.keys.Keys.account_state``: one slot per account, so on a Redis Cluster the reads
are split by slot and pipelined per node, and each state write is one SET.

What is atomic when a batch is saved (``save_batch``):

- on one Redis, everything: the batch's states, alert records and holds in one MULTI;
- on a Redis Cluster, the batch's alert records and holds together (one MULTI on the
  global slot), *then* each account's state (one SET each). A crash in between leaves
  the alerts recorded and the states old: the redelivered batch is judged again from the
  old states, finds its alert ids recorded and emits nothing twice, and writes the states.
  No state is ever written ahead of its batch's alerts, and no account's state is half
  written; two accounts' states of one batch may be one written and one not, for a moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from alerts.holds import AlertStore
from alerts.routing import Outputs
from rules.state import States
from rules.state_codec import STATE_CODEC
from store import RedisClient, is_cluster
from store.client import queue_get_many, unpack_many
from store.keys import Keys
from streams.state_codec import RecordCodec


class AccountStateStore:
    """Records are opaque bytes here: ``codec`` (``streams.state_codec``) makes and reads them."""

    def __init__(self, redis: RedisClient, prefix: str = "txmon:", codec: RecordCodec | None = None) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self.cluster = is_cluster(redis)
        # default: the record format and its versions (``rules.state_codec``)
        self.codec: RecordCodec = codec or STATE_CODEC

    async def load(self, accounts: Sequence[str]) -> States:
        if not accounts:
            return States.empty(0)
        pipe = self.redis.pipeline(transaction=False)
        groups = self.queue_load(pipe, accounts)
        return self.unpack(self.replies(accounts, groups, await pipe.execute()))

    def queue_load(self, pipe: Any, accounts: Sequence[str]) -> list[list[int]]:
        """Queue the reads; returns how the replies map back (``replies``)."""
        return queue_get_many(pipe, [self.keys.account_state(a) for a in accounts], self.cluster)

    @staticmethod
    def replies(accounts: Sequence[str], groups: Sequence[Sequence[int]], replies: Sequence[Any]) -> list[Any]:
        return unpack_many(len(accounts), groups, replies)

    def unpack(self, raws: Sequence[Any]) -> States:
        return self.codec.decode(raws)

    def encode(self, accounts: Sequence[str], states: States) -> dict[str, bytes]:
        """Packed records, built before any output is sent so a failure here sends nothing."""
        key = self.keys.account_state
        return dict(zip(map(key, accounts), self.codec.encode(states), strict=True))

    def save(self, pipe: Any, packed: dict[str, bytes]) -> None:
        if not packed:
            return
        if self.cluster:
            for key, value in packed.items():
                pipe.set(key, value)
        else:
            pipe.mset(packed)

    async def save_batch(self, alerts: AlertStore, packed: dict[str, bytes], fresh: Outputs, now: datetime) -> None:
        """Write a judged batch: alert records and holds, then states (see the module doc)."""
        # ``async with``: a cluster client's transaction holds its connection until the pipeline is reset
        if not self.cluster:
            async with self.redis.pipeline(transaction=True) as pipe:
                self.save(pipe, packed)
                alerts.record(pipe, fresh, now)
                await pipe.execute()
            return
        if fresh.alerts or fresh.holds:
            async with self.redis.pipeline(transaction=True) as pipe:
                alerts.record(pipe, fresh, now)
                await pipe.execute()
        if packed:
            pipe = self.redis.pipeline(transaction=False)
            self.save(pipe, packed)
            await pipe.execute()
