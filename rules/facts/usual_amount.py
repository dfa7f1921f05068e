"""The usual amount (R10): how many transfers the account made and their total (their mean)."""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar

import numpy as np

from rules.facts import batch_only
from rules.facts.batch import BatchBase, Ints
from rules.state import States
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
        return count + self._stored("transfer_count"), total + self._stored("transfer_sum")

    def advance(self, new: States) -> None:
        """Add the batch's transfers, summed per account."""
        b, out = self.batch, self.is_transfer
        new.column("transfer_count")[:] += np.bincount(b.account[out], minlength=len(new))
        np.add.at(new.column("transfer_sum"), b.account[out], b.amount[out])
