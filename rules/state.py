"""Per-account state that rules need from earlier batches: what it holds, and its bounds.

A batch's states are ``States``: one row per account code of the batch, in two parts.

- ``States.scalars``: the fixed-width fields (``SCALARS``, a numpy structured dtype): one
  little-endian int64 each, and the countries as ``MAX_COUNTRIES`` fixed slots. The store reads
  a batch's rows with one ``frombuffer`` and writes them with one ``tobytes``
  (``rules.state_codec``); a fact reads a column for every row of the batch with one fancy
  index and writes it back with one assignment, no per-account Python.
- ``States.lists``: each account's bounded lists and maps (devices, countries, payers,
  flows, applied ids, ...) as an ``AccountLists`` (msgpack), None where the account has no
  state yet.

State is bounded: a handful of devices and countries per account, never a list that grows
with the number of events. ``streams`` stores it (one record per account); this module says
what it holds, each fact (``rules.facts``) how a batch changes the fields it owns.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import msgspec
import numpy as np
import numpy.typing as npt

MAX_DEVICES = 8
MAX_COUNTRIES = 8
HOUR_MS = 3_600_000
# R8: payers remembered per account, and for how long; money in/out kept in hourly buckets.
MAX_PAYERS = 32
PAYER_RETENTION_MS = 72 * HOUR_MS
# R8: the newest incoming transfers (time, payer) per account, kept as long as payers, so the
# payers' 24 h window can be anchored on the inflow anywhere inside the 48 h flow window.
MAX_INFLOWS = 64
# An inflow whose amount was not kept (recorded before amounts were): it counts as a payment of
# any size, as every inflow counted before.
UNKNOWN_VND = -1
FLOW_RETENTION_H = 72
# R8: the (payee, Vietnamese day) pairs of the account's transfers, so a sweep to a payee the
# account has paid on earlier days is told from a mule's forwarding to a fresh account: at most
# MAX_PAID_DAYS of them (the newest days), within PAID_RETENTION_DAYS of the newest.
MAX_PAID_DAYS = 64
PAID_RETENTION_DAYS = 35
# R8, R15: the account's transfers that either rule can count (time, payee, amount): those to a
# payee paid on an earlier day (R8 does not count money swept to an established payee as passed
# on) and those of LARGE_OUTFLOW_VND or more (R15 counts large transfers to new payees; its
# amounts cannot be set lower). The newest MAX_OUTFLOWS within FLOW_RETENTION_H of the latest
# to arrive; a small payment to a new payee, most of a customer's, is not kept.
MAX_OUTFLOWS = 64
LARGE_OUTFLOW_VND = 1_000_000
# R9: incoming transfers from listed accounts remembered per account, and for how long.
MAX_TAINTED = 16
TAINTED_RETENTION_MS = 90 * 24 * HOUR_MS
# R6b: accounts kept per foreign IP (shared across workers, in Redis), and for how long.
MAX_IP_ACCOUNTS = 64
IP_RETENTION_MS = 7 * 24 * HOUR_MS
# Money events (transfers in and out) whose id hashes are kept, so a bank's resend is not counted
# twice: every one within RESEND_HORIZON_MS (event time) of the account's newest money event, at
# most MAX_APPLIED of them (the newest). Redelivery after a crash needs none of this: it is
# recognised by the input offsets (``offsets``).
MAX_APPLIED = 512
RESEND_HORIZON_MS = 72 * HOUR_MS


# The one-number fields, in their stored order (``rules.state_codec`` pins the bytes). Times are
# UTC milliseconds (0: never), days Vietnamese calendar day numbers, money integer VND.
SCALARS = np.dtype(
    [
        ("otp_change_ms", "<i8"),  # the account's last OTP-phone change (R2, R5)
        # A biometric match came after the last OTP-phone change (0/1; R2 needs order, not clocks).
        ("otp_confirmed", "<i8"),
        ("bio_match_ms", "<i8"),  # its last matched face (any device; R1)
        ("last_transfer_ms", "<i8"),  # its last transfer that named a device
        ("new_device_login_ms", "<i8"),  # its last login from a device it had never used (R12)
        # R1: the Vietnamese day of its latest transfer (-1: none) and that day's outgoing total.
        ("day", "<i8"),
        ("day_total", "<i8"),
        ("id_expires_day", "<i8"),  # R4: expiry day of its latest ID document (-1: none known)
        # R10: how many transfers it made and their total (its usual amount is the mean).
        ("transfer_count", "<i8"),
        ("transfer_sum", "<i8"),
        # R6a: the countries of the account's logins and transfers, most recent last, the newest
        # MAX_COUNTRIES, left-aligned (0: empty); each ISO code as ``country_codes`` makes it.
        ("countries", "<u4", (MAX_COUNTRIES,)),
    ]
)
FIXED_NAMES: tuple[str, ...] = SCALARS.names or ()
SCALAR_NAMES = tuple(n for n in FIXED_NAMES if n != "countries")  # the int64 ones
_DEFAULT = np.zeros(1, SCALARS)
_DEFAULT["day"] = _DEFAULT["id_expires_day"] = -1


# gc=False: only strings, ints, and lists/dicts of them; no cycles for the collector to find.
class AccountLists(msgspec.Struct, array_like=True, kw_only=True, gc=False):
    """One account's bounded lists and maps (a compact positional msgpack array)."""

    last_transfer_device: str | None = None
    # Devices seen on this account, most recent last.
    known_devices: list[str] = msgspec.field(default_factory=list)
    # Latest biometric result per device: +ts_ms when matched, -ts_ms when not.
    bio: dict[str, int] = msgspec.field(default_factory=dict)
    # R8: payers of incoming transfers -> time of their latest one (newest MAX_PAYERS kept),
    # and money in / out per hour for the last FLOW_RETENTION_H hours, as three parallel
    # lists in hour order (flat lists: no small container per hour to allocate or pack).
    payers: dict[str, int] = msgspec.field(default_factory=dict)
    flow_hour: list[int] = msgspec.field(default_factory=list)
    flow_in: list[int] = msgspec.field(default_factory=list)
    flow_out: list[int] = msgspec.field(default_factory=list)
    # R9: times of incoming transfers from listed accounts (newest MAX_TAINTED kept).
    tainted_ms: list[int] = msgspec.field(default_factory=list)
    # Id hashes of the money events applied here within the resend horizon, with their event
    # times (parallel lists): a bank's resend in a later batch is skipped.
    applied: list[int] = msgspec.field(default_factory=list)
    applied_ms: list[int] = msgspec.field(default_factory=list)
    # Input partition -> offset of the last event of this account applied here. Written with the
    # state in one atomic write, so an event at or below it (redelivered after a crash) is skipped.
    offsets: dict[int, int] = msgspec.field(default_factory=dict)
    # R8: the newest incoming transfers (at most MAX_INFLOWS, within PAYER_RETENTION_MS of the
    # newest), as parallel lists in arrival order: time, payer account and amount (a record
    # written before amounts were kept has fewer amounts: its oldest are ``UNKNOWN_VND``).
    inflow_ms: list[int] = msgspec.field(default_factory=list)
    inflow_from: list[str] = msgspec.field(default_factory=list)
    inflow_vnd: list[int] = msgspec.field(default_factory=list)
    # R8: distinct (payee account, Vietnamese day number) pairs of the account's transfers, as
    # parallel lists (bounded by MAX_PAID_DAYS and PAID_RETENTION_DAYS): an "established payee"
    # is one paid on earlier days, before the inflow window.
    paid_to: list[str] = msgspec.field(default_factory=list)
    paid_day: list[int] = msgspec.field(default_factory=list)
    # R8, R15: the account's transfers to a payee paid on an earlier day or of LARGE_OUTFLOW_VND
    # or more, as parallel lists in arrival order (time, payee, amount; MAX_OUTFLOWS,
    # FLOW_RETENTION_H); with ``paid_*`` they tell sweeps to an established payee (R8) and large
    # transfers to new payees (R15).
    outflow_ms: list[int] = msgspec.field(default_factory=list)
    outflow_to: list[str] = msgspec.field(default_factory=list)
    outflow_vnd: list[int] = msgspec.field(default_factory=list)


