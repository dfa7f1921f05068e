"""Devices (R3, R6a, R12, R14): which devices the account used, the latest face-match result on
each, the device of its last transfer, and its last login from a device it had never used.

The one definition of device trust is here (``untrusted_device``, DOMAIN.md and Circular
50/2024): a rule that needs it asks the context, never the stored lists.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import ClassVar

import numpy as np

from rules.columns import BIOMETRIC, LOGIN
from rules.facts import batch_only
from rules.facts.batch import BatchBase, Bools, Ints, per_key
from rules.state import MAX_DEVICES, AccountLists, States
from rules.window import from_prior, last_in_group, prior_in_group


def remember(items: list[str], item: str, limit: int) -> None:
    """Move or add ``item`` to the end of ``items`` (most recent last), keeping the newest ``limit``."""
    if item in items:
        items.remove(item)
    items.append(item)
    del items[:-limit]


class Devices(BatchBase):
    STORED: ClassVar[tuple[str, ...]] = (
        "known_devices",
        "bio",
        "last_transfer_device",
        "last_transfer_ms",
        "new_device_login_ms",
    )

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
        from_state = self._in_lists(prior < 0, lambda s, device: s.bio.get(device, 0) > 0)
        return self.has_device & (in_batch | from_state)

    @cached_property
    def device_seen(self) -> Bools:
        """The device was used on this account before this row."""
        prior = self._prior_device_use
        from_state = self._in_lists(prior < 0, lambda s, device: device in s.known_devices)
        return self.has_device & ((prior >= 0) | from_state)

    def _in_lists(self, where: Bools, known: Callable[[AccountLists, str], bool]) -> Bools:
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
        stored = self._stored("new_device_login_ms")
        return from_prior(prior, self.batch.ts_ms, stored)

    @cached_property
    def same_as_last_transfer_device(self) -> Bools:
        """The device is the one the account's previous transfer came from."""
        b = self.batch
        code = self._device_code
        stored = self._per_account([code.get(s.last_transfer_device or "", -2) for s in self._st])
        last = from_prior(self._prior_device_transfer, b.device, stored)
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

    def advance(self, new: States) -> None:
        """The last new-device login and transfer device, each device's latest face-match result
        (the newest MAX_DEVICES), and the devices used (most recent last)."""
        b, lists = self.batch, new.filled_lists
        acct, dev, ts, names = b.account, b.device, b.ts_ms, b.devices
        accounts, rows = last_in_group(acct, self.new_device_login, self.by_account)
        new.column("new_device_login_ms")[accounts] = ts[rows]
        found = last_in_group(acct, self.is_transfer & self.has_device, self.by_account)
        new.column("last_transfer_ms")[found[0]] = ts[found[1]]
        for a, d in per_key(found, dev):
            lists[a].last_transfer_device = names[d]
        bio_mask = (b.kind == BIOMETRIC) & self.has_device
        _, bio_rows = last_in_group(self.device_pair, bio_mask, self.by_device_pair)  # keys ascending
        for a, d, t, result in zip(
            acct[bio_rows].tolist(),
            dev[bio_rows].tolist(),
            ts[bio_rows].tolist(),
            b.bio[bio_rows].tolist(),
            strict=True,
        ):
            bio = lists[a].bio
            bio[names[d]] = t if result == 1 else -t
            if len(bio) > MAX_DEVICES:  # forget the oldest result
                del bio[min(bio, key=lambda device: abs(bio[device]))]
        _, used = last_in_group(self.device_pair, self.has_device, self.by_device_pair)
        used.sort()  # in row order so "most recent last" holds
        for a, d in zip(acct[used].tolist(), dev[used].tolist(), strict=True):
            known, name = lists[a].known_devices, names[d]
            if not known or known[-1] != name:  # inline check: most events reuse the last device
                remember(known, name, MAX_DEVICES)
