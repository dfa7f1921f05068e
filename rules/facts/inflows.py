"""Payers and flows (R8): who paid the account and when, and its money in and out per hour."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from rules.columns import factorize
from rules.facts.batch import BatchBase, Ints
from rules.state import (
    FLOW_RETENTION_H,
    HOUR_MS,
    MAX_INFLOWS,
    MAX_PAYERS,
    PAYER_RETENTION_MS,
    UNKNOWN_VND,
    AccountLists,
    States,
)
from rules.window import factor, last_in_group, pair_keys, window_sum


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


class Inflows(BatchBase):
    STORED: ClassVar[tuple[str, ...]] = (
        "payers",
        "flow_hour",
        "flow_in",
        "flow_out",
        "inflow_ms",
        "inflow_from",
        "inflow_vnd",
    )

    def payers_in_a_window(self, window_ms: int, flow_hours: int, at_least: int, min_payment_vnd: int = 0) -> Ints:
        """Per row (R8): the most distinct payers whose incoming transfers fall within one span
        of ``window_ms`` (both ends included), anchored on an inflow anywhere in the flow window:
        the row's hour and the ``flow_hours`` before it. Inflows counted are those that arrived
        before the row (stored, then earlier rows of the batch), as ``flow_within`` counts money,
        and of at least ``min_payment_vnd`` (a stored inflow of unknown amount always counts).

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
        inflows = {int(a): _stored_inflows(self._st[a], min_payment_vnd) for a in candidates.tolist()}
        for r in np.flatnonzero(np.isin(b.account, candidates)).tolist():
            seen, t = inflows[int(b.account[r])], int(b.ts_ms[r])
            payer = payers[r]
            if inc[r] and payer is not None and b.amount[r] >= min_payment_vnd:
                seen.append((t, payer))
            if self.is_transfer[r]:
                since = (t // HOUR_MS - flow_hours) * HOUR_MS
                out[r] = most_distinct_within(sorted(x for x in seen if x[0] >= since), window_ms)
        return out

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

    def advance(self, new: States) -> None:
        """Money in and out per hour (the last FLOW_RETENTION_H hours), each payer's latest
        incoming transfer (the newest MAX_PAYERS within PAYER_RETENTION_MS) and the newest
        incoming transfers (MAX_INFLOWS). Summed per account and hour with numpy first, so the
        Python loops run once per account or bucket, not once per row."""
        lists = new.filled_lists
        b = self.batch
        rows = np.flatnonzero(self.is_transfer | self.is_incoming)
        if len(rows) == 0:
            return
        acct, ts, amount = b.account[rows], b.ts_ms[rows], b.amount[rows]
        incoming = self.is_incoming[rows]
        _add_hourly(lists, acct, ts // HOUR_MS, np.where(incoming, amount, 0), np.where(incoming, 0, amount))
        if incoming.any():
            dest = b.dest or [None] * len(b)
            payers = [dest[r] or "" for r in rows[incoming].tolist()]
            _remember_payers(lists, acct[incoming], ts[incoming], payers)
            _remember_inflows(lists, acct[incoming].tolist(), ts[incoming].tolist(), payers, amount[incoming].tolist())
        for a in np.unique(acct).tolist():  # every account with a money row
            s = lists[a]
            hours = s.flow_hour
            if hours[0] <= hours[-1] - FLOW_RETENTION_H:  # hours are in order: drop from the front
                drop = bisect.bisect_right(hours, hours[-1] - FLOW_RETENTION_H)
                del hours[:drop], s.flow_in[:drop], s.flow_out[:drop]


def _add_hourly(
    new: list[AccountLists], acct: npt.NDArray[np.integer], hour: Ints, money_in: Ints, money_out: Ints
) -> None:
    """Add money in / out per (account, hour) bucket, the buckets in hour order."""
    uniq, first, inverse = factor(pair_keys(acct, hour - int(hour.min())))
    sum_in, sum_out = np.zeros(len(uniq), np.int64), np.zeros(len(uniq), np.int64)
    np.add.at(sum_in, inverse, money_in)
    np.add.at(sum_out, inverse, money_out)
    for a, h, got, sent in zip(
        acct[first].tolist(), hour[first].tolist(), sum_in.tolist(), sum_out.tolist(), strict=True
    ):
        s = new[a]
        hours = s.flow_hour
        if not hours or hours[-1] < h:  # the usual case: a new hour, appended in order
            hours.append(h)
            s.flow_in.append(got)
            s.flow_out.append(sent)
        else:
            i = _hour_slot(s, h)
            s.flow_in[i] += got
            s.flow_out[i] += sent


def _hour_slot(s: AccountLists, hour: int) -> int:
    """Index of ``hour`` in the account's hourly flow (a late event), inserted in order when missing."""
    i = bisect.bisect_left(s.flow_hour, hour)
    if i == len(s.flow_hour) or s.flow_hour[i] != hour:
        s.flow_hour.insert(i, hour)
        s.flow_in.insert(i, 0)
        s.flow_out.insert(i, 0)
    return i


def _remember_payers(new: list[AccountLists], acct: npt.NDArray[np.integer], ts: Ints, payers: list[str]) -> None:
    """Each payer's latest incoming transfer; the newest MAX_PAYERS within PAYER_RETENTION_MS."""
    codes, names = factorize(payers)
    width = len(names) + 1
    keys, last = last_in_group(acct.astype(np.int64) * width + codes, np.ones(len(codes), np.bool_))
    received: set[int] = set()
    for key, t in zip(keys.tolist(), ts[last].tolist(), strict=True):
        s, payer = new[key // width], names[key % width]
        if t > s.payers.get(payer, -1):
            s.payers[payer] = t
        received.add(key // width)
    for a in received:
        kept = new[a].payers
        newest = max(kept.values())
        if len(kept) > MAX_PAYERS or min(kept.values()) <= newest - PAYER_RETENTION_MS:
            newest_first = sorted(((t, p) for p, t in kept.items() if t > newest - PAYER_RETENTION_MS), reverse=True)
            new[a].payers = {p: t for t, p in newest_first[:MAX_PAYERS]}


def _stored_inflows(s: AccountLists, min_payment_vnd: int) -> list[tuple[int, str]]:
    """The account's stored ``(ms, payer)`` inflows of at least ``min_payment_vnd`` (or of unknown amount)."""
    if min_payment_vnd <= 0:
        return list(zip(s.inflow_ms, s.inflow_from, strict=True))
    amounts = _amounts(s)
    return [
        (t, p)
        for t, p, v in zip(s.inflow_ms, s.inflow_from, amounts, strict=True)
        if v >= min_payment_vnd or v == UNKNOWN_VND
    ]


def _amounts(s: AccountLists) -> list[int]:
    """``inflow_vnd`` aligned with ``inflow_ms``: inflows kept before amounts were are ``UNKNOWN_VND``."""
    return [UNKNOWN_VND] * (len(s.inflow_ms) - len(s.inflow_vnd)) + s.inflow_vnd


def _remember_inflows(
    new: list[AccountLists], accounts: list[int], times: list[int], payers: list[str], amounts: list[int]
) -> None:
    """Append incoming transfers (in arrival order) and keep each account's newest ones."""
    for a in set(accounts):  # a record of before amounts were kept: align them first
        s = new[a]
        if len(s.inflow_vnd) != len(s.inflow_ms):
            s.inflow_vnd = _amounts(s)
    for a, t, payer, vnd in zip(accounts, times, payers, amounts, strict=True):
        s = new[a]
        s.inflow_ms.append(t)
        s.inflow_from.append(payer)
        s.inflow_vnd.append(vnd)
    for a in set(accounts):
        s = new[a]
        newest = max(s.inflow_ms)
        if len(s.inflow_ms) > MAX_INFLOWS or min(s.inflow_ms) <= newest - PAYER_RETENTION_MS:
            kept = [i for i, t in enumerate(s.inflow_ms) if t > newest - PAYER_RETENTION_MS][-MAX_INFLOWS:]
            s.inflow_ms = [s.inflow_ms[i] for i in kept]
            s.inflow_from = [s.inflow_from[i] for i in kept]
            s.inflow_vnd = [s.inflow_vnd[i] for i in kept]
