"""The Grafana dashboard ``deploy/grafana/txmon.json``, generated from the panel list below.

    python -m ops.dashboard            # rewrite deploy/grafana/txmon.json
    python -m ops.dashboard --check    # exit 1 if the file is not what this code generates

Every panel's PromQL is checked against a real Prometheus scraping a real
worker and console (tests/integration/test_prometheus_scrape.py). The
dashboard takes its data source from the ``datasource`` variable, so it
imports into any Grafana that has a Prometheus data source.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "txmon.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
W = 'job="txmon-worker"'
C = 'job="txmon-console"'
WI = 'job="txmon-worker",instance=~"$instance"'
RI = "$__rate_interval"


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[tuple[str, str], ...]  # (PromQL, legend)
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 8
    description: str = ""


@dataclass
class Row:
    title: str
    panels: list[Panel] = field(default_factory=list)


def _q(expr: str, legend: str = "") -> tuple[str, str]:
    return (expr, legend)


def _quantiles(metric: str, selector: str, by: str = "") -> tuple[tuple[str, str], ...]:
    group = f"le{', ' + by if by else ''}"
    suffix = f" {{{{{by}}}}}" if by else ""
    return tuple(
        _q(f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{selector}}}[{RI}])))", f"p{p}{suffix}")
        for q, p in ((0.5, "50"), (0.95, "95"), (0.99, "99"))
    )


ROWS = [
    Row(
        "Overview",
        [
            Panel("Workers up", (_q(f"sum(up{{{W}}})"),), kind="stat", width=4),
            Panel("Workers ready", (_q(f"sum(txmon_ready{{{W}}})"),), kind="stat", width=4),
            Panel("Events/s", (_q(f"sum(rate(txmon_events_total{{{W}}}[{RI}]))"),), unit="ops", kind="stat", width=4),
            Panel("Oldest unprocessed event", (_q(f"max(txmon_consumer_lag_seconds{{{W}}})"),), "s", "stat", 4),
            Panel(
                "Rules versions in force",
                (_q(f"count(count by (version) (txmon_ruleset_info{{{W}}} == 1))"),),
                kind="stat",
                width=4,
                description="More than 1 for long: TxmonRulesVersionMismatch",
            ),
            Panel("Console up", (_q(f"sum(up{{{C}}})"),), kind="stat", width=4),
        ],
    ),
    Row(
        "Throughput",
        [
            Panel(
                "Events/s by type", (_q(f"sum by (type) (rate(txmon_events_total{{{W}}}[{RI}]))", "{{type}}"),), "ops"
            ),
            Panel(
                "Records/s handled and dead-lettered",
                (
                    _q(f"sum(rate(txmon_records_total{{{W}}}[{RI}]))", "records"),
                    _q(f"sum(rate(txmon_dead_letters_total{{{W}}}[{RI}]))", "dead letters"),
                    _q(f"sum(rate(txmon_duplicate_events_total{{{W}}}[{RI}]))", "resent (skipped)"),
                ),
                "ops",
            ),
            Panel("Batches/s", (_q(f"sum(rate(txmon_batches_total{{{W}}}[{RI}]))", "batches"),), "ops"),
        ],
    ),
    Row(
        "Lag",
        [
            Panel(
                "Age of the oldest unprocessed event, by partition",
                (_q(f"max by (partition) (txmon_consumer_lag_seconds{{{W}}})", "partition {{partition}}"),),
                "s",
                width=12,
                description="TxmonConsumerLagHigh above 60 s for 5 minutes",
            ),
            Panel(
                "Records behind, by partition",
                (_q(f"sum by (partition) (txmon_consumer_lag_records{{{W}}})", "partition {{partition}}"),),
                width=12,
            ),
        ],
    ),
    Row(
        "Latency",
        [
            Panel(
                "Decision latency (arrival to outputs acknowledged)",
                _quantiles("txmon_processing_latency_seconds", W),
                "s",
                description="Goal: p99 within 50 ms",
            ),
            Panel("Event time to outputs acknowledged", _quantiles("txmon_event_latency_seconds", W), "s"),
            Panel(
                "Events slower than 50 ms (SLO budget 1%)",
                (
                    _q("txmon:decision_latency_slow:ratio_rate5m", "5m"),
                    _q("txmon:decision_latency_slow:ratio_rate1h", "1h"),
                    _q("txmon:decision_latency_slow:ratio_rate6h", "6h"),
                ),
                "percentunit",
            ),
            Panel(
                "p99 time per batch stage",
                (
                    _q(
                        f"histogram_quantile(0.99, sum by (le, stage) (rate(txmon_stage_seconds_bucket{{{W}}}[{RI}])))",
                        "{{stage}}",
                    ),
                ),
                "s",
                width=12,
            ),
            Panel("Records per batch", _quantiles("txmon_batch_records", W), width=12),
        ],
    ),
    Row(
        "Holds and alerts",
        [
            Panel("Holds/s by rule", (_q(f"sum by (rule) (rate(txmon_holds_total{{{W}}}[{RI}]))", "{{rule}}"),), "ops"),
            Panel(
                "Alerts/s by rule and channel",
                (_q(f"sum by (rule, channel) (rate(txmon_alerts_total{{{W}}}[{RI}]))", "{{rule}} {{channel}}"),),
                "ops",
            ),
            Panel(
                "Rule hits/s by rule and action",
                (_q(f"sum by (rule, action) (rate(txmon_rule_hits_total{{{W}}}[{RI}]))", "{{rule}} {{action}}"),),
                "ops",
            ),
            Panel(
                "Hold expiry",
                (
                    _q(f"sum(rate(txmon_holds_expired_total{{{W}}}[{RI}]))", "holds expired/s"),
                    _q(f"sum(rate(txmon_hold_expiry_runs_total{{{W}}}[{RI}]))", "rounds/s"),
                    _q(f"sum(rate(txmon_hold_expiry_failures_total{{{W}}}[{RI}]))", "failed rounds/s"),
                ),
                "ops",
            ),
            Panel(
                "Police freeze requests by outcome",
                (_q(f"sum by (outcome) (rate(txmon_freeze_requests_total{{{W}}}[{RI}]))", "{{outcome}}"),),
                "ops",
            ),
            Panel(
                "Alerts already emitted (suppressed)",
                (_q(f"sum(rate(txmon_duplicate_alerts_suppressed_total{{{W}}}[{RI}]))", "suppressed"),),
                "ops",
            ),
        ],
    ),
    Row(
        "Dead letters and errors",
        [
            Panel(
                "Dead letters/s by reason",
                (_q(f"sum by (reason) (rate(txmon_dead_letters_total{{{W}}}[{RI}]))", "{{reason}}"),),
                "ops",
            ),
            Panel(
                "Redis errors/s by component",
                (_q(f"sum by (job, component) (rate(txmon_redis_errors_total[{RI}]))", "{{job}} {{component}}"),),
                "ops",
            ),
            Panel(
                "Kafka errors/s by component",
                (_q(f"sum by (job, component) (rate(txmon_kafka_errors_total[{RI}]))", "{{job}} {{component}}"),),
                "ops",
            ),
            Panel(
                "Batch failures and retries",
                (
                    _q(f"sum by (kind) (rate(txmon_batch_failures_total{{{W}}}[{RI}]))", "failed: {{kind}}"),
                    _q(f"sum(rate(txmon_batch_retries_total{{{W}}}[{RI}]))", "retries"),
                ),
                "ops",
            ),
            Panel(
                "Rule evaluation errors/s",
                (_q(f"sum by (rule) (rate(txmon_rule_errors_total{{{W}}}[{RI}]))", "{{rule}}"),),
                "ops",
            ),
            Panel(
                "Rules versions rejected",
                (_q(f"sum by (instance) (increase(txmon_rules_rejected_total{{{W}}}[1h]))", "{{instance}}"),),
            ),
        ],
    ),
    Row(
        "Officers (console)",
        [
            Panel(
                "Officer actions/min by kind",
                (_q(f"sum by (action) (rate(txmon_console_officer_actions_total{{{C}}}[{RI}])) * 60", "{{action}}"),),
            ),
            Panel(
                "Logins/min by outcome",
                (_q(f"sum by (outcome) (rate(txmon_console_logins_total{{{C}}}[{RI}])) * 60", "{{outcome}}"),),
            ),
            Panel(
                "Console requests/s by status",
                (_q(f"sum by (status) (rate(txmon_console_requests_total{{{C}}}[{RI}]))", "{{status}}"),),
                "reqps",
            ),
            Panel(
                "Console p99 latency by route",
                (
                    _q(
                        "histogram_quantile(0.99, sum by (le, route) "
                        f"(rate(txmon_console_request_duration_seconds_bucket{{{C}}}[{RI}])))",
                        "{{route}}",
                    ),
                ),
                "s",
                width=16,
            ),
        ],
    ),
    Row(
        "Per worker",
        [
            Panel(
                "Records/s per worker",
                (_q(f"sum by (instance) (rate(txmon_records_total{{{WI}}}[{RI}]))", "{{instance}}"),),
                "ops",
            ),
            Panel(
                "CPU per process",
                (
                    _q(
                        f'rate(process_cpu_seconds_total{{job=~"txmon-.*",instance=~"$instance"}}[{RI}])',
                        "{{instance}}",
                    ),
                ),
                "percentunit",
            ),
            Panel(
                "Resident memory per process",
                (_q('process_resident_memory_bytes{job=~"txmon-.*",instance=~"$instance"}', "{{instance}}"),),
                "bytes",
            ),
            Panel(
                "Rules version per worker",
                (_q(f"max by (instance, version) (txmon_ruleset_info{{{WI}}})", "{{instance}} {{version}}"),),
            ),
            Panel(
                "Ready per worker",
                (_q(f"max by (instance) (txmon_ready{{{WI}}})", "{{instance}}"),),
            ),
            Panel(
                "Garbage collections/s per worker",
                (
                    _q(
                        f"sum by (instance, generation) (rate(python_gc_collections_total{{{WI}}}[{RI}]))",
                        "{{instance}} gen {{generation}}",
                    ),
                ),
                "ops",
            ),
        ],
    ),
]


def _panel(panel: Panel, pid: int, x: int, y: int) -> dict[str, Any]:
    height = 4 if panel.kind == "stat" else 8
    out: dict[str, Any] = {
        "id": pid,
        "type": panel.kind,
        "title": panel.title,
        "datasource": DS,
        "gridPos": {"h": height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "targets": [
            {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto", "refId": chr(ord("A") + i)}
            for i, (expr, legend) in enumerate(panel.queries)
        ],
    }
    if panel.description:
        out["description"] = panel.description
    if panel.kind == "stat":
        out["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
    else:
        out["options"] = {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}}
    return out


def build() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    pid, y = 1, 0
    for row in ROWS:
        panels.append(
            {
                "id": pid,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "panels": [],
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
            }
        )
        pid, y, x, line_height = pid + 1, y + 1, 0, 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y, line_height = 0, y + line_height, 0
            built = _panel(panel, pid, x, y)
            panels.append(built)
            pid, x, line_height = pid + 1, x + panel.width, max(line_height, built["gridPos"]["h"])
        y += line_height
    variables = [
        {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus", "current": {}},
        {
            "name": "instance",
            "label": "Instance",
            "type": "query",
            "datasource": DS,
            "query": {"query": 'label_values(up{job=~"txmon-.*"}, instance)', "refId": "instance"},
            "definition": 'label_values(up{job=~"txmon-.*"}, instance)',
            "refresh": 2,
            "includeAll": True,
            "multi": True,
            "allValue": ".*",
            "current": {"text": "All", "value": "$__all"},
        },
    ]
    return {
        "uid": "txmon-overview",
        "title": "txmon",
        "description": "txmon workers and officers' console: throughput, lag, latency, holds, errors (docs/RUNBOOK.md)",
        "tags": ["txmon", "fraud", "kafka"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-3h", "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if the committed file differs")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not DASHBOARD.exists() or DASHBOARD.read_text(encoding="utf-8") != text:
            print(f"{DASHBOARD} is not what ops.dashboard generates: run `python -m ops.dashboard`", file=sys.stderr)
            return 1
        return 0
    DASHBOARD.parent.mkdir(parents=True, exist_ok=True)
    DASHBOARD.write_text(text, encoding="utf-8")
    print(f"wrote {DASHBOARD}: {sum(1 for p in build()['panels'] if p['type'] != 'row')} panels")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
