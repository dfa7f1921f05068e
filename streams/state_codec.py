"""How an account's rule state becomes the bytes the store keeps, and back.

The store treats a record as opaque bytes: it takes a ``RecordCodec`` and never calls a
serialiser itself, so the record format (owned by ``rules.state``) can change without
touching the store. The default, ``rules.state_codec.STATE_CODEC``, writes the versioned record
format and reads every version it knows (the migration from the unversioned msgpack array).

>>> from rules.state import AccountState
>>> from rules.state_codec import STATE_CODEC
>>> STATE_CODEC.decode(STATE_CODEC.encode([AccountState()]) + [None])[1] is None
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

S = TypeVar("S")


class RecordCodec(Protocol, Generic[S]):
    """Per account: a state to its record bytes; a record (or None: no record) to a state."""

    def encode(self, states: Sequence[S]) -> list[bytes]: ...

    def decode(self, raws: Sequence[bytes | None]) -> list[S | None]: ...
