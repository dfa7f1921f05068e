"""The hot path: fetch a batch, decode to columns, evaluate, emit, save state, commit.

Stages live in their own modules: fetch and decode (``streams.fetch``), judge
(``streams.judge``: state load, engine, dedup), emit (``streams.emit``); this module
is the loop around them, the state save, and the offset commits.

Faust's per-message machinery costs ~200 µs an event, so the input topic is
read here with aiokafka ``getmany`` in batches whose size follows the backlog
(``streams.batching``: small when the stream is light, up to ``TXMON_BATCH_MAX_RECORDS``
under a backlog). Order of effects per batch gives at-least-once delivery without loss:

1. outputs (alerts, police reports, holds, dead letters) are produced and acknowledged;
2. alert records and holds, then account states, are written to Redis (``streams.state``:
   one transaction on one Redis; on a Redis Cluster alerts first, then states);
3. offsets are committed.

A crash between 1 and 2 re-evaluates the batch from the old state and emits the
very same deterministic ids again, which every consumer can deduplicate; after
2, redelivered events find their alert ids recorded and emit nothing.

Overlap: a batch's outputs are sent before ``step`` returns; the wait for their
acknowledgement and the Redis writes (1 and 2) run while the next batch is fetched, decoded
and judged. That next batch takes the states of the accounts the batch in flight changed
from its verdict, not from Redis, and counts its alerts and holds as recorded
(``streams.judge``); every batch before that one is saved before it reads anything
(``_settle_ahead``; stage ``settle`` is the wait that was not hidden). Saves stay in batch
order (a batch's tail waits for the tail before it), so 2 never writes a state ahead of the
batches it was judged after, and 3 still follows 2. A failure of 1 or 2 judges that batch
again from the states it had not saved, and every batch judged after it too, with the
retries and isolation of any batch: the same deterministic ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from mode import Service

from alerts.routing import Outputs
from rules.config import Ruleset
from rules.engine import RuleEngine
from store import RedisClient
from streams.batching import AdaptiveBatch
from streams.codec import DeadLetter
from streams.emit import Sent, acknowledged, send_outputs
from streams.gc_tuning import tune_for_batches
from streams.judge import Judge, Verdict, stage
from streams.kafka_client import aiokafka_options
from streams.lag import PartitionLag
from streams.metrics import Metrics
from streams.readiness import Readiness, StateLost, not_ready_reasons, partitions_of, probe
from streams.retry import BatchRetry, Stopping
from streams.settings import Settings
from streams.topics import ensure_topics

log = logging.getLogger(__name__)


class _FinishBatchFirst(ConsumerRebalanceListener):  # type: ignore[misc]
    """Partitions leave this worker only after its in-flight batch is handled and committed."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        async with self.monitor.batch_lock:
            await self.monitor._settle()
            await self.monitor._commit()
        self.monitor.lag.forget(revoked)

    async def on_partitions_assigned(self, assigned: object) -> None:
        return None


Fetched = dict[TopicPartition, list[ConsumerRecord]]


@dataclass(frozen=True, slots=True)
class _Pending:
    """A judged batch whose outputs are sent and whose acknowledgement and save are in flight."""

    fetched: Fetched
    records: Sequence[ConsumerRecord]
    engine: RuleEngine
    tail: asyncio.Future[None]
    verdict: Verdict | None = None  # what the next batch is judged after (None: judge it from Redis)


