"""IP countries (R6a): which countries the account's logins and transfers came from."""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar

import numpy as np

from rules.facts import batch_only
from rules.facts.batch import BatchBase, Bools, Ints
from rules.facts.devices import remember
from rules.state import MAX_COUNTRIES, States
from rules.window import group_order, last_in_group, member, pair_keys, prior_in_group, short_string_codes


class Countries(BatchBase):
    STORED: ClassVar[tuple[str, ...]] = ("countries",)

    @batch_only
    def foreign(self) -> Bools:
        known = self.countries != ""
        home = np.isin(self.countries, list(self.home_countries))
        return self.is_login_or_transfer & known & ~home

    @batch_only
    def country_pairs(self) -> tuple[Ints, list[str], Ints, Ints]:
        """``(country code per row, country names, (account, country) key per row, rows sorted by that key)``."""
        codes, names = short_string_codes(self.countries)
        pairs = pair_keys(self.batch.account, codes)
        return codes, names, pairs, group_order(pairs)

    @batch_only
    def _with_country(self) -> Bools:
        """Logins and transfers whose IP has a known country."""
        return self.is_login_or_transfer & (self.countries != "")

    @batch_only
    def _prior_country(self) -> Ints:
        """Last earlier login or transfer row of the same account and country (-1: none in this batch)."""
        _, _, pairs, order = self.country_pairs
        return prior_in_group(pairs, self._with_country, order)

    @cached_property
    def country_seen(self) -> Bools:
        """The account used an IP of this country before this row."""
        codes, names, pairs, _ = self.country_pairs
        prior = self._prior_country
        index = {c: i for i, c in enumerate(names)}
        width = int(codes.max(initial=0)) + 2
        stored = np.asarray(
            [a * width + index[c] + 1 for a, s in enumerate(self._st) for c in s.countries if c in index],
            dtype=np.int64,
        )
        return (prior >= 0) | member(pairs, stored, where=prior < 0)

    def advance(self, states: States) -> None:
        """The countries used (most recent last, the newest MAX_COUNTRIES)."""
        new = states.filled_lists
        codes, names, pairs, order = self.country_pairs
        _, rows = last_in_group(pairs, self._with_country, order)
        rows.sort()  # in row order so "most recent last" holds
        for a, c in zip(self.batch.account[rows].tolist(), codes[rows].tolist(), strict=True):
            seen, name = new[a].countries, names[c]
            if not seen or seen[-1] != name:
                remember(seen, name, MAX_COUNTRIES)
