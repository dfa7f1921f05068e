"""Control topics every worker reads in full: rules versions and suspicious-list updates.

Unlike the input topic, control records must reach every worker, so they are
read without a consumer group, from the beginning (the last valid rules version
wins, also after a restart; list updates are idempotent). The listener catches
up with everything already published before the worker judges its first batch.
A new ruleset is swapped in between two batches: no batch is judged half by one
version and half by another, and no event is skipped or judged twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from mode import Service

from rules.config import ConfigError, Ruleset, load_ruleset_text
from streams.kafka_client import aiokafka_options
from streams.lists import ListUpdate, SuspiciousList, decode_update, encoder
from streams.settings import Settings
from streams.topics import ensure_topics

log = logging.getLogger(__name__)
RULESET_KEY = b"ruleset"


class ControlListener(Service):
    """Applies every valid rules version and every suspicious-list update, in order."""

    def __init__(
        self,
        settings: Settings,
        apply: Callable[[Ruleset], None],
        on_invalid: Callable[[str], None],
        suspicious: SuspiciousList,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.apply = apply
        self.on_invalid = on_invalid
        self.suspicious = suspicious
        self.consumer: AIOKafkaConsumer | None = None

    async def on_start(self) -> None:
        s = self.settings
        self.consumer = AIOKafkaConsumer(
            **aiokafka_options(s),
            group_id=None,
            enable_auto_commit=False,
            client_id=f"{s.app_id}-rules",
        )
        await self.consumer.start()
        await ensure_topics(s, [s.rules_topic, s.suspicious_topic])
        tps = []
        for topic in (s.rules_topic, s.suspicious_topic):
            partitions = self.consumer.partitions_for_topic(topic) or {0}
            tps += [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)
        end = await self.consumer.end_offsets(tps)
        while await self._behind(tps, end):  # catch up before the first batch is judged
            await self._apply(await self.consumer.getmany(timeout_ms=500))

    async def _behind(self, tps: list[TopicPartition], end: dict[TopicPartition, int]) -> bool:
        assert self.consumer is not None  # noqa: S101
        for tp in tps:
            if await self.consumer.position(tp) < end[tp]:
                return True
        return False

    async def on_stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    @Service.task
    async def _listen(self) -> None:
        assert self.consumer is not None  # noqa: S101
        while not self.should_stop:
            await self._apply(await self.consumer.getmany(timeout_ms=500))

    async def _apply(self, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        for tp, records in fetched.items():
            if tp.topic == self.settings.rules_topic:
                for record in records:
                    self._handle_rules(record.value or b"")
                continue
            updates = []
            for record in records:
                try:
                    updates.append(decode_update(record.value or b""))
                except msgspec.DecodeError as exc:
                    log.error("ignoring an invalid suspicious-list update at offset %d: %s", record.offset, exc)
            await self.suspicious.apply(updates)

    def _handle_rules(self, raw: bytes) -> None:
        try:
            ruleset = load_ruleset_text(raw.decode("utf-8"))
        except (ConfigError, UnicodeDecodeError) as exc:
            log.error("ignoring an invalid rules version on the rules topic: %s", exc)
            self.on_invalid(str(exc))
            return
        self.apply(ruleset)


async def publish_rules(settings: Settings, text: str) -> Ruleset:
    """Validate ``text`` and publish it on the rules topic; returns the parsed ruleset."""
    ruleset = load_ruleset_text(text)  # refuse before anything is sent
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(settings.rules_topic, text.encode("utf-8"), key=RULESET_KEY, partition=0)
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await producer.stop()
    return ruleset


async def publish_list_updates(settings: Settings, updates: list[ListUpdate]) -> None:
    """Send suspicious-list updates (keyed by account, so compaction keeps the latest)."""
    await ensure_topics(settings, [settings.suspicious_topic])
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all", linger_ms=5)
    await producer.start()
    try:
        pending = [
            await producer.send(settings.suspicious_topic, encoder.encode(u), key=u.account_id.encode())
            for u in updates
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
