"""How an account's rule state becomes the bytes the store keeps, and back.

The store treats a record as opaque bytes: it takes a ``StateCodec`` and never calls a
serialiser itself, so the record format (owned by ``rules.state``) can change without
touching the store. ``MsgpackStates`` is today's format: ``AccountState`` as a msgpack array.

>>> codec = MsgpackStates()
>>> codec.decode(codec.encode([AccountState()]) + [None])[1] is None
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

import msgspec

from rules.state import AccountState

S = TypeVar("S")


class StateCodec(Protocol, Generic[S]):
    """Per account: a state to its record bytes; a record (or None: no record) to a state."""

    def encode(self, states: Sequence[S]) -> list[bytes]: ...

    def decode(self, raws: Sequence[bytes | None]) -> list[S | None]: ...


class MsgpackStates:
    def __init__(self) -> None:
        self._decoder = msgspec.msgpack.Decoder(AccountState)
        self._encoder = msgspec.msgpack.Encoder()

    def encode(self, states: Sequence[AccountState]) -> list[bytes]:
        return list(map(self._encoder.encode, states))

    def decode(self, raws: Sequence[bytes | None]) -> list[AccountState | None]:
        decode = self._decoder.decode
        return [None if r is None else decode(r) for r in raws]
