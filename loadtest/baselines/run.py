"""What the bench's baselines share around their rules: the command line, the result, local Kafka only."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import orjson

from loadtest.baselines.three_rules import Alert

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def loopback_only(bootstrap: str) -> str:
    """``bootstrap`` if every broker in it is on this machine; the baselines talk to no other Kafka."""
    hosts = [b.strip().rsplit(":", 1)[0] for b in bootstrap.split(",") if b.strip()]
    if not hosts or any(h not in LOOPBACK for h in hosts):
        msg = f"the bench's baselines run only against a local Kafka, not {bootstrap!r}"
        raise ValueError(msg)
    return bootstrap


class Progress:
    """Records judged, when the first was, and the alerts raised, for the baselines that count in callbacks."""

    def __init__(self) -> None:
        self.seen, self.first = 0, 0.0
        self.alerts: set[Alert] = set()


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
