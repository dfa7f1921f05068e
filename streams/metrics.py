"""Prometheus metrics of the worker: everything an on-call person asks first.

Counters are bumped once per batch with numpy counts, never once per event.
Names follow the Prometheus conventions (counters end in ``_total``, units are
seconds and bytes); no label takes values from the data (no accounts, no IPs):
rules, event types, reasons, partitions and components are all bounded sets.
The process and runtime collectors of prometheus-client (CPU, memory, file
descriptors, GC, Python version) are on the same registry.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import numpy.typing as npt
from aiokafka.errors import KafkaError
from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from alerts.routing import Outputs
from rules.columns import KIND_NAMES

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# From an event's own timestamp: late and replayed events are minutes or hours old.
EVENT_LATENCY_BUCKETS = (*LATENCY_BUCKETS, 60.0, 300.0, 1800.0, 3600.0)

FREEZE_OUTCOMES = ("applied", "duplicate", "rejected", "not_applied")
STAGES = ("fetch", "decode", "state_load", "evaluate", "dedupe", "produce", "state_save", "settle", "commit")
# Where a Redis or Kafka error was met (txmon_redis_errors_total / txmon_kafka_errors_total).
COMPONENTS = ("monitor", "hold_expiry", "freeze_requests")
FAILURE_KINDS = ("redis", "kafka", "os", "unexpected")


def add_runtime_collectors(registry: CollectorRegistry) -> None:
    """prometheus-client's default process, platform and GC collectors, on a registry of our own."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    if GC_COLLECTOR is not None:  # absent on interpreters without gc.get_stats
        GCCollector(registry=registry)


