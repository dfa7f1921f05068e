"""The money and shared-IP facts of a batch (R6b, R8, R9, R10): how much went in and out of
an account and from whom, and which accounts share a foreign IP.

``MoneyFacts`` is a part of ``rules.features.BatchContext`` (its base class), kept in its own
module; like the rest of the context, each fact combines earlier rows of the same batch with
what the account's stored state says about the time before it.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rules.columns import INCOMING_TRANSFER, EventBatch
from rules.facts import batch_only
from rules.ip_cluster import Episode
from rules.state import HOUR_MS, AccountState
from rules.window import cumsum_in_group, window_sum

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
VN_OFFSET_MS = 7 * 3_600_000  # Asia/Ho_Chi_Minh is UTC+7 all year
DAY_MS = 24 * HOUR_MS
_MAX_DAY = 1 << 40  # later than any day number


def _day(ms: int) -> int:
    """The Vietnamese calendar day number of a UTC millisecond time."""
    return (ms + VN_OFFSET_MS) // DAY_MS


def most_distinct_within(inflows: Sequence[tuple[int, str]], span_ms: int) -> int:
    """The most distinct payers among time-sorted ``(ms, payer)`` inflows within one span of
    ``span_ms`` (a start and an end at most ``span_ms`` apart, both included).

    >>> most_distinct_within([(0, "a"), (5, "b"), (10, "a"), (16, "c")], 10)
    2
    >>> most_distinct_within([(0, "a"), (5, "b"), (10, "c")], 10)
    3
    """
    best, lo = 0, 0
    in_span: Counter[str] = Counter()
    for t, payer in inflows:
        in_span[payer] += 1
        while inflows[lo][0] < t - span_ms:
            gone = inflows[lo][1]
            in_span[gone] -= 1
            if not in_span[gone]:
                del in_span[gone]
            lo += 1
        best = max(best, len(in_span))
    return best


class MoneyFacts:
    """Money in and out per account (R8, R9, R10); ``ip_accounts`` holds R6b's visits per foreign IP."""

    # Provided by BatchContext.
    batch: EventBatch
    _st: list[AccountState]
    counterparty_listed: Bools
    ip_accounts: Mapping[str, Mapping[str, Sequence[Episode]]]
    if TYPE_CHECKING:  # cached properties of BatchContext

        @property
        def by_account(self) -> Ints: ...
        @property
        def is_transfer(self) -> Bools: ...
        @property
        def foreign(self) -> Bools: ...
        @property
        def local_day(self) -> Ints: ...

    def _per_account(self, values: Sequence[int]) -> Ints:
        """Expand one value per account to one value per row."""
        return np.asarray(values, dtype=np.int64)[self.batch.account]

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

    # --- money in and out (R8, R9, R10) ---------------------------------
    @batch_only
    def is_incoming(self) -> Bools:
        return self.batch.kind == INCOMING_TRANSFER

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

    @batch_only
    def _transfers_in_batch(self) -> tuple[Ints, Ints]:
        """How many transfers the account made before the row within this batch, and their total."""
        b, out = self.batch, self.is_transfer
        amounts = np.where(out, b.amount, 0)
        count = cumsum_in_group(b.account, out.astype(np.int64), self.by_account) - out
        total = cumsum_in_group(b.account, amounts, self.by_account) - amounts
        return count, total

    @cached_property
    def prior_transfers(self) -> tuple[Ints, Ints]:
        """How many transfers the account made before the row, and their total."""
        count, total = self._transfers_in_batch
        stored_count = self._per_account([s.transfer_count for s in self._st])
        stored_total = self._per_account([s.transfer_sum for s in self._st])
        return count + stored_count, total + stored_total

    @batch_only
    def tainted_in(self) -> Bools:
        """Incoming transfers whose payer is on the shared suspicious-account list."""
        return self.is_incoming & self.counterparty_listed

    def tainted_within(self, window_ms: int) -> Ints:
        """At each tainted incoming row: such transfers into the account within the window, it included."""
        b, tainted = self.batch, self.tainted_in
        if not tainted.any():  # the usual batch: nothing to count
            return np.zeros(len(b), np.int64)
        count = window_sum(b.account, b.ts_ms, tainted.astype(np.int64), window_ms, self.by_account)
        for r in np.flatnonzero(tainted).tolist():
            since = int(b.ts_ms[r]) - window_ms
            count[r] += sum(1 for t in self._st[b.account[r]].tainted_ms if t > since)
        return count

    def payers_in_a_window(self, window_ms: int, flow_hours: int, at_least: int) -> Ints:
        """Per row (R8): the most distinct payers whose incoming transfers fall within one span
        of ``window_ms`` (both ends included), anchored on an inflow anywhere in the flow window:
        the row's hour and the ``flow_hours`` before it. Inflows counted are those that arrived
        before the row (stored, then earlier rows of the batch), as ``flow_within`` counts money.

        Exact wherever the count can reach ``at_least``; elsewhere an upper bound below it
        (stored payers plus this batch's incoming transfers), so only accounts that could
        qualify pay for the exact count.
        """
        b, inc = self.batch, self.is_incoming
        bound = np.bincount(b.account[inc], minlength=len(b.accounts)) + np.asarray(
            [len(s.payers) for s in self._st], dtype=np.int64
        )
        out = bound[b.account].astype(np.int64)
        candidates = np.flatnonzero(bound >= at_least)
        if len(candidates) == 0:
            return out
        payers = b.dest or [None] * len(b)
        inflows = {
            int(a): list(zip(self._st[a].inflow_ms, self._st[a].inflow_from, strict=True)) for a in candidates.tolist()
        }
        for r in np.flatnonzero(np.isin(b.account, candidates)).tolist():
            seen, t = inflows[int(b.account[r])], int(b.ts_ms[r])
            payer = payers[r]
            if inc[r] and payer is not None:
                seen.append((t, payer))
            if self.is_transfer[r]:
                since = (t // HOUR_MS - flow_hours) * HOUR_MS
                out[r] = most_distinct_within(sorted(x for x in seen if x[0] >= since), window_ms)
        return out

    def payee_days_before(self, rows: Ints, before_ms: Ints) -> Ints:
        """Per row in ``rows`` (R8): on how many distinct Vietnamese days before the day of
        ``before_ms`` the account had paid this transfer's payee, counting transfers that arrived
        before the row (stored, then earlier rows of the batch); zero elsewhere.

        Exact while the account's stored ``paid_day`` still reaches back that far
        (``rules.state.MAX_PAID_DAYS``, ``PAID_RETENTION_DAYS``); when it does not, the count
        is lower, so the account is judged as if the payee were less established, never more.
        """
        b = self.batch
        out = np.zeros(len(b), np.int64)
        if len(rows) == 0 or b.dest is None:
            return out
        for r in rows.tolist():
            payee = b.dest[r]
            if payee:
                out[r] = len(self._days_paid(r, int(before_ms[r])).get(payee, ()))
        return out

    def outflow_to_established(self, rows: Ints, since_ms: Ints, days: int) -> Ints:
        """Per row in ``rows`` (R8): the money the account sent from ``since_ms`` up to the row
        (it included) to payees it had paid on ``days`` or more distinct Vietnamese days before
        the day of ``since_ms``; zero elsewhere. Stored transfers count through the state's
        ``outflow_*`` (those to payees paid on an earlier day), earlier rows of the batch directly.
        """
        b = self.batch
        out = np.zeros(len(b), np.int64)
        if len(rows) == 0 or b.dest is None or days <= 0:
            return out
        for r in rows.tolist():
            a, since = b.account[r], int(since_ms[r])
            established = {p for p, d in self._days_paid(r, since).items() if len(d) >= days}
            if not established:
                continue
            s = self._st[a]
            total = sum(
                v
                for t, p, v in zip(s.outflow_ms, s.outflow_to, s.outflow_vnd, strict=True)
                if t >= since and p in established
            )
            upto = self._transfers_upto(r, included=True)
            total += sum(int(b.amount[e]) for e in upto[b.ts_ms[upto] >= since].tolist() if b.dest[e] in established)
            out[r] = total
        return out

    def large_to_new_payees(self, rows: Ints, window_ms: int, min_amount: Ints) -> tuple[Ints, Ints]:
        """Per row in ``rows`` (R15): how many transfers of at least the row's ``min_amount`` the account
        sent to new payees within ``window_ms`` up to the row (it included), and their total;
        zero elsewhere. A payee is new for a transfer when the account had not paid it on an
        earlier Vietnamese day (stored ``paid_*`` pairs, then earlier rows of the batch); stored
        transfers come from ``outflow_*``.
        """
        b = self.batch
        count, total = np.zeros(len(b), np.int64), np.zeros(len(b), np.int64)
        if len(rows) == 0 or b.dest is None:
            return count, total
        for r in rows.tolist():
            a, t, least = b.account[r], int(b.ts_ms[r]), int(min_amount[r])
            s, since = self._st[a], t - window_ms
            first_day: dict[str, int] = {}
            for p, d in zip(s.paid_to, s.paid_day, strict=True):
                first_day[p] = min(d, first_day.get(p, d))
            found = [
                v
                for at, p, v in zip(s.outflow_ms, s.outflow_to, s.outflow_vnd, strict=True)
                if since < at <= t and v >= least and first_day.get(p, _MAX_DAY) >= _day(at)
            ]
            for e in self._transfers_upto(r, included=True).tolist():  # a payee's first day as the rows go
                payee, at, v = b.dest[e], int(b.ts_ms[e]), int(b.amount[e])
                if not payee:
                    continue
                new = first_day.get(payee, _MAX_DAY) >= _day(at)
                first_day[payee] = min(_day(at), first_day.get(payee, _MAX_DAY))
                if new and since < at <= t and v >= least:
                    found.append(v)
            count[r], total[r] = len(found), sum(found)
        return count, total

    def _days_paid(self, row: int, before_ms: int) -> dict[str, set[int]]:
        """The account's payees and the distinct Vietnamese days before the day of ``before_ms``
        on which it paid them: stored pairs, then the batch's transfers before ``row``."""
        b = self.batch
        assert b.dest is not None  # noqa: S101  (callers check)
        a = b.account[row]
        last = _day(before_ms)
        s = self._st[a]
        paid: dict[str, set[int]] = {}
        for p, d in zip(s.paid_to, s.paid_day, strict=True):
            if d < last:
                paid.setdefault(p, set()).add(d)
        day = self.local_day
        for e in self._transfers_upto(row, included=False).tolist():
            if day[e] < last and (payee := b.dest[e]):
                paid.setdefault(payee, set()).add(int(day[e]))
        return paid

    def flow_within(self, hours: int, rows: Ints) -> tuple[Ints, Ints]:
        """Money in and out of the account in the row's hour and the ``hours`` before it
        (Vietnam's clock has no DST, so UTC hours are local hours), this row included.
        Exact at ``rows``; elsewhere not meaningful (zero when ``rows`` is empty)."""
        b = self.batch
        if len(rows) == 0:  # the usual batch: no account qualifies
            return np.zeros(len(b), np.int64), np.zeros(len(b), np.int64)
        hour = b.ts_ms // HOUR_MS
        by_account = self.by_account
        money_in = window_sum(b.account, hour, np.where(self.is_incoming, b.amount, 0), hours + 1, by_account)
        money_out = window_sum(b.account, hour, np.where(self.is_transfer, b.amount, 0), hours + 1, by_account)
        for r in rows.tolist():
            since = int(hour[r]) - hours
            s = self._st[b.account[r]]
            first = bisect.bisect_left(s.flow_hour, since)
            money_in[r] += sum(s.flow_in[first:])
            money_out[r] += sum(s.flow_out[first:])
        return money_in, money_out
