"""The bytewax baseline's dataflow raises exactly txmon's R2/R3/R6a alerts.

The dataflow runs on bytewax's own runtime over a testing source of Kafka messages (in batches,
as the Kafka source delivers them); the Kafka side is covered by ``make bench``'s check.
"""

from __future__ import annotations

from typing import Any

from bytewax import operators as op
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.testing import TestingSource, run_main

from loadtest.bank_traffic import Generator
from loadtest.baselines.bytewax_flow import dataflow
from loadtest.baselines.check import restricted, txmon_alerts
from loadtest.baselines.run import Progress
from loadtest.baselines.three_rules import ThreeRules
from rules.config import load_ruleset
from rules.geo import load_geoip


def test_the_dataflow_and_txmon_restricted_to_three_rules_agree() -> None:
    records = list(Generator(11, 300).take(6_000))
    messages = [KafkaSourceMessage(key, value) for key, value in records]

    def source(flow: Any) -> Any:
        return op.input("messages", flow, TestingSource(messages, batch_size=500))

    progress = Progress()
    run_main(dataflow(source, ThreeRules(restricted(load_ruleset())), load_geoip(), progress))
    want = txmon_alerts([v for _, v in records], [k for k, _ in records])
    assert progress.alerts == want
    assert {rule for rule, _ in want} == {"R2", "R3", "R6a"}
    assert progress.seen == len(records)
