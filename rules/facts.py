"""Marks the facts of a batch that depend on the batch alone.

A ``rules.features.BatchContext`` fact is a cached property. Most combine earlier rows of the
batch with the accounts' stored states; some need the batch alone (its columns, the groups of
its rows, each row's prior row of the same account). Those are declared with ``@batch_only``
instead of ``@cached_property``: a back-test's reading process computes them ahead
(``rules.features.batch_facts``) while the judging process works on the batch before, and
``BatchContext(facts=...)`` starts from them. ``batch_only_names`` lists them from the class, so
no list of names is kept by hand.
"""

from __future__ import annotations

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
