"""The context a rule judges a batch with: the batch's columns and every fact (``rules.facts``).

``BatchContext`` is the facts put together. A rule asks it per row (``ctx.day_total``,
``ctx.untrusted_device``, ``ctx.payers_in_a_window(...)``); each fact combines what earlier rows of
the same batch show with what the account's stored state says about the time before the batch, so
a rule sees the account exactly as if events were judged one by one in order. After the rules,
``advance_states`` lets each fact write the batch into its own stored fields.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

import numpy as np
import numpy.typing as npt

from rules.columns import EventBatch
from rules.facts import add_elapsed, batch_only_names, stored_facts
from rules.facts.batch import Bools, Sources
from rules.facts.countries import Countries
from rules.facts.day_total import DayTotal
from rules.facts.delivery import Delivery
from rules.facts.devices import Devices
from rules.facts.id_document import IdDocument
from rules.facts.inflows import Inflows
from rules.facts.payees import Payees
from rules.facts.tainted import Tainted
from rules.facts.usual_amount import UsualAmount
from rules.facts.verification import Verification
from rules.state import States

__all__ = ["BATCH_ONLY", "FACTS", "BatchContext", "Sources", "advance_states", "batch_facts"]


class BatchContext(
    Verification, Devices, Countries, DayTotal, IdDocument, UsualAmount, Inflows, Payees, Tainted, Delivery
):
    """Columns plus derived per-row facts for one batch (computed lazily, once)."""


# The facts, each with the stored fields it owns and its ``advance``.
FACTS = stored_facts(BatchContext)
# Facts that depend on the batch alone, not on stored states (nor on the suspicious list or
# the shared IP store beyond ``counterparty_listed``): ``batch_facts`` computes them ahead,
# e.g. in a back-test's reading process, and ``BatchContext(facts=...)`` starts from them.
BATCH_ONLY = batch_only_names(BatchContext)


def advance_states(ctx: BatchContext, timings: MutableMapping[str, float] | None = None) -> States:
    """State of every account of the batch after all its rows (index = account code); ``timings``
    gains each fact's seconds (``fact:<name>``), as ``RuleEngine.evaluate`` says.

    The scalar columns are copied; the lists are this batch's own (decoded from the store for
    it), so they are updated in place; an account with none starts empty. Each fact reads its facts of the
    batch before it changes its own fields, and reads no other fact's fields, so the order of
    the facts does not matter.
    """
    new = ctx.states.advanced()
    for fact in FACTS:
        started = time.perf_counter()
        vars(fact)["advance"](ctx, new)
        add_elapsed(timings, f"fact:{fact.__name__}", started)
    return new


def batch_facts(
    batch: EventBatch,
    countries: npt.NDArray[np.str_],
    home_countries: frozenset[str],
    counterparty_listed: Bools | None = None,
) -> dict[str, Any]:
    """The ``BATCH_ONLY`` facts of ``batch``, to hand to ``BatchContext(facts=...)`` for the same batch."""
    ctx = BatchContext(batch, States.empty(len(batch.accounts)), countries, home_countries, counterparty_listed)
    return {name: getattr(ctx, name) for name in BATCH_ONLY}
