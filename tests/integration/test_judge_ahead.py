"""A batch judged while the batch before is still being saved decides as if it had been saved.

``streams.monitor`` judges batch N+1 while N's outputs are acknowledged and its states and
alert records written; N+1 then takes the states of N's accounts, and N's alerts and holds,
from N's verdict (``streams.judge``). Here the same generated traffic (fraud scenarios
included, few enough accounts that consecutive batches share many) is judged twice on the
real Redis: one batch after another, each saved before the next is read; and the worker's
way, each judged before the one before it is saved. Every batch's fresh outputs and every
account's saved state must be the same.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from loadtest.bank_traffic import Generator
from loadtest.stack import SIMULATED_CLOCK
from rules.config import load_ruleset
from rules.engine import RuleEngine
from rules.geo import load_geoip
from store import connect
from streams.judge import Judge, Verdict
from streams.metrics import Metrics
from streams.settings import Settings
from tests.integration.conftest import Services

pytestmark = pytest.mark.integration
ARRIVAL_MS = 1_795_830_000_000


@dataclass(frozen=True, slots=True)
class Record:
    """What the judge reads of an aiokafka ``ConsumerRecord``."""

    key: bytes
    value: bytes
    partition: int
    offset: int
    timestamp: int


def batches(size: int, n: int) -> list[list[Record]]:
    made = list(Generator(seed=23, n_accounts=150, scenario_every=40).take(size * n))
    records = [Record(k, v, 0, i, ARRIVAL_MS + i) for i, (k, v) in enumerate(made)]
    return [records[i : i + size] for i in range(0, len(records), size)]


def seen(v: Verdict) -> dict[str, list[Any]]:
    return {
        "alerts": sorted(a.alert_id for a in v.fresh.alerts),
        "holds": sorted((h.hold_id, tuple(h.alert_ids)) for h in v.fresh.holds),
        "alert_holds": sorted((a.alert_id, a.hold_id or "") for a in v.fresh.alerts),
    }


async def judged(
    services: Services, all_batches: Sequence[list[Record]], ahead: bool
) -> tuple[list[dict[str, list[Any]]], list[Any]]:
    """Each batch's fresh outputs, and every account's state read back at the end."""
    ages = {k.removeprefix("TXMON_").lower(): float(v) for k, v in SIMULATED_CLOCK.items()}
    settings = Settings(state_prefix=f"ja{uuid.uuid4().hex[:6]}:", **ages)  # type: ignore[arg-type]
    redis = connect(services.redis_url)
    judge = Judge(settings, Metrics(), redis)
    engine = RuleEngine(load_ruleset(), load_geoip())
    generation = await judge.marker.create()
    outputs: list[dict[str, list[Any]]] = []
    in_flight: Verdict | None = None

    async def save(v: Verdict) -> None:
        await judge.store.save_batch(v.packed, judge.alert_store, v.fresh, v.now)

    async def settle() -> Verdict | None:
        return in_flight

    try:
        for records in all_batches:
            if ahead:
                verdict = await judge.judge(engine, generation, records, settle=settle)
                if in_flight is not None:
                    await save(in_flight)  # saved only after the next batch was judged
                in_flight = verdict
            else:
                verdict = await judge.judge(engine, generation, records)
                await save(verdict)
            outputs.append(seen(verdict))
        if in_flight is not None:
            await save(in_flight)
        accounts = sorted({r.key.decode() for batch in all_batches for r in batch})
        states = await judge.store.load(accounts)
        return outputs, [None if s is None else msgspec.to_builtins(s.fields()) for s in states]
    finally:
        await redis.aclose()


async def test_judging_ahead_of_the_save_decides_as_judging_after_it(services: Services) -> None:
    traffic = batches(size=400, n=15)
    in_order, states_in_order = await judged(services, traffic, ahead=False)
    overlapped, states_overlapped = await judged(services, traffic, ahead=True)
    alerts = sum(len(o["alerts"]) for o in in_order)
    holds = sum(len(o["holds"]) for o in in_order)
    assert alerts >= 20 and holds >= 5, (alerts, holds)  # the scenarios fired: the test can fail
    assert overlapped == in_order
    assert states_overlapped == states_in_order
