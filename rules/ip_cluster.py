"""R6b's shared facts: the accounts' visits to one foreign IP, and which visits form a ring.

A *visit* of an account to an IP is a run of its foreign logins and transfers there with
gaps shorter than the window ``W``: ``(start_ms, end_ms, event_id, event_type)``, named by
its first event. The visits of an IP are a set function of its events: merging in any
order, in any batch split, twice or once, gives the same visits (``merge_ip``), so every
worker and the back-test agree on them. Redis keeps them per IP and merges with a Lua script
that does exactly what ``merge_ip`` does (``streams.ip_accounts``).

A visit *is in a ring* when some window of length ``W`` that overlaps it also overlaps
visits of ``min_accounts`` or more distinct accounts. More events only make more visits
qualify, so whichever worker completes a ring sees it (the merge and the read are one atomic
step) and names every visit in it with the same deterministic alert id; the first two
accounts of a ring are alerted when the third arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from rules.state import IP_RETENTION_MS, MAX_IP_ACCOUNTS

Episode = tuple[int, int, str, str]  # (start_ms, end_ms, first event id, first event type)
IpVisits = dict[str, list[Episode]]  # account -> visits, by start
MAX_VISITS = 8  # per account and IP, the newest kept


def merge_account(visits: Iterable[Episode], window_ms: int) -> list[Episode]:
    """Coalesce visits of one account whose gap is shorter than the window; the earliest
    (start, event id) names the result."""
    out: list[Episode] = []
    for start, end, event_id, event_type in sorted(visits, key=lambda v: (v[0], v[2])):
        if out and start - out[-1][1] < window_ms:
            s, e, i, t = out[-1]
            out[-1] = (s, max(e, end), i, t)
        else:
            out.append((start, end, event_id, event_type))
    return out[-MAX_VISITS:]


def merge_ip(
    stored: Mapping[str, Sequence[Episode]], updates: Mapping[str, Sequence[Episode]], window_ms: int
) -> IpVisits:
    """The IP's visits after ``updates``; bounded like the Redis copy: visits ending more than
    ``IP_RETENTION_MS`` before the newest end are dropped, then all but the ``MAX_IP_ACCOUNTS``
    accounts with the latest ends (ties: the smaller account id stays)."""
    merged: IpVisits = {a: list(v) for a, v in stored.items()}
    for account, visits in updates.items():
        merged[account] = merge_account([*merged.get(account, ()), *visits], window_ms)
    if not merged:
        return merged
    newest = max(v[-1][1] for v in merged.values() if v)
    kept: IpVisits = {}
    for account, visits in merged.items():
        recent = [v for v in visits if v[1] > newest - IP_RETENTION_MS]
        if recent:
            kept[account] = recent
    if len(kept) > MAX_IP_ACCOUNTS:
        order = sorted(kept, key=lambda a: (-kept[a][-1][1], a))
        kept = {a: kept[a] for a in order[:MAX_IP_ACCOUNTS]}
    return kept


def batch_visits(
    ips: Sequence[str | None],
    accounts: Sequence[str],
    account: npt.NDArray[Any],
    ts_ms: npt.NDArray[Any],
    event_ids: Sequence[str],
    event_types: Mapping[int, str],
    rows: Iterable[int],
    window_ms: int,
) -> dict[str, IpVisits]:
    """IP -> account -> the visits the given rows (foreign logins and transfers) make."""
    points: dict[str, dict[str, list[Episode]]] = {}
    for r in rows:
        t = int(ts_ms[r])
        points.setdefault(ips[r] or "", {}).setdefault(accounts[account[r]], []).append(
            (t, t, event_ids[r], event_types[r])
        )
    return {ip: {a: merge_account(v, window_ms) for a, v in by.items()} for ip, by in points.items()}


def ring_visits(
    visits: Mapping[str, Sequence[Episode]], window_ms: int, min_accounts: int
) -> list[tuple[str, Episode, list[str]]]:
    """Every visit in a ring, with the accounts of the fullest window it overlaps.

    A window ``[x, x + W)`` overlaps a visit ``[s, e]`` when ``s - W < x <= e``; one account's
    visits are ``W`` apart, so the accounts over a window are the visits covering ``x``. The
    fullest window over a visit starts at some visit's end, so only those are counted.
    """
    flat = [(a, v) for a, vs in visits.items() for v in vs]
    if len({a for a, _ in flat}) < min_accounts:
        return []
    lo = np.asarray([v[0] - window_ms for _, v in flat], np.int64)  # open
    hi = np.asarray([v[1] for _, v in flat], np.int64)  # closed
    points = np.unique(hi)
    cover = np.searchsorted(np.sort(lo), points, "left") - np.searchsorted(np.sort(hi), points, "left")
    full = points[cover >= min_accounts]
    if len(full) == 0:
        return []
    out = []
    for account, v in flat:
        inside = full[(full > v[0] - window_ms) & (full <= v[1])]
        if len(inside):
            x = int(inside[np.argmax(_cover_at(lo, hi, inside))])
            peers = sorted({a for (a, _), ok in zip(flat, (lo < x) & (hi >= x), strict=True) if ok and a != account})
            out.append((account, v, peers))
    return out


def _cover_at(lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64], xs: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return ((lo[None, :] < xs[:, None]) & (hi[None, :] >= xs[:, None])).sum(axis=1)
