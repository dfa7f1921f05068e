"""The hot path: fetch a batch, decode to columns, evaluate, emit, save state, commit.

Faust's per-message machinery costs ~200 µs an event, so the input topic is
read here with aiokafka ``getmany`` in batches of thousands. Order of effects
per batch gives at-least-once delivery without loss:

1. outputs (alerts, police reports, holds, dead letters) are produced and acknowledged;
2. alert records and holds, then account states, are written to Redis (``streams.state``:
   one transaction on one Redis; on a Redis Cluster alerts first, then states);
3. offsets are committed.

A crash between 1 and 2 re-evaluates the batch from the old state and emits the
very same deterministic ids again, which every consumer can deduplicate; after
2, redelivered events find their alert ids recorded and emit nothing.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Sequence

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError, MessageSizeTooLargeError, RecordTooLargeError
from mode import Service
from redis.exceptions import RedisError

from alerts.holds import AlertStore
from alerts.model import encoder
from alerts.routing import Outputs, build_outputs, utc_now
from rules.config import Ruleset
from rules.engine import RuleEngine
from store import RedisClient
from streams.codec import DeadLetter, Decoded, EventTimeBounds, decode_records
from streams.dead_letters import dead_letter_record, stub_record
from streams.ip_accounts import IpAccountStore
from streams.kafka_client import aiokafka_options
from streams.lists import SuspiciousList, payee_rows
from streams.metrics import Metrics
from streams.settings import Settings
from streams.state import AccountStateStore
from streams.topics import ensure_topics

log = logging.getLogger(__name__)


def backoff_s(attempt: int) -> float:
    """Seconds to wait after the ``attempt``-th failure of a batch: 0.4, 0.8, 1.6 ... capped at 5."""
    return min(0.2 * 2 ** min(attempt, 10), 5.0)


class StopRetrying(Exception):  # noqa: N818  (not an error: the worker was asked to stop)
    """The worker stops while a batch is still failing on an outage."""

    retriable = False


class _FinishBatchFirst(ConsumerRebalanceListener):  # type: ignore[misc]
    """Partitions leave this worker only after its in-flight batch is handled and committed."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    async def on_partitions_revoked(self, revoked: object) -> None:
        async with self.monitor.batch_lock:
            await self.monitor._commit()

    async def on_partitions_assigned(self, assigned: object) -> None:
        return None


