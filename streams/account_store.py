"""What the worker and the back-test remember between batches, behind one interface.

``AccountStore`` is the boundary: account states (one record per account, opaque to the
store, made by a ``RecordCodec``), which counterparties are on the shared suspicious list,
and R6b's visits per foreign IP (merged by the store). The worker (``streams.judge`` reads,
``streams.monitor`` saves), the back-test (``streams.backtest``) and the console's case
detail (``alerts.console.cases``, handed a store by ``streams.console_main``) all go
through it. Two implementations keep the same semantics, checked by one contract suite run
against both on one Redis and on a Redis Cluster (``tests/integration/test_account_store.py``):

- ``RedisAccountStore``: ``streams.state`` (one SET per account), ``streams.lists`` (one
  set) and ``streams.ip_accounts`` (one Lua merge per IP), keys from ``store.keys``;
- ``MemoryAccountStore``: columns in memory, for the back-test, benchmarks and ``txmon state
  rebuild``; its merge is ``rules.ip_cluster.merge_ip``, which the Lua script implements. Every
  async method has a synchronous twin (``*_now``) that the back-test calls; the async methods wrap them.

Per batch: ``read_batch`` (states, listed counterparties, the IPs' visits after the batch's
merge: on Redis one pipelined round trip, which the worker ends with its state marker read),
``pack`` (the new states encoded before any output is sent, so a failure there sends
nothing), then ``save_packed``. The worker saves with ``RedisAccountStore.save_batch``: the
packed states with the batch's alert records and holds (``streams.state`` says what is atomic).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

from alerts.holds import AlertStore
from alerts.routing import Outputs
from rules.ip_cluster import IpVisits, merge_ip
from rules.state import AccountLists, States
from store import RedisClient
from streams.ip_accounts import IpAccountStore
from streams.lists import SuspiciousList, listed_payees
from streams.readiness import StateMarker
from streams.state import AccountStateStore
from streams.state_codec import RecordCodec

# What ``pack`` made. Opaque; only the store that packed it saves it.
Packed: TypeAlias = Any


@dataclass(frozen=True, slots=True)
class BatchRead:
    """What a batch is judged against."""

    states: States  # per account asked for (``States.lists[i]`` None: no state yet)
    listed: frozenset[str]  # the counterparties asked about that are on the suspicious list
    ip_accounts: dict[str, IpVisits]  # per IP of the batch's updates: its visits after the merge


class AccountStore(Protocol):
    async def load(self, accounts: Sequence[str]) -> States:
        """Each account's state (``States[i]`` is None when it has none)."""
        ...

    async def read_batch(
        self, accounts: Sequence[str], counterparties: Sequence[str], ip_updates: Mapping[str, IpVisits], window_ms: int
    ) -> BatchRead:
        """A batch's states, which of ``counterparties`` are listed, and ``ip_updates`` merged
        (as ``merge_ip``): everything the engine is given, read together."""
        ...

    def pack(self, accounts: Sequence[str], states: States) -> Packed:
        """The states as this store saves them; raises (sending nothing) when one cannot be encoded."""
        ...

    async def save_packed(self, packed: Packed) -> None:
        """Each packed state replaces its account's record, whole (never half written)."""
        ...

    async def save(self, accounts: Sequence[str], states: States) -> None:
        """``save_packed(pack(accounts, states))``."""
        ...

    async def merge_ip(self, updates: Mapping[str, IpVisits], window_ms: int) -> dict[str, IpVisits]:
        """Add a batch's visits per IP; returns every IP's visits after the merge (idempotent)."""
        ...


class RedisAccountStore:
    def __init__(self, redis: RedisClient, prefix: str = "txmon:", codec: RecordCodec | None = None) -> None:
        self.redis = redis
        self.states = AccountStateStore(redis, prefix, codec)
        self.suspicious = SuspiciousList(redis, prefix)  # the control agent updates the list through it
        self.ips = IpAccountStore(redis, prefix)

    async def load(self, accounts: Sequence[str]) -> States:
        return await self.states.load(accounts)

    async def read_batch(
        self,
        accounts: Sequence[str],
        counterparties: Sequence[str],
        ip_updates: Mapping[str, IpVisits],
        window_ms: int,
        *,
        marker: StateMarker | None = None,
        generation: str | None = None,
    ) -> BatchRead:
        """One pipelined round trip. With ``marker`` it ends with the marker's read and raises
        ``StateLost`` unless the marker is ``generation``: read last, it proves Redis still held
        the state this worker wrote when the states were read."""
        pipe = self.redis.pipeline(transaction=False)
        groups = self.states.queue_load(pipe, accounts)
        looked_up = self.suspicious.queue_lookup(pipe, counterparties)
        ips = self.ips.queue_merge(pipe, ip_updates, window_ms)
        if marker is not None:
            marker.queue_read(pipe)
        replies = list(await pipe.execute()) if groups or looked_up or ips or marker is not None else []
        if marker is not None:
            marker.check(generation, replies.pop())
        n = len(groups)
        states = self.states.unpack(self.states.replies(accounts, groups, replies[:n]))
        listed = listed_payees(counterparties, replies[n]) if looked_up else frozenset()
        return BatchRead(states, listed, self.ips.unpack(ips, replies[n + looked_up :]))

    def pack(self, accounts: Sequence[str], states: States) -> Packed:
        return self.states.encode(accounts, states)

    async def save_packed(self, packed: Packed) -> None:
        pipe = self.redis.pipeline(transaction=False)
        self.states.save(pipe, packed)
        await pipe.execute()

    async def save_batch(self, packed: Packed, alerts: AlertStore, fresh: Outputs, now: datetime) -> None:
        """The worker's save: ``save_packed`` with the batch's alert records and holds
        (``AccountStateStore.save_batch``: one transaction on one Redis)."""
        await self.states.save_batch(alerts, packed, fresh, now)

    async def save(self, accounts: Sequence[str], states: States) -> None:
        await self.save_packed(self.pack(accounts, states))

    async def merge_ip(self, updates: Mapping[str, IpVisits], window_ms: int) -> dict[str, IpVisits]:
        return await self.ips.merge(updates, window_ms)


