"""Control topics every worker reads in full: new rules versions, published by `txmon rules publish`.

Unlike the input topic, control records must reach every worker, so they are
read without a consumer group, from the beginning (the last valid version on
the topic wins, also after a restart). A new ruleset is swapped in between two
batches: no batch is judged half by one version and half by another, and no
event is skipped or judged twice because of the swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from mode import Service

from rules.config import ConfigError, Ruleset, load_ruleset_text
from streams.settings import Settings

log = logging.getLogger(__name__)
RULESET_KEY = b"ruleset"


class RulesListener(Service):
    """Applies every valid rules version found on the rules topic, in order."""

    def __init__(self, settings: Settings, apply: Callable[[Ruleset], None], on_invalid: Callable[[str], None]) -> None:
        super().__init__()
        self.settings = settings
        self.apply = apply
        self.on_invalid = on_invalid
        self.consumer: AIOKafkaConsumer | None = None

    async def on_start(self) -> None:
        s = self.settings
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_servers(),
            group_id=None,
            enable_auto_commit=False,
            client_id=f"{s.app_id}-rules",
        )
        await self.consumer.start()
        partitions = self.consumer.partitions_for_topic(s.rules_topic) or {0}
        tps = [TopicPartition(s.rules_topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)

    async def on_stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    @Service.task
    async def _listen(self) -> None:
        assert self.consumer is not None  # noqa: S101
        while not self.should_stop:
            fetched = await self.consumer.getmany(timeout_ms=500)
            for records in fetched.values():
                for record in records:
                    self._handle(record.value or b"")

    def _handle(self, raw: bytes) -> None:
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
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(settings.rules_topic, text.encode("utf-8"), key=RULESET_KEY, partition=0)
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await producer.stop()
    return ruleset
