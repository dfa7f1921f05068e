"""The Faust application shell: worker process, web server, lifecycle.

Faust runs the process, the HTTP endpoints (``/metrics``, ``/health``, ``/ready``) and
low-volume control agents; the input topic itself is consumed by the batch
loop in ``streams.monitor``, started as a service of the app.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rules.config import Ruleset, load_ruleset
from rules.engine import RuleEngine
from rules.geo import load_geoip
from streams.control import ControlListener
from streams.freeze import attach_freeze_requests
from streams.hold_expiry import attach_hold_expiry, worker_lifecycle
from streams.kafka_client import faust_options
from streams.metrics import Metrics
from streams.monitor import Monitor
from streams.settings import Settings


@dataclass(frozen=True, slots=True)
class Worker:
    app: faust.App
    monitor: Monitor
    metrics: Metrics


def create_worker(settings: Settings) -> Worker:
    """Build the Faust app with the batch monitor attached; nothing connects until it starts."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    app = faust.App(
        settings.app_id,
        **faust_options(settings),  # brokers and their TLS / SASL credentials
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        store="memory://",
        datadir=str(settings.data_dir / "{conf.id}"),
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        # The batch loop starts only once this consumer joined its group: after a SIGKILL it would
        # wait out Faust's 60 s session of the dead member. Static membership skips the wait.
        consumer_group_instance_id=settings.group_instance_id or None,
        broker_session_timeout=settings.session_timeout_ms / 1000,
    )
    metrics = Metrics()
    redis = settings.redis()
    engine = RuleEngine(load_ruleset(settings.rules_file), load_geoip(str(settings.geoip_mmdb or "") or None))
    monitor = Monitor(settings, engine, metrics, redis)
    lifecycle = worker_lifecycle(settings, redis)
    attach_hold_expiry(app, lifecycle, metrics)  # expired holds are released, on every worker
    # Police freeze requests (R13): one agent in the app's consumer group; outputs through the outbox.
    freezes = attach_freeze_requests(app, settings, lifecycle, metrics, engine.ruleset)

    def use_ruleset(ruleset: Ruleset) -> None:
        monitor.use_ruleset(ruleset)  # from its next batch
        freezes.use_ruleset(ruleset)  # from its next request (idle input must not delay it)

    listener = ControlListener(settings, use_ruleset, lambda _: metrics.rules_rejected.inc(), monitor.suspicious)
    started = time.time()

    @app.task
    async def start_monitor() -> None:
        await app.add_runtime_dependency(listener)  # caught up with rules and lists first
        freezes.ready.set()
        await app.add_runtime_dependency(monitor)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset inside content_type; the exposition format is UTF-8 anyway.
        return web.bytes(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    def facts() -> dict[str, Any]:
        return {
            "ruleset_version": monitor.engine.ruleset.version,
            "records_processed": monitor.processed,
            "uptime_s": round(time.time() - started, 1),
        }

    @app.page("/health")
    async def health_page(web: Any, request: Any) -> Any:
        """Liveness: the batch loop is alive (restart the process when not)."""
        dead = monitor.readiness.liveness()
        if dead is None and not monitor.started:
            body = {"status": "starting", "reason": "the batch loop has not started yet"}
            return web.json({**body, **facts()}, status=503)
        if dead is not None:
            return web.json({"status": "dead", "reason": dead, **facts()}, status=503)
        return web.json({"status": "ok", **facts()})

    @app.page("/ready")
    async def ready_page(web: Any, request: Any) -> Any:
        """Readiness: judging correctly now (Kafka and Redis answer, no failed or retried batch, state intact)."""
        reasons = await monitor.ready()
        if reasons:
            status = "state_lost" if monitor.readiness.state_lost else "not_ready"
            return web.json({"status": status, "reason": "; ".join(reasons), **facts()}, status=503)
        return web.json({"status": "ready", **facts()})

    return Worker(app=app, monitor=monitor, metrics=metrics)
