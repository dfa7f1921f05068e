"""Fetch and decode: input records of one batch as the columns the engine judges.

``txmon state rebuild`` replays with the same functions, so a rebuilt state is the one
the worker would have written.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from aiokafka import ConsumerRecord

from rules.engine import Sources
from streams.codec import Decoded, EventTimeBounds, decode_records


def decode_input(records: Sequence[ConsumerRecord], bounds: EventTimeBounds, max_bytes: int) -> Decoded:
    """Columns and dead letters of input records, as the worker judges them (``txmon state
    rebuild`` replays with it too); arrival is the record's Kafka timestamp (now, when it has none)."""
    now_ms = int(time.time() * 1000)
    return decode_records(
        [r.value for r in records],
        [r.key for r in records],
        arrival_ms=[r.timestamp if r.timestamp >= 0 else now_ms for r in records],
        bounds=bounds,
        max_bytes=max_bytes,
    )


def sources_of(records: Sequence[ConsumerRecord], rows: Sequence[int]) -> Sources:
    """Per row of the batch: the input partition and offset of its record."""
    partition = np.fromiter((records[i].partition for i in rows), np.int32, len(rows))
    offset = np.fromiter((records[i].offset for i in rows), np.int64, len(rows))
    return Sources(partition, offset)