class Monitor(Service):
    def __init__(self, settings: Settings, engine: RuleEngine, metrics: Metrics, redis: RedisClient) -> None:
        super().__init__()
        self.settings = settings
        self.engine = engine
        self.metrics = metrics
        self.redis = redis
        self.judge = Judge(settings, metrics, redis)
        self.store, self.alert_store = self.judge.store, self.judge.alert_store
        self.suspicious = self.store.suspicious  # the control agent updates the list through it
        self.batch_lock = asyncio.Lock()
        self.consumer: AIOKafkaConsumer | None = None
        self._next_engine: RuleEngine | None = None
        self._uncommitted: dict[TopicPartition, int] = {}
        self._pending: list[_Pending] = []  # batches whose acks and state save are in flight, in order
        self.batching = AdaptiveBatch(settings)
        self._last_commit = 0.0
        self.producer: AIOKafkaProducer | None = None
        self.fetched = 0  # records taken from the input
        self.processed = 0  # records whose outputs and state are saved (``/health``)
        self.readiness = Readiness()
        self.marker = self.judge.marker
        self.generation: str | None = None
        self.lag = PartitionLag(metrics)
        self.retry = BatchRetry(
            metrics, self.readiness, lambda: self.should_stop, self._sleep, self._wait_for_rebuild, self._set_ready
        )

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
        await self._adopt_generation()
        self.metrics.ruleset.labels(self.engine.ruleset.version).set(1)
        self.metrics.know_rules(r.definition.id for r in self.engine.ruleset.rules)
        tune_for_batches()  # start-up objects out of the collector's sight (streams.gc_tuning)
        self.readiness.started = True
        self._set_ready()
        log.info("monitor consuming %s as group %s", s.input_topic, s.consumer_group)

    async def _adopt_generation(self) -> None:
        """Read the state marker; create it on a first start. Missing while the group has
        committed offsets means Redis lost the state: the first batch then waits for a rebuild."""
        assert self.consumer is not None  # noqa: S101
        token = await self.marker.read()
        if token is None:
            topic = self.settings.input_topic
            tps = [TopicPartition(topic, p) for p in await partitions_of(self.consumer, topic)]
            committed = [await self.consumer.committed(tp) for tp in tps]
            if any(c is not None and c > 0 for c in committed):
                self.generation = "(lost)"  # never a real token: the first batch's check fails
                self.readiness.state_lost = (
                    f"no state generation marker in Redis ({self.marker.key}) although consumer group "
                    f"{self.settings.consumer_group} has committed offsets"
                )
                self.metrics.state_lost.set(1)
                log.error("STATE LOST, not judging: %s. Run `txmon state rebuild`.", self.readiness.state_lost)
                return
            token = await self.marker.create()
        self.generation = token

    async def on_stop(self) -> None:
        """Bounded: a batch still retrying gives up at once (it stays uncommitted); clients that
        do not close in time are abandoned rather than holding the process."""
        limit = self.settings.stop_timeout_s
        try:
            await asyncio.wait_for(self.batch_lock.acquire(), limit / 2)
        except TimeoutError:
            log.warning("the pending batch did not finish within %.1f s; it will be redelivered", limit / 2)
        else:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._settle(), limit / 4)
                await asyncio.wait_for(self._commit(), limit / 4)
            self.batch_lock.release()
        for client in (self.consumer, self.producer):
            if client is not None:
                try:
                    await asyncio.wait_for(client.stop(), limit / 4)
                except (TimeoutError, KafkaError, OSError) as exc:
                    log.warning("a Kafka client did not stop cleanly: %r", exc)

    @Service.task
    async def _run(self) -> None:
        try:
            while not self.should_stop:
                self.readiness.turned()
                await self.step()
        except Stopping:
            log.info("batch loop stopped while a batch was pending; it will be redelivered")
        except BaseException as exc:
            self.readiness.loop_error = f"{type(exc).__name__}: {exc}"[:300]
            self._set_ready()
            raise

    async def step(self) -> int:
        """Fetch and judge one batch; returns how many records it held.

        The batch's outputs are sent before this returns; their acknowledgement and the state
        save finish while the next batch is fetched, decoded and judged (``_settle_ahead``)."""
        assert self.consumer is not None  # noqa: S101  (started in on_start)
        if self.readiness.state_lost:  # found at start: judge nothing until the state is rebuilt
            async with self.batch_lock:
                await self._settle()
                await self._wait_for_rebuild(StateLost(self.readiness.state_lost))
        t0 = time.perf_counter()
        fetched = await self.consumer.getmany(timeout_ms=self.settings.fetch_wait_ms, max_records=self.batching.size)
        if not fetched:
            self.batching.fetched(0)
            # A quiet input still gets its last batch settled and committed (else a crash re-delivers it).
            if self._pending or (self._uncommitted and self._commit_due()):
                async with self.batch_lock:
                    await self._settle()
                    if self._commit_due():
                        await self._commit()
            self.lag.update(self.consumer, {})
            return 0
        if not self.fetched:
            self.metrics.first_fetch.set(time.time())
        self.metrics.stage_seconds.labels("fetch").observe(time.perf_counter() - t0)
        async with self.batch_lock:
            self._swap_ruleset()
            records = [r for recs in fetched.values() for r in recs]
            self.batching.fetched(len(records))
            self.fetched += len(records)
            try:
                verdict = await self.judge.judge(self.engine, self.generation, records, settle=self._settle_ahead)
                assert self.producer is not None  # noqa: S101
                sent = await send_outputs(
                    self.producer, self.settings, self.metrics, records, verdict.fresh, verdict.decoded.dead
                )
            except Exception as exc:  # noqa: BLE001  (judged again below, with retries and isolation)
                log.debug("batch of %d failed (%r); handled again with retries", len(records), exc)
                await self._settle()
                await self._handle_isolating(records)
                await self._done(fetched, records)
                return len(records)
            before = self._pending[-1].tail if self._pending else None
            tail = asyncio.ensure_future(self._finish(verdict, sent, before))
            self._pending.append(_Pending(fetched, records, self.engine, tail, verdict))
        return len(records)

    async def _finish(self, verdict: Verdict, sent: Sent, before: asyncio.Future[None] | None) -> None:
        """A judged batch's outputs acknowledged, then, once the batch before is saved, its
        alerts and states saved. The batch before failing fails this one unsaved: it was
        judged after states that were never written."""
        assert self.producer is not None  # noqa: S101
        t = time.perf_counter()
        await acknowledged(self.producer, self.settings, self.metrics, sent)
        t = stage(self.metrics, "produce", t)
        if before is not None:
            await asyncio.shield(before)  # its own failure is handled by ``_settle``; here it only stops us
            t = time.perf_counter()
        await self.store.save_batch(verdict.packed, self.alert_store, verdict.fresh, verdict.now)
        stage(self.metrics, "state_save", t)
        self.judge.count(verdict)

    async def _settle_ahead(self) -> Verdict | None:
        """Before a batch reads Redis: settle every batch in flight but the last, whose verdict
        the new batch is judged after. When any of them failed, or the last has already, every
        batch is settled (judged again from Redis) and the new batch reads only Redis (None)."""
        while len(self._pending) > 1:
            if not await self._settle_first():
                await self._settle()
                return None
        if not self._pending:
            return None
        last = self._pending[-1]
        if last.verdict is None or (last.tail.done() and last.tail.exception() is not None):
            await self._settle()
            return None
        return last.verdict

    async def _settle(self) -> None:
        """Wait for every batch in flight to be acknowledged and saved, marking each for commit."""
        while self._pending:
            await self._settle_first()

    async def _settle_first(self) -> bool:
        """Wait for the oldest batch in flight to be acknowledged and saved, then mark it for
        commit; False when it failed. Its failure (a passing outage, say) judges it again from
        the states it had not saved, with the retries and isolation of any batch: the same
        deterministic ids. (The batches after it fail with it and are judged again in turn.)"""
        pending = self._pending.pop(0)
        t = time.perf_counter()
        saved = True
        try:
            await pending.tail
        except Exception as exc:  # noqa: BLE001
            saved = False
            log.debug("saving a batch of %d failed (%r); handled again with retries", len(pending.records), exc)
            engine, self.engine = self.engine, pending.engine  # judged by the rules it was judged by
            try:
                await self._handle_isolating(pending.records)
            finally:
                self.engine = engine
        self.metrics.stage_seconds.labels("settle").observe(time.perf_counter() - t)
        await self._done(pending.fetched, pending.records)
        return saved

    async def _done(self, fetched: Fetched, records: Sequence[ConsumerRecord]) -> None:
        """A batch's effects are saved: its offsets may be committed."""
        assert self.consumer is not None  # noqa: S101
        done = time.time()
        self._uncommitted.update({tp: recs[-1].offset + 1 for tp, recs in fetched.items()})
        self.processed += len(records)
        if self._commit_due():
            await self._commit()
        stamps = np.fromiter((r.timestamp for r in records), np.float64, len(records))
        self.metrics.latency.observe_many(np.maximum(done - stamps / 1000.0, 0.0))
        self.lag.update(self.consumer, fetched)
        self.metrics.batches.inc()
        self.metrics.records.inc(len(records))
        self.metrics.batch_records.observe(len(records))

    def _commit_due(self) -> bool:
        return time.time() - self._last_commit >= self.settings.commit_interval_ms / 1000

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
        what a crash redelivers; the accounts' applied offsets make redelivery harmless."""
        assert self.consumer is not None  # noqa: S101
        if not self._uncommitted:
            return
        t = time.perf_counter()
        offsets, self._uncommitted = self._uncommitted, {}
        try:
            await self.consumer.commit(offsets)
        except CommitFailedError:
            # Partitions moved during the batch: the new owner redelivers it and skips what
            # the accounts' states have applied.
            log.warning("commit failed after a rebalance; those records will be redelivered")
        except KafkaError as exc:
            self._uncommitted = {**offsets, **self._uncommitted}  # try again with the next commit
            log.warning("commit failed (%r); retried with the next one", exc)
            return
        self._last_commit = time.time()
        self.metrics.stage_seconds.labels("commit").observe(time.perf_counter() - t)
        self.metrics.last_commit.set(self._last_commit)

    async def _handle_isolating(self, records: Sequence[ConsumerRecord]) -> None:
        """Retry passing faults for as long as they last; isolate and dead-letter a record at fault."""
        await self.retry.isolating(records, self.handle, self._dead_letter_failed)

    async def _dead_letter_failed(self, records: Sequence[ConsumerRecord]) -> None:
        dead = DeadLetter(0, "processing_error", "the record failed evaluation repeatedly; see worker log")
        await self._emit(records, Outputs(), [dead])

    async def _sleep(self, seconds: float) -> None:
        await self.sleep(seconds)  # returns at once when the worker is told to stop

    async def _wait_for_rebuild(self, lost: StateLost) -> None:
        """Stop judging: commit what was fully handled before the loss (so a rebuild replays
        exactly that), report not-ready, and wait until ``txmon state rebuild`` has run."""
        self.readiness.state_lost = str(lost)
        self.metrics.state_lost.set(1)
        self._set_ready()
        log.error("STATE LOST, not judging: %s. Run `txmon state rebuild` (README: Lost state).", lost)
        await self._settle()
        await self._commit()
        while not self.should_stop:
            token = await probe(self.marker.read())
            if token is not None and token != self.generation:
                log.warning("state rebuilt (generation %s); judging again", token)
                self.generation = token
                self.readiness.state_lost = None
                self.metrics.state_lost.set(0)
                self._set_ready()
                return
            self._set_ready()
            await self._sleep(1.0)
        raise Stopping

    def _set_ready(self) -> None:
        self.metrics.ready.set(0 if self.readiness.reasons() else 1)
        if self.consumer is not None:
            self.lag.update(self.consumer, {})  # lag in seconds keeps growing while a batch waits

    async def ready(self) -> list[str]:
        """Why this worker is not ready now (empty: ready); probes Redis and Kafka."""
        reasons = await not_ready_reasons(self.readiness, self.redis, self.consumer)
        if self.should_stop:
            reasons.append("stopping")
        self.metrics.ready.set(0 if reasons else 1)
        return reasons

    async def handle(self, records: Sequence[ConsumerRecord]) -> None:
        verdict = await self.judge.judge(self.engine, self.generation, records)
        t = time.perf_counter()
        await self._emit(records, verdict.fresh, verdict.decoded.dead)
        t = stage(self.metrics, "produce", t)
        await self.store.save_batch(verdict.packed, self.alert_store, verdict.fresh, verdict.now)
        stage(self.metrics, "state_save", t)
        self.judge.count(verdict)

    async def _emit(self, records: Sequence[ConsumerRecord], out: Outputs, dead: Sequence[DeadLetter]) -> None:
        assert self.producer is not None  # noqa: S101
        sent = await send_outputs(self.producer, self.settings, self.metrics, records, out, dead)
        await acknowledged(self.producer, self.settings, self.metrics, sent)
