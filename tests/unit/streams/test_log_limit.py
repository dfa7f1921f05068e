"""Repeated log lines are rate-limited, with a count of what was suppressed."""

from __future__ import annotations

import logging

import pytest

from streams.log_limit import RepeatFilter, install


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(
    msg: str = "batch of %d failed: %r", args: tuple[object, ...] = (20_000, "ConnectionError")
) -> logging.LogRecord:
    return logging.LogRecord("streams.monitor", logging.WARNING, __file__, 1, msg, args, None)


def test_an_outage_writes_a_few_lines_and_then_a_count() -> None:
    clock = Clock()
    f = RepeatFilter(burst=3, interval_s=10, clock=clock)
    passed = []
    for i in range(1_000):  # 100 lines a second for 10 s
        clock.now = i / 100
        rec = _record(args=(i, "ConnectionError"))
        if f.filter(rec):
            passed.append(rec.getMessage())
    assert len(passed) == 3
    clock.now = 10.0
    rec = _record()
    assert f.filter(rec)
    assert rec.getMessage().endswith("[997 more like this suppressed in 10 s]")


def test_different_lines_and_levels_are_limited_apart() -> None:
    f = RepeatFilter(burst=1, interval_s=10, clock=Clock())
    assert f.filter(_record("a %s", ("x",))) and f.filter(_record("b %s", ("x",)))
    error = _record("a %s", ("x",))
    error.levelno = logging.ERROR
    assert f.filter(error)
    assert not f.filter(_record("a %s", ("y",)))  # the same template: the same line


def test_a_line_after_a_quiet_interval_carries_no_count() -> None:
    clock = Clock()
    f = RepeatFilter(burst=1, interval_s=10, clock=clock)
    assert f.filter(_record())
    clock.now = 30
    rec = _record()
    assert f.filter(rec) and "suppressed" not in rec.getMessage()


def test_install_filters_every_handler_once(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("txmon-test-log-limit")
    handler = logging.Handler()
    logger.addHandler(handler)
    try:
        install(logger)
        install(logger)
        assert sum(isinstance(f, RepeatFilter) for f in handler.filters) == 1
    finally:
        logger.removeHandler(handler)
