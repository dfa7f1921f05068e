"""Per-account state that rules need from earlier batches, and how a batch advances it.

State is bounded: a handful of devices and countries per account, never a list
that grows with the number of events. ``streams`` stores it (one packed record
per account); this module only says what it holds and how it changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np

from rules.columns import BIOMETRIC, ID_DOCUMENT_CHANGE, LOGIN, OTP_PHONE_CHANGE, TRANSFER, EventBatch
from rules.window import last_in_group, pair_keys

MAX_DEVICES = 8
MAX_COUNTRIES = 8


# gc=False: only strings, ints, and lists/dicts of them; no cycles for the collector to find.
class AccountState(msgspec.Struct, array_like=True, kw_only=True, gc=False):
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
    # Last login from a device the account had never used (R12).
    new_device_login_ms: int = 0
    # R1: the Vietnamese calendar day of the last transfer, that day's outgoing total, last face match.
    day: int = -1
    day_total: int = 0
    bio_match_ms: int = 0
    # R4: expiry (day number) of the latest ID document on record, -1 when none is known.
    id_expires_day: int = -1
    # Devices whose latest biometric result since the last transfer is a match (R3 needs order, not clocks).
    bio_since_transfer: list[str] = msgspec.field(default_factory=list)


def _remember(items: list[str], item: str, limit: int) -> None:
    if item in items:
        items.remove(item)
    items.append(item)
    del items[:-limit]


def advance(
    batch: EventBatch,
    states: Sequence[AccountState | None],
    countries: np.ndarray,
    new_device_login: np.ndarray,
    day: np.ndarray,
    day_total: np.ndarray,
) -> list[AccountState]:
    """State of every account in ``batch`` after all its rows (index = account code).

    The given states are this batch's own copies (decoded from the store for it),
    so they are updated in place rather than copied.
    """
    new = [s if s is not None else AccountState() for s in states]
    acct, dev, kind, ts = batch.account, batch.device, batch.kind, batch.ts_ms
    devices = batch.devices
    has_dev = dev >= 0

    bio_accounts, bio_rows = last_in_group(acct, (kind == BIOMETRIC) & (batch.bio == 1))
    last_bio = dict(zip(bio_accounts.tolist(), bio_rows.tolist(), strict=True))
    for a, row in last_bio.items():
        new[a].otp_confirmed = True
        new[a].bio_match_ms = int(ts[row])
    for a, row in _pairs(last_in_group(acct, kind == OTP_PHONE_CHANGE)):
        new[a].otp_change_ms = int(ts[row])
        new[a].otp_confirmed = last_bio.get(a, -1) > row
    for a, row in _pairs(last_in_group(acct, new_device_login)):
        new[a].new_device_login_ms = int(ts[row])
    for a, row in _pairs(last_in_group(acct, kind == TRANSFER)):
        new[a].day, new[a].day_total = int(day[row]), int(day_total[row])
    if batch.id_expires_day is not None:
        for a, row in _pairs(last_in_group(acct, kind == ID_DOCUMENT_CHANGE)):
            new[a].id_expires_day = int(batch.id_expires_day[row])
    last_transfer = _pairs(last_in_group(acct, (kind == TRANSFER) & has_dev))
    for a, row in last_transfer:
        new[a].last_transfer_device = devices[dev[row]]
        new[a].last_transfer_ms = int(ts[row])
        new[a].bio_since_transfer = []
    last_transfer_row = dict(last_transfer)

    width = int(dev.max(initial=0)) + 2
    pairs = pair_keys(acct, dev)
    for key, row in _pairs(last_in_group(pairs, (kind == BIOMETRIC) & has_dev)):
        a, name, matched = key // width, devices[dev[row]], batch.bio[row] == 1
        s = new[a]
        t = int(ts[row])
        s.bio[name] = t if matched else -t
        if len(s.bio) > MAX_DEVICES:  # forget the oldest result
            del s.bio[min(s.bio, key=lambda d: abs(s.bio[d]))]
        if row > last_transfer_row.get(a, -1):
            if matched:
                _remember(s.bio_since_transfer, name, MAX_DEVICES)
            elif name in s.bio_since_transfer:
                s.bio_since_transfer.remove(name)
    _, dev_rows = last_in_group(pairs, has_dev)
    dev_rows.sort()  # in row order so "most recent last" holds
    for a, d in zip(acct[dev_rows].tolist(), dev[dev_rows].tolist(), strict=True):
        known, name = new[a].known_devices, devices[d]
        if not known or known[-1] != name:  # inline check: most events reuse the last device
            _remember(known, name, MAX_DEVICES)

    with_ip = ((kind == LOGIN) | (kind == TRANSFER)) & (countries != "")
    country_codes = np.unique(countries, return_inverse=True)
    names, inverse = country_codes[0].tolist(), country_codes[1].reshape(-1)
    _, ip_rows = last_in_group(pair_keys(acct, inverse), with_ip)
    ip_rows.sort()
    for a, c in zip(acct[ip_rows].tolist(), inverse[ip_rows].tolist(), strict=True):
        seen, name = new[a].countries, names[c]
        if not seen or seen[-1] != name:
            _remember(seen, name, MAX_COUNTRIES)
    return new


def _pairs(found: tuple[np.ndarray, np.ndarray]) -> list[tuple[int, int]]:
    keys, rows = found
    return list(zip(keys.tolist(), rows.tolist(), strict=True))
