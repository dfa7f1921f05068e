"""The Redis state store keeps what its codec makes: another codec drops in unchanged."""

from __future__ import annotations

from collections.abc import Sequence

import fakeredis
import msgspec

from rules.state import AccountState
from rules.state_codec import STATE_CODEC
from store.keys import Keys
from streams.account_store import RedisAccountStore


class JsonStates:
    """A codec other than the default: proves the store calls no serialiser of its own."""

    def encode(self, states: Sequence[AccountState]) -> list[bytes]:
        return [b"J" + msgspec.json.encode(s) for s in states]

    def decode(self, raws: Sequence[bytes | None]) -> list[AccountState | None]:
        return [None if r is None else msgspec.json.decode(r[1:], type=AccountState) for r in raws]


async def test_the_store_writes_and_reads_through_its_codec() -> None:
    redis = fakeredis.aioredis.FakeRedis()
    store = RedisAccountStore(redis, "t:", JsonStates())
    state = AccountState(known_devices=["d1"], offsets={2: 40})
    await store.save(["A1"], [state])
    raw = await redis.get(Keys("t:").account_state("A1"))
    assert raw == b"J" + msgspec.json.encode(state)
    assert await store.load(["A1", "A2"]) == [state, None]


def test_the_default_codec_is_the_versioned_record_format() -> None:
    state = AccountState(known_devices=["d1"], otp_change_ms=5)
    (raw,) = STATE_CODEC.encode([state])
    assert raw[2:] == msgspec.msgpack.encode(state) and raw[:2] == bytes((0xC1, STATE_CODEC.version))
    assert STATE_CODEC.decode([raw, msgspec.msgpack.encode(state), None]) == [state, state, None]
