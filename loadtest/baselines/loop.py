"""``baseline_loop``: the simplest consumer an engineer would write for R2, R3 and R6a.

A plain aiokafka consumer, orjson, per-event Python with a dict of per-account state and one
commit per fetched batch (issue 14 point 5). The rules are ``three_rules``' (thresholds from
``load_ruleset()``); countries come from ``rules.geo`` (one lookup per fetched batch), as txmon's own. It only counts
alerts (the bench compares ``(rule, event_id)`` sets in ``loadtest.baselines.check``).

Run alone: ``python -m loadtest.baselines.loop --topic T --events N``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer

from loadtest.baselines.run import arguments, report
from loadtest.baselines.three_rules import Account, Alert, Event, ThreeRules, decode
from rules.config import Ruleset, load_ruleset
from rules.geo import GeoIP, load_geoip
from streams.kafka_client import aiokafka_options
from streams.settings import Settings


class LoopRules:
    """R2, R3 and R6a (``three_rules``) over a dict of per-account state."""

    def __init__(self, ruleset: Ruleset) -> None:
        self.rules = ThreeRules(ruleset)
        self.accounts: dict[str, Account] = {}

    def judge(self, e: Event, country: str) -> list[Alert]:
        """Alerts of one decoded event, then its account's state advanced by it."""
        acct = self.accounts.get(e["account_id"])
        if acct is None:
            acct = self.accounts[e["account_id"]] = Account()
        return self.rules.judge(acct, e, country)


def judge_values(rules: LoopRules, values: list[bytes], geo: GeoIP) -> list[Alert]:
    events = [e for e in map(decode, values) if e is not None]
    countries = geo.countries([e.get("ip") for e in events])
    alerts: list[Alert] = []
    for e, c in zip(events, countries.tolist(), strict=True):
        alerts += rules.judge(e, c)
    return alerts


async def consume(kafka: Settings, topic: str, expected: int, group: str) -> dict[str, Any]:
    """Consume ``expected`` records from the start; events/s from first fetch to last commit."""
    rules, geo = LoopRules(load_ruleset()), load_geoip()
    consumer = AIOKafkaConsumer(
        topic, **aiokafka_options(kafka), group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    seen, first, alerts = 0, 0.0, set()
    try:
        deadline = time.monotonic() + 600
        while seen < expected and time.monotonic() < deadline:
            fetched = await consumer.getmany(timeout_ms=100, max_records=5_000)
            if not fetched:
                continue
            first = first or time.perf_counter()
            for recs in fetched.values():
                alerts.update(judge_values(rules, [r.value for r in recs], geo))
                seen += len(recs)
            await consumer.commit()
        elapsed = time.perf_counter() - first
    finally:
        await consumer.stop()
    return {"events_per_s": seen / elapsed if elapsed > 0 else 0.0, "records": seen, "alerts": alerts}


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__, argv, "baseline-loop")
    r = asyncio.run(consume(Settings.from_environment(), args.topic, args.events, args.group))
    report("baseline_loop", r, args.json, args.alerts_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
