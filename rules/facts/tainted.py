"""Tainted credits (R9): incoming transfers from accounts on the shared suspicious list."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from rules.facts import batch_only
from rules.facts.batch import BatchBase, Bools, Ints
from rules.state import MAX_TAINTED, TAINTED_RETENTION_MS, States
from rules.window import window_sum


class Tainted(BatchBase):
    STORED: ClassVar[tuple[str, ...]] = ("tainted_ms",)

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

    def advance(self, new: States) -> None:
        """Add the tainted credits' times; keep the newest MAX_TAINTED within the retention."""
        lists = new.filled_lists
        b, tainted = self.batch, self.tainted_in
        for a, t in zip(b.account[tainted].tolist(), b.ts_ms[tainted].tolist(), strict=True):
            times = lists[a].tainted_ms
            times.append(int(t))
            newest = max(times)
            times[:] = [x for x in times if x > newest - TAINTED_RETENTION_MS][-MAX_TAINTED:]