class BulkHistogram(Collector):
    """A histogram fed a whole numpy array at a time (per-event ``observe`` costs ~1 µs each)."""

    def __init__(self, name: str, doc: str, buckets: Sequence[float], registry: CollectorRegistry) -> None:
        self.name, self.doc = name, doc
        self.edges = np.asarray(buckets, dtype=np.float64)
        self.counts = np.zeros(len(buckets) + 1, dtype=np.int64)
        self.total = 0.0
        registry.register(self)

    def observe_many(self, values: npt.NDArray[np.float64]) -> None:
        if len(values) == 0:
            return
        idx = np.searchsorted(self.edges, values, side="left")
        self.counts += np.bincount(idx, minlength=len(self.counts))
        self.total += float(values.sum())

    def collect(self) -> Iterator[HistogramMetricFamily]:
        cumulative = np.cumsum(self.counts)
        buckets = [(repr(float(e)), int(c)) for e, c in zip(self.edges, cumulative[:-1], strict=True)]
        buckets.append(("+Inf", int(cumulative[-1])))
        yield HistogramMetricFamily(self.name, self.doc, buckets=buckets, sum_value=self.total)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        add_runtime_collectors(r)
        self.events = Counter("txmon_events", "Valid events evaluated, by type", ["type"], registry=r)
        self.dead_letters = Counter("txmon_dead_letters", "Records dead-lettered, by reason", ["reason"], registry=r)
        self.rule_hits = Counter("txmon_rule_hits", "Rule hits, by rule and action", ["rule", "action"], registry=r)
        self.rule_errors = Counter("txmon_rule_errors", "Rule evaluations that failed", ["rule"], registry=r)
        self.alerts = Counter("txmon_alerts", "Alerts emitted, by channel and rule", ["channel", "rule"], registry=r)
        self.holds = Counter(
            "txmon_holds", "Temporary holds placed, by the rule that placed them", ["rule"], registry=r
        )
        self.duplicates = Counter("txmon_duplicate_alerts_suppressed", "Alerts already emitted before", registry=r)
        self.duplicate_events = Counter(
            "txmon_duplicate_events",
            "Resent events skipped: the same account and event_id already in the batch, or a money event the "
            "account already counted",
            registry=r,
        )
        self.redelivered_events = Counter(
            "txmon_redelivered_events",
            "Redelivered events skipped: at or below their account's applied input offset",
            registry=r,
        )
        self.batches = Counter("txmon_batches", "Batches processed", registry=r)
        self.batch_records = Histogram(
            "txmon_batch_records",
            "Records per batch",
            buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000, 20000, 50000),
            registry=r,
        )
        self.stage_seconds = Histogram(
            "txmon_stage_seconds",
            "Time per batch in each stage",
            ["stage"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=r,
        )
        self.latency = BulkHistogram(
            "txmon_processing_latency_seconds",
            "From the record's Kafka timestamp to its batch's outputs acknowledged and state saved",
            LATENCY_BUCKETS,
            r,
        )
        self.event_latency = BulkHistogram(
            "txmon_event_latency_seconds",
            "From the event's own timestamp to its batch's outputs acknowledged and state saved",
            EVENT_LATENCY_BUCKETS,
            r,
        )
        self.lag = Gauge(
            "txmon_consumer_lag_records", "Records behind the end of an input partition", ["partition"], registry=r
        )
        self.lag_seconds = Gauge(
            "txmon_consumer_lag_seconds",
            "Age of the partition's last judged record while records wait behind it (0 when caught up)",
            ["partition"],
            registry=r,
        )
        self.ready = Gauge("txmon_ready", "1 while the worker judges batches without failing, else 0", registry=r)
        self.batch_failures = Counter(
            "txmon_batch_failures",
            "Failed batch attempts, by kind (redis, kafka, os, unexpected)",
            ["kind"],
            registry=r,
        )
        self.batch_retries = Counter("txmon_batch_retries", "Batch attempts retried after a passing fault", registry=r)
        for kind in FAILURE_KINDS:
            self.batch_failures.labels(kind)
        self.state_lost = Gauge(
            "txmon_state_lost", "1 while Redis has lost the state (worker not judging until a rebuild)", registry=r
        )
        self.last_commit = Gauge("txmon_last_commit_timestamp_seconds", "When a batch was last committed", registry=r)
        self.first_fetch = Gauge(
            "txmon_first_fetch_timestamp_seconds", "When this worker fetched its first batch", registry=r
        )
        self.records = Counter("txmon_records", "Input records handled (valid, duplicate or dead-lettered)", registry=r)
        self.state_accounts = Counter("txmon_state_accounts_written", "Account states written", registry=r)
        self.ruleset = Gauge("txmon_ruleset_info", "Active rules version", ["version"], registry=r)
        self.rules_reloads = Counter("txmon_rules_reloads", "Rules versions applied from the rules topic", registry=r)
        self.rules_rejected = Counter("txmon_rules_rejected", "Invalid rules versions ignored", registry=r)
        self.freeze_requests_received = Counter(
            "txmon_freeze_requests_received", "Police freeze requests read (R13), valid or not", registry=r
        )
        self.freeze_requests = Counter(
            "txmon_freeze_requests",
            "Police freeze requests by outcome: applied, duplicate, rejected (dead letter), not_applied (R13 off)",
            ["outcome"],
            registry=r,
        )
        self.redis_errors = Counter(
            "txmon_redis_errors", "Redis commands or pipelines that failed, by component", ["component"], registry=r
        )
        self.kafka_errors = Counter(
            "txmon_kafka_errors",
            "Kafka calls that failed, by component",
            ["component"],
            registry=r,
        )
        self.hold_expiry_runs = Counter("txmon_hold_expiry_runs", "Hold expiry rounds run", registry=r)
        self.hold_expiry_failures = Counter(
            "txmon_hold_expiry_failures", "Hold expiry rounds that failed (retried next round)", registry=r
        )
        self.holds_expired = Counter("txmon_holds_expired", "Holds released because their time was up", registry=r)
        for component in COMPONENTS:
            self.redis_errors.labels(component)
            self.kafka_errors.labels(component)
        for name in KIND_NAMES:
            self.events.labels(name)
        for stage in STAGES:
            self.stage_seconds.labels(stage)
        for outcome in FREEZE_OUTCOMES:
            self.freeze_requests.labels(outcome)

    def count_events(self, kinds: npt.NDArray[np.int8]) -> None:
        for code, n in enumerate(np.bincount(kinds, minlength=len(KIND_NAMES)).tolist()):
            if n:
                self.events.labels(KIND_NAMES[code]).inc(n)

    def know_rules(self, rule_ids: Iterable[str]) -> None:
        """Rule errors start at 0 for every rule in force, so a rate() sees them before the first error."""
        for rule_id in rule_ids:
            self.rule_errors.labels(rule_id)

    def count_batch_failure(self, exc: BaseException, *, retried: bool) -> None:
        if isinstance(exc, RedisError):
            kind = "redis"
        elif isinstance(exc, KafkaError):
            kind = "kafka"
        else:
            kind = "os" if isinstance(exc, OSError) else "unexpected"
        self.batch_failures.labels(kind).inc()
        if retried:
            self.batch_retries.inc()
        self.ready.set(0)

    def count_error(self, component: str, exc: BaseException) -> None:
        """Count a Redis or Kafka failure met by ``component`` (other errors are not counted here)."""
        if isinstance(exc, RedisError):
            self.redis_errors.labels(component).inc()
        elif isinstance(exc, KafkaError):
            self.kafka_errors.labels(component).inc()

    def count_outputs(self, outputs: Outputs, suppressed: int) -> None:
        """Alerts and police reports by rule, holds by the rule of the alert that placed them."""
        for alert in outputs.alerts:
            self.alerts.labels("bank", alert.rule_id).inc()
        for report in outputs.police:
            self.alerts.labels("police", report.rule_id).inc()
        rule_of_hold = {a.hold_id: a.rule_id for a in outputs.alerts if a.hold_id}
        for hold in outputs.holds:
            self.holds.labels(rule_of_hold.get(hold.hold_id, "unknown")).inc()
        self.duplicates.inc(suppressed)
