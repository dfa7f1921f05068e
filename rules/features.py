"""Per-row facts derived once per batch and shared by the rules.

Each fact combines what earlier rows of the same batch show with what the
account's stored state says about the time before the batch, so a rule sees
the account exactly as if events were judged one by one in order. The money and
shared-IP facts (R6b, R8, R9, R10) are in ``rules.money``, a base class of the context.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from rules.columns import (
    BIOMETRIC,
    ID_DOCUMENT_CHANGE,
    LOGIN,
    OTP_PHONE_CHANGE,
    TRANSFER,
    EventBatch,
)
from rules.facts import batch_only, batch_only_names
from rules.ip_cluster import Episode
from rules.money import DAY_MS, VN_OFFSET_MS, MoneyFacts
from rules.state import AccountState
from rules.window import (
    cumsum_in_group,
    from_prior,
    group_order,
    member,
    pair_keys,
    prior_in_group,
    short_string_codes,
)

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]


class BatchContext(MoneyFacts):
    """Columns plus derived per-row facts for one batch (computed lazily, once)."""

    def __init__(
        self,
        batch: EventBatch,
        states: Sequence[AccountState | None],
        countries: npt.NDArray[np.str_],
        home_countries: frozenset[str],
        counterparty_listed: Bools | None = None,
        ip_accounts: Mapping[str, Mapping[str, Sequence[Episode]]] | None = None,
        facts: Mapping[str, Any] | None = None,
        device_id_required_on: frozenset[int] = frozenset(),
    ) -> None:
        self.batch = batch
        self.device_id_required_on = device_id_required_on
        self.states = states
        self.countries = countries
        self.home_countries = home_countries
        # Per row: the counterparty (payee of a transfer, payer of an incoming one) is on the
        # shared suspicious-account list; looked up by the caller, one lookup per batch.
        n = len(batch)
        self.counterparty_listed = counterparty_listed if counterparty_listed is not None else np.zeros(n, np.bool_)
        # Foreign IP -> account -> its visits there, across all workers, this batch's merged in
        # (R6b, ``rules.ip_cluster``); merged and looked up by the caller.
        self.ip_accounts: Mapping[str, Mapping[str, Sequence[Episode]]] = ip_accounts or {}
        empty = AccountState()
        self._st = [s or empty for s in states]  # stored state per account code
        if facts:  # from ``batch_facts`` on this same batch: cached properties already known
            self.__dict__.update(facts)

    @batch_only
    def by_account(self) -> Ints:
        """Sort order shared by every per-account question of this batch."""
        return group_order(self.batch.account)

    def _prior(self, mask: Bools) -> Ints:
        """Last earlier row of the same account with ``mask`` set (-1: none in this batch)."""
        return prior_in_group(self.batch.account, mask, self.by_account)

    @batch_only
    def by_device_pair(self) -> Ints:
        return group_order(self.device_pair)

    @batch_only
    def is_transfer(self) -> Bools:
        return self.batch.kind == TRANSFER

    @batch_only
    def is_login_or_transfer(self) -> Bools:
        return self.is_transfer | (self.batch.kind == LOGIN)

    @batch_only
    def has_device(self) -> Bools:
        return self.batch.device >= 0

    @batch_only
    def device_pair(self) -> Ints:
        return pair_keys(self.batch.account, self.batch.device)

    @cached_property
    def _device_code(self) -> dict[str, int]:
        return {d: i for i, d in enumerate(self.batch.devices)}

    # --- OTP phone change -------------------------------------------------
    @batch_only
    def _prior_otp(self) -> Ints:
        return self._prior(self.batch.kind == OTP_PHONE_CHANGE)

    @cached_property
    def otp_change_ms(self) -> Ints:
        """Time of the account's last OTP-phone change before each row (0: none known)."""
        stored = self._per_account([s.otp_change_ms for s in self._st])
        prior = self._prior_otp
        return from_prior(prior, self.batch.ts_ms, stored)

    @batch_only
    def _prior_face_match(self) -> Ints:
        b = self.batch
        return self._prior((b.kind == BIOMETRIC) & (b.bio == 1))

    @cached_property
    def otp_confirmed(self) -> Bools:
        """A matched biometric came after the last OTP-phone change (before this row)."""
        prior_bio = self._prior_face_match
        stored_confirmed = self._per_account([s.otp_confirmed for s in self._st])
        prior_otp = self._prior_otp
        # Rows of the batch come after anything stored, so in-batch order decides first.
        return np.where(
            prior_otp >= 0,
            prior_bio > prior_otp,
            (prior_bio >= 0) | (stored_confirmed == 1),
        )

    # --- amounts (R1) -----------------------------------------------------
    @batch_only
    def local_day(self) -> Ints:
        """The row's calendar day in Asia/Ho_Chi_Minh (UTC+7, no daylight saving), as a day number."""
        return (self.batch.ts_ms + VN_OFFSET_MS) // DAY_MS

    @batch_only
    def _day_total_in_batch(self) -> Ints:
        """The account's outgoing total for the row's Vietnamese day within this batch, the row included."""
        b = self.batch
        keys = pair_keys(b.account, self.local_day - int(self.local_day.min(initial=0)))
        return cumsum_in_group(keys, np.where(self.is_transfer, b.amount, 0))

    @cached_property
    def day_total(self) -> Ints:
        """The account's outgoing total for the row's Vietnamese day, this transfer included."""
        stored_day = self._per_account([s.day for s in self._st])
        stored_total = self._per_account([s.day_total for s in self._st])
        return self._day_total_in_batch + np.where(stored_day == self.local_day, stored_total, 0)

    @cached_property
    def last_face_match_ms(self) -> Ints:
        """Time of the account's last matched biometric (any device) before the row (0: none)."""
        b = self.batch
        prior = self._prior_face_match
        stored = self._per_account([s.bio_match_ms for s in self._st])
        return from_prior(prior, b.ts_ms, stored)

    @cached_property
    def id_expires_day(self) -> Ints:
        """Expiry day of the account's latest ID document known before the row (-1: none)."""
        b = self.batch
        prior = self._prior_id_change
        stored = self._per_account([s.id_expires_day for s in self._st])
        column = b.id_expires_day if b.id_expires_day is not None else np.full(len(b), -1, np.int32)
        return from_prior(prior, column, stored).astype(np.int64)

    @batch_only
    def _prior_id_change(self) -> Ints:
        return self._prior(self.batch.kind == ID_DOCUMENT_CHANGE)

    def face_match_within(self, seconds: int) -> Bools:
        """A matched biometric on the account at most ``seconds`` before the row."""
        since = self.batch.ts_ms - self.last_face_match_ms
        return (self.last_face_match_ms > 0) & (since >= 0) & (since <= seconds * 1000)

    # --- devices ----------------------------------------------------------
    @batch_only
    def _prior_device_transfer(self) -> Ints:
        return self._prior(self.is_transfer & self.has_device)

    @batch_only
    def _prior_device_bio(self) -> Ints:
        """Last earlier biometric row of the same account and device (-1: none in this batch)."""
        return prior_in_group(self.device_pair, (self.batch.kind == BIOMETRIC) & self.has_device, self.by_device_pair)

    @batch_only
    def _prior_device_use(self) -> Ints:
        """Last earlier row of the same account and device (-1: none in this batch)."""
        return prior_in_group(self.device_pair, self.has_device, self.by_device_pair)

    @cached_property
    def device_verified(self) -> Bools:
        """The latest biometric result on (account, device) before the row is a match."""
        b = self.batch
        prior = self._prior_device_bio
        in_batch = (prior >= 0) & (b.bio[np.maximum(prior, 0)] == 1)
        from_state = self._stored(prior < 0, lambda s, device: s.bio.get(device, 0) > 0)
        return self.has_device & (in_batch | from_state)

    @cached_property
    def device_seen(self) -> Bools:
        """The device was used on this account before this row."""
        prior = self._prior_device_use
        from_state = self._stored(prior < 0, lambda s, device: device in s.known_devices)
        return self.has_device & ((prior >= 0) | from_state)

    def _stored(self, where: Bools, known: Callable[[AccountState, str], bool]) -> Bools:
        """``known(state, device)`` for the row's account and device, at the rows of ``where``
        that name a device (those with no earlier row of the batch to answer from); else False."""
        b = self.batch
        rows = np.flatnonzero(self.has_device & where)
        out = np.zeros(len(b), np.bool_)
        names, st = b.devices, self._st
        pairs = zip(b.account[rows].tolist(), b.device[rows].tolist(), strict=True)
        out[rows] = np.fromiter((known(st[a], names[d]) for a, d in pairs), np.bool_, len(rows))
        return out

    @cached_property
    def new_device_login(self) -> Bools:
        """A login from a device the account never used before (or naming none where it must)."""
        return (self.batch.kind == LOGIN) & ((self.has_device & ~self.device_seen) | self.device_missing)

    @cached_property
    def new_device_login_ms(self) -> Ints:
        """Time of the account's last new-device login before each row (0: none known)."""
        prior = self._prior(self.new_device_login)
        stored = self._per_account([s.new_device_login_ms for s in self._st])
        return from_prior(prior, self.batch.ts_ms, stored)

    @cached_property
    def same_as_last_transfer_device(self) -> Bools:
        """The device is the one the account's previous transfer came from."""
        b = self.batch
        prior = self._prior_device_transfer
        code = self._device_code
        stored = self._per_account([code.get(s.last_transfer_device or "", -2) for s in self._st])
        last = from_prior(prior, b.device, stored)
        return self.has_device & (last == b.device)

    @cached_property
    def device_missing(self) -> Bools:
        """A login or transfer that names no device on a channel where the contract requires one
        (``Ruleset.device_id_required_on``): it counts as an unknown device."""
        b = self.batch
        channel = b.channel if b.channel is not None else np.full(len(b), -1, np.int8)
        required = np.isin(channel, list(self.device_id_required_on))
        return self.is_login_or_transfer & ~self.has_device & required

    @cached_property
    def untrusted_device(self) -> Bools:
        """The one device-trust definition of R3, R6a and R12 (Circular 50/2024, DOMAIN.md):
        a new device (never used on the account, or not named where it must be) or an
        unverified one (its latest face match failed or never happened) that is not the device
        of the account's last transfer. A known device whose latest face match succeeded is
        trusted however long ago that was and whichever device paid last."""
        # A device never used on the account has no face match on it and paid nothing yet.
        named = self.has_device & ~self.device_verified & ~self.same_as_last_transfer_device
        return named | self.device_missing

    # --- IP country -------------------------------------------------------
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
    def _prior_country(self) -> Ints:
        """Last earlier login or transfer row of the same account and country (-1: none in this batch)."""
        _, _, pairs, order = self.country_pairs
        return prior_in_group(pairs, self.is_login_or_transfer & (self.countries != ""), order)

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


# Facts that depend on the batch alone, not on stored states (nor on the suspicious list or
# the shared IP store beyond ``counterparty_listed``): ``batch_facts`` computes them ahead,
# e.g. in a back-test's reading process, and ``BatchContext(facts=...)`` starts from them.
BATCH_ONLY = batch_only_names(BatchContext)


def batch_facts(
    batch: EventBatch,
    countries: npt.NDArray[np.str_],
    home_countries: frozenset[str],
    counterparty_listed: Bools | None = None,
) -> dict[str, Any]:
    """The ``BATCH_ONLY`` facts of ``batch``, to hand to ``BatchContext(facts=...)`` for the same batch."""
    ctx = BatchContext(batch, [None] * len(batch.accounts), countries, home_countries, counterparty_listed)
    return {name: getattr(ctx, name) for name in BATCH_ONLY}
