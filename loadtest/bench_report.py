"""``make bench``'s figures from its rounds (``loadtest.bench``): medians, the per-round ratios
of txmon to each variant and their medians, and the table it prints."""

from __future__ import annotations

import statistics
from typing import Any

from loadtest.bench_baselines import BASELINES, GOALS


def summarise(rounds: list[dict[str, float]]) -> dict[str, Any]:
    """Per variant its median and rounds; per ratio the median of the rounds' own ratios (each
    round's variants ran back to back), each round's value and the printed goal."""
    result: dict[str, Any] = {
        name: {
            "events_per_s": round(statistics.median(r[name] for r in rounds)),
            "rounds": [round(r[name]) for r in rounds],
        }
        for name in ("ceiling", "baseline_faust", *BASELINES, "txmon", "engine")
        if rounds and name in rounds[0]
    }
    ratios = {f"txmon_vs_{b}": (b, 2) for b in ("baseline_faust", *BASELINES)} | {"txmon_vs_ceiling": ("ceiling", 3)}
    per_round = {
        key: [round(r["txmon"] / r[b], digits) for r in rounds]
        for key, (b, digits) in ratios.items()
        if rounds and b in rounds[0]
    }
    # the median of the per-round ratios (each round's variants ran back to back), not a ratio of medians
    result["ratios"] = {
        key: round(statistics.median(r["txmon"] / r[ratios[key][0]] for r in rounds), ratios[key][1])
        for key in per_round
    }
    result["ratio_rounds"] = per_round
    result["ratio_goals"] = {f"txmon_vs_{b}": goal for b, goal in GOALS.items() if f"txmon_vs_{b}" in per_round}
    return result


def print_table(r: dict[str, Any]) -> None:
    targets = {"engine": ">= 300,000"}
    print("\n| measure | result | target |\n|---|---|---|")
    for name in ("ceiling", "txmon", *BASELINES, "baseline_faust", "engine"):
        if name in r:
            each = " / ".join(f"{v:,}" for v in r[name]["rounds"])
            print(f"| {name} events/s (rounds: {each}) | {r[name]['events_per_s']:,} | {targets.get(name, '')} |")
    ratios = r.get("ratios", {})
    for name in BASELINES:
        key = f"txmon_vs_{name}"
        if key in ratios:
            each = " / ".join(f"{v}x" for v in r["ratio_rounds"][key])
            goal = r["ratio_goals"][key]
            print(f"| txmon / {name}, median of rounds ({each}) | {ratios[key]}x | goal >= {goal}x (not asserted) |")
    if "txmon_vs_baseline_faust" in ratios:
        print(f"| txmon / baseline_faust | {ratios['txmon_vs_baseline_faust']}x | >= 20x |")
    if "txmon_vs_ceiling" in ratios:
        print(f"| txmon / ceiling | {ratios['txmon_vs_ceiling']} | >= 0.5 |")
    if "latency_ms" in r:
        offered = r["latency_offered_events_per_s"]
        for what, key, target in (("alert", "latency_ms", ""), ("hold", "hold_latency_ms", "p99 <= 50 ms")):
            lat = r[key]
            quantiles = f"{lat['p50']} / {lat['p95']} / {lat['p99']} ms ({lat['samples']} samples)"
            print(f"| send -> {what} p50 / p95 / p99 at {offered:,} ev/s | {quantiles} | {target} |")
    if "worker_rss_mb" in r:
        print(f"| worker peak RSS | {r['worker_rss_mb']} MB | <= 400 MB |")
        print(f"| Redis state per account | {r['state_bytes_per_account']} bytes | |")
        print(f"| output checks | {'ok' if r['checks'].get('ok') else 'FAILED'} | all events accounted for |")
        for name in BASELINES:
            key = f"{name}_alerts_match"
            if key in r["checks"]:
                same = "same" if r["checks"][key] else "DIFFERENT"
                alerts = f"{r['checks'][f'{name}_alerts']:,} of {r['checks']['txmon_restricted_alerts']:,}"
                print(f"| {name} (rule, event) alerts vs txmon on R2/R3/R6a | {same} ({alerts}) | same |")
    run = f"{r['events']:,} events, {r['partitions']} partitions, {r['rounds']} rounds, {r['seconds']} s"
    print(f"\n{run}; {r['machine']}")
