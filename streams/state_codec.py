"""How a batch's account states become the bytes the store keeps, and back.

The store treats a record as opaque bytes: it takes a ``RecordCodec`` and never calls a
serialiser itself, so the record format (owned by ``rules.state``) can change without
touching the store. The default, ``rules.state_codec.STATE_CODEC``, writes the versioned record
format and reads every version it knows (the migration from the msgpack records of before).

>>> from rules.state import States
>>> from rules.state_codec import STATE_CODEC
>>> STATE_CODEC.decode(STATE_CODEC.encode(States.of([{"day_total": 5}])) + [None]).lists[1] is None
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rules.state import States


class RecordCodec(Protocol):
    """A batch's states (one per account) to record bytes; records (None: no record) to states."""

    def encode(self, states: States) -> list[bytes]: ...

    def decode(self, raws: Sequence[bytes | None]) -> States: ...
