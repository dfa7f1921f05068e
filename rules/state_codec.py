"""The stored form of account states: one record per account, with its format version.

A record is ``MARKER, version, payload``. ``MARKER`` (0xC1) is the one byte msgpack never
uses, so a record that starts with anything else is a version-1 record: the bare msgpack
array of ``AccountState`` that txmon wrote before records carried a version. Version 2 is
the same positional msgpack array after the two header bytes; version 3 appends R8's
``outflow_*`` fields, version 4 R8's ``inflow_vnd`` (an earlier record reads with them empty:
fields are only ever appended, each with an empty default, so one decoder reads versions 1 to
4). Reading takes every version this module knows; writing writes ``VERSION`` only, so a running
deployment upgrades an account's record the first time it saves it, without losing what it held.

The store (``streams.state``) keeps each record as opaque bytes under its account's key and
calls ``STATE_CODEC`` to turn a batch's records into states and back. The bytes are pinned by
``tests/unit/rules/test_state_codec.py``: a field moved, retyped or renamed in
``AccountState`` changes how every stored record reads, and fails it.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from rules.state import AccountState

MARKER = 0xC1
VERSION = 4
READABLE = frozenset((2, 3, 4))  # with a header; 1 has none
_HEADER = bytes((MARKER, VERSION))


class UnknownStateFormat(ValueError):
    """A record written by a newer txmon (or not a state record at all)."""


class StateCodec:
    """``encode(states) -> list[bytes]`` and ``decode(records) -> states`` for one batch."""

    version = VERSION

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        # Versions 1 to 4 are one array, fields appended; a version whose payload differs gets
        # its own decoder here and a conversion to the current ``AccountState``.
        self._decoder = msgspec.msgpack.Decoder(AccountState)

    def encode(self, states: Sequence[AccountState]) -> list[bytes]:
        encode = self._encoder.encode
        return [_HEADER + encode(s) for s in states]

    def encode_one(self, state: AccountState) -> bytes:
        return _HEADER + self._encoder.encode(state)

    def decode(self, records: Sequence[bytes | None]) -> list[AccountState | None]:
        return [None if r is None else self.decode_one(r) for r in records]

    def decode_one(self, record: bytes) -> AccountState:
        if not record or record[0] != MARKER:
            return self._decoder.decode(record)  # version 1: written before records had a version
        if len(record) < 2 or record[1] not in READABLE:
            msg = f"account state record of format version {record[1:2].hex() or 'none'}"
            raise UnknownStateFormat(msg)
        return self._decoder.decode(memoryview(record)[2:])

    @staticmethod
    def version_of(record: bytes) -> int:
        """The format version of a stored record (1: the unversioned msgpack of before)."""
        return record[1] if record[:1] == bytes((MARKER,)) and len(record) > 1 else 1


STATE_CODEC = StateCodec()
