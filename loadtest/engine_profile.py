"""Where the engine's time goes, per rule and per fact, on ``make bench``'s events.

    python -m loadtest.engine_profile [--events 300000] [--rounds 3]

The events are the bench's (``loadtest.bank_traffic``, seed 11, 50,000 accounts) in its
20,000-event batches, decoded once and judged as the bench's ``engine`` row judges them (in
memory, the worker's garbage-collector settings). ``RuleEngine.timings`` adds up each rule's
evaluation (with the shared facts it was the first to need: a fact one rule computes is free to
the rules after it) and each fact's ``advance``; the back-test's store adds its reading
(``store:read``: states, listed counterparties, the IP merge) and its saving (``store:save``);
what is left of the total is the engine's own work (building hits, copying the states to
advance) and the back-test's deduplication. Printed as microseconds
per event, the median of ``--rounds`` rounds; it decides nothing and asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from typing import Any

from loadtest.bank_traffic import Generator
from loadtest.scenario_labels import SUSPICIOUS_ACCOUNTS
from rules.config import load_ruleset
from rules.engine import RuleEngine
from rules.geo import load_geoip
from streams.backtest import InMemory
from streams.codec import decode_records
from streams.gc_tuning import batch_gc

BATCH = 20_000


def decoded_batches(events: int, seed: int = 11, accounts: int = 50_000) -> list[Any]:
    records = list(Generator(seed, accounts).take(events))
    return [
        decode_records([v for _, v in records[i : i + BATCH]], [k for k, _ in records[i : i + BATCH]])
        for i in range(0, len(records), BATCH)
    ]


def judge_all(engine: RuleEngine, batches: list[Any]) -> float:
    """Seconds to judge ``batches`` in order as the bench's ``engine`` row does: the worker's
    lookups answered from memory (no decode, no I/O), its garbage-collector settings."""
    store = InMemory(engine, frozenset(SUSPICIOUS_ACCOUNTS))
    with batch_gc():
        started = time.perf_counter()
        for d in batches:
            store.judge(d.batch)
        return time.perf_counter() - started


def profile(batches: list[Any]) -> dict[str, float]:
    """One judging of ``batches``: microseconds per event per rule, per fact, and in all."""
    engine = RuleEngine(load_ruleset(), load_geoip())
    timings: dict[str, float] = {}
    engine.timings = timings
    n = sum(len(d.batch) for d in batches)
    total = judge_all(engine, batches)
    out = {k: v / n * 1e6 for k, v in timings.items()}
    out["other"] = total / n * 1e6 - sum(out.values())
    out["total"] = total / n * 1e6
    return out


def median_profile(batches: list[Any], rounds: int) -> dict[str, float]:
    runs: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        for k, v in profile(batches).items():
            runs[k].append(v)
    return {k: round(statistics.median(v), 2) for k, v in runs.items()}


def format_profile(us: dict[str, float]) -> str:
    total = us["total"]
    rows = sorted(((k, v) for k, v in us.items() if k != "total"), key=lambda kv: -kv[1])
    lines = ["| part | µs per event | share |", "|---|---|---|"]
    lines += [f"| {k} | {v:.2f} | {v / total:.0%} |" for k, v in rows]
    lines.append(f"| **total** | **{total:.2f}** ({1e6 / total:,.0f} events/s) | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=300_000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    batches = decoded_batches(args.events)
    print(format_profile(median_profile(batches, args.rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
