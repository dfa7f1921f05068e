"""`python -m loadtest.quality`: the independent scenarios through `txmon backtest` and a real
worker, scored per typology against intent. Goals are printed, never asserted."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from loadtest.quality.generate import INCIDENT_DAYS, generate, incident_start_ms
from loadtest.quality.live import LiveRun, own_services, run_live
from loadtest.quality.people import HANOI
from loadtest.quality.scoring import (
    agreement,
    disagreement_by_rule,
    format_table,
    goals,
    rules_behind,
    score,
    summary,
    victims,
    warm_up_holds,
)
from loadtest.quality.typologies import HISTORY_DAYS, TYPOLOGIES
from loadtest.stack import ROOT, free_port
from rules.config import load_ruleset
from streams.backtest import format_report, run


def _start_ms() -> int:
    """Hanoi midnight far enough back that the incident days end before today."""
    today = datetime.now(tz=HANOI).replace(hour=0, minute=0, second=0, microsecond=0)
    return int((today - timedelta(days=HISTORY_DAYS + INCIDENT_DAYS)).timestamp() * 1000)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--accounts", type=int, default=2_000)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--no-live", action="store_true", help="back-test only: no Kafka, Redis or worker")
    p.add_argument("--bootstrap", help="use this running Kafka (with --redis-url) instead of starting our own")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--web-port", type=int, default=0, help="the worker's HTTP port (0: a free one)")
    p.add_argument("--out", type=Path, default=ROOT / ".run" / "quality")
    args = p.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    start = _start_ms()
    t = time.monotonic()
    events, manifest = generate(args.accounts, args.seed, start)
    path = args.out / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    (args.out / "accounts.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    shared = Counter(e["event_id"] for e in events)
    legs = sum(1 for n in shared.values() if n > 1)
    print(
        f"generated {len(events):,} events for {len(manifest):,} accounts in {time.monotonic() - t:.1f} s "
        f"({legs:,} intra-bank references posted as two legs); {path}"
    )

    ruleset = load_ruleset()
    report = run(path, ruleset, keep_decisions=True)
    print(f"\n`txmon backtest` (rules {ruleset.version}), per rule:\n")
    print(format_report(report, ruleset))
    from_ms = incident_start_ms(start)
    rows = score(manifest, report.hits, from_ms)

    live: LiveRun | None = None
    if not args.no_live:
        port = args.web_port or free_port()
        log = args.out / "worker.log"
        if args.bootstrap:
            live = run_live(
                events, {"TXMON_KAFKA_BOOTSTRAP": args.bootstrap, "TXMON_REDIS_URL": args.redis_url}, port, log
            )
        else:
            with own_services(args.out / "services") as servers:
                live = run_live(events, servers, port, log)
    live_rows = score(manifest, live.decisions, from_ms) if live else None

    print("\nDetection quality per typology (incident days; back-test" + (", live beside it)" if live else ")") + ":\n")
    print(format_table(rows, live_rows))
    share, false, normal = summary(rows)
    print(
        f"\nfalse holds: {false} of {normal:,} accounts not to be held = {share:.2%}; by rule and typology: "
        f"{rules_behind(manifest, report.hits, from_ms)}"
    )
    protective = sum(r.protective for r in rows)
    print(
        f"protective holds: {protective} of the {victims(manifest)} scam victims (customers who paid a mule) "
        "held at or after that payment; not false holds"
    )
    print(f"warm-up week: {warm_up_holds(report.hits, from_ms)} accounts held by the history alone")
    if live:
        both, only_live, only_backtest = agreement(live.decisions, report.hits)
        print(
            f"live vs back-test: {both:,} decisions alike, {only_live:,} only live, "
            f"{only_backtest:,} only in the back-test; by rule: {disagreement_by_rule(live.decisions, report.hits)}"
        )
        dead = sum(live.dead_letters.values())
        print(
            f"records: {live.sent:,} sent, {live.processed:,} handled by the worker in {live.seconds:.1f} s, "
            f"{dead:,} dead-lettered {dict(live.dead_letters)}, {live.duplicates:,.0f} counted as duplicates "
            f"(txmon_duplicate_events_total); back-test: {report.events:,} lines, "
            f"{report.dead_letters:,} dead letters"
        )
    print("\ngoals (printed, not asserted):")
    for line in goals(rows):
        print(f"  {line}")
    if live:
        both, only_live, only_backtest = agreement(live.decisions, report.hits)
        same = only_live == only_backtest == 0
        print(f"  {'met' if same else 'NOT met'}: live and back-test decisions identical")
        resent = len(events) - len({(e["account_id"], e["event_id"]) for e in events})  # none are
        accounted = live.sent == live.processed and live.duplicates == resent
        print(
            f"  {'met' if accounted else 'NOT met'}: every record judged or dead-lettered with a reason, "
            f"{live.duplicates:,.0f} counted as duplicates where {resent:,} (account, event_id) were sent twice"
        )
    print("\ntypologies:")
    for name, typ in TYPOLOGIES.items():
        print(f"  {name} ({typ.intent}): {typ.what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