LIST_NAMES: tuple[str, ...] = AccountLists.__struct_fields__
FIELDS = FIXED_NAMES + LIST_NAMES
"""Every stored field, by name: what a fact's ``STORED`` names."""


def country_codes(names: npt.NDArray[np.str_]) -> npt.NDArray[np.uint32]:
    """ISO country codes (``'<U2'``, as ``rules.geo`` gives them) as the numbers the country
    slots hold: the two characters' code points, 16 bits each; '' is 0."""
    chars = np.ascontiguousarray(names, dtype="<U2").view(np.uint32).reshape(-1, 2) & np.uint32(0xFFFF)
    return ((chars[:, 0] << np.uint32(16)) | chars[:, 1]).astype(np.uint32)


def country_names(codes: npt.NDArray[np.uint32]) -> list[str]:
    """The country slots' codes back to ISO codes, empty slots left out."""
    return [chr(c >> 16) + (chr(c & 0xFFFF) if c & 0xFFFF else "") for c in codes.tolist() if c]


def write_fixed(fields: Mapping[str, Any], into: npt.NDArray[np.void]) -> None:
    """Write the fixed-width fields named in ``fields`` (countries as ISO codes) into a row."""
    for name in SCALAR_NAMES:
        if name in fields:
            into[name] = int(fields[name])
    if "countries" in fields:
        codes = country_codes(np.asarray(list(fields["countries"])[-MAX_COUNTRIES:], dtype="<U2"))
        slots = np.zeros(MAX_COUNTRIES, np.uint32)
        slots[: len(codes)] = codes
        into["countries"] = slots


