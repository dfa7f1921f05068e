"""The usual amount (R10): how many transfers the account made and their total (their mean)."""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar

import numpy as np

from rules.facts import batch_only
from rules.facts.batch import BatchBase, Ints
from rules.state import AccountState
from rules.window import cumsum_in_group


class UsualAmount(BatchBase):
    STORED: ClassVar[tuple[str, ...]] = ("transfer_count", "transfer_sum")

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

    def advance(self, new: list[AccountState]) -> None:
        """Add the batch's transfers, summed per account with numpy first."""
        b, out = self.batch, self.is_transfer
        count = np.bincount(b.account[out], minlength=len(new))
        senders = np.flatnonzero(count)
        totals = np.zeros(len(new), np.int64)
        np.add.at(totals, b.account[out], b.amount[out])
        for a, n, total in zip(senders.tolist(), count[senders].tolist(), totals[senders].tolist(), strict=True):
            s = new[a]
            s.transfer_count += n
            s.transfer_sum += total
