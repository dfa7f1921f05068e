"""The ID document (R4): when the account's latest ID document on record expires."""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar

import numpy as np

from rules.columns import ID_DOCUMENT_CHANGE
from rules.facts import batch_only
from rules.facts.batch import BatchBase, Ints
from rules.state import States
from rules.window import from_prior, last_in_group


class IdDocument(BatchBase):
    STORED: ClassVar[tuple[str, ...]] = ("id_expires_day",)

    @batch_only
    def _prior_id_change(self) -> Ints:
        return self._prior(self.batch.kind == ID_DOCUMENT_CHANGE)

    @cached_property
    def id_expires_day(self) -> Ints:
        """Expiry day of the account's latest ID document known before the row (-1: none)."""
        b = self.batch
        stored = self._stored("id_expires_day")
        column = b.id_expires_day if b.id_expires_day is not None else np.full(len(b), -1, np.int32)
        return from_prior(self._prior_id_change, column, stored).astype(np.int64)

    def advance(self, new: States) -> None:
        """The expiry of the latest ID document the batch records."""
        b = self.batch
        if b.id_expires_day is None:
            return
        accounts, rows = last_in_group(b.account, b.kind == ID_DOCUMENT_CHANGE, self.by_account)
        new.column("id_expires_day")[accounts] = b.id_expires_day[rows]
