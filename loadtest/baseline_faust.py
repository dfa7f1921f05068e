"""The baseline the worker is measured against: an idiomatic per-event Faust agent.

Same rules, same Redis state and alert records, same outputs as ``txmon worker`` —
but one event at a time through ``async for event in stream``, the way the Faust
documentation writes agents. Run by ``loadtest.bench`` as its own process:

    python -m loadtest.baseline_faust   # settings from TXMON_* like the worker
"""

from __future__ import annotations

import sys
import time
from typing import Any

import faust
import msgspec

from alerts.holds import AlertStore
from alerts.model import encoder
from alerts.routing import build_outputs, utc_now
from rules.config import load_ruleset
from rules.engine import RuleEngine
from rules.geo import load_geoip
from streams.codec import to_columns
from streams.events import decode_event
from streams.kafka_client import faust_options
from streams.settings import Settings
from streams.state import AccountStateStore


def create_baseline_app(settings: Settings) -> faust.App:
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    app = faust.App(
        f"{settings.app_id}-baseline",
        **faust_options(settings),
        web_host=settings.web_host,
        web_port=settings.web_port,
        topic_partitions=settings.topic_partitions,
        store="memory://",
        datadir=str(settings.data_dir / "{conf.id}"),
        consumer_auto_offset_reset="earliest",
    )
    redis = settings.redis()
    engine = RuleEngine(load_ruleset(settings.rules_file), load_geoip(str(settings.geoip_mmdb or "") or None))
    states = AccountStateStore(redis, settings.state_prefix)
    alert_store = AlertStore(redis, settings.state_prefix)
    source = app.topic(settings.input_topic, value_serializer="raw", key_serializer="raw")
    sinks = {
        name: app.topic(topic, value_serializer="raw", key_serializer="raw")
        for name, topic in (
            ("alerts", settings.alerts_topic),
            ("police", settings.police_topic),
            ("holds", settings.holds_topic),
            ("dlq", settings.dead_letter_topic),
        )
    }
    progress = {"processed": 0, "first": 0.0, "last": 0.0}

    @app.agent(source, concurrency=1)
    async def monitor(stream: Any) -> None:
        async for event in stream.events():
            if not progress["first"]:
                progress["first"] = time.time()
            try:
                decoded = decode_event(event.value)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                await sinks["dlq"].send(key=event.key, value=event.value, headers={"txmon-reason": str(exc).encode()})
            else:
                batch = to_columns([decoded])
                state = await states.load(batch.accounts)
                evaluation = engine.evaluate(batch, state)
                now = utc_now()
                out = build_outputs(
                    evaluation.hits,
                    batch.events,
                    now=now,
                    bank_code=settings.bank_code,
                    hold_duration_s=engine.ruleset.hold_duration_s,
                )
                out = await alert_store.deduplicate(out, now)
                for a in out.alerts:
                    await sinks["alerts"].send(key=a.account_id.encode(), value=encoder.encode(a))
                for p in out.police:
                    await sinks["police"].send(key=p.account_id.encode(), value=encoder.encode(p))
                for h in out.holds:
                    await sinks["holds"].send(key=h.account_id.encode(), value=encoder.encode(h))
                await states.save_batch(alert_store, states.encode(batch.accounts, evaluation.states), out, now)
            progress["processed"] += 1
            progress["last"] = time.time()

    @app.page("/progress")
    async def progress_page(web: Any, request: Any) -> Any:
        return web.json(progress)

    return app


def main() -> int:
    app = create_baseline_app(Settings.from_environment())
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
