"""Helpers for rule tests: events as dicts, one engine with a fake geolocation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pytest

from rules.config import load_ruleset
from rules.engine import RuleEngine
from rules.ip_cluster import IpVisits
from rules.model import RuleHit
from rules.state import AccountView
from streams.account_store import MemoryAccountStore
from streams.backtest import InMemory
from streams.codec import to_columns
from streams.events import decode_event

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # 09:00 in Hanoi
MIDNIGHT_HANOI = 15 * 3600  # seconds after T0: 2026-11-29 00:00 +07:00


class FakeGeo:
    """'VN' for 14.x, 'US' for 8.x, 'KH' for 202.x, '' otherwise."""

    def countries(self, ips: Sequence[str | None]) -> np.ndarray:
        table = {"14": "VN", "8": "US", "202": "KH"}
        return np.array([table.get((ip or "").split(".")[0], "") for ip in ips], dtype="<U2")


def ev(type_: str, at_s: float, account: str = "A", **fields: Any) -> dict[str, Any]:
    """An event ``at_s`` seconds after T0; ``event_id`` is made from type and time."""
    return {
        "type": type_,
        "event_id": f"{account}-{type_}-{at_s}",
        "account_id": account,
        "ts": (T0 + timedelta(seconds=at_s)).isoformat(),
        **fields,
    }


def transfer(
    at_s: float, amount: int = 1_000_000, device: str | None = "d1", account: str = "A", **kw: Any
) -> dict[str, Any]:
    fields = {"amount": amount, "dest_account": "0011", "dest_bank": "VCB"} | kw
    if device is not None:
        fields["device_id"] = device
    return ev("transfer", at_s, account, **fields)


def incoming(at_s: float, payer: str, amount: int = 1_000_000, account: str = "A", **kw: Any) -> dict[str, Any]:
    fields = {"amount": amount, "src_account": payer, "src_bank": "VCB"} | kw
    return ev("incoming_transfer", at_s, account, **fields)


def onboarded(device: str = "d1", account: str = "A") -> list[dict[str, Any]]:
    return [
        ev("device_binding", 0, account, device_id=device),
        ev("biometric_verification", 1, account, device_id=device, result="matched"),
        transfer(2, device=device, account=account, ip="14.1.1.1"),
    ]


class StoredStates(Mapping[str, AccountView]):
    """A store's states by account, read as the engine reads them (the lists are the store's own)."""

    def __init__(self, store: MemoryAccountStore) -> None:
        self.store = store

    def __getitem__(self, account: str) -> AccountView:
        view = self.store.load_now([account])[0]
        if view is None:
            raise KeyError(account)
        return view

    def __iter__(self) -> Iterator[str]:
        return iter(self.store.accounts())

    def __len__(self) -> int:
        return len(self.store.accounts())


class Runner:
    """Batches through one engine, keeping state as the worker keeps it in Redis:
    per account, the shared suspicious list (``listed``) and R6b's store per foreign IP."""

    def __init__(self, listed: frozenset[str] = frozenset()) -> None:
        self.store = InMemory(RuleEngine(load_ruleset(), FakeGeo()), listed)
        self.state = StoredStates(self.store.store)
        self.ip_accounts: dict[str, IpVisits] = self.store.ip_accounts
        self.replayed = 0

    def run(self, events: list[dict[str, Any]]) -> list[RuleHit]:
        result = self.store.judge(to_columns([decode_event(orjson.dumps(e)) for e in events]))
        self.replayed += result.replayed
        return result.hits

    def hits(self, events: list[dict[str, Any]], split: int | None = None) -> list[tuple[str, str]]:
        """(rule, event_id) of every hit; with ``split``, the events go in two batches."""
        found = self.run(events) if split is None else self.run(events[:split]) + self.run(events[split:])
        return sorted((h.rule_id, h.event_id) for h in found)


@pytest.fixture
def runner() -> Runner:
    return Runner()
