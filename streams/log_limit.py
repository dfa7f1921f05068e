"""Repeated log lines, rate-limited: a broker or Redis outage must not write a hundred identical
error lines a second, yet the log must still say that it goes on and how often.

A line is "the same" when its logger, level and message template (before arguments) are:
``log.warning("batch of %d failed (attempt %d): %r", ...)`` is one line whatever the numbers.
Each such line passes ``burst`` times per ``interval_s``; the rest are counted, and the first one
let through afterwards says how many were suppressed.

>>> f = RepeatFilter(burst=2, interval_s=60, clock=iter(range(100)).__next__)
>>> rec = lambda: logging.LogRecord("kafka", logging.ERROR, "", 0, "Unable to connect to %s", ("b1",), None)
>>> [f.filter(rec()) for _ in range(4)]
[True, True, False, False]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Seen:
    window_start: float
    passed: int = 0
    suppressed: int = 0


class RepeatFilter(logging.Filter):
    MAX_KEYS = 10_000  # distinct lines remembered; forgotten all at once when exceeded

    def __init__(self, burst: int = 5, interval_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.burst = burst
        self.interval_s = interval_s
        self.clock = clock
        self._seen: dict[tuple[str, int, str], _Seen] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        seen = self._seen.get(key)
        if seen is None:
            if len(self._seen) >= self.MAX_KEYS:
                self._seen.clear()
            self._seen[key] = _Seen(now, passed=1)
            return True
        if now - seen.window_start >= self.interval_s:
            suppressed = seen.suppressed
            seen.window_start, seen.passed, seen.suppressed = now, 1, 0
            if suppressed:
                record.msg = f"{record.getMessage()} [{suppressed} more like this suppressed in {self.interval_s:g} s]"
                record.args = ()
            return True
        if seen.passed < self.burst:
            seen.passed += 1
            return True
        seen.suppressed += 1
        return False


def install(logger: logging.Logger | None = None, *, burst: int = 5, interval_s: float = 10.0) -> RepeatFilter:
    """Put one ``RepeatFilter`` on every handler of ``logger`` (the root logger by default):
    records of child loggers pass their ancestors' handlers, not their loggers' filters."""
    target = logger or logging.getLogger()
    limit = RepeatFilter(burst, interval_s)
    for handler in target.handlers:
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(limit)
    return limit
