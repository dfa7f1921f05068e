"""The stored form of account states: one record per account, with its format version.

A record is ``MARKER, version, payload``. ``MARKER`` (0xC1) is the one byte msgpack never
uses, so a record that starts with anything else is a version-1 record (the bare msgpack
array txmon wrote before records carried a version).

- Version 5 (written now): the account's ``rules.state.SCALARS`` row, 112 fixed bytes, then
  its ``AccountLists`` as a positional msgpack array. A batch's rows are read with one
  ``np.frombuffer`` over their joined scalar blocks and one msgpack decode of their joined
  lists, and written with one ``tobytes``.
- Versions 1 to 4: one positional msgpack array of every field (``_RecordV4``; fields were
  only ever appended, each with an empty default, so one decoder reads them all). Read, split
  into scalars and lists, and written back as version 5 the first time the account's state is
  saved: a running deployment upgrades without losing what it held.

Reading takes every version this module knows; writing writes ``VERSION`` only. The store
(``streams.state``) keeps each record as opaque bytes under its account's key and calls
``STATE_CODEC`` to turn a batch's records into ``States`` and back. The bytes are pinned by
``tests/unit/rules/test_state_codec.py``: a field moved, retyped or renamed changes how every
stored record reads, and fails it.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np

from rules.state import FIXED_NAMES, LIST_NAMES, SCALARS, AccountLists, States, write_fixed

MARKER = 0xC1
VERSION = 5
READABLE = frozenset((2, 3, 4, 5))  # with a header; 1 has none
_HEADER = bytes((MARKER, VERSION))
_LISTS_AT = len(_HEADER) + SCALARS.itemsize
_EMPTY = AccountLists()


class UnknownStateFormat(ValueError):
    """A record written by a newer txmon (or not a state record at all)."""


class _RecordV4(msgspec.Struct, array_like=True, kw_only=True, gc=False):
    """Versions 1 to 4: every field in one positional array (read only, for the migration)."""

    last_transfer_device: str | None = None
    known_devices: list[str] = msgspec.field(default_factory=list)
    bio: dict[str, int] = msgspec.field(default_factory=dict)
    otp_change_ms: int = 0
    countries: list[str] = msgspec.field(default_factory=list)
    last_transfer_ms: int = 0
    otp_confirmed: bool = False
    new_device_login_ms: int = 0
    day: int = -1
    day_total: int = 0
    bio_match_ms: int = 0
    id_expires_day: int = -1
    bio_since_transfer: list[str] = msgspec.field(default_factory=list)  # retired: dropped
    transfer_count: int = 0
    transfer_sum: int = 0
    payers: dict[str, int] = msgspec.field(default_factory=dict)
    flow_hour: list[int] = msgspec.field(default_factory=list)
    flow_in: list[int] = msgspec.field(default_factory=list)
    flow_out: list[int] = msgspec.field(default_factory=list)
    tainted_ms: list[int] = msgspec.field(default_factory=list)
    applied: list[int] = msgspec.field(default_factory=list)
    inflow_ms: list[int] = msgspec.field(default_factory=list)
    inflow_from: list[str] = msgspec.field(default_factory=list)
    offsets: dict[int, int] = msgspec.field(default_factory=dict)
    applied_ms: list[int] = msgspec.field(default_factory=list)
    paid_to: list[str] = msgspec.field(default_factory=list)  # version 3 onwards
    paid_day: list[int] = msgspec.field(default_factory=list)
    outflow_ms: list[int] = msgspec.field(default_factory=list)
    outflow_to: list[str] = msgspec.field(default_factory=list)
    outflow_vnd: list[int] = msgspec.field(default_factory=list)
    inflow_vnd: list[int] = msgspec.field(default_factory=list)  # version 4


def _array_header(n: int) -> bytes:
    """The msgpack header of an array of ``n`` items."""
    if n < 16:
        return bytes((0x90 | n,))
    if n < 1 << 16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


class StateCodec:
    """``encode(states) -> list[bytes]`` and ``decode(records) -> States`` for one batch."""

    version = VERSION

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._lists = msgspec.msgpack.Decoder(list[AccountLists])
        self._v4 = msgspec.msgpack.Decoder(_RecordV4)

    def encode(self, states: States) -> list[bytes]:
        block, size, encode = np.ascontiguousarray(states.scalars).tobytes(), SCALARS.itemsize, self._encoder.encode
        return [
            b"".join((_HEADER, block[i * size : (i + 1) * size], encode(lists or _EMPTY)))
            for i, lists in enumerate(states.lists)
        ]

    def decode(self, records: Sequence[bytes | None]) -> States:
        out = States.empty(len(records))
        current: list[int] = []
        for i, record in enumerate(records):
            if record is None:
                continue
            if record[:2] == _HEADER:
                current.append(i)
            else:
                self._migrate(out, i, record)
        if current:
            out.scalars[current] = np.frombuffer(b"".join([records[i][2:_LISTS_AT] for i in current]), SCALARS)  # type: ignore[index]
            joined = b"".join([_array_header(len(current)), *(memoryview(records[i])[_LISTS_AT:] for i in current)])  # type: ignore[arg-type]
            for i, lists in zip(current, self._lists.decode(joined), strict=True):
                out.lists[i] = lists
        return out

    def _migrate(self, out: States, i: int, record: bytes) -> None:
        """Read a record of version 1 to 4 into row ``i``."""
        if not record or record[0] != MARKER:
            old = self._v4.decode(record)  # version 1: written before records had a version
        elif len(record) < 2 or record[1] not in READABLE:
            msg = f"account state record of format version {record[1:2].hex() or 'none'}"
            raise UnknownStateFormat(msg)
        else:
            old = self._v4.decode(memoryview(record)[2:])
        write_fixed({name: getattr(old, name) for name in FIXED_NAMES}, out.scalars[i])
        out.lists[i] = AccountLists(**{name: getattr(old, name) for name in LIST_NAMES})

    @staticmethod
    def version_of(record: bytes) -> int:
        """The format version of a stored record (1: the unversioned msgpack of before)."""
        return record[1] if record[:1] == bytes((MARKER,)) and len(record) > 1 else 1


STATE_CODEC = StateCodec()
