"""Payees (R8, R15): whom the account paid on which Vietnamese days, and its transfers that
either rule counts (to a payee paid on an earlier day, or of LARGE_OUTFLOW_VND or more)."""

from __future__ import annotations

import bisect
from typing import ClassVar

import numpy as np

from rules.facts.batch import BatchBase, Ints, vn_day
from rules.state import (
    FLOW_RETENTION_H,
    HOUR_MS,
    LARGE_OUTFLOW_VND,
    MAX_OUTFLOWS,
    MAX_PAID_DAYS,
    PAID_RETENTION_DAYS,
    States,
)

_MAX_DAY = 1 << 40  # later than any day number


class Payees(BatchBase):
    STORED: ClassVar[tuple[str, ...]] = ("paid_to", "paid_day", "outflow_ms", "outflow_to", "outflow_vnd")

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
                if since < at <= t and v >= least and first_day.get(p, _MAX_DAY) >= vn_day(at)
            ]
            for e in self._transfers_upto(r, included=True).tolist():  # a payee's first day as the rows go
                payee, at, v = b.dest[e], int(b.ts_ms[e]), int(b.amount[e])
                if not payee:
                    continue
                new = first_day.get(payee, _MAX_DAY) >= vn_day(at)
                first_day[payee] = min(vn_day(at), first_day.get(payee, _MAX_DAY))
                if new and since < at <= t and v >= least:
                    found.append(v)
            count[r], total[r] = len(found), sum(found)
        return count, total

    def _days_paid(self, row: int, before_ms: int) -> dict[str, set[int]]:
        """The account's payees and the distinct Vietnamese days before the day of ``before_ms``
        on which it paid them: stored pairs, then the batch's transfers before ``row``."""
        b = self.batch
        assert b.dest is not None  # noqa: S101  (callers check)
        last = vn_day(before_ms)
        s = self._st[b.account[row]]
        paid: dict[str, set[int]] = {}
        for p, d in zip(s.paid_to, s.paid_day, strict=True):
            if d < last:
                paid.setdefault(p, set()).add(d)
        day = self.local_day
        for e in self._transfers_upto(row, included=False).tolist():
            if day[e] < last and (payee := b.dest[e]):
                paid.setdefault(payee, set()).add(int(day[e]))
        return paid

    def advance(self, new: States) -> None:
        """Record each (payee, Vietnamese day) of the batch's transfers once, ``paid_day`` kept in
        day order (a late transfer is inserted at its day); the oldest days go first. A transfer
        to a payee paid on an earlier day, or of ``LARGE_OUTFLOW_VND`` or more, is also kept as
        an outflow (``outflow_*``)."""
        lists = new.filled_lists
        b = self.batch
        rows = np.flatnonzero(self.is_transfer)
        if len(rows) == 0 or b.dest is None:
            return
        dest, ts, amount = b.dest, b.ts_ms[rows].tolist(), b.amount[rows].tolist()
        touched: set[int] = set()
        sent: set[int] = set()
        for r, a, d, t, vnd in zip(
            rows.tolist(), b.account[rows].tolist(), self.local_day[rows].tolist(), ts, amount, strict=True
        ):
            payee = dest[r]
            if not payee:
                continue
            s = lists[a]
            lo, hi = bisect.bisect_left(s.paid_day, d), bisect.bisect_right(s.paid_day, d)
            if vnd >= LARGE_OUTFLOW_VND or payee in s.paid_to[:lo]:
                s.outflow_ms.append(t)
                s.outflow_to.append(payee)
                s.outflow_vnd.append(vnd)
                sent.add(a)
            if payee not in s.paid_to[lo:hi]:
                s.paid_to.insert(hi, payee)
                s.paid_day.insert(hi, d)
                touched.add(a)
        for a in touched:
            s = lists[a]
            too_old = bisect.bisect_right(s.paid_day, s.paid_day[-1] - PAID_RETENTION_DAYS)
            drop = max(len(s.paid_day) - MAX_PAID_DAYS, too_old)
            if drop > 0:
                del s.paid_to[:drop], s.paid_day[:drop]
        for a in sent:
            s = lists[a]
            since = s.outflow_ms[-1] - FLOW_RETENTION_H * HOUR_MS  # the latest to arrive
            if len(s.outflow_ms) > MAX_OUTFLOWS or s.outflow_ms[0] <= since:
                kept = [i for i, t in enumerate(s.outflow_ms) if t > since][-MAX_OUTFLOWS:]
                s.outflow_ms = [s.outflow_ms[i] for i in kept]
                s.outflow_to = [s.outflow_to[i] for i in kept]
                s.outflow_vnd = [s.outflow_vnd[i] for i in kept]
