"""The per-event baselines' side of ``make bench`` (``loadtest.bench``): which there are, their
goals, one timed run of each as its own process, and the check of its alerts.

The baselines themselves are ``loadtest/baselines/`` (R2, R3 and R6a, ``three_rules``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from loadtest.baselines.check import compare
from loadtest.baselines.three_rules import Alert
from loadtest.stack import ROOT

# The per-event baselines of issue 14 point 5: what a user would otherwise write for R2, R3 and
# R6a, each run as its own process over the pre-loaded topic, timed from its first record to its
# last commit (bytewax commits nothing to Kafka: to its dataflow's end).
# baseline_quix and baseline_bytewax need the `bench` extra (requirements.lock pins it; `make install`).
BASELINES = {
    "baseline_loop": "loadtest.baselines.loop",
    "baseline_quix": "loadtest.baselines.quix",
    "baseline_bytewax": "loadtest.baselines.bytewax_flow",
}
GOALS = {"baseline_loop": 1.5, "baseline_quix": 5.0, "baseline_bytewax": 2.5}  # printed, never asserted: txmon >= x


def run_per_event_baseline(
    name: str, input_topic: str, n: int, bootstrap: str, logs: Path, alerts_out: Path | None
) -> dict[str, Any]:
    """One timed run of a per-event baseline; with ``alerts_out`` it also writes its alerts (after timing)."""
    args = [sys.executable, "-m", BASELINES[name], "--topic", input_topic, "--events", str(n), "--json"]
    args += ["--group", f"{name}-{os.getpid()}-{time.time_ns()}"]
    if alerts_out is not None:
        args += ["--alerts-out", str(alerts_out)]
    env = {**os.environ, "TXMON_KAFKA_BOOTSTRAP": bootstrap}
    log_path = logs / f"{name}.log"
    with log_path.open("ab") as err:
        out = subprocess.run(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, check=False, timeout=900)
    if out.returncode != 0:
        tail = log_path.read_text(errors="replace")[-2000:]
        hint = "quix and bytewax need the bench extra: `make install`"
        msg = f"{name} exited with {out.returncode} ({hint}); {log_path}:\n{tail}"
        raise RuntimeError(msg)
    result: dict[str, Any] = orjson.loads(out.stdout.splitlines()[-1])
    if result["records"] < n:
        msg = f"{name} consumed {result['records']:,} of {n:,} records; see {log_path}"
        raise RuntimeError(msg)
    return result


def check_baseline_alerts(name: str, alerts_file: Path, want: set[Alert]) -> dict[str, Any]:
    """The alerts a timed baseline run raised against txmon restricted to R2, R3 and R6a."""
    got = {(rule, event) for rule, event in orjson.loads(alerts_file.read_bytes())}
    return compare(name, got, want)
