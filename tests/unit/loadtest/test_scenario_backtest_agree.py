"""Change a threshold in ``rules.yaml`` and the whole generated history's labels move with it,
and the back-test under that ruleset finds exactly them (``test_scenario_thresholds`` checks
single transfers; this checks every rule over a history).

Each run is a fresh interpreter whose default rules file is the edited copy, so the generator
reads its thresholds through ``load_ruleset()`` as the demo does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "rules" / "rules.yaml"
PROBE = """
import sys
from pathlib import Path
import orjson
import rules.config as config
config.DEFAULT_RULES_FILE = Path(sys.argv[1])
from loadtest.bank_traffic import Generator
from loadtest.scenario_labels import SUSPICIOUS_ACCOUNTS
from loadtest.send import write_jsonl
from streams.backtest import run
gen = Generator(seed=11, n_accounts=400, scenario_every=300, malformed_every=2_000)
path = Path(sys.argv[2])
write_jsonl(gen.take(20_000), path)
report = run(path, config.load_ruleset(), suspicious=frozenset(SUSPICIOUS_ACCOUNTS))
out = {r: [n, report.rules[r].hits, report.rules[r].true_positives] for r, n in gen.stats.expected.items()}
sys.stdout.write(orjson.dumps(out).decode())
"""


def _labels_and_hits(tmp_path: Path, old: str, new: str) -> dict[str, list[int]]:
    text = RULES.read_text(encoding="utf-8")
    assert old in text
    rules = tmp_path / f"rules-{len(new)}.yaml"
    rules.write_text(text.replace(old, new), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(rules), str(tmp_path / "events.jsonl")],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=300,
    )
    return orjson.loads(done.stdout)


def test_a_lower_r10_multiple_labels_more_transfers_and_the_backtest_agrees(tmp_path: Path) -> None:
    default = _labels_and_hits(tmp_path, "times_usual: 3.0", "times_usual: 3.0")
    lower = _labels_and_hits(tmp_path, "times_usual: 3.0", "times_usual: 2.0")
    assert lower["R10"][0] > default["R10"][0] > 0
    for rule, (labelled, hits, true_positives) in lower.items():
        assert labelled == hits == true_positives, rule
