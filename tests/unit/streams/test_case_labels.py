"""Officers' resolutions as back-test labels: the file format and precision per rule on them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rules.config import load_ruleset
from streams.backtest import main, run
from streams.case_labels import officer_precision, read_labels

ROOT = Path(__file__).resolve().parents[3]


def test_precision_per_rule_counts_only_the_hits_officers_decided(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "event_id,rule_id,label\ne1,R2,fraud\ne2,R2,not_fraud\ne3,R12,fraud\ne9,R7,fraud\ne4,R6a,maybe\n",
        encoding="utf-8",
    )
    read = read_labels(labels)
    assert read == {("e1", "R2"): True, ("e2", "R2"): False, ("e3", "R12"): True, ("e9", "R7"): True}
    decisions = {("e1", "R2"): "hold", ("e2", "R2"): "hold", ("e3", "R12"): "hold", ("e5", "R2"): "hold"}
    table = officer_precision(decisions, read)
    assert "| R2 | 2 | 1 | 1 | 50.0% |" in table
    assert "| R12 | 1 | 1 | 0 | 100.0% |" in table
    assert table.index("| R2 |") < table.index("| R12 |")  # by number
    assert "1 labels name a hit this back-test did not make" in table


def test_backtest_reads_officers_labels_for_its_own_hits(tmp_path: Path, capsys: object) -> None:
    history = tmp_path / "history.jsonl"
    subprocess.run(
        [sys.executable, "-m", "loadtest.send", "--events", "20000", "--out", str(history), "--seed", "7"],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    report = run(history, load_ruleset(None), keep_decisions=True)
    hits = sorted(report.decisions)
    assert hits, "the generated traffic has rule hits"
    # Officers called the R6a warnings false alarms and everything else fraud.
    labels = tmp_path / "labels.csv"
    rows = [f"{e},{r},{'not_fraud' if r == 'R6a' else 'fraud'}" for e, r in hits]
    labels.write_text("event_id,rule_id,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert main(history, None, None, None, labels_csv=labels) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    r6a = sum(1 for _, r in hits if r == "R6a")
    assert f"| R6a | {r6a:,} | 0 | {r6a:,} | 0.0% |" in out
    assert "0 labels name a hit this back-test did not make" in out
