"""Consumer lag of the partitions a worker owns, in records and in seconds.

Seconds are the age of the oldest event not judged yet. It is read from the timestamp of the
newest judged record, which the next unjudged one can only follow, so the figure is exact up to
the gap between two records and keeps growing while a worker is stuck behind. Series of
partitions that leave the worker are removed: their new owner reports them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from streams.metrics import Metrics


class PartitionLag:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._positions: dict[TopicPartition, int] = {}
        self._newest_judged_s: dict[TopicPartition, float] = {}

    def update(self, consumer: AIOKafkaConsumer, fetched: Mapping[TopicPartition, Sequence[ConsumerRecord]]) -> None:
        """After a batch (or an empty fetch): lag of every owned partition whose end is known."""
        now = time.time()
        for tp, records in fetched.items():
            self._positions[tp] = records[-1].offset + 1
            self._newest_judged_s[tp] = records[-1].timestamp / 1000.0
        for tp in consumer.assignment():
            high, position = consumer.highwater(tp), self._positions.get(tp)
            if high is None or position is None:
                continue  # nothing fetched from it yet: the first batch tells
            behind = max(high - position, 0)
            label = str(tp.partition)
            self.metrics.lag.labels(label).set(behind)
            newest = self._newest_judged_s.get(tp)
            self.metrics.lag_seconds.labels(label).set(max(now - newest, 0.0) if behind and newest else 0.0)

    def forget(self, revoked: Iterable[TopicPartition]) -> None:
        for tp in revoked:
            self._positions.pop(tp, None)
            self._newest_judged_s.pop(tp, None)
            for gauge in (self.metrics.lag, self.metrics.lag_seconds):
                with contextlib.suppress(KeyError):
                    gauge.remove(str(tp.partition))
