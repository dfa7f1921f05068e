"""What the worker and the back-test remember between batches, behind one interface.

``AccountStore`` is the boundary: account states (one record per account, opaque to the
store, made by a ``RecordCodec``) and R6b's visits per foreign IP (merged by the store).
Two implementations keep the same semantics, checked by one contract suite run against
both on one Redis and on a Redis Cluster (``tests/integration/test_account_store.py``):

- ``RedisAccountStore``: ``streams.state`` (one SET per account) and ``streams.ip_accounts``
  (one Lua merge per IP), keys from ``store.keys``;
- ``MemoryAccountStore``: dicts, for the back-test, benchmarks and ``txmon state rebuild``;
  its merge is ``rules.ip_cluster.merge_ip``, which the Lua script implements.

The worker's hot path still queues these reads in its one pipeline per batch (the
``queue_*`` calls of the Redis classes); this interface is what must agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from rules.ip_cluster import IpVisits, merge_ip
from rules.state import AccountState
from store import RedisClient
from streams.ip_accounts import IpAccountStore
from streams.state import AccountStateStore
from streams.state_codec import RecordCodec


class AccountStore(Protocol):
    async def load(self, accounts: Sequence[str]) -> list[AccountState | None]:
        """Each account's state, None when it has none."""
        ...

    async def save(self, accounts: Sequence[str], states: Sequence[AccountState]) -> None:
        """Each account's state replaces its record, whole (never half written)."""
        ...

    async def merge_ip(self, updates: Mapping[str, IpVisits], window_ms: int) -> dict[str, IpVisits]:
        """Add a batch's visits per IP; returns every IP's visits after the merge (idempotent)."""
        ...


class RedisAccountStore:
    def __init__(
        self, redis: RedisClient, prefix: str = "txmon:", codec: RecordCodec[AccountState] | None = None
    ) -> None:
        self.states = AccountStateStore(redis, prefix, codec)
        self.ips = IpAccountStore(redis, prefix)

    async def load(self, accounts: Sequence[str]) -> list[AccountState | None]:
        return await self.states.load(accounts)

    async def save(self, accounts: Sequence[str], states: Sequence[AccountState]) -> None:
        pipe = self.states.redis.pipeline(transaction=False)
        self.states.save(pipe, self.states.encode(accounts, states))
        await pipe.execute()

    async def merge_ip(self, updates: Mapping[str, IpVisits], window_ms: int) -> dict[str, IpVisits]:
        return await self.ips.merge(updates, window_ms)


class MemoryAccountStore:
    """Dicts. Without a codec it keeps the state objects themselves (the back-test's speed:
    no encoding per account); with one it keeps the codec's bytes, as Redis does."""

    def __init__(self, codec: RecordCodec[AccountState] | None = None) -> None:
        self.codec = codec
        self.states: dict[str, AccountState] = {}
        self.records: dict[str, bytes] = {}
        self.ip_accounts: dict[str, IpVisits] = {}

    def load_now(self, accounts: Sequence[str]) -> list[AccountState | None]:
        if self.codec is None:
            return [self.states.get(a) for a in accounts]
        return self.codec.decode([self.records.get(a) for a in accounts])

    def save_now(self, accounts: Sequence[str], states: Sequence[AccountState]) -> None:
        if self.codec is None:
            self.states.update(zip(accounts, states, strict=True))
        else:
            self.records.update(zip(accounts, self.codec.encode(states), strict=True))

    def merge_ip_now(self, updates: Mapping[str, IpVisits], window_ms: int) -> dict[str, IpVisits]:
        for ip, visits in updates.items():
            self.ip_accounts[ip] = merge_ip(self.ip_accounts.get(ip, {}), visits, window_ms)
        return {ip: self.ip_accounts[ip] for ip in updates}

    async def load(self, accounts: Sequence[str]) -> list[AccountState | None]:
        return self.load_now(accounts)

    async def save(self, accounts: Sequence[str], states: Sequence[AccountState]) -> None:
        self.save_now(accounts, states)

    async def merge_ip(self, updates: Mapping[str, IpVisits], window_ms: int) -> dict[str, IpVisits]:
        return self.merge_ip_now(updates, window_ms)
