"""`make demo`: generated bank traffic with fraud scenarios through a real txmon worker.

Starts Kafka and Redis (unless already up), produces the traffic, runs one
worker over it with a live progress line, then prints what came out: alerts by
rule and channel, holds, dead letters, a few alerts in full, and the worker's
events/s. Stops everything it started, by PID.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from loadtest.bank_traffic import Generator
from loadtest.scenario_labels import SUSPICIOUS_FILE
from loadtest.send import produce
from loadtest.stack import (
    ROOT,
    SIMULATED_CLOCK,
    WorkerProcess,
    load_suspicious_list,
    local_services,
    namespace_env,
    read_all,
)
from streams.backtest import rule_order
from streams.settings import Settings

KAFKA = Settings.from_environment()  # TXMON_KAFKA_BOOTSTRAP and the TXMON_KAFKA_* security settings
BOOTSTRAP = KAFKA.kafka_bootstrap


_last_plain = 0.0


def _line(text: str) -> None:
    """A live progress line on a terminal; a line every 2 s in a log."""
    global _last_plain
    if sys.stdout.isatty():
        print(f"\r\033[K{text}", end="", flush=True)
    elif text.endswith("\n") or time.monotonic() - _last_plain >= 2.0:
        _last_plain = time.monotonic()
        print(text.rstrip("\n"), flush=True)


def run(events: int, accounts: int, seed: int, web_port: int) -> dict[str, Any]:
    env = namespace_env("demo", TXMON_KAFKA_BOOTSTRAP=BOOTSTRAP, TXMON_BANK_CODE="DEMOBANK", **SIMULATED_CLOCK)
    topics = {k: env[f"TXMON_{k.upper()}_TOPIC"] for k in ("input", "alerts", "police", "holds", "dead_letter")}
    subprocess.run(
        [sys.executable, "-m", "streams.cli", "topics"], env={**os.environ, **env}, check=True, capture_output=True
    )
    load_suspicious_list(env, SUSPICIOUS_FILE)  # the shared list (SIMO / police) the bank imports

    gen = Generator(seed, accounts)
    t0 = time.monotonic()
    produce(
        gen.take(events),
        KAFKA,
        topics["input"],
        progress=lambda n: _line(f"producing bank traffic: {n:,}/{events:,} events"),
    )
    _line(f"produced {events:,} events in {time.monotonic() - t0:.1f} s\n")

    worker = WorkerProcess(env, web_port, ROOT / ".run" / "demo-worker.log")
    worker.start()
    first = last = 0.0
    try:
        deadline = time.monotonic() + 600
        done = 0
        while time.monotonic() < deadline:
            done = int(worker.health()["records_processed"])
            now = time.monotonic()
            if done and not first:
                first = now
            alerts = worker.metric("txmon_alerts_total")
            holds = sum(worker.metric("txmon_holds_total").values())
            dead = sum(worker.metric("txmon_dead_letters_total").values())
            rate = done / (now - first) if first and now > first else 0.0
            bank = sum(n for labels, n in alerts.items() if 'channel="bank"' in labels)
            police = sum(n for labels, n in alerts.items() if 'channel="police"' in labels)
            _line(
                f"worker: {done:,}/{events:,} events · {rate:,.0f} ev/s · alerts {bank:,.0f} bank / "
                f"{police:,.0f} police · holds {holds:,.0f} · dead letters {dead:,.0f}"
            )
            if done >= events:
                last = now
                break
            time.sleep(0.25)
        _line(f"worker: {done:,}/{events:,} events processed\n")
        if done < events:
            msg = f"the worker processed only {done:,} of {events:,} events in 10 minutes; see {worker.log_path}"
            raise RuntimeError(msg)
        latency = worker.metric("txmon_processing_latency_seconds")
        frozen = police_freeze(env, topics["alerts"], worker)
    finally:
        worker.stop()

    out = {name: read_all(KAFKA, topic) for name, topic in topics.items() if name != "input"}
    stats = gen.stats.as_dict()
    stats["expected_hits"] = {**stats["expected_hits"], "R13": 1 if frozen else 0}
    return {
        "stats": stats,
        "events_per_s": events / max(last - first, 1e-9),
        "seconds": last - first,
        "alerts": [orjson.loads(v) for _, v, _ in out["alerts"]],
        "police": [orjson.loads(v) for _, v, _ in out["police"]],
        "holds": [orjson.loads(v) for _, v, _ in out["holds"]],
        "dead": [
            (h.get("txmon-reason", b"?").decode(), h.get("txmon-error", b"").decode()) for _, _, h in out["dead_letter"]
        ],
        "latency": latency,
    }


def police_freeze(env: dict[str, str], alerts_topic: str, worker: WorkerProcess) -> str | None:
    """The police ask the bank to freeze the first mule account the worker held (R13)."""
    mules = [a["account_id"] for _, v, _ in read_all(KAFKA, alerts_topic) if (a := orjson.loads(v))["rule_id"] == "R8"]
    if not mules:
        return None
    command = [sys.executable, "-m", "streams.cli", "freeze", "request", "--account", mules[0]]
    command += ["--authority", "Công an TP Hà Nội - PC02", "--case", "PC02-2026-1128", "--reason"]
    command += ["Tài khoản nhận tiền của 6 bị hại vụ lừa đảo đầu tư (demo)"]
    subprocess.run(command, env={**os.environ, **env}, check=True, capture_output=True)
    deadline = time.monotonic() + 60
    while worker.metric("txmon_freeze_requests_total").get('outcome="applied"', 0) < 1:
        if time.monotonic() > deadline:
            msg = f"the worker did not apply the police freeze request; see {worker.log_path}"
            raise RuntimeError(msg)
        time.sleep(0.25)
    _line(f"police freeze request for {mules[0]} applied\n")
    return mules[0]


def summarise(r: dict[str, Any]) -> None:
    stats, alerts = r["stats"], r["alerts"]
    by_rule = Counter(a["rule_id"] for a in alerts)
    by_action = Counter(f"{a['rule_id']}:{a['action']}" for a in alerts)
    expected = stats["expected_hits"]
    print("\n=== txmon demo summary ===")
    print(f"events:        {stats['events']:,} ({stats['valid']:,} valid, {stats['malformed']:,} malformed)")
    print("scenarios:     " + ", ".join(f"{k} {v}" for k, v in sorted(stats["scenarios"].items())))
    rate = r["events_per_s"]
    print(f"worker:        {stats['events']:,} events in {r['seconds']:.1f} s = {rate:,.0f} events/s (1 worker)")
    print(
        f"bank channel:  {len(alerts):,} alerts · "
        + " · ".join(f"{k} {by_rule[k]:,}" for k in sorted(by_rule, key=rule_order))
    )
    print("               by action: " + ", ".join(f"{k} {v:,}" for k, v in sorted(by_action.items())))
    print(
        f"police:        {len(r['police']):,} reports · "
        + " · ".join(f"{k} {v:,}" for k, v in sorted(Counter(p["rule_id"] for p in r["police"]).items()))
    )
    placed = sum(h["transition"] == "placed" for h in r["holds"])
    frozen = len({h["hold_id"] for h in r["holds"] if h.get("kind") == "freeze"})
    print(f"holds:         {placed:,} temporary holds placed · {frozen:,} account frozen on a police request (R13)")
    print(
        f"dead letters:  {len(r['dead']):,} · "
        + ", ".join(f"{k} {v}" for k, v in sorted(Counter(reason for reason, _ in r["dead"]).items()))
    )
    print("rules, found / expected by the scenario labels:")
    for rule in sorted(set(expected) | set(by_rule), key=rule_order):
        print(f"  {rule:5s} {by_rule.get(rule, 0):6,} / {expected.get(rule, 0):,}")
    shown = set()
    print("\n--- a few alerts in full ---")
    for a in alerts:
        key = (a["rule_id"], a["action"])
        if key in shown:
            continue
        shown.add(key)
        hold = f" → hold {a['hold_id']}" if a.get("hold_id") else ""
        channels = ", ".join(a["channels"])
        print(f"\n[{a['rule_id']} {a['rule_name']} · {a['action']} · {a['severity']} · {channels}]{hold}")
        print(f"  account {a['account_id']} · event {a['event_id']} ({a['event_type']}) at {a['event_ts']}")
        print(f"  vi: {a['reason_vi']}")
        print(f"  en: {a['reason_en']}")
        print(f"  evidence: {json.dumps(a['evidence'], ensure_ascii=False)}")
    if r["dead"]:
        reason, detail = r["dead"][0]
        print(f"\n--- a dead letter ---\n  reason {reason}: {detail}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--accounts", type=int, default=5_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--web-port", type=int, default=6067)
    p.add_argument("--json", type=Path, help="also write the summary data here")
    args = p.parse_args(argv)
    with local_services():
        result = run(args.events, args.accounts, args.seed, args.web_port)
    summarise(result)
    if args.json:
        args.json.write_text(json.dumps({k: v for k, v in result.items() if k not in ("alerts",)}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
