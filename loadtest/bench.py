"""`make bench`: txmon's throughput and latency against side-by-side baselines, in one run.

On one pre-loaded input topic (default 1M events of the demo's mix, 8
partitions) it measures, alternating variants round by round so machine drift
hits all alike: ``ceiling`` (raw consume + decode), ``txmon`` (the real worker,
first fetch to last commit), the per-event baselines, ``baseline_faust`` (an
idiomatic per-event Faust agent over a fixed window) and ``engine`` (rules on
decoded in-memory batches); then ``latency`` at a fixed offered load: send -> alert
and send -> hold on their topics. Ratios are per round, then the median. It checks
its own outputs and writes ``loadtest/results/latest.json``.

The per-event baselines are what a user would otherwise write for R2, R3 and R6a,
with txmon's thresholds and geolocation and the shared ``loadtest.baselines.three_rules``,
each its own process timed from its first record: ``baseline_loop`` (a plain aiokafka
consumer with a dict of accounts), ``baseline_quix`` (Quix Streams, its per-key state)
and ``baseline_bytewax`` (a bytewax dataflow, ``stateful_map`` keyed by account). Each
one's alerts are checked once against txmon's restricted to those three rules.

Parts alone: ``python -m loadtest.bench --only throughput`` (ceiling, txmon and the
per-event baselines' rounds, their ratios), ``--only latency`` (the latency run);
``--profile`` adds a txmon run under cProfile (in no ratio) and profiles the latency
worker: ``.run/bench/txmon.prof``, ``latency.prof`` (``python -m pstats``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import redis

from loadtest.bank_traffic import Generator
from loadtest.baselines.check import txmon_alerts
from loadtest.bench_baselines import BASELINES, check_baseline_alerts, run_per_event_baseline
from loadtest.bench_io import ceiling, paced_load, preload, stamped
from loadtest.bench_latency import quantiles, send_to_output
from loadtest.bench_report import print_table, summarise
from loadtest.engine_profile import judge_all
from loadtest.engine_profile import profile as engine_profile
from loadtest.scenario_labels import SUSPICIOUS_ACCOUNTS, SUSPICIOUS_FILE
from loadtest.stack import (
    ROOT,
    SIMULATED_CLOCK,
    WorkerProcess,
    load_suspicious_list,
    local_services,
    namespace_env,
    read_all,
)
from rules.config import load_ruleset
from rules.engine import RuleEngine
from rules.geo import load_geoip
from store.keys import Keys
from streams.backtest import InMemory
from streams.codec import decode_records
from streams.settings import Settings

KAFKA = Settings.from_environment()  # TXMON_KAFKA_BOOTSTRAP and the TXMON_KAFKA_* security settings
BOOTSTRAP = KAFKA.kafka_bootstrap
REDIS_URL = os.environ.get("TXMON_REDIS_URL", "redis://127.0.0.1:6379/0")
RESULTS = ROOT / "loadtest" / "results"
LOGS = ROOT / ".run" / "bench"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def create_topics(env: dict[str, str]) -> None:
    import subprocess

    subprocess.run([sys.executable, "-m", "streams.cli", "topics"], env={**os.environ, **env}, check=True)


def txmon_worker(env: dict[str, str], port: int, name: str, profile: bool) -> WorkerProcess:
    """The real worker; with ``profile``, under cProfile (stats in ``.run/bench/NAME.prof``)."""
    if not profile:
        return WorkerProcess(env, port, LOGS / f"{name}.log")
    args = ("-o", str(LOGS / f"{name}.prof"), "-m", "streams.cli", "worker", "--quiet")
    return WorkerProcess(env, port, LOGS / f"{name}.log", module="cProfile", args=args)


def stage_us_per_event(worker: WorkerProcess) -> dict[str, float]:
    """Wall time per event of each ``txmon_stage_seconds`` stage, from the worker's own histograms."""
    records = worker.metric("txmon_records_total").get("", 0) or 1
    sums = worker.metric("txmon_stage_seconds_sum")
    return {label.split('"')[1]: round(v / records * 1e6, 2) for label, v in sums.items() if '"' in label}


