"""``baseline_quix``: R2, R3 and R6a written the Quix Streams way (issue 14 point 5).

An ``Application`` on the bench's local Kafka, a ``StreamingDataFrame`` over the input topic and
one stateful ``apply``: Quix Streams keeps each message key's (account's) state in its own store
(RocksDB, with its changelog topic, the library's defaults), here as ``three_rules.Account`` in
its JSON form. The per-event logic is ``three_rules``' (the loop baseline's), countries come from
``rules.geo`` event by event. Commits are the library's (every 5 s and at the end).

Timed from the first message judged to ``Application.run`` returning (its last checkpoint
committed); the run stops after as many messages as the bench pre-loaded (``run(count=N)``: one
output per message). Only loopback Kafka is accepted, and no Quix Cloud settings are passed on.

Run alone: ``python -m loadtest.baselines.quix --topic T --events N``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from loadtest.baselines.run import Progress, arguments, loopback_only, report
from loadtest.baselines.three_rules import Account, Alert, ThreeRules, country, decode
from rules.config import load_ruleset
from rules.geo import GeoIP, load_geoip
from streams.settings import Settings

STATE_ROOT = Path(__file__).resolve().parents[2] / ".run" / "bench"


class KeyState(Protocol):
    """What the step uses of Quix Streams' ``State`` (one message key's)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


def quix_step(rules: ThreeRules, geo: GeoIP, progress: Progress) -> Callable[[bytes, KeyState], list[Alert]]:
    """The stateful ``apply`` callback: one record's value and its key's (account's) state in, alerts out."""

    def judge(value: bytes, state: KeyState) -> list[Alert]:
        if not progress.seen:
            progress.first = time.perf_counter()
        progress.seen += 1
        e = decode(value)
        if e is None:
            return []
        stored = state.get("account")
        acct = Account() if stored is None else Account.from_json(stored)
        out = rules.judge(acct, e, country(geo, e))
        state.set("account", acct.to_json())
        progress.alerts.update(out)
        return out

    return judge


def consume(bootstrap: str, topic: str, expected: int, group: str) -> dict[str, Any]:
    """Judge ``expected`` records from the start of ``topic`` in a Quix Streams application."""
    for name in [k for k in os.environ if k.startswith("Quix__")]:  # never the Quix Cloud
        del os.environ[name]
    from quixstreams import Application  # the bench extra; imported only where it is used

    progress = Progress()
    state_dir = STATE_ROOT / f"quix-state-{group}"
    app = Application(
        broker_address=loopback_only(bootstrap),
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        loglevel="WARNING",
    )
    source = app.topic(topic, key_deserializer="str", value_deserializer="bytes")
    app.dataframe(source).apply(quix_step(ThreeRules(load_ruleset()), load_geoip(), progress), stateful=True)
    try:
        app.run(count=expected, collect=False)
        elapsed = time.perf_counter() - progress.first
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    rate = progress.seen / elapsed if progress.seen and elapsed > 0 else 0.0
    return {"events_per_s": rate, "records": progress.seen, "alerts": progress.alerts}


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__, argv, "baseline-quix")
    r = consume(Settings.from_environment().kafka_bootstrap, args.topic, args.events, args.group)
    report("baseline_quix", r, args.json, args.alerts_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
