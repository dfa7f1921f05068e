"""Face matches and OTP-phone changes (R1, R2, R5, R12): when the account last passed a face
match, when its OTP phone number last changed, and whether a match came after that change."""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar

import numpy as np

from rules.columns import BIOMETRIC, OTP_PHONE_CHANGE
from rules.facts import batch_only
from rules.facts.batch import BatchBase, Bools, Ints
from rules.state import States
from rules.window import from_prior, last_in_group


class Verification(BatchBase):
    STORED: ClassVar[tuple[str, ...]] = ("otp_change_ms", "otp_confirmed", "bio_match_ms")

    @batch_only
    def _prior_otp(self) -> Ints:
        return self._prior(self.batch.kind == OTP_PHONE_CHANGE)

    @cached_property
    def otp_change_ms(self) -> Ints:
        """Time of the account's last OTP-phone change before each row (0: none known)."""
        stored = self._stored("otp_change_ms")
        return from_prior(self._prior_otp, self.batch.ts_ms, stored)

    @batch_only
    def _prior_face_match(self) -> Ints:
        b = self.batch
        return self._prior((b.kind == BIOMETRIC) & (b.bio == 1))

    @cached_property
    def otp_confirmed(self) -> Bools:
        """A matched biometric came after the last OTP-phone change (before this row)."""
        prior_bio = self._prior_face_match
        stored_confirmed = self._stored("otp_confirmed")
        prior_otp = self._prior_otp
        # Rows of the batch come after anything stored, so in-batch order decides first.
        return np.where(
            prior_otp >= 0,
            prior_bio > prior_otp,
            (prior_bio >= 0) | (stored_confirmed == 1),
        )

    @cached_property
    def last_face_match_ms(self) -> Ints:
        """Time of the account's last matched biometric (any device) before the row (0: none)."""
        stored = self._stored("bio_match_ms")
        return from_prior(self._prior_face_match, self.batch.ts_ms, stored)

    def face_match_within(self, seconds: int) -> Bools:
        """A matched biometric on the account at most ``seconds`` before the row."""
        since = self.batch.ts_ms - self.last_face_match_ms
        return (self.last_face_match_ms > 0) & (since >= 0) & (since <= seconds * 1000)

    def advance(self, new: States) -> None:
        """The latest face match; the latest OTP change, confirmed when a match followed it."""
        b = self.batch
        matched, match_rows = last_in_group(b.account, (b.kind == BIOMETRIC) & (b.bio == 1), self.by_account)
        new.column("bio_match_ms")[matched] = b.ts_ms[match_rows]
        confirmed = new.column("otp_confirmed")
        confirmed[matched] = 1
        changed, rows = last_in_group(b.account, b.kind == OTP_PHONE_CHANGE, self.by_account)
        last_match = np.full(len(new), -1, np.int64)
        last_match[matched] = match_rows
        new.column("otp_change_ms")[changed] = b.ts_ms[rows]
        confirmed[changed] = last_match[changed] > rows
