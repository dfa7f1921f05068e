"""``baseline_loop``: the simplest consumer an engineer would write for R2, R3 and R6a.

A plain aiokafka consumer, orjson, per-event Python with a dict of per-account state and one
commit per fetched batch (issue 14 point 5). Thresholds come from ``load_ruleset()`` and
countries from ``rules.geo`` (one lookup per fetched batch), as txmon's own. It only counts
alerts (the bench compares ``(rule, event_id)`` sets in ``loadtest.baselines.check``).

Run alone: ``python -m loadtest.baselines.loop --topic T --events N``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from rules.columns import CHANNEL_CODE
from rules.config import Ruleset, load_ruleset
from rules.geo import GeoIP, load_geoip
from rules.state import MAX_DEVICES
from streams.kafka_client import aiokafka_options
from streams.settings import Settings

Alert = tuple[str, str]  # (rule_id, event_id)


@dataclass(slots=True)
class Account:
    otp_change_ms: int = 0
    otp_confirmed: bool = False
    bio_match_ms: int = 0
    last_transfer_device: str | None = None
    bio: dict[str, int] = field(default_factory=dict)  # device -> +ts matched / -ts not matched


class LoopRules:
    """R2, R3 and R6a as one per-event function over a dict of accounts."""

    def __init__(self, ruleset: Ruleset) -> None:
        def params(rule_id: str) -> Any:
            rule = ruleset.rule(rule_id)
            if rule is None:
                msg = f"{rule_id} is not active in the ruleset"
                raise ValueError(msg)
            return rule.params

        self.r2_window_ms = params("R2").window_s * 1000
        self.r3_min_amount = params("R3").min_amount_vnd
        params("R6a")  # hits need no threshold (escalation is not compared)
        self.home = ruleset.home_countries
        codes = ruleset.device_id_required_on
        self.device_required: set[str | None] = {n for n, c in CHANNEL_CODE.items() if c in codes}
        if -1 in codes:
            self.device_required.add(None)
        self.accounts: dict[str, Account] = {}

    def judge(self, e: dict[str, Any], country: str) -> list[Alert]:
        """Alerts of one decoded event, then the account's state advanced by it."""
        kind, eid = e["type"], e["event_id"]
        ts = int(datetime.fromisoformat(e["ts"]).timestamp() * 1000)
        acct = self.accounts.get(e["account_id"])
        if acct is None:
            acct = self.accounts[e["account_id"]] = Account()
        device = e.get("device_id")
        out: list[Alert] = []
        if kind in ("transfer", "login"):
            if device is None:
                untrusted = e.get("channel") in self.device_required
            else:
                untrusted = acct.bio.get(device, 0) <= 0 and acct.last_transfer_device != device
            if kind == "transfer":
                since = ts - acct.otp_change_ms
                if acct.otp_change_ms > 0 and 0 <= since <= self.r2_window_ms and not acct.otp_confirmed:
                    out.append(("R2", eid))
                if untrusted and e["amount"] >= self.r3_min_amount:
                    out.append(("R3", eid))
                if device is not None:
                    acct.last_transfer_device = device
            if country and country not in self.home:
                out.append(("R6a", eid))
        elif kind == "otp_phone_change":
            acct.otp_change_ms, acct.otp_confirmed = ts, False
        elif kind == "biometric_verification":
            matched = e["result"] == "matched"
            if matched:
                acct.otp_confirmed, acct.bio_match_ms = True, ts
            acct.bio[str(device)] = ts if matched else -ts
            if len(acct.bio) > MAX_DEVICES:
                del acct.bio[min(acct.bio, key=lambda d: abs(acct.bio[d]))]
        return out


def valid(e: Any) -> bool:
    """What the event contract rejects (txmon dead-letters it) is skipped here."""
    try:
        if not (isinstance(e, dict) and e["event_id"] and e["account_id"]):
            return False
        if datetime.fromisoformat(e["ts"]).tzinfo is None:
            return False
        if e["type"] == "transfer":
            return isinstance(e["amount"], int) and 0 < e["amount"] <= 10**15 and bool(e["dest_account"])
        if e["type"] == "biometric_verification":
            return e["result"] in ("matched", "not_matched") and bool(e["device_id"])
        return isinstance(e["type"], str)
    except (KeyError, TypeError, ValueError):
        return False


def judge_values(rules: LoopRules, values: list[bytes], geo: GeoIP) -> list[Alert]:
    events = []
    for v in values:
        try:
            e = orjson.loads(v)
        except orjson.JSONDecodeError:
            continue
        if valid(e):
            events.append(e)
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


def report(name: str, r: dict[str, Any], as_json: bool, alerts_out: Path | None) -> None:
    """A baseline's result on stdout (one JSON line with ``as_json``); its alerts to ``alerts_out``."""
    if alerts_out is not None:
        alerts_out.write_bytes(orjson.dumps(sorted(r["alerts"])))
    if as_json:
        print(orjson.dumps({"events_per_s": r["events_per_s"], "records": r["records"]}).decode(), flush=True)
    else:
        print(f"{name}: {r['records']:,} events at {r['events_per_s']:,.0f} events/s, {len(r['alerts'])} alerts")


def arguments(description: str | None, argv: list[str] | None, group: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--topic", required=True)
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--group", default=f"{group}-{time.time_ns()}")
    p.add_argument("--json", action="store_true", help="print one JSON line: events_per_s, records")
    p.add_argument("--alerts-out", type=Path, help="write the (rule, event_id) alerts raised here, as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__, argv, "baseline-loop")
    r = asyncio.run(consume(Settings.from_environment(), args.topic, args.events, args.group))
    report("baseline_loop", r, args.json, args.alerts_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