class MemoryAccountStore:
    """In memory. Without a codec it keeps the states as columns (the back-test's speed: no
    encoding per account): per account a row of ``_scalars`` and of ``_lists`` (an object
    array), the lists handed out and taken back as they are, each read and write one fancy
    index; with a codec it keeps the codec's bytes, as Redis does. ``suspicious`` is the shared
    list as it stands."""

    def __init__(self, codec: RecordCodec | None = None, suspicious: frozenset[str] = frozenset()) -> None:
        self.codec = codec
        self.suspicious = suspicious
        self.rows: dict[str, int] = {}  # account -> its row in ``_scalars`` and ``_lists``
        # One row more than the accounts at least: the spare rows are the defaults (None: no
        # state), so row -1, the last, is what an account without a state reads.
        self._scalars = States.empty(1).scalars
        self._lists = np.full(1, None, dtype=object)
        self.records: dict[str, bytes] = {}
        self.ip_accounts: dict[str, IpVisits] = {}
        # The accounts last loaded and their rows: saving that same sequence (the back-test
        # saves the batch it loaded) looks none of them up again.
        self._loaded: tuple[Sequence[str], npt.NDArray[np.int64]] | None = None

    def accounts(self) -> list[str]:
        """Every account with a state, in the order first saved."""
        return list(self.rows if self.codec is None else self.records)

    def _rows(self, accounts: Sequence[str]) -> npt.NDArray[np.int64]:
        get = self.rows.get
        return np.fromiter((get(a, -1) for a in accounts), np.int64, len(accounts))

    def load_now(self, accounts: Sequence[str]) -> States:
        if self.codec is not None:
            return self.codec.decode([self.records.get(a) for a in accounts])
        rows = self._rows(accounts)
        self._loaded = (accounts, rows)
        return States(self._scalars[rows], self._lists[rows].tolist())

    def read_batch_now(
        self, accounts: Sequence[str], counterparties: Sequence[str], ip_updates: Mapping[str, IpVisits], window_ms: int
    ) -> BatchRead:
        listed = self.suspicious.intersection(counterparties) if counterparties else frozenset()
        return BatchRead(self.load_now(accounts), listed, self.merge_ip_now(ip_updates, window_ms))

    def pack(self, accounts: Sequence[str], states: States) -> Packed:
        if self.codec is None:
            return accounts, states
        return dict(zip(accounts, self.codec.encode(states), strict=True))

    def save_packed_now(self, packed: Packed) -> None:
        if self.codec is not None:
            self.records.update(packed)
            return
        accounts, states = packed
        loaded, rows = self._loaded, self.rows
        at = loaded[1].copy() if loaded is not None and loaded[0] is accounts else self._rows(accounts)
        for i in np.flatnonzero(at < 0).tolist():  # no state when loaded: saved for the first time
            account = accounts[i]
            at[i] = rows.setdefault(account, len(rows))
        if len(rows) >= len(self._scalars):  # grow by half again, as a list does, keeping a spare row
            size = max(len(rows) + 1, len(self._scalars) * 3 // 2)
            scalars, lists = States.empty(size).scalars, np.full(size, None, dtype=object)
            scalars[: len(self._scalars)], lists[: len(self._lists)] = self._scalars, self._lists
            self._scalars, self._lists = scalars, lists
        self._scalars[at] = states.scalars
        kept = np.empty(len(at), dtype=object)
        kept[:] = states.lists
        if None in states.lists:  # saved without a state: an empty one, as a record would read
            for i in [i for i, lists in enumerate(states.lists) if lists is None]:
                kept[i] = AccountLists()
        self._lists[at] = kept

    def save_now(self, accounts: Sequence[str], states: States) -> None:
        self.save_packed_now(self.pack(accounts, states))

    def merge_ip_now(self, updates: Mapping[str, IpVisits], window_ms: int) -> dict[str, IpVisits]:
        for ip, visits in updates.items():
            self.ip_accounts[ip] = merge_ip(self.ip_accounts.get(ip, {}), visits, window_ms)
        return {ip: self.ip_accounts[ip] for ip in updates}

    async def load(self, accounts: Sequence[str]) -> States:
        return self.load_now(accounts)

    async def read_batch(
        self, accounts: Sequence[str], counterparties: Sequence[str], ip_updates: Mapping[str, IpVisits], window_ms: int
    ) -> BatchRead:
        return self.read_batch_now(accounts, counterparties, ip_updates, window_ms)

    async def save_packed(self, packed: Packed) -> None:
        self.save_packed_now(packed)

    async def save(self, accounts: Sequence[str], states: States) -> None:
        self.save_now(accounts, states)

    async def merge_ip(self, updates: Mapping[str, IpVisits], window_ms: int) -> dict[str, IpVisits]:
        return self.merge_ip_now(updates, window_ms)
