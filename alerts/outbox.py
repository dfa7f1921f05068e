"""The outbox: records written to Redis in the same transaction as the change they announce,
published to Kafka afterwards and removed once acknowledged (at least once, in order).

A crash between the transaction and the publish leaves the messages in the outbox; the next
``Outbox.flush`` (every few seconds in the console and the worker) publishes them again, with
the same ids for deduplication. ``alerts.audit`` stages its records and commands through it.

Keys (under the state prefix): ``outbox`` (hash: message id -> message not yet acknowledged),
``outbox_claim`` per message while one process publishes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from itertools import count
from typing import Protocol

import msgspec

from store import Pipe, RedisClient
from store.keys import Keys

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Kafka, seen from ``alerts``: ``streams`` implements it with an aiokafka producer."""

    async def publish(self, topic: str, key: str, value: bytes) -> None:
        """Send one record and return once the broker acknowledged it."""


class Message(msgspec.Struct, array_like=True):
    """A record waiting in the outbox; ``seq`` keeps a command's messages in order."""

    seq: str
    topic: str
    key: str
    value: bytes


_counter = count()


def as_bytes(raw: bytes | str) -> bytes:
    """Redis replies are bytes unless a client was made with ``decode_responses``."""
    return raw if isinstance(raw, bytes) else raw.encode()


def new_seq() -> str:
    """Sortable message ids: publish order is creation order, also after a restart."""
    return f"{time.time_ns():020d}-{next(_counter) % 1_000_000:06d}"


CLAIM_MS = 30_000


class Outbox:
    """Without a publisher it only stages: whoever flushes next (console, worker) publishes."""

    def __init__(self, redis: RedisClient, publisher: Publisher | None, prefix: str = "txmon:") -> None:
        self.redis = redis
        self.publisher = publisher
        self.keys = Keys(prefix)
        self.key = self.keys.outbox
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(Message).decode

    def message(self, topic: str, key: str, value: bytes) -> Message:
        return Message(new_seq(), topic, key, value)

    def stage(self, pipe: Pipe, messages: Sequence[Message]) -> None:
        """Queue the messages inside the caller's Redis transaction."""
        if messages:
            pipe.hset(self.key, mapping={m.seq: self._encode(m) for m in messages})

    async def deliver(self, messages: Iterable[Message]) -> None:
        """Publish in order; each message leaves the outbox once acknowledged."""
        if self.publisher is None:
            msg = "this outbox only stages messages; a console or worker publishes them"
            raise RuntimeError(msg)
        for m in sorted(messages, key=lambda m: m.seq):
            # The console, every worker and the command itself may deliver the same message at
            # once: a short claim makes one of them publish it; a crashed claimant's lapses.
            claim = self.keys.outbox_claim(m.seq)
            if not await self.redis.set(claim, b"1", nx=True, px=CLAIM_MS):
                continue
            try:
                if not await self.redis.hexists(self.key, m.seq):
                    continue  # delivered by someone else in the meantime
                await self.publisher.publish(m.topic, m.key, m.value)
                await self.redis.hdel(self.key, m.seq)
            finally:
                await self.redis.delete(claim)

    async def flush(self) -> int:
        """Publish whatever an earlier crash or Kafka outage left behind; returns how many."""
        pending = await self.redis.hgetall(self.key)
        if not pending:
            return 0
        messages = []
        for seq, raw in pending.items():
            try:
                messages.append(self._decode(as_bytes(raw)))
            except msgspec.DecodeError:  # one bad entry must not hold back every other message
                log.error("outbox entry %r cannot be decoded; left in place, skipped", seq)
        await self.deliver(messages)
        return len(messages)

    async def pending(self) -> int:
        return int(await self.redis.hlen(self.key))
