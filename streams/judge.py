"""Judge: one decoded batch read against Redis, evaluated by the engine, deduplicated.

``RedisAccountStore.read_batch`` (``streams.account_store``, the interface the back-test
reads through too) loads what the engine needs in one pipelined round trip: accounts'
states, counterparties on the suspicious list, R6b's IP visits, and last the state marker.
A second round trip finds which of the batch's alert ids are already recorded. Nothing is
written here: the batch loop (``streams.monitor``) saves the packed states and alert
records after the outputs are acknowledged (``streams.state`` says what is atomic).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from aiokafka import ConsumerRecord

from alerts.holds import AlertStore
from alerts.routing import Outputs, build_outputs, utc_now
from rules.engine import Evaluation, RuleEngine
from store import RedisClient
from streams.account_store import Packed, RedisAccountStore
from streams.codec import Decoded, EventTimeBounds
from streams.fetch import decode_input, sources_of
from streams.lists import counterparties, rows_on_list
from streams.metrics import Metrics
from streams.readiness import StateMarker
from streams.settings import Settings


@dataclass(frozen=True, slots=True)
class Verdict:
    """A judged batch: what to emit (``fresh``) and what to save (``packed`` states)."""

    decoded: Decoded
    evaluation: Evaluation
    suppressed: int  # alerts already recorded by an earlier delivery of the batch
    fresh: Outputs
    packed: Packed
    now: datetime


class Judge:
    def __init__(self, settings: Settings, metrics: Metrics, redis: RedisClient) -> None:
        self.settings = settings
        self.metrics = metrics
        self.redis = redis
        self.store = RedisAccountStore(redis, settings.state_prefix)
        self.alert_store = AlertStore(redis, settings.state_prefix)
        self.marker = StateMarker(redis, settings.state_prefix)
        self.time_bounds = EventTimeBounds.of_seconds(settings.max_event_age_s, settings.max_event_future_s)

    async def judge(
        self,
        engine: RuleEngine,
        generation: str | None,
        records: Sequence[ConsumerRecord],
        settle: Callable[[], Awaitable[None]] | None = None,
    ) -> Verdict:
        """Decode, load, evaluate and deduplicate ``records``. ``settle`` is awaited after the
        decode and before anything is read from Redis: the batch before still being saved."""
        m = self.metrics
        t = time.perf_counter()
        decoded = decode_input(records, self.time_bounds, self.settings.max_event_bytes)
        batch = decoded.batch
        t = stage(m, "decode", t)
        if settle is not None:
            await settle()
            t = time.perf_counter()
        # One round trip: the accounts' states, which counterparties are on the suspicious
        # list, and R6b's visits of the batch's foreign IPs, merged and read back in one
        # atomic script per IP (so concurrent workers see each other's accounts); the marker
        # last: Redis still holds the state this worker wrote (else StateLost).
        countries, _ = engine.foreign_ips(batch)
        payees = counterparties(batch.dest)
        read = await self.store.read_batch(
            batch.accounts,
            payees,
            engine.ip_updates(batch, countries),
            engine.ip_window_ms() or 0,
            marker=self.marker,
            generation=generation,
        )
        listed = rows_on_list(batch.dest or [], read.listed) if payees else None
        t = stage(m, "state_load", t)
        sources = sources_of(records, decoded.rows)
        evaluation = engine.evaluate(
            batch, read.states, listed, ip_accounts=read.ip_accounts, countries=countries, sources=sources
        )
        now = utc_now()
        outputs = build_outputs(
            evaluation.hits,
            evaluation.batch.events,
            now=now,
            bank_code=self.settings.bank_code,
            hold_duration_s=engine.ruleset.hold_duration_s,
        )
        t = stage(m, "evaluate", t)
        fresh = await self.alert_store.deduplicate(outputs, now)
        packed = self.store.pack(batch.accounts, evaluation.states)
        stage(m, "dedupe", t)
        return Verdict(decoded, evaluation, len(outputs.alerts) - len(fresh.alerts), fresh, packed, now)

    def count(self, v: Verdict) -> None:
        """The batch's counters, once its effects are saved."""
        m, batch, evaluation = self.metrics, v.decoded.batch, v.evaluation
        m.count_events(batch.kind)
        m.duplicate_events.inc(v.decoded.duplicates + evaluation.replayed)
        m.redelivered_events.inc(evaluation.redelivered)
        m.state_accounts.inc(len(batch.accounts))
        for rule_id in evaluation.errors:
            m.rule_errors.labels(rule_id).inc()
        for hit in evaluation.hits:
            m.rule_hits.labels(hit.rule_id, str(hit.action)).inc()
        m.count_outputs(v.fresh, suppressed=v.suppressed)
        if len(batch):
            m.event_latency.observe_many(np.maximum(time.time() - batch.ts_ms / 1000.0, 0.0))


def stage(m: Metrics, name: str, since: float) -> float:
    """Observe ``txmon_stage_seconds{stage=name}`` since ``since``; returns now."""
    now = time.perf_counter()
    m.stage_seconds.labels(name).observe(now - since)
    return now
