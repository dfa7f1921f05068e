"""The topics txmon reads and writes, created on start when missing."""

from __future__ import annotations

import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.kafka_client import aiokafka_options
from streams.settings import Settings

log = logging.getLogger(__name__)


def topic_names(settings: Settings) -> list[str]:
    return [
        settings.input_topic,
        settings.alerts_topic,
        settings.police_topic,
        settings.holds_topic,
        settings.dead_letter_topic,
        settings.audit_topic,
        settings.rules_topic,
        settings.suspicious_topic,
        settings.freeze_requests_topic,
    ]


def _new_topic(settings: Settings, name: str) -> NewTopic:
    if name in (settings.rules_topic, settings.suspicious_topic):
        # Control topics: one partition keeps updates in order; compaction keeps the latest per key.
        return NewTopic(name, 1, settings.topic_replication, topic_configs={"cleanup.policy": "compact"})
    if name in (settings.audit_topic, settings.freeze_requests_topic):
        # The audit trail and the police's requests are records: kept for good, not Kafka's default 7 days.
        return NewTopic(
            name, settings.topic_partitions, settings.topic_replication, topic_configs={"retention.ms": "-1"}
        )
    return NewTopic(name, settings.topic_partitions, settings.topic_replication)


async def ensure_topics(settings: Settings, names: list[str] | None = None) -> None:
    admin = AIOKafkaAdminClient(**aiokafka_options(settings), client_id=f"{settings.app_id}-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in (names or topic_names(settings)) if n not in existing]
        if not missing:
            return
        new = [_new_topic(settings, n) for n in missing]
        with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
            await admin.create_topics(new)
        log.info("created topics %s", ", ".join(missing))
    finally:
        await admin.close()
