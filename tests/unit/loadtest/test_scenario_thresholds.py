"""The demo's labelled scenarios take their thresholds from the ruleset, never from a hand copy."""

from __future__ import annotations

import importlib
import random
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import rules.config
from loadtest import fraud_scenarios, scenario_labels


@pytest.fixture
def scenarios_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ModuleType]:
    """``loadtest.scenario_labels`` and ``fraud_scenarios`` re-imported over a rules file whose R1
    limits are halved."""
    text = rules.config.DEFAULT_RULES_FILE.read_text(encoding="utf-8")
    text = text.replace("single_limit_vnd: 10000000", "single_limit_vnd: 5000000")
    assert "single_limit_vnd: 5000000" in text
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(rules.config, "DEFAULT_RULES_FILE", path)
    try:
        importlib.reload(scenario_labels)
        yield importlib.reload(fraud_scenarios)
    finally:
        monkeypatch.undo()
        importlib.reload(scenario_labels)
        importlib.reload(fraud_scenarios)


def _world(module: ModuleType) -> Any:
    return module.World(
        rng=random.Random(1),
        now=1_764_000_000.0,
        vn_ip=lambda: "14.160.0.1",
        foreign_ip=lambda: "203.0.113.9",
        bank=lambda: "VCB",
    )


def test_a_threshold_changed_in_the_ruleset_moves_the_labels(scenarios_with: ModuleType) -> None:
    m = scenarios_with
    assert scenario_labels.R1_SINGLE_VND == 5_000_000
    c = m.Customer("9704000001", "android-1", "14.160.0.1", 100_000)
    t = _world(m).transfer(c, 6_000_000)  # over the new limit, under the file's 10M
    assert "R1" in t.get("label", "").split(",")


def test_the_default_thresholds_are_the_rules_files() -> None:
    m = fraud_scenarios
    r1 = rules.config.load_ruleset().rule("R1")
    assert r1 is not None
    assert (r1.params.single_limit_vnd, r1.params.daily_limit_vnd) == (
        scenario_labels.R1_SINGLE_VND,
        scenario_labels.R1_DAILY_VND,
    )
    c = m.Customer("9704000002", "android-2", "14.160.0.1", 100_000)
    assert "R1" not in _world(m).transfer(c, 6_000_000).get("label", "")


def test_a_ruleset_without_a_labelled_rule_is_refused() -> None:
    ruleset = rules.config.load_ruleset_text(
        "version: '1'\nrules:\n  R2: {action: hold, severity: high, channels: [bank]}"
    )
    with pytest.raises(ValueError, match="R1"):
        scenario_labels.rule_params(ruleset, "R1")