def run_txmon(input_topic: str, n: int, port: int, suspicious_topic: str, profile: bool = False) -> dict[str, Any]:
    env = namespace_env(
        "bt",
        TXMON_INPUT_TOPIC=input_topic,
        TXMON_SUSPICIOUS_TOPIC=suspicious_topic,
        TXMON_KAFKA_BOOTSTRAP=BOOTSTRAP,
        TXMON_REDIS_URL=REDIS_URL,
        **SIMULATED_CLOCK,
    )
    worker = txmon_worker(env, port, "txmon", profile)
    worker.start()
    try:
        deadline = time.monotonic() + 600
        while worker.metric("txmon_records_total").get("", 0) < n and time.monotonic() < deadline:
            time.sleep(0.2)
        first = worker.metric("txmon_first_fetch_timestamp_seconds")[""]
        last = worker.metric("txmon_last_commit_timestamp_seconds")[""]
        done = worker.metric("txmon_records_total").get("", 0)
        stages = stage_us_per_event(worker)
        assert worker.proc is not None
        rss_kb = _peak_rss_kb(worker.proc.pid)
    finally:
        worker.stop()
    rate = done / (last - first)
    return {"events_per_s": rate, "records": int(done), "rss_mb": rss_kb / 1024, "stage_us": stages, "env": env}


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def run_baseline(input_topic: str, port: int, window_s: float) -> float:
    env = namespace_env("bf", TXMON_INPUT_TOPIC=input_topic, TXMON_KAFKA_BOOTSTRAP=BOOTSTRAP, TXMON_REDIS_URL=REDIS_URL)
    create_topics(env)
    worker = WorkerProcess(env, port, LOGS / "baseline_faust.log", module="loadtest.baseline_faust", args=())
    worker.start(health_path="/progress")
    try:
        while orjson.loads(worker.get("/progress"))["processed"] < 2_000:  # warmed up: rebalance done
            time.sleep(0.2)
        a = orjson.loads(worker.get("/progress"))
        time.sleep(window_s)
        b = orjson.loads(worker.get("/progress"))
    finally:
        worker.stop()
    return float((b["processed"] - a["processed"]) / (b["last"] - a["last"]))


def run_engine(batches: list[Any]) -> float:
    """The engine alone, with the worker's lookups answered from memory (no decode, no I/O) and
    the worker's garbage-collector settings (``streams.gc_tuning``)."""
    return sum(len(d.batch) for d in batches) / judge_all(RuleEngine(load_ruleset(), load_geoip()), batches)


def check_outputs(env: dict[str, str], stats: dict[str, Any], reference: dict[str, int]) -> dict[str, Any]:
    """Everything accounted for; alerts per rule as labelled; holds as the in-memory engine says; ids unique."""
    alerts = [orjson.loads(v) for _, v, _ in read_all(KAFKA, env["TXMON_ALERTS_TOPIC"], 60)]
    holds = read_all(KAFKA, env["TXMON_HOLDS_TOPIC"], 60)
    dead = read_all(KAFKA, env["TXMON_DEAD_LETTER_TOPIC"], 60)
    by_rule = dict(Counter(a["rule_id"] for a in alerts))
    ids = [a["alert_id"] for a in alerts]
    checks = {
        "alerts_by_rule": by_rule,
        "expected_by_rule": stats["expected_hits"],
        "alerts_match_labels": by_rule == stats["expected_hits"],
        "holds": len(holds),
        "holds_expected": reference["holds"],
        "holds_match": len(holds) == reference["holds"],
        "dead_letters": len(dead),
        "dead_letters_match": len(dead) == stats["malformed"],
        "alert_ids_unique": len(ids) == len(set(ids)),
    }
    checks["ok"] = all(v for k, v in checks.items() if k.endswith(("match", "labels", "unique")))
    return checks


def reference_holds(records: list[tuple[bytes, bytes]]) -> tuple[list[Any], dict[str, int]]:
    """Decode the input once (for ``engine``) and count the holds the worker should place.

    Holds last 24 h of wall-clock time and the run lasts minutes, so that is one
    hold per account with a hold-worthy hit.
    """
    batches = [
        decode_records([v for _, v in records[i : i + 20_000]], [k for k, _ in records[i : i + 20_000]])
        for i in range(0, len(records), 20_000)
    ]
    store = InMemory(RuleEngine(load_ruleset(), load_geoip()), frozenset(SUSPICIOUS_ACCOUNTS))
    held: set[str] = set()
    for d in batches:
        result = store.judge(d.batch)
        held.update(h.account_id for h in result.hits if str(h.action) in ("hold", "freeze"))
    return batches, {"holds": len(held)}


