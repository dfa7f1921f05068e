"""Per-account rule state in Redis: one packed record per account, one MGET per batch.

Each account belongs to one input partition, so one worker at a time owns its
record; the write goes in the same pipeline as the batch's alert records.
Records have no TTL: their size is bounded per account (``rules.state``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from rules.state import AccountState


class AccountStateStore:
    def __init__(self, redis: Redis, prefix: str = "txmon:") -> None:
        self.redis = redis
        self.prefix = f"{prefix}acct:"
        self._decoder = msgspec.msgpack.Decoder(AccountState)
        self._encoder = msgspec.msgpack.Encoder()

    async def load(self, accounts: Sequence[str]) -> list[AccountState | None]:
        if not accounts:
            return []
        raws = await self.redis.mget([self.prefix + a for a in accounts])
        return self.unpack(raws)

    def queue_load(self, pipe: Pipeline, accounts: Sequence[str]) -> None:
        pipe.mget([self.prefix + a for a in accounts])

    def unpack(self, raws: Sequence[Any]) -> list[AccountState | None]:
        decode = self._decoder.decode
        return [None if r is None else decode(r) for r in raws]

    def encode(self, accounts: Sequence[str], states: Sequence[AccountState]) -> dict[str, bytes]:
        """Packed records, built before any output is sent so a failure here sends nothing."""
        encode = self._encoder.encode
        return {self.prefix + a: encode(s) for a, s in zip(accounts, states, strict=True)}

    def save(self, pipe: Pipeline, packed: dict[str, bytes]) -> None:
        if packed:
            pipe.mset(packed)
