"""The outbox publishes each staged message once, however many deliverers run at the same time."""

from __future__ import annotations

import asyncio

import fakeredis
import orjson
import pytest

from alerts.outbox import Outbox


class SlowKafka:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def publish(self, topic: str, key: str, value: bytes) -> None:
        await asyncio.sleep(0.01)  # every deliverer is in flight at once
        self.sent.append(value)


async def test_concurrent_outbox_deliveries_publish_each_message_once() -> None:
    redis = fakeredis.aioredis.FakeRedis()
    kafka = SlowKafka()
    console, worker = Outbox(redis, kafka), Outbox(redis, kafka)
    messages = [console.message("t.audit", "A", orjson.dumps({"n": i})) for i in range(5)]
    pipe = redis.pipeline(transaction=True)
    console.stage(pipe, messages)
    await pipe.execute()
    await asyncio.gather(console.deliver(messages), worker.flush(), worker.flush())
    assert sorted(orjson.loads(v)["n"] for v in kafka.sent) == [0, 1, 2, 3, 4]
    assert await console.pending() == 0


async def test_a_failed_publish_leaves_the_message_for_the_next_flush() -> None:
    class Down:
        async def publish(self, topic: str, key: str, value: bytes) -> None:
            raise ConnectionError("broker unreachable")

    redis = fakeredis.aioredis.FakeRedis()
    outbox = Outbox(redis, Down())
    messages = [outbox.message("t.audit", "A", b"{}")]
    pipe = redis.pipeline(transaction=True)
    outbox.stage(pipe, messages)
    await pipe.execute()
    with pytest.raises(ConnectionError):
        await outbox.deliver(messages)
    kafka = SlowKafka()
    assert await Outbox(redis, kafka).flush() == 1 and kafka.sent == [b"{}"]


async def test_an_undecodable_entry_does_not_hold_back_the_others() -> None:
    redis = fakeredis.aioredis.FakeRedis()
    kafka = SlowKafka()
    outbox = Outbox(redis, kafka)
    pipe = redis.pipeline(transaction=True)
    outbox.stage(pipe, [outbox.message("t.audit", "A", orjson.dumps({"n": i})) for i in range(3)])
    await pipe.execute()
    await redis.hset(outbox.key, "00000000000000000000-000000", b"\xc1 not msgpack")
    assert await outbox.flush() == 3
    assert sorted(orjson.loads(v)["n"] for v in kafka.sent) == [0, 1, 2]
    assert await outbox.pending() == 1  # the bad entry stays for an operator to look at