class AccountView:
    """One account's state, read-only, every field by name (``otp_confirmed`` as a bool)."""

    __slots__ = ("_row", "lists")

    def __init__(self, row: np.void, lists: AccountLists) -> None:
        self._row, self.lists = row, lists

    def __getattr__(self, name: str) -> Any:
        if name in SCALAR_NAMES:
            value = int(self._row[name])
            return bool(value) if name == "otp_confirmed" else value
        if name == "countries":
            return country_names(self._row["countries"])
        return getattr(self.lists, name)

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AccountView) and self.fields() == other.fields()

    def __repr__(self) -> str:
        return f"AccountView({self.fields()!r})"


class States:
    """A batch's account states, one row per account code (index = code)."""

    __slots__ = ("lists", "scalars")

    def __init__(self, scalars: npt.NDArray[np.void], lists: list[AccountLists | None]) -> None:
        assert scalars.dtype == SCALARS and len(scalars) == len(lists)
        self.scalars = scalars
        self.lists = lists  # None: the account has no state yet (its scalars are the defaults)

    @classmethod
    def empty(cls, n: int) -> States:
        return cls(_DEFAULT.repeat(n), [None] * n)

    @classmethod
    def of(cls, accounts: Sequence[Mapping[str, Any] | None]) -> States:
        """From field values by name per account (None: no state): what a migration and tests build."""
        out = cls.empty(len(accounts))
        for i, fields in enumerate(accounts):
            if fields is None:
                continue
            write_fixed(fields, out.scalars[i])
            out.lists[i] = AccountLists(**{k: v for k, v in fields.items() if k in LIST_NAMES})
        return out

    def take(self, rows: npt.NDArray[np.int64]) -> States:
        """The states of ``rows``, in that order (the scalars copied, the lists shared)."""
        lists = self.lists
        return States(self.scalars[rows], [lists[i] for i in rows.tolist()])

    @classmethod
    def interleaved(cls, first: npt.NDArray[np.bool_], a: States, b: States) -> States:
        """``a``'s rows where ``first`` is true and ``b``'s where it is false, each in order.

        >>> x, y = States.of([{"day": 1}, {"day": 2}]), States.of([None])
        >>> [s and s.day for s in States.interleaved(np.array([True, False, True]), x, y)]
        [1, None, 2]
        """
        out = cls.empty(len(first))
        out.scalars[first], out.scalars[~first] = a.scalars, b.scalars
        lists = out.lists
        for i, s in zip(np.flatnonzero(first).tolist(), a.lists, strict=True):
            lists[i] = s
        for i, s in zip(np.flatnonzero(~first).tolist(), b.lists, strict=True):
            lists[i] = s
        return out

    def advanced(self) -> States:
        """A copy of the scalars and every account's lists (new ones where none), for the facts'
        ``advance`` to write: the lists are this batch's own (decoded for it), changed in place."""
        return States(self.scalars.copy(), [s if s is not None else AccountLists() for s in self.lists])

    @property
    def filled_lists(self) -> list[AccountLists]:
        """Every account's lists, for the facts' ``advance`` (``advanced`` made one for each)."""
        return cast(list[AccountLists], self.lists)

    def column(self, name: str) -> npt.NDArray[np.int64]:
        """One scalar field for every account (a view: writing it writes the states)."""
        column: npt.NDArray[np.int64] = self.scalars[name]
        return column

    def __len__(self) -> int:
        return len(self.lists)

    def __getitem__(self, i: int) -> AccountView | None:
        lists = self.lists[i]
        return None if lists is None else AccountView(self.scalars[i], lists)

    def __iter__(self) -> Iterator[AccountView | None]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        """Equal per account, field by field (to other ``States`` or a list of views and None)."""
        if not isinstance(other, (States, list)):
            return NotImplemented
        return list(self) == list(other)

    # Mutable: not hashable.
    __hash__ = None  # type: ignore[assignment]
