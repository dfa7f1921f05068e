"""Adaptive batching: the next fetch's size follows the backlog the last one found.

A light stream gives small batches, judged and emitted as soon as they arrive; a
backlog (a fetch that filled its limit) doubles the limit up to ``TXMON_BATCH_MAX_RECORDS``,
so a burst or a catch-up is judged in large, cheap batches; the limit halves back as
fetches come back partly filled, never below ``TXMON_BATCH_MIN_RECORDS``.

>>> from streams.settings import Settings
>>> b = AdaptiveBatch(Settings(batch_min_records=500, batch_max_records=4_000))
>>> b.size
500
>>> b.fetched(500); b.fetched(1_000); b.size
2000
>>> b.fetched(10); b.size
1000
"""

from __future__ import annotations

from streams.settings import Settings


class AdaptiveBatch:
    def __init__(self, settings: Settings) -> None:
        self.min = min(settings.batch_min_records, settings.batch_max_records)
        self.max = settings.batch_max_records
        self.size = self.min

    def fetched(self, n: int) -> None:
        """Adjust the next limit to a fetch that returned ``n`` records."""
        if n >= self.size:
            self.size = min(self.size * 2, self.max)
        elif n < self.size // 2:
            self.size = max(self.size // 2, self.min)
