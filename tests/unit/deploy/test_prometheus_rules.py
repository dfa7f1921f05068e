"""txmon's Prometheus rules and configuration, checked and unit-tested by Debian's promtool.

Every alert fires in one promtool case and stays silent in another, has a
summary and a runbook entry, and the metrics both processes expose pass
``promtool check metrics`` (names, units, help texts).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from alerts.console.metrics import ConsoleMetrics
from streams.metrics import Metrics

ROOT = Path(__file__).resolve().parents[3]
PROM = ROOT / "deploy" / "prometheus"
RULES = PROM / "txmon-rules.yml"
RULE_TESTS = PROM / "tests" / "txmon-rules.test.yml"
RUNBOOK = ROOT / "docs" / "RUNBOOK.md"


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: run `bash deploy/ops-tools.sh install` (Debian's prometheus package)")
    return subprocess.run(
        [tool, *args], input=stdin.decode() if stdin else None, capture_output=True, text=True, timeout=120, cwd=PROM
    )


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_check_rules_and_config() -> None:
    rules = promtool("check", "rules", str(RULES))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = promtool("check", "config", str(PROM / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr


def test_promtool_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    cases: dict[str, set[bool]] = {}
    for test in yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]:
        for case in test.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], set()).add(bool(case.get("exp_alerts")))
    names = [a["alert"] for a in alerts()]
    assert len(names) == len(set(names)) >= 15
    missing = {name: cases.get(name, set()) for name in names if cases.get(name) != {True, False}}
    assert not missing, f"alerts without both a firing and a silent promtool case: {missing}"


def test_every_alert_has_a_summary_severity_and_runbook_entry() -> None:
    headings = {m[1] for m in re.finditer(r"^## (\w+)$", RUNBOOK.read_text(encoding="utf-8"), re.M)}
    for alert in alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in {"critical", "warning"}, name
        assert alert["annotations"]["summary"], name
        assert alert["annotations"]["runbook"] == f"docs/RUNBOOK.md#{name.lower()}", name
        assert name in headings, f"docs/RUNBOOK.md has no '## {name}' entry"
    assert headings == {a["alert"] for a in alerts()}, "runbook entries without an alert"


@pytest.mark.parametrize("registry", ["worker", "console"])
def test_exposed_metrics_pass_promtool_check_metrics(registry: str) -> None:
    reg = Metrics().registry if registry == "worker" else ConsoleMetrics().registry
    text = generate_latest(reg)
    result = promtool("check", "metrics", stdin=text)
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), (
        result.stdout + result.stderr
    )
    for name in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "python_info",
        "python_gc_objects_collected_total",
    ):
        assert f"\n{name}" in text.decode(), name
