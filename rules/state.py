"""Per-account state that rules need from earlier batches, and how a batch advances it.

State is bounded: a handful of devices and countries per account, never a list
that grows with the number of events. ``streams`` stores it (one packed record
per account); this module only says what it holds and how it changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np

from rules.columns import BIOMETRIC, LOGIN, OTP_PHONE_CHANGE, TRANSFER, EventBatch
from rules.window import last_in_group, pair_keys

MAX_DEVICES = 8
MAX_COUNTRIES = 8


class AccountState(msgspec.Struct, array_like=True, kw_only=True):
    """What earlier events of one account left behind (compact msgpack array)."""

    last_transfer_device: str | None = None
    # Devices seen on this account, most recent last.
    known_devices: list[str] = msgspec.field(default_factory=list)
    # Latest biometric result per device: +ts_ms when matched, -ts_ms when not.
    bio: dict[str, int] = msgspec.field(default_factory=dict)
    otp_change_ms: int = 0
    countries: list[str] = msgspec.field(default_factory=list)
    last_transfer_ms: int = 0
    # A biometric match came after the last OTP-phone change (R2 needs order, not clocks).
    otp_confirmed: bool = False


def _remember(items: list[str], item: str, limit: int) -> None:
    if item in items:
        items.remove(item)
    items.append(item)
    del items[:-limit]


def advance(batch: EventBatch, states: Sequence[AccountState | None], countries: np.ndarray) -> list[AccountState]:
    """New state of every account in ``batch`` after all its rows (index = account code)."""
    new = [msgspec.structs.replace(s) if s is not None else AccountState() for s in states]
    for s, old in zip(new, states, strict=True):  # replace() is shallow: copy the containers
        if old is not None:
            s.known_devices = list(old.known_devices)
            s.bio = dict(old.bio)
            s.countries = list(old.countries)
    acct, dev, kind, ts = batch.account, batch.device, batch.kind, batch.ts_ms
    has_dev = dev >= 0

    last_bio = dict(zip(*last_in_group(acct, (kind == BIOMETRIC) & (batch.bio == 1)), strict=True))
    for a in last_bio:
        new[a].otp_confirmed = True
    for a, row in zip(*last_in_group(acct, kind == OTP_PHONE_CHANGE), strict=True):
        new[a].otp_change_ms = int(ts[row])
        new[a].otp_confirmed = bool(last_bio.get(a, -1) > row)
    for a, row in zip(*last_in_group(acct, (kind == TRANSFER) & has_dev), strict=True):
        new[a].last_transfer_device = batch.devices[dev[row]]
        new[a].last_transfer_ms = int(ts[row])

    width = int(dev.max(initial=0)) + 2
    pairs = pair_keys(acct, dev)
    bio_keys, bio_rows = last_in_group(pairs, (kind == BIOMETRIC) & has_dev)
    for key, row in zip(bio_keys, bio_rows, strict=True):
        s = new[int(key // width)]
        t = int(ts[row])
        s.bio[batch.devices[dev[row]]] = t if batch.bio[row] == 1 else -t
        if len(s.bio) > MAX_DEVICES:  # forget the oldest result
            oldest = min(s.bio, key=lambda d: abs(s.bio[d]))
            del s.bio[oldest]
    _, dev_rows = last_in_group(pairs, has_dev)
    for row in np.sort(dev_rows):  # in row order so "most recent last" holds
        _remember(new[acct[row]].known_devices, batch.devices[dev[row]], MAX_DEVICES)
    with_ip = ((kind == LOGIN) | (kind == TRANSFER)) & (countries != "")
    for row in np.flatnonzero(with_ip):
        c = str(countries[row])
        if c not in new[acct[row]].countries:
            _remember(new[acct[row]].countries, c, MAX_COUNTRIES)
    return new