def measure_latency(rate: float, seconds: float, port: int, seed: int, profile: bool = False) -> dict[str, Any]:
    """Offer ``rate`` events/s for ``seconds``; send -> alert (labelled events) and send -> hold.

    A hold's latency is from the send of the earliest event among its alerts to the hold's
    timestamp on the holds topic (the first message of each hold: when it was placed).
    """
    env = namespace_env("lt", TXMON_KAFKA_BOOTSTRAP=BOOTSTRAP, TXMON_REDIS_URL=REDIS_URL, **SIMULATED_CLOCK)
    create_topics(env)
    records = list(Generator(seed + 1, 20_000).take(int(rate * seconds)))
    wanted = {i for i, (_, v) in enumerate(records) if b'"label"' in v}
    worker = txmon_worker(env, port, "latency", profile)
    worker.start()
    try:
        time.sleep(2)
        sent_at, achieved = asyncio.run(paced_load(KAFKA, env["TXMON_INPUT_TOPIC"], records, rate))
        deadline = time.monotonic() + 120
        while worker.metric("txmon_records_total").get("", 0) < len(records) and time.monotonic() < deadline:
            time.sleep(0.5)
        stages = stage_us_per_event(worker)
        batch_sum = worker.metric("txmon_batch_records_sum").get("", 0)
        batch_count = worker.metric("txmon_batch_records_count").get("", 0) or 1
    finally:
        worker.stop()
    alerts = stamped(KAFKA, env["TXMON_ALERTS_TOPIC"])
    holds = stamped(KAFKA, env["TXMON_HOLDS_TOPIC"])
    alert_lat, hold_lat = send_to_output(records, sent_at, wanted, alerts, holds)
    return {
        "alert": quantiles(alert_lat),
        "hold": quantiles(hold_lat),
        "offered_rate": achieved,
        "seconds": seconds,
        "mean_batch_records": round(batch_sum / batch_count, 1),
        "stage_us": stages,
    }


