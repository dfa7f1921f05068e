"""Judge: one decoded batch read against Redis, evaluated by the engine, deduplicated.

``RedisAccountStore.read_batch`` (``streams.account_store``, the interface the back-test
reads through too) loads what the engine needs in one pipelined round trip: accounts'
states, counterparties on the suspicious list, R6b's IP visits, and last the state marker.
A second round trip finds which of the batch's alert ids are already recorded. Nothing is
written here: the batch loop (``streams.monitor``) saves the packed states and alert
records after the outputs are acknowledged (``streams.state`` says what is atomic).

A batch may be judged while the batch before is still being saved (``ahead``): its
accounts' states are then that batch's new states, not Redis's, and its alerts and holds
count as recorded. The other accounts' records are not being written, so Redis's are current.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from aiokafka import ConsumerRecord

from alerts.holds import AlertStore
from alerts.routing import Outputs, build_outputs, utc_now
from rules.engine import Evaluation, RuleEngine
from rules.state import States
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

    def rows_of(self, accounts: Sequence[str]) -> npt.NDArray[np.int64]:
        """Each account's row in this batch's states (-1: not in this batch)."""
        index = {a: i for i, a in enumerate(self.decoded.batch.accounts)}
        get = index.get
        return np.fromiter((get(a, -1) for a in accounts), np.int64, len(accounts))


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
        settle: Callable[[], Awaitable[Verdict | None]] | None = None,
    ) -> Verdict:
        """Decode, load, evaluate and deduplicate ``records``. ``settle`` is awaited after the
        decode and before anything is read from Redis: it waits for the batches still being
        saved but the last, and returns that one's verdict (None when none is in flight)."""
        m = self.metrics
        t = time.perf_counter()
        decoded = decode_input(records, self.time_bounds, self.settings.max_event_bytes)
        batch = decoded.batch
        t = stage(m, "decode", t)
        ahead = None
        if settle is not None:
            ahead = await settle()
            t = time.perf_counter()
        # One round trip: the accounts' states, which counterparties are on the suspicious
        # list, and R6b's visits of the batch's foreign IPs, merged and read back in one
        # atomic script per IP (so concurrent workers see each other's accounts); the marker
        # last: Redis still holds the state this worker wrote (else StateLost).
        countries, _ = engine.foreign_ips(batch)
        payees = counterparties(batch.dest)
        accounts, ahead_rows = batch.accounts, None
        if ahead is not None:
            ahead_rows = ahead.rows_of(accounts)
            accounts = [accounts[i] for i in np.flatnonzero(ahead_rows < 0).tolist()]
        read = await self.store.read_batch(
            accounts,
            payees,
            engine.ip_updates(batch, countries),
            engine.ip_window_ms() or 0,
            marker=self.marker,
            generation=generation,
        )
        states = read.states
        if ahead is not None and ahead_rows is not None and len(accounts) < len(batch.accounts):
            in_ahead = ahead_rows >= 0
            states = States.interleaved(in_ahead, ahead.evaluation.states.take(ahead_rows[in_ahead]), states)
        listed = rows_on_list(batch.dest or [], read.listed) if payees else None
        t = stage(m, "state_load", t)
        sources = sources_of(records, decoded.rows)
        evaluation = engine.evaluate(
            batch, states, listed, ip_accounts=read.ip_accounts, countries=countries, sources=sources
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
        fresh = await self.alert_store.deduplicate(outputs, now, None if ahead is None else ahead.fresh)
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
