"""Per-row facts derived once per batch and shared by the rules.

Each fact combines what earlier rows of the same batch show with what the
account's stored state says about the time before the batch, so a rule sees
the account exactly as if events were judged one by one in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
import numpy.typing as npt

from rules.columns import BIOMETRIC, ID_DOCUMENT_CHANGE, LOGIN, OTP_PHONE_CHANGE, TRANSFER, EventBatch
from rules.state import AccountState
from rules.window import pair_keys, prior_in_group

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
VN_OFFSET_MS = 7 * 3_600_000  # Asia/Ho_Chi_Minh is UTC+7 all year
DAY_MS = 86_400_000


class BatchContext:
    """Columns plus derived per-row facts for one batch (computed lazily, once)."""

    def __init__(
        self,
        batch: EventBatch,
        states: Sequence[AccountState | None],
        countries: npt.NDArray[np.str_],
        home_countries: frozenset[str],
        payee_listed: Bools | None = None,
    ) -> None:
        self.batch = batch
        self.states = states
        self.countries = countries
        self.home_countries = home_countries
        # Per row: the transfer's payee is on the shared suspicious-account list (looked up by the caller).
        self.payee_listed = payee_listed if payee_listed is not None else np.zeros(len(batch), np.bool_)
        empty = AccountState()
        self._st = [s or empty for s in states]  # stored state per account code

    def _per_account(self, values: Sequence[int]) -> Ints:
        """Expand one value per account to one value per row."""
        return np.asarray(values, dtype=np.int64)[self.batch.account]

    @cached_property
    def is_transfer(self) -> Bools:
        return self.batch.kind == TRANSFER

    @cached_property
    def is_login_or_transfer(self) -> Bools:
        return self.is_transfer | (self.batch.kind == LOGIN)

    @cached_property
    def has_device(self) -> Bools:
        return self.batch.device >= 0

    @cached_property
    def device_pair(self) -> Ints:
        return pair_keys(self.batch.account, self.batch.device)

    def _state_pairs(self, devices_of: Sequence[Sequence[str]]) -> Ints:
        """Pair keys (as ``device_pair`` builds them) of stored devices present in the batch."""
        code = {d: i for i, d in enumerate(self.batch.devices)}
        width = int(self.batch.device.max(initial=0)) + 2
        keys = [a * width + code[d] + 1 for a, ds in enumerate(devices_of) for d in ds if d in code]
        return np.asarray(keys, dtype=np.int64)

    # --- OTP phone change -------------------------------------------------
    @cached_property
    def _prior_otp(self) -> Ints:
        return prior_in_group(self.batch.account, self.batch.kind == OTP_PHONE_CHANGE)

    @cached_property
    def otp_change_ms(self) -> Ints:
        """Time of the account's last OTP-phone change before each row (0: none known)."""
        stored = self._per_account([s.otp_change_ms for s in self._st])
        prior = self._prior_otp
        return np.where(prior >= 0, self.batch.ts_ms[np.maximum(prior, 0)], stored)

    @cached_property
    def otp_confirmed(self) -> Bools:
        """A matched biometric came after the last OTP-phone change (before this row)."""
        b = self.batch
        prior_bio = prior_in_group(b.account, (b.kind == BIOMETRIC) & (b.bio == 1))
        stored_confirmed = self._per_account([s.otp_confirmed for s in self._st])
        prior_otp = self._prior_otp
        # Rows of the batch come after anything stored, so in-batch order decides first.
        return np.where(
            prior_otp >= 0,
            prior_bio > prior_otp,
            (prior_bio >= 0) | (stored_confirmed == 1),
        )

    # --- amounts (R1) -----------------------------------------------------
    @cached_property
    def local_day(self) -> Ints:
        """The row's calendar day in Asia/Ho_Chi_Minh (UTC+7, no daylight saving), as a day number."""
        return (self.batch.ts_ms + VN_OFFSET_MS) // DAY_MS

    @cached_property
    def day_total(self) -> Ints:
        """The account's outgoing total for the row's Vietnamese day, this transfer included."""
        b = self.batch
        amounts = np.where(self.is_transfer, b.amount, 0)
        keys = pair_keys(b.account, self.local_day - int(self.local_day.min(initial=0)))
        order = np.argsort(keys, kind="stable")
        running = np.cumsum(amounts[order])
        start = np.empty(len(order), np.bool_)
        start[:1] = True
        start[1:] = keys[order][1:] != keys[order][:-1]
        base = np.maximum.accumulate(np.where(start, np.arange(len(order)), 0))
        in_batch = np.empty(len(order), np.int64)
        in_batch[order] = running - running[base] + amounts[order][base]
        stored_day = self._per_account([s.day for s in self._st])
        stored_total = self._per_account([s.day_total for s in self._st])
        return in_batch + np.where(stored_day == self.local_day, stored_total, 0)

    @cached_property
    def last_face_match_ms(self) -> Ints:
        """Time of the account's last matched biometric (any device) before the row (0: none)."""
        b = self.batch
        prior = prior_in_group(b.account, (b.kind == BIOMETRIC) & (b.bio == 1))
        stored = self._per_account([s.bio_match_ms for s in self._st])
        return np.where(prior >= 0, b.ts_ms[np.maximum(prior, 0)], stored)

    @cached_property
    def id_expires_day(self) -> Ints:
        """Expiry day of the account's latest ID document known before the row (-1: none)."""
        b = self.batch
        prior = prior_in_group(b.account, b.kind == ID_DOCUMENT_CHANGE)
        stored = self._per_account([s.id_expires_day for s in self._st])
        column = b.id_expires_day if b.id_expires_day is not None else np.full(len(b), -1, np.int32)
        return np.where(prior >= 0, column[np.maximum(prior, 0)].astype(np.int64), stored)

    def face_match_within(self, seconds: int) -> Bools:
        """A matched biometric on the account at most ``seconds`` before the row."""
        since = self.batch.ts_ms - self.last_face_match_ms
        return (self.last_face_match_ms > 0) & (since >= 0) & (since <= seconds * 1000)

    # --- devices ----------------------------------------------------------
    @cached_property
    def _prior_device_transfer(self) -> Ints:
        return prior_in_group(self.batch.account, self.is_transfer & self.has_device)

    @cached_property
    def device_bio_ok(self) -> Bools:
        """A biometric match on (account, device) is the latest result there and came after
        the account's previous transfer: switching devices needs a fresh match (Circular 50/2024)."""
        b = self.batch
        prior = prior_in_group(self.device_pair, (b.kind == BIOMETRIC) & self.has_device)
        prior_transfer = self._prior_device_transfer
        in_batch = (prior >= 0) & (b.bio[np.maximum(prior, 0)] == 1) & (prior > prior_transfer)
        # A stored match counts only when no transfer of this batch came before the row. The state
        # keeps it by order, not by clock: a match and a transfer can share a millisecond.
        stored_ok = np.isin(self.device_pair, self._state_pairs([s.bio_since_transfer for s in self._st]))
        from_state = (prior < 0) & (prior_transfer < 0) & stored_ok
        return self.has_device & (in_batch | from_state)

    @cached_property
    def device_seen(self) -> Bools:
        """The device was used on this account before this row."""
        prior = prior_in_group(self.device_pair, self.has_device)
        stored = self._state_pairs([s.known_devices for s in self._st])
        return self.has_device & ((prior >= 0) | np.isin(self.device_pair, stored))

    @cached_property
    def new_device_login(self) -> Bools:
        """A login from a device the account never used before."""
        return (self.batch.kind == LOGIN) & self.has_device & ~self.device_seen

    @cached_property
    def new_device_login_ms(self) -> Ints:
        """Time of the account's last new-device login before each row (0: none known)."""
        prior = prior_in_group(self.batch.account, self.new_device_login)
        stored = self._per_account([s.new_device_login_ms for s in self._st])
        return np.where(prior >= 0, self.batch.ts_ms[np.maximum(prior, 0)], stored)

    @cached_property
    def same_as_last_transfer_device(self) -> Bools:
        """The device is the one the account's previous transfer came from."""
        b = self.batch
        prior = self._prior_device_transfer
        code = {d: i for i, d in enumerate(b.devices)}
        stored = self._per_account([code.get(s.last_transfer_device or "", -2) for s in self._st])
        last = np.where(prior >= 0, b.device[np.maximum(prior, 0)], stored)
        return self.has_device & (last == b.device)

    @cached_property
    def untrusted_device(self) -> Bools:
        """Circular 50/2024: neither biometric-verified nor the last device used to transact."""
        return self.has_device & ~self.device_bio_ok & ~self.same_as_last_transfer_device

    # --- IP country -------------------------------------------------------
    @cached_property
    def foreign(self) -> Bools:
        known = self.countries != ""
        home = np.isin(self.countries, list(self.home_countries))
        return self.is_login_or_transfer & known & ~home

    @cached_property
    def country_seen(self) -> Bools:
        """The account used an IP of this country before this row."""
        names, inverse = np.unique(self.countries, return_inverse=True)
        codes = inverse.reshape(-1).astype(np.int64)
        pairs = pair_keys(self.batch.account, codes)
        prior = prior_in_group(pairs, self.is_login_or_transfer & (self.countries != ""))
        index = {c: i for i, c in enumerate(names.tolist())}
        width = int(codes.max(initial=0)) + 2
        stored = np.asarray(
            [a * width + index[c] + 1 for a, s in enumerate(self._st) for c in s.countries if c in index],
            dtype=np.int64,
        )
        return (prior >= 0) | np.isin(pairs, stored)
