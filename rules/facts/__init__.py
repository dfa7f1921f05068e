"""What the rules know about each row of a batch: the facts, one module each.

A fact is one thing txmon remembers about an account (its devices, its last OTP-phone change,
its day's total, its payers, ...). Its class, a part of ``rules.features.BatchContext``, owns
all of it in one place:

- ``STORED``: the ``rules.state`` fields it keeps between batches (no other fact
  writes them; ``tests/unit/rules/test_facts.py`` checks every field has one owner);
- its cached properties: per row, what the stored state says combined with the earlier rows
  of the same batch, so a rule sees the account as if events were judged one by one in order;
- ``advance(new)``: how the batch's rows change those fields, after the rules have judged it.

Some facts of a batch depend on the batch alone (its columns, the groups of its rows, each
row's prior row of the same account). Those are declared with ``@batch_only`` instead of
``@cached_property``: a back-test's reading process computes them ahead
(``rules.features.batch_facts``) while the judging process works on the batch before, and
``BatchContext(facts=...)`` starts from them. ``batch_only_names`` lists them from the class, so
no list of names is kept by hand.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from functools import cached_property
from typing import Any, TypeVar

T = TypeVar("T")


class batch_only(cached_property[T]):  # noqa: N801  (used as a decorator, like cached_property)
    """A cached fact computed from the batch alone (no stored state, no shared lookups)."""


def batch_only_names(cls: type[Any]) -> tuple[str, ...]:
    """The ``@batch_only`` facts of ``cls`` and its bases, in definition order."""
    names: dict[str, None] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, batch_only):
                names[name] = None
    return tuple(names)


def stored_facts(cls: type[Any]) -> tuple[type[Any], ...]:
    """The fact classes among ``cls`` and its bases: those that declare ``STORED`` fields."""
    return tuple(k for k in cls.__mro__ if "STORED" in vars(k))


def add_elapsed(timings: MutableMapping[str, float] | None, key: str, since: float) -> None:
    """Add the seconds since ``since`` (``time.perf_counter``) to ``timings[key]``, when profiling
    (``rules.engine.RuleEngine.timings``); nothing when ``timings`` is None."""
    if timings is not None:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - since