def state_bytes_per_account(prefix: str, sample: int = 2_000) -> float:
    r = redis.Redis.from_url(REDIS_URL)
    keys = []
    for key in r.scan_iter(match=Keys(prefix).account_state("*"), count=1_000):
        keys.append(key)
        if len(keys) >= sample:
            break
    sizes = [r.memory_usage(k) or 0 for k in keys]
    return statistics.mean(sizes) if sizes else 0.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--accounts", type=int, default=50_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--baseline-window", type=float, default=15.0, help="seconds the Faust baseline is timed")
    p.add_argument("--latency-rate", type=float, default=20_000)
    p.add_argument("--latency-seconds", type=float, default=60)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument(
        "--only",
        choices=("throughput", "latency"),
        help="throughput: the rounds of ceiling, txmon and the per-event baselines only (their ratios); "
        "latency: the latency run only",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="one more txmon run (in no ratio) and the latency worker under cProfile (.run/bench/*.prof)",
    )
    p.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = p.parse_args(argv)
    LOGS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    rounds: list[dict[str, Any]] = []
    checks: dict[str, Any] = {}
    rss: list[float] = []
    stages: dict[str, float] = {}
    engine_us: dict[str, float] = {}
    state_bytes = 0.0
    latency: dict[str, Any] | None = None
    with local_services():
        if args.only != "latency":
            topics_env = namespace_env("bench")
            create_topics(topics_env)
            load_suspicious_list(topics_env, SUSPICIOUS_FILE)
            input_topic = topics_env["TXMON_INPUT_TOPIC"]
            log(f"generating {args.events:,} events ({args.accounts:,} accounts, scenarios and malformed mixed in)")
            gen = Generator(args.seed, args.accounts)
            records = list(gen.take(args.events))
            stats = gen.stats.as_dict()
            rate = asyncio.run(preload(KAFKA, input_topic, records))
            log(f"pre-loaded {input_topic}: {len(records):,} events at {rate:,.0f} events/s")
            batches, reference = reference_holds(records)
            log("judging the input with txmon restricted to R2, R3 and R6a (the baselines' alerts, untimed)")
            want = txmon_alerts([v for _, v in records], [k for k, _ in records])
            del records
            for r in range(args.rounds):
                row: dict[str, Any] = {}
                row["ceiling"] = asyncio.run(ceiling(KAFKA, input_topic, args.events, f"ceiling-{os.getpid()}-{r}"))
                log(f"round {r + 1}: ceiling {row['ceiling']:,.0f} events/s")
                suspicious = topics_env["TXMON_SUSPICIOUS_TOPIC"]
                tx = run_txmon(input_topic, args.events, 6081, suspicious)
                row["txmon"] = tx["events_per_s"]
                rss.append(tx["rss_mb"])
                stages = stages or tx["stage_us"]
                log(f"round {r + 1}: txmon {row['txmon']:,.0f} events/s (peak RSS {tx['rss_mb']:.0f} MB)")
                log(f"round {r + 1}: txmon stages, us per event: {tx['stage_us']}")
                if r == 0:
                    checks = check_outputs(tx["env"], stats, reference)
                    state_bytes = state_bytes_per_account(tx["env"]["TXMON_STATE_PREFIX"])
                    log(f"output checks: {'ok' if checks['ok'] else 'FAILED'} {checks}")
                for name in BASELINES:
                    alerts_file = LOGS / f"{name}.alerts.json" if r == 0 else None
                    run = run_per_event_baseline(name, input_topic, args.events, BOOTSTRAP, LOGS, alerts_file)
                    row[name] = run["events_per_s"]
                    log(f"round {r + 1}: {name} {row[name]:,.0f} events/s, txmon {row['txmon'] / row[name]:.2f}x")
                    if alerts_file is not None:  # once, untimed: the run's alerts against txmon's
                        same = check_baseline_alerts(name, alerts_file, want)
                        checks |= same
                        checks["ok"] = checks["ok"] and same[f"{name}_alerts_match"]
                        verdict = "same as" if same[f"{name}_alerts_match"] else "DIFFER from"
                        log(f"{name} alerts: {verdict} txmon's {same}")
                if args.only is None:
                    row["baseline_faust"] = run_baseline(input_topic, 6082, args.baseline_window)
                    log(f"round {r + 1}: baseline_faust {row['baseline_faust']:,.0f} events/s")
                    row["engine"] = run_engine(batches)
                    log(f"round {r + 1}: engine {row['engine']:,.0f} events/s")
                rounds.append(row)
            if args.only is None:  # untimed: where the engine's time goes (loadtest.engine_profile)
                engine_us = engine_profile(batches)
                log(f"engine profile, us per event: {engine_us}")
            if args.profile:  # an extra run, counted in no ratio: the profiler slows the worker
                tx = run_txmon(input_topic, args.events, 6081, topics_env["TXMON_SUSPICIOUS_TOPIC"], profile=True)
                log(f"profiled txmon run: {tx['events_per_s']:,.0f} events/s, stats in {LOGS / 'txmon.prof'}")
        if args.only != "throughput":
            latency = measure_latency(args.latency_rate, args.latency_seconds, 6083, args.seed, args.profile)
            log(f"latency at {latency['offered_rate']:,.0f} events/s offered: {latency}")

    result = summarise(rounds)
    if rounds:
        result |= {
            "worker_rss_mb": round(max(rss), 1),
            "state_bytes_per_account": round(state_bytes, 1),
            "txmon_stage_us_per_event": stages,
            "engine_us_per_event": engine_us,
            "checks": checks,
        }
    if latency is not None:
        result |= {
            "latency_ms": latency["alert"],
            "hold_latency_ms": latency["hold"],
            "latency_offered_events_per_s": round(latency["offered_rate"]),
            "latency_mean_batch_records": latency["mean_batch_records"],
            "latency_stage_us_per_event": latency["stage_us"],
        }
    result |= {
        "events": args.events,
        "partitions": 8,
        "rounds": args.rounds if rounds else 0,
        "only": args.only,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
        },
        "seconds": round(time.monotonic() - started),
        "command": "make bench" + (f" (python -m loadtest.bench --only {args.only})" if args.only else ""),
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print_table(result)
    return 0 if checks.get("ok", not rounds) else 1


if __name__ == "__main__":
    sys.exit(main())
