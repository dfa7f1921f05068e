"""The day's outgoing total (R1): how much the account sent on the row's Vietnamese calendar day."""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar

import numpy as np

from rules.facts import batch_only
from rules.facts.batch import BatchBase, Ints
from rules.state import States
from rules.window import cumsum_in_group, last_in_group, pair_keys


class DayTotal(BatchBase):
    STORED: ClassVar[tuple[str, ...]] = ("day", "day_total")

    @batch_only
    def _day_total_in_batch(self) -> Ints:
        """The account's outgoing total for the row's Vietnamese day within this batch, the row included."""
        b = self.batch
        keys = pair_keys(b.account, self.local_day - int(self.local_day.min(initial=0)))
        return cumsum_in_group(keys, np.where(self.is_transfer, b.amount, 0))

    @cached_property
    def day_total(self) -> Ints:
        """The account's outgoing total for the row's Vietnamese day, this transfer included."""
        stored_day, stored_total = self._stored("day"), self._stored("day_total")
        return self._day_total_in_batch + np.where(stored_day == self.local_day, stored_total, 0)

    def advance(self, new: States) -> None:
        """The total of the account's latest Vietnamese day: a late transfer (an earlier day)
        counts toward its own day's total but never replaces the latest day's."""
        b, day, total = self.batch, self.local_day, self.day_total
        out = self.is_transfer
        latest = np.full(len(new), np.iinfo(np.int64).min, np.int64)
        np.maximum.at(latest, b.account[out], day[out])
        on_latest = out & (day == latest[b.account])
        accounts, rows = last_in_group(b.account, on_latest, self.by_account)
        stored_day = new.column("day")
        later = day[rows] >= stored_day[accounts]
        accounts, rows = accounts[later], rows[later]
        stored_day[accounts] = day[rows]
        new.column("day_total")[accounts] = total[rows]
