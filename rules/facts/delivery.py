"""What each account's state has applied (the hardening issue's guarantees): the input offsets
of its events, and the ids of its money events within the resend horizon.

Both are read before the rules judge a batch (``redelivered``, ``replayed``: those rows are
dropped, never judged twice) and written with the state in one atomic write.
"""

from __future__ import annotations

from itertools import chain
from operator import attrgetter
from typing import ClassVar

import numpy as np

from rules.columns import EventBatch
from rules.facts.batch import BatchBase, Bools, Ints, Sources
from rules.state import MAX_APPLIED, RESEND_HORIZON_MS, AccountLists, States
from rules.window import group_order, last_in_group, pair_keys, run_starts

_APPLIED = attrgetter("applied")


def redelivered(batch: EventBatch, states: States, sources: Sources | None) -> Bools:
    """Rows whose account's state already applied their input offset (a redelivery after a
    crash between the state write and the offset commit): their effects are in the state and
    their alerts were emitted, so judging them again would double-count and re-alert."""
    if sources is None or not len(batch):
        return np.zeros(len(batch), np.bool_)
    # One entry per account is the rule (an account's events come from one partition);
    # accounts with more (the partition count changed, records re-keyed) take the slow path.
    part = np.full(len(states), -1, np.int64)
    upto = np.full(len(states), -1, np.int64)
    several: set[int] = set()
    lists = states.lists
    for a, s in enumerate(lists):
        if s is None or not s.offsets:
            continue
        if len(s.offsets) == 1:
            [(part[a], upto[a])] = s.offsets.items()
        else:
            several.add(a)
    acct = batch.account
    out: Bools = (sources.partition == part[acct]) & (sources.offset <= upto[acct])
    if several:
        for r in np.flatnonzero(np.isin(acct, list(several))).tolist():
            offsets = lists[int(acct[r])].offsets  # type: ignore[union-attr]
            out[r] = int(sources.offset[r]) <= offsets.get(int(sources.partition[r]), -1)
    return out


def replayed(batch: EventBatch, stored: States, money_ids: Ints) -> Bools:
    """Money events an account's state already counted: a resend from an earlier batch
    must not add to the day's total, the usual amount or the inflow a second time."""
    out = np.zeros(len(batch), np.bool_)
    states = stored.lists
    rows = np.flatnonzero(money_ids)
    if len(rows):
        hashes = money_ids[rows].tolist()
        # The usual batch, no resend at all: the stored ids are looked up in a set of the batch's,
        # which is smaller than a set of theirs (3-4x faster on 50k-event batches).
        if set(hashes).isdisjoint(chain.from_iterable(map(_APPLIED, filter(None, states)))):
            return out
        applied = [s.applied if s is not None else () for s in states]
        pairs = zip(batch.account[rows].tolist(), hashes, strict=True)
        out[rows] = np.fromiter((h in applied[a] for a, h in pairs), np.bool_, len(rows))
    return out


class Delivery(BatchBase):
    STORED: ClassVar[tuple[str, ...]] = ("applied", "applied_ms", "offsets")

    def advance(self, new: States) -> None:
        """The money ids of each account's rows (in arrival order), and for live input the
        offset of its last row per input partition."""
        lists = new.filled_lists
        b = self.batch
        rows = np.flatnonzero(self.money_ids)
        if len(rows):
            acct = b.account[rows]
            order = group_order(acct)
            ids, times = self.money_ids[rows][order].tolist(), b.ts_ms[rows][order].tolist()
            grouped = acct[order]
            starts = np.flatnonzero(run_starts(grouped))
            ends = np.r_[starts[1:], len(order)]
            for a, lo, hi in zip(grouped[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
                _remember_ids(lists[a], ids[lo:hi], times[lo:hi])
        if self.sources is not None and len(b):
            partition, offset = self.sources
            _, last = last_in_group(pair_keys(b.account, partition), np.ones(len(b), np.bool_))
            for a, p, o in zip(b.account[last].tolist(), partition[last].tolist(), offset[last].tolist(), strict=True):
                offsets = lists[a].offsets
                if o > offsets.get(p, -1):
                    offsets[p] = o


def _remember_ids(s: AccountLists, ids: list[int], times: list[int]) -> None:
    """Add money event ids; keep those within RESEND_HORIZON_MS of the newest, at most MAX_APPLIED."""
    applied, at = s.applied, s.applied_ms
    if len(at) != len(applied):  # written before event times were kept: count them as the newest
        at[:] = at[-len(applied) :] if len(at) > len(applied) else [max(times)] * (len(applied) - len(at)) + at
    applied += ids
    at += times
    cutoff = max(at) - RESEND_HORIZON_MS
    if len(applied) > MAX_APPLIED or min(at) <= cutoff:
        kept = [i for i, t in enumerate(at) if t > cutoff][-MAX_APPLIED:]
        s.applied = [applied[i] for i in kept]
        s.applied_ms = [at[i] for i in kept]
