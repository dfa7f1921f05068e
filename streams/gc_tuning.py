"""The garbage-collector settings of every process that judges batches (worker, back-test, bench).

A batch allocates tens of thousands of small objects and the account states hold millions;
with CPython's defaults the collector runs every 700 allocations and rescans what never dies.
Start-up objects (Faust, clients, rules) are moved out of its sight (``gc.freeze``) and young
objects are collected less often.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

THRESHOLDS = (50_000, 20, 100)


def tune_for_batches() -> None:
    """For the rest of the process (the worker, once started)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


@contextmanager
def batch_gc() -> Iterator[None]:
    """For a block (a back-test, a measurement); the earlier settings come back after it."""
    thresholds = gc.get_threshold()
    tune_for_batches()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
