"""The shared suspicious-account list (SIMO-like): kept in Redis, fed by the suspicious-list topic.

Updates are JSON records keyed by account, ``{"account_id", "action": "add"|"remove",
"source", "reason", "by", "at"}``, published by officers, imports and the SIMO feed. Every
worker applies every update (idempotent set operations), so the list is complete wherever
a batch is judged; a batch looks up its payees in one round trip, with its account states.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import msgspec
import numpy as np
import numpy.typing as npt

from store import RedisClient
from store.keys import Keys


class ListUpdate(msgspec.Struct, kw_only=True):
    account_id: str
    action: Literal["add", "remove"] = "add"
    source: str = "bank"
    reason: str = ""
    by: str = "txmon"
    at: str = ""


_decoder = msgspec.json.Decoder(ListUpdate)
encoder = msgspec.json.Encoder()


def decode_update(raw: bytes) -> ListUpdate:
    return _decoder.decode(raw)


def updates_from_csv(path: Path, by: str) -> list[ListUpdate]:
    """Rows ``account_id[,source[,reason]]``; a header row naming ``account_id`` is skipped."""
    now = datetime.now(tz=UTC).isoformat(timespec="seconds")
    out = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if not row or not row[0].strip() or row[0].strip() == "account_id" or row[0].startswith("#"):
                continue
            source = row[1].strip() if len(row) > 1 and row[1].strip() else "csv"
            reason = row[2].strip() if len(row) > 2 else ""
            out.append(ListUpdate(account_id=row[0].strip(), source=source, reason=reason, by=by, at=now))
    return out


class SuspiciousList:
    def __init__(self, redis: RedisClient, prefix: str = "txmon:") -> None:
        self.redis = redis
        self.key, self.info_key = Keys(prefix).suspicious, Keys(prefix).suspicious_info

    async def apply(self, updates: Iterable[ListUpdate]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for u in updates:
            if u.action == "add":
                pipe.sadd(self.key, u.account_id)
                pipe.hset(self.info_key, u.account_id, encoder.encode(u))
            else:
                pipe.srem(self.key, u.account_id)
                pipe.hdel(self.info_key, u.account_id)
        await pipe.execute()

    def queue_lookup(self, pipe: Any, payees: Sequence[str]) -> bool:
        """Queue one SMISMEMBER for the batch's distinct payees; False when there are none."""
        if not payees:
            return False
        pipe.smismember(self.key, list(payees))
        return True


def counterparties(dest: Sequence[str | None] | None) -> list[str]:
    """A batch's distinct counterparties, in first-seen order: what it asks the list about.

    >>> counterparties(["B", None, "A", "B"])
    ['B', 'A']
    """
    return [d for d in dict.fromkeys(dest or ()) if d is not None]  # distinct first, at C speed


def listed_payees(payees: Sequence[str], member: Sequence[int]) -> frozenset[str]:
    """The payees an SMISMEMBER reply says are on the list."""
    return frozenset(p for p, m in zip(payees, member, strict=True) if m)


def rows_on_list(dest: Sequence[str | None], listed: set[str] | frozenset[str]) -> npt.NDArray[np.bool_]:
    """Per row: the counterparty is in ``listed``. One C-level set intersection first: most
    batches name no listed account at all."""
    found = listed.intersection(dest)
    if not found:
        return np.zeros(len(dest), np.bool_)
    return np.fromiter(map(found.__contains__, dest), np.bool_, len(dest))
