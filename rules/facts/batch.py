"""The part of a batch's context every fact shares: its columns, the groups of its rows, the
caller's lookups, and what each row's account had stored before the batch.

``BatchBase`` has no stored fields of its own; the facts (``rules.facts.*``) derive from it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from rules.columns import INCOMING_TRANSFER, LOGIN, TRANSFER, EventBatch
from rules.facts import batch_only
from rules.ip_cluster import Episode
from rules.state import HOUR_MS, AccountLists, States
from rules.window import group_order, pair_keys, prior_in_group

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
VN_OFFSET_MS = 7 * HOUR_MS  # Asia/Ho_Chi_Minh is UTC+7 all year
DAY_MS = 24 * HOUR_MS


class Sources(NamedTuple):
    """Per row: the input partition and offset the event was read from (live input only)."""

    partition: npt.NDArray[np.int32]
    offset: npt.NDArray[np.int64]

    def take(self, keep: Bools) -> Sources:
        return Sources(self.partition[keep], self.offset[keep])


def vn_day(ms: int) -> int:
    """The Vietnamese calendar day number of a UTC millisecond time."""
    return (ms + VN_OFFSET_MS) // DAY_MS


class BatchBase:
    """One batch's columns, the caller's lookups and the accounts' stored states."""

    def __init__(
        self,
        batch: EventBatch,
        states: States,
        countries: npt.NDArray[np.str_],
        home_countries: frozenset[str],
        counterparty_listed: Bools | None = None,
        ip_accounts: Mapping[str, Mapping[str, Sequence[Episode]]] | None = None,
        facts: Mapping[str, Any] | None = None,
        device_id_required_on: frozenset[int] = frozenset(),
        money_ids: Ints | None = None,
        sources: Sources | None = None,
    ) -> None:
        self.batch = batch
        self.device_id_required_on = device_id_required_on
        self.states = states
        self.countries = countries
        self.home_countries = home_countries
        # Per row: the counterparty (payee of a transfer, payer of an incoming one) is on the
        # shared suspicious-account list; looked up by the caller, one lookup per batch.
        n = len(batch)
        self.counterparty_listed = counterparty_listed if counterparty_listed is not None else np.zeros(n, np.bool_)
        # Foreign IP -> account -> its visits there, across all workers, this batch's merged in
        # (R6b, ``rules.ip_cluster``); merged and looked up by the caller.
        self.ip_accounts: Mapping[str, Mapping[str, Sequence[Episode]]] = ip_accounts or {}
        # Per row: the id hash of a transfer in or out (0 for other rows), and for live input
        # each row's partition and offset (``rules.facts.delivery``).
        self.money_ids = money_ids if money_ids is not None else np.zeros(n, np.int64)
        self.sources = sources
        # Stored lists per account code (an account with none reads as empty ones).
        empty = AccountLists()
        self._st = [s or empty for s in states.lists]
        if facts:  # from ``batch_facts`` on this same batch: cached properties already known
            self.__dict__.update(facts)

    def _per_account(self, values: Sequence[int]) -> Ints:
        """Expand one value per account to one value per row."""
        return np.asarray(values, dtype=np.int64)[self.batch.account]

    def _stored(self, name: str) -> npt.NDArray[Any]:
        """A fixed-width field of the row's account as stored before the batch (``rules.state.SCALARS``)."""
        return self.states.column(name)[self.batch.account]

    @batch_only
    def by_account(self) -> Ints:
        """Sort order shared by every per-account question of this batch."""
        return group_order(self.batch.account)

    def _prior(self, mask: Bools) -> Ints:
        """Last earlier row of the same account with ``mask`` set (-1: none in this batch)."""
        return prior_in_group(self.batch.account, mask, self.by_account)

    @batch_only
    def _accounts_in_order(self) -> npt.NDArray[np.signedinteger[Any]]:
        """``batch.account`` in ``by_account`` order: each account's rows one run, ascending."""
        return self.batch.account[self.by_account]

    def _transfers_upto(self, row: int, *, included: bool) -> Ints:
        """The transfer rows of ``row``'s account in this batch that came before it (and it,
        when ``included``), in arrival order: a binary search, not a scan of the batch."""
        in_order = self._accounts_in_order
        a = self.batch.account[row]
        mine = self.by_account[np.searchsorted(in_order, a, "left") : np.searchsorted(in_order, a, "right")]
        mine = mine[mine <= row] if included else mine[mine < row]
        return mine[self.is_transfer[mine]]

    @batch_only
    def is_transfer(self) -> Bools:
        return self.batch.kind == TRANSFER

    @batch_only
    def is_incoming(self) -> Bools:
        return self.batch.kind == INCOMING_TRANSFER

    @batch_only
    def is_login_or_transfer(self) -> Bools:
        return self.is_transfer | (self.batch.kind == LOGIN)

    @batch_only
    def has_device(self) -> Bools:
        return self.batch.device >= 0

    @batch_only
    def device_pair(self) -> Ints:
        return pair_keys(self.batch.account, self.batch.device)

    @batch_only
    def by_device_pair(self) -> Ints:
        return group_order(self.device_pair)

    @cached_property
    def _device_code(self) -> dict[str, int]:
        return {d: i for i, d in enumerate(self.batch.devices)}

    # --- time in Vietnam ---------------------------------------------------
    @batch_only
    def local_day(self) -> Ints:
        """The row's calendar day in Asia/Ho_Chi_Minh (UTC+7, no daylight saving), as a day number."""
        return (self.batch.ts_ms + VN_OFFSET_MS) // DAY_MS

    @batch_only
    def local_hour(self) -> Ints:
        """Hour of the day (0-23) in Asia/Ho_Chi_Minh."""
        return ((self.batch.ts_ms + VN_OFFSET_MS) // HOUR_MS) % 24

    def in_hours(self, start: int, end: int) -> Bools:
        """The row's Hanoi time is from ``start``:00 up to ``end``:00 (across midnight when
        ``start`` > ``end``, as a night is: 23 to 5 is 23:00-04:59)."""
        hour = self.local_hour
        if start > end:
            return (hour >= start) | (hour < end)
        return (hour >= start) & (hour < end)


def per_key(found: tuple[Ints, Ints], *columns: npt.NDArray[Any]) -> Iterator[tuple[int, ...]]:
    """``(key, column values at its row...)`` as Python ints, from ``window.last_in_group``'s
    ``(keys, rows)``: for the per-account updates of ``advance``."""
    keys, rows = found
    return zip(keys.tolist(), *(c[rows].tolist() for c in columns), strict=True)
