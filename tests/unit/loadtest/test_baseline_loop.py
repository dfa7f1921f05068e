"""The plain per-event baseline of the bench raises exactly txmon's R2/R3/R6a alerts.

A threshold changed in ``rules.yaml`` or a rule's definition changed in ``rules/`` without the
baseline following it fails here, not only in ``make bench``.
"""

from __future__ import annotations

from loadtest.bank_traffic import Generator
from loadtest.baselines.check import BASELINE_RULES, check_loop, loop_alerts


def test_the_loop_and_txmon_restricted_to_three_rules_agree() -> None:
    records = list(Generator(11, 300).take(6_000))
    result = check_loop(records)
    assert result["baseline_loop_alerts_match"], result
    assert result["baseline_loop_alerts"] > 0  # the data exercises the rules


def test_the_loop_raises_only_the_three_rules() -> None:
    values = [v for _, v in Generator(5, 200).take(3_000)]
    rules = {rule for rule, _ in loop_alerts(values)}
    assert rules == BASELINE_RULES  # each of the three fires on this data