class Monitor(Service):
    def __init__(self, settings: Settings, engine: RuleEngine, metrics: Metrics, redis: RedisClient) -> None:
        super().__init__()
        self.settings = settings
        self.engine = engine
        self.metrics = metrics
        self.redis = redis
        self.states = AccountStateStore(redis, settings.state_prefix)
        self.alert_store = AlertStore(redis, settings.state_prefix)
        self.suspicious = SuspiciousList(redis, settings.state_prefix)
        self.ip_accounts = IpAccountStore(redis, settings.state_prefix)
        self.batch_lock = asyncio.Lock()
        self.consumer: AIOKafkaConsumer | None = None
        self._next_engine: RuleEngine | None = None
        self._uncommitted: dict[TopicPartition, int] = {}
        self._last_commit = 0.0
        self.producer: AIOKafkaProducer | None = None
        self.processed = 0
        # Why the last batch is not handled yet (None when it was): readiness reads it.
        self.failing: str | None = None
        self.time_bounds = EventTimeBounds.of_seconds(settings.max_event_age_s, settings.max_event_future_s)

    async def on_start(self) -> None:
        s = self.settings
        await ensure_topics(s)
        self.producer = AIOKafkaProducer(
            **aiokafka_options(s),
            client_id=f"{s.app_id}-monitor",
            acks="all",
            enable_idempotence=True,
            linger_ms=0,  # outputs are few and awaited per batch: send at once
        )
        self.consumer = AIOKafkaConsumer(
            **aiokafka_options(s),
            group_id=s.consumer_group,
            client_id=f"{s.app_id}-monitor",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=32 * 1024 * 1024,
            # The broker answers a fetch as soon as data is there; this bounds the idle wait.
            fetch_max_wait_ms=s.fetch_wait_ms,
            # Static membership: a worker restarted after a crash takes its partitions back at once.
            group_instance_id=s.group_instance_id or None,
            session_timeout_ms=s.session_timeout_ms,
        )
        self.consumer.subscribe([s.input_topic], listener=_FinishBatchFirst(self))
        await self.producer.start()
        await self.consumer.start()
        self.metrics.ruleset.labels(self.engine.ruleset.version).set(1)
        self.metrics.know_rules(r.definition.id for r in self.engine.ruleset.rules)
        self.metrics.ready.set(1)
        # Start-up objects (Faust, clients, rules) never die: move them out of the collector's
        # sight, and collect young objects less often, since a batch allocates tens of thousands.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        log.info("monitor consuming %s as group %s", s.input_topic, s.consumer_group)

    async def on_stop(self) -> None:
        async with self.batch_lock:
            if self.consumer is not None:
                await self._commit()
                await self.consumer.stop()
            if self.producer is not None:
                await self.producer.stop()

    @Service.task
    async def _run(self) -> None:
        while not self.should_stop:
            try:
                await self.step()
            except StopRetrying as exc:
                log.warning("stopping while a batch was retried; it stays uncommitted: %s", exc)
                return

    async def step(self) -> int:
        """Process one fetched batch; returns how many records it held."""
        assert self.consumer is not None  # noqa: S101  (started in on_start)
        t0 = time.perf_counter()
        fetched = await self.consumer.getmany(
            timeout_ms=self.settings.fetch_wait_ms, max_records=self.settings.batch_max_records
        )
        if not fetched:
            return 0
        if not self.processed:
            self.metrics.first_fetch.set(time.time())
        self.metrics.stage_seconds.labels("fetch").observe(time.perf_counter() - t0)
        async with self.batch_lock:
            self._swap_ruleset()
            records = [r for recs in fetched.values() for r in recs]
            await self._handle_isolating(records)
            done = time.time()
            self._uncommitted.update({tp: recs[-1].offset + 1 for tp, recs in fetched.items()})
            if done - self._last_commit >= self.settings.commit_interval_ms / 1000:
                await self._commit()
            stamps = np.fromiter((r.timestamp for r in records), np.float64, len(records))
            self.metrics.latency.observe_many(np.maximum(done - stamps / 1000.0, 0.0))
            for tp, recs in fetched.items():
                high = self.consumer.highwater(tp)
                if high is not None:
                    behind = max(high - recs[-1].offset - 1, 0)
                    self.metrics.lag.labels(str(tp.partition)).set(behind)
                    age = max(done - recs[-1].timestamp / 1000.0, 0.0) if behind else 0.0
                    self.metrics.lag_seconds.labels(str(tp.partition)).set(age)
        self.metrics.batches.inc()
        self.metrics.records.inc(len(records))
        self.metrics.batch_records.observe(len(records))
        self.processed += len(records)
        return len(records)

    def use_ruleset(self, ruleset: Ruleset) -> None:
        """Judge the next batch with ``ruleset`` (called by the rules listener)."""
        self._next_engine = RuleEngine(ruleset, self.engine.geo)

    def _swap_ruleset(self) -> None:
        if self._next_engine is None:
            return
        old, self.engine, self._next_engine = self.engine.ruleset.version, self._next_engine, None
        self.metrics.ruleset.clear()
        self.metrics.ruleset.labels(self.engine.ruleset.version).set(1)
        self.metrics.rules_reloads.inc()
        log.info("rules version %s replaces %s from the next batch on", self.engine.ruleset.version, old)

    async def _commit(self) -> None:
        """Commit what is fully handled. Committing less often than every batch only widens
        what a crash redelivers; deterministic ids keep redelivery harmless."""
        assert self.consumer is not None  # noqa: S101
        if not self._uncommitted:
            return
        t = time.perf_counter()
        offsets, self._uncommitted = self._uncommitted, {}
        try:
            await self.consumer.commit(offsets)
        except CommitFailedError:
            # Partitions moved during the batch: the new owner redelivers it; ids deduplicate.
            log.warning("commit failed after a rebalance; those records will be redelivered")
        self._last_commit = time.time()
        self.metrics.stage_seconds.labels("commit").observe(time.perf_counter() - t)
        self.metrics.last_commit.set(self._last_commit)

    async def _handle_isolating(self, records: Sequence[ConsumerRecord]) -> None:
        """Handle ``records``: passing faults (Redis, Kafka, the network) are retried until they
        pass, so no event is ever lost; a batch that fails on anything else is split in halves
        until the poison record stands alone and is dead-lettered. A loop over a stack of parts,
        not recursion: an outage of hours is only many rounds."""
        parts: list[Sequence[ConsumerRecord]] = [records]
        while parts:
            part = parts.pop()
            if await self._until_handled(part):
                continue
            if len(part) == 1:
                dead = DeadLetter(0, "processing_error", "the record failed evaluation repeatedly; see worker log")
                await self._emit(part, Outputs(), [dead])
                continue
            half = len(part) // 2
            parts += [part[half:], part[:half]]  # the first half is handled first

    async def _until_handled(self, records: Sequence[ConsumerRecord]) -> bool:
        """True once ``handle`` succeeded; False when it failed on a non-retriable error. Raises
        ``StopRetrying`` when the worker is asked to stop while an outage lasts: the batch stays
        uncommitted and the next owner of its partitions judges it."""
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.handle(records)
            except (RedisError, KafkaError, OSError) as exc:
                self.metrics.count_error("monitor", exc)
                self.metrics.count_batch_failure(exc, retried=True)
                self.failing = f"a batch of {len(records)} records failed {attempt} time(s), retrying: {exc!r}"
                log.warning("batch of %d failed (attempt %d): %r", len(records), attempt, exc)
                await self.sleep(backoff_s(attempt))
                if self.should_stop:
                    raise StopRetrying(self.failing) from exc
                continue
            except Exception as exc:
                self.metrics.count_batch_failure(exc, retried=False)
                log.exception("batch of %d failed on an unexpected error", len(records))
                return False
            self.failing = None
            self.metrics.ready.set(1)
            return True

    async def handle(self, records: Sequence[ConsumerRecord]) -> None:
        m, engine = self.metrics, self.engine
        t = time.perf_counter()
        decoded = self._decode(records)
        batch = decoded.batch
        t = _stage(m, "decode", t)
        # One round trip: the accounts' states, which counterparties are on the suspicious
        # list, and R6b's visits of the batch's foreign IPs, merged and read back in one
        # atomic script per IP (so concurrent workers see each other's accounts).
        countries, _ = engine.foreign_ips(batch)
        ip_updates = engine.ip_updates(batch, countries)
        counterparties = list(dict.fromkeys(d for d in batch.dest or () if d is not None))
        pipe = self.redis.pipeline(transaction=False)
        groups = self.states.queue_load(pipe, batch.accounts)
        looked_up = self.suspicious.queue_lookup(pipe, counterparties)
        ips = self.ip_accounts.queue_merge(pipe, ip_updates, engine.ip_window_ms() or 0)
        replies = list(await pipe.execute()) if groups or looked_up or ips else []
        states = self.states.unpack(self.states.replies(batch.accounts, groups, replies[: len(groups)]))
        del replies[: len(groups)]
        listed = payee_rows(batch.dest or [], counterparties, replies.pop(0)) if looked_up else None
        ip_accounts = self.ip_accounts.unpack(ips, replies)
        t = _stage(m, "state_load", t)
        evaluation = engine.evaluate(batch, states, listed, ip_accounts=ip_accounts, countries=countries)
        now = utc_now()
        outputs = build_outputs(
            evaluation.hits,
            evaluation.batch.events,
            now=now,
            bank_code=self.settings.bank_code,
            hold_duration_s=engine.ruleset.hold_duration_s,
        )
        t = _stage(m, "evaluate", t)
        fresh = await self.alert_store.deduplicate(outputs, now)
        packed = self.states.encode(batch.accounts, evaluation.states)
        t = _stage(m, "dedupe", t)
        await self._emit(records, fresh, decoded.dead)
        t = _stage(m, "produce", t)
        await self.states.save_batch(self.alert_store, packed, fresh, now)
        _stage(m, "state_save", t)

        m.count_events(batch.kind)
        m.duplicate_events.inc(decoded.duplicates + evaluation.replayed)
        m.state_accounts.inc(len(batch.accounts))
        for rule_id in evaluation.errors:
            m.rule_errors.labels(rule_id).inc()
        for hit in evaluation.hits:
            m.rule_hits.labels(hit.rule_id, str(hit.action)).inc()
        m.count_outputs(fresh, suppressed=len(outputs.alerts) - len(fresh.alerts))
        if len(batch):
            m.event_latency.observe_many(np.maximum(time.time() - batch.ts_ms / 1000.0, 0.0))

    def _decode(self, records: Sequence[ConsumerRecord]) -> Decoded:
        """Columns and dead letters; arrival is the record's Kafka timestamp (now, when it has none)."""
        now_ms = int(time.time() * 1000)
        return decode_records(
            [r.value for r in records],
            [r.key for r in records],
            arrival_ms=[r.timestamp if r.timestamp >= 0 else now_ms for r in records],
            bounds=self.time_bounds,
            max_bytes=self.settings.max_event_bytes,
        )

    async def _emit(self, records: Sequence[ConsumerRecord], out: Outputs, dead: Sequence[DeadLetter]) -> None:
        assert self.producer is not None  # noqa: S101
        s, send = self.settings, self.producer.send
        pending = [await self._send_dead_letter(records[d.index], d) for d in dead]
        outgoing = [
            *((s.alerts_topic, a.account_id, encoder.encode(a)) for a in out.alerts),
            *((s.police_topic, p.account_id, encoder.encode(p)) for p in out.police),
            *((s.holds_topic, h.account_id, encoder.encode(h)) for h in out.holds),
        ]
        pending += [await send(topic, value, key=key.encode()) for topic, key, value in outgoing]
        if not pending:
            return
        results = await asyncio.gather(*pending, return_exceptions=True)
        for k, result in enumerate(results):
            if not isinstance(result, BaseException):
                continue
            if k < len(dead) and isinstance(result, _TOO_LARGE):  # the topic's limit is below ours
                await (await self._send_dead_letter(records[dead[k].index], dead[k], stub=True))
                continue
            raise result

    async def _send_dead_letter(self, rec: ConsumerRecord, d: DeadLetter, *, stub: bool = False) -> asyncio.Future:  # type: ignore[type-arg]
        """Produce the dead letter of ``rec``, truncated to fit (``streams.dead_letters``)."""
        assert self.producer is not None  # noqa: S101
        source = f"{rec.topic}/{rec.partition}/{rec.offset}"
        value, key, headers = (
            stub_record(rec.key, d.reason, source, len(rec.value or b""))
            if stub
            else dead_letter_record(
                rec.value, rec.key, d.reason, d.detail, source, limit=self.settings.dead_letter_max_bytes
            )
        )
        if not stub:
            self.metrics.dead_letters.labels(d.reason).inc()
        try:
            future: asyncio.Future = await self.producer.send(  # type: ignore[type-arg]
                self.settings.dead_letter_topic, value, key=key, headers=headers
            )
        except _TOO_LARGE:
            if stub:
                raise
            return await self._send_dead_letter(rec, d, stub=True)
        return future


_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError)


def _stage(m: Metrics, name: str, since: float) -> float:
    now = time.perf_counter()
    m.stage_seconds.labels(name).observe(now - since)
    return now
