"""IP countries (R6a): which countries the account's logins and transfers came from."""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from rules.facts import batch_only
from rules.facts.batch import BatchBase, Bools, Ints
from rules.state import States, country_codes
from rules.window import group_order, last_in_group, pair_keys, prior_in_group, remember_recent


class Countries(BatchBase):
    STORED: ClassVar[tuple[str, ...]] = ("countries",)

    @batch_only
    def foreign(self) -> Bools:
        known = self.countries != ""
        home = np.isin(self.countries, list(self.home_countries))
        return self.is_login_or_transfer & known & ~home

    @batch_only
    def _country_code(self) -> npt.NDArray[np.uint32]:
        """The row's country as the number the stored slots hold (``rules.state.country_codes``)."""
        return country_codes(self.countries)

    @batch_only
    def country_pairs(self) -> tuple[Ints, Ints]:
        """``((account, country) key per row, rows sorted by that key)``."""
        pairs = pair_keys(self.batch.account, self._country_code)
        return pairs, group_order(pairs)

    @batch_only
    def _with_country(self) -> Bools:
        """Logins and transfers whose IP has a known country."""
        return self.is_login_or_transfer & (self.countries != "")

    @batch_only
    def _prior_country(self) -> Ints:
        """Last earlier login or transfer row of the same account and country (-1: none in this batch)."""
        pairs, order = self.country_pairs
        return prior_in_group(pairs, self._with_country, order)

    @cached_property
    def country_seen(self) -> Bools:
        """The account used an IP of this country before this row."""
        code = self._country_code
        stored = (self._stored("countries") == code[:, None]).any(axis=1) & (code != 0)
        return (self._prior_country >= 0) | stored

    def advance(self, new: States) -> None:
        """The countries used (most recent last, the newest MAX_COUNTRIES)."""
        pairs, order = self.country_pairs
        _, rows = last_in_group(pairs, self._with_country, order)
        rows.sort()  # in row order so "most recent last" holds
        remember_recent(new.column("countries"), self.batch.account[rows], self._country_code[rows])
