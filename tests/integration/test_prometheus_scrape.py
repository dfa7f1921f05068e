"""Debian's real Prometheus scraping a real worker and console under traffic with fraud scenarios.

Through Prometheus's HTTP API: every query of every Grafana panel parses and
returns data, every alerting and recording rule loads healthy, every alert
expression parses and every series it reads exists. The one allowance: a
failure counter whose label values come with the first failure (declared on
/metrics, no sample yet) may be empty in this healthy run. Then headless Chromium
opens Prometheus's graph and alerts pages for the screenshots the README shows
(``artifacts/``; ``DOCS_SCREENSHOTS=1`` also refreshes ``docs/images/``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import sync_playwright

from loadtest.stack import namespace_env
from ops.prometheus import PrometheusServer
from ops.stack import OpsStack, Ports
from tests.integration.conftest import ROOT, Services, free_port
from tests.integration.test_console_e2e import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.integration

DASHBOARD = ROOT / "deploy" / "grafana" / "txmon.json"
RULES = ROOT / "deploy" / "prometheus" / "txmon-rules.yml"
ARTIFACTS = ROOT / "artifacts"
DOC_IMAGES = ROOT / "docs" / "images"
# Grafana's variables, as Grafana would fill them in for "All" over a short range.
VARIABLES = {"$__rate_interval": "30s", "$__range": "5m", "$instance": ".*"}
NOT_SERIES = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}


@pytest.fixture(scope="module")
def stack(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsStack]:
    env = {
        **services.env,
        "TXMON_KAFKA_BOOTSTRAP": services.bootstrap,
        "TXMON_REDIS_URL": services.redis_url,
        "TXMON_TOPIC_PARTITIONS": "4",
        **namespace_env("prom"),
    }
    ports = Ports(free_port(), free_port(), free_port())
    run = tmp_path_factory.mktemp("ops")
    s = OpsStack(env, run, ports, rate=300, scenario_every=40, malformed_every=60, scrape_interval="1s")
    try:
        s.start()
        _exercise_console(s)
        yield s
    finally:
        s.stop()


def _exercise_console(stack: OpsStack) -> None:
    """A failed login: the console's login counter moves as an attacker's guess would move it."""
    body = json.dumps({"user": "nobody", "password": "wrong-password"}).encode()
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{stack.urls['console']}/api/login", data=body, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)  # noqa: S310
    refused.value.close()
    assert refused.value.code == 401


def _wait(prom: PrometheusServer, expr: str, stack: OpsStack, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if prom.query(expr):
            return
        if (gone := stack.exited()) is not None:
            pytest.fail(f"the {gone} process exited; logs in {stack.run_dir}")
        time.sleep(1)
    pytest.fail(f"no data for {expr} after {timeout:.0f} s; logs in {stack.run_dir}")


@pytest.fixture(scope="module")
def prom(stack: OpsStack) -> PrometheusServer:
    prom = stack.prometheus
    assert prom is not None
    _wait(prom, 'count(up{job=~"txmon-.*"} == 1) == 2', stack)
    _wait(prom, 'sum(txmon_holds_total{job="txmon-worker"}) > 0', stack)
    _wait(prom, 'sum(txmon_dead_letters_total{job="txmon-worker"}) > 0', stack)
    # The SLO group is evaluated every 30 s: its first results are there after one round.
    _wait(prom, "txmon:decision_latency_slow:ratio_rate5m", stack)
    return prom


def panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in VARIABLES.items():
                expr = expr.replace(name, value)
            out.append((f"{panel['title']} [{target['refId']}]", expr))
    return out


def rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"] for r in g["rules"]]


def selectors(expr: str) -> list[str]:
    """The series selectors of a PromQL expression (names with their label matchers)."""
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    found = re.finditer(r"(?<![\w:.\"])([a-zA-Z_:][\w:]*)(?![\w:])\s*(\{[^}]*\})?(?!\s*\()", expr)
    return [m[1] + (m[2] or "") for m in found if m[1] not in NOT_SERIES and not re.fullmatch(r"\d+\w*", m[1])]


def series_exist(prom: PrometheusServer, selector: str) -> bool:
    """The selector has data; or, for a condition not met in a healthy run (5xx answers), the metric
    exists for the job and carries every label the selector matches on."""
    if prom.query(selector):
        return True
    name, _, matchers = selector.partition("{")
    job = re.search(r'job="[^"]*"', matchers)
    present = prom.query(f"{name}{{{job[0]}}}" if job else name)
    labels = re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers)
    return bool(present) and all(any(label in s["metric"] for s in present) for label in labels)


def test_selector_extraction() -> None:
    expr = 'sum by (instance) (rate(txmon_a_total{job="w",le="0.05"}[5m])) / on () (hour() + 7) > 1 and up{job="x"}'
    assert selectors(expr) == ['txmon_a_total{job="w",le="0.05"}', 'up{job="x"}']


def sampleless(stack: OpsStack) -> set[str]:
    """Metric families a process declares (HELP/TYPE) without any sample yet: labelled counters of
    failures whose label values appear with the first failure (the exception class, say)."""
    out = set()
    for name in ("worker", "console"):
        text = stack.get(name, "/metrics").decode()
        declared = {line.split()[2]: line.split()[3] for line in text.splitlines() if line.startswith("# TYPE ")}
        sampled = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")}
        for family, kind in declared.items():
            series = f"{family}_total" if kind == "counter" else family
            if series not in sampled and family not in sampled:
                out.add(series)
    return out


def test_every_panel_query_returns_data(prom: PrometheusServer, stack: OpsStack) -> None:
    queries = panel_queries()
    assert len(queries) >= 40
    waiting = sampleless(stack)
    empty, failed = [], []
    for title, expr in queries:
        try:
            if not prom.query(expr) and not all(s.split("{")[0] in waiting for s in selectors(expr)):
                empty.append(f"{title}: {expr}")
        except Exception as exc:  # a parse or evaluation error names the panel
            failed.append(f"{title}: {exc}")
    assert not failed, "panel queries Prometheus refused:\n" + "\n".join(failed)
    assert not empty, "panel queries without data:\n" + "\n".join(empty)


def test_every_rule_loads_healthy_and_every_alert_expression_reads_existing_series(
    prom: PrometheusServer, stack: OpsStack
) -> None:
    loaded = {r["name"]: r for g in prom.api("rules")["groups"] for r in g["rules"]}
    defined = rules()
    assert {r.get("alert") or r["record"] for r in defined} == set(loaded)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and any(r.get("health") != "ok" for r in loaded.values()):
        time.sleep(2)  # a group's first evaluation can be up to one interval away
        loaded = {r["name"]: r for g in prom.api("rules")["groups"] for r in g["rules"]}
    unhealthy = {name: (r.get("health"), r.get("lastError")) for name, r in loaded.items() if r.get("health") != "ok"}
    assert not unhealthy, unhealthy
    missing, waiting = [], sampleless(stack)
    for rule in defined:
        prom.query(rule["expr"])  # parses and evaluates (an error raises with Prometheus's message)
        for selector in selectors(rule["expr"]):
            if not series_exist(prom, selector) and selector.split("{")[0] not in waiting:
                missing.append(f"{rule.get('alert') or rule['record']}: {selector}")
    assert not missing, "rule expressions reading series that do not exist:\n" + "\n".join(missing)
    firing = [a["labels"]["alertname"] for a in prom.api("alerts")["alerts"] if a["state"] == "firing"]
    assert "TxmonWorkerDown" not in firing and "TxmonNoWorkerUp" not in firing


def test_screenshots_of_prometheus_graph_and_alerts(prom: PrometheusServer) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash deploy/browser.sh`")
    ARTIFACTS.mkdir(exist_ok=True)
    query = 'sum by (type) (rate(txmon_events_total{job="txmon-worker"}[30s]))'
    # Debian's prometheus package serves the classic web UI (its React UI is not packaged).
    graph = f"{prom.url}/classic/graph?g0.expr={urllib.parse.quote(query)}&g0.tab=0&g0.range_input=1m"
    shots = {
        "prometheus-graph.png": (graph, ".rickshaw_legend .line"),
        "prometheus-alerts.png": (f"{prom.url}/classic/alerts", "text=TxmonWorkerDown"),
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            for name, (url, ready) in shots.items():
                page.goto(url)
                page.wait_for_selector(ready, timeout=30_000)
                page.screenshot(path=str(ARTIFACTS / name), full_page=name.endswith("alerts.png"))
                assert (ARTIFACTS / name).stat().st_size > 10_000
        finally:
            browser.close()
    if os.environ.get("DOCS_SCREENSHOTS") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        for name in shots:
            shutil.copyfile(ARTIFACTS / name, DOC_IMAGES / name)
