"""The Redis state store keeps what its codec makes: another codec drops in unchanged."""

from __future__ import annotations

from collections.abc import Sequence

import fakeredis
import msgspec

from rules.state import States
from rules.state_codec import STATE_CODEC
from store.keys import Keys
from streams.account_store import RedisAccountStore


class JsonStates:
    """A codec other than the default: proves the store calls no serialiser of its own."""

    def encode(self, states: States) -> list[bytes]:
        return [b"J" + msgspec.json.encode(s.fields() if s is not None else None) for s in states]

    def decode(self, raws: Sequence[bytes | None]) -> States:
        return States.of([None if r is None else msgspec.json.decode(r[1:]) for r in raws])


async def test_the_store_writes_and_reads_through_its_codec() -> None:
    redis = fakeredis.aioredis.FakeRedis()
    store = RedisAccountStore(redis, "t:", JsonStates())
    states = States.of([{"known_devices": ["d1"], "day_total": 7}])
    await store.save(["A1"], states)
    raw = await redis.get(Keys("t:").account_state("A1"))
    assert raw == b"J" + msgspec.json.encode(states[0].fields())  # type: ignore[union-attr]
    assert list(await store.load(["A1", "A2"])) == [states[0], None]


def test_the_default_codec_is_the_versioned_record_format() -> None:
    states = States.of([{"known_devices": ["d1"], "otp_change_ms": 5}])
    (raw,) = STATE_CODEC.encode(states)
    assert raw[:2] == bytes((0xC1, STATE_CODEC.version)) and raw[2:10] == (5).to_bytes(8, "little")
    assert list(STATE_CODEC.decode([raw, None])) == [states[0], None]
