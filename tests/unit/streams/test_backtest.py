"""`txmon backtest`: the worker's engine over a JSON Lines file, with the generator's labels as truth."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

import streams.history as reading
from loadtest.bank_traffic import Generator
from loadtest.scenario_labels import SUSPICIOUS_ACCOUNTS
from loadtest.send import write_jsonl
from rules.config import load_ruleset, load_ruleset_text
from streams.backtest import InMemory, compare, format_report, run
from streams.history import plan_chunks, read_lines

RULES_FILE = Path(__file__).resolve().parents[3] / "rules" / "rules.yaml"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Generator]:
    gen = Generator(seed=11, n_accounts=400, scenario_every=300, malformed_every=2_000)
    path = tmp_path_factory.mktemp("history") / "events.jsonl"
    write_jsonl(gen.take(40_000), path)
    return path, gen


def test_every_labelled_rule_is_found_exactly(history: tuple[Path, Generator]) -> None:
    path, gen = history
    report = run(path, load_ruleset(), suspicious=frozenset(SUSPICIOUS_ACCOUNTS))
    expected = dict(gen.stats.expected)
    # every rule that judges events has labelled cases in this history (R13 acts on police requests)
    assert set(expected) == {"R1", "R2", "R3", "R4", "R5", "R6a", "R6b", "R7", "R8", "R9", "R10", "R12", "R14", "R15"}
    for rule, n in expected.items():
        score = report.rules[rule]
        assert (score.labelled, score.hits, score.true_positives) == (n, n, n), rule
    assert report.events == 40_000 and report.dead_letters == gen.stats.malformed > 0
    assert not multiprocessing.active_children()  # the reading process was stopped


def test_without_the_suspicious_list_the_list_rules_miss(history: tuple[Path, Generator]) -> None:
    path, _ = history
    report = run(path, load_ruleset())
    assert report.rules["R7"].hits == 0 and report.rules["R9"].hits == 0
    assert report.rules["R7"].recall == 0.0 and report.rules["R8"].recall == 1.0


def test_report_table_names_every_rule(history: tuple[Path, Generator]) -> None:
    path, _ = history
    ruleset = load_ruleset()
    text = format_report(run(path, ruleset, suspicious=frozenset(SUSPICIOUS_ACCOUNTS)), ruleset)
    assert text.splitlines()[0].startswith(f"rules version {ruleset.version}: 40,000 events")
    assert "| R8 |" in text and "| R6b |" in text and "100.0%" in text


def test_compare_shows_the_decisions_a_threshold_change_moves(history: tuple[Path, Generator], tmp_path: Path) -> None:
    path, _ = history
    text = RULES_FILE.read_text(encoding="utf-8")
    stricter = text.replace("min_payers: 5,", "min_payers: 30,").replace(
        f'version: "{load_ruleset().version}"', 'version: "stricter-r8"'
    )
    assert load_ruleset_text(stricter).rule("R8") is not None
    new_file = tmp_path / "new.yaml"
    new_file.write_text(stricter, encoding="utf-8")
    out = compare(path, RULES_FILE, new_file, frozenset(SUSPICIOUS_ACCOUNTS))
    assert "-> stricter-r8" in out
    assert "| R8 | hold -> none |" in out
    assert "| R1 |" not in out  # nothing else moved


def test_a_missing_file_is_an_error_not_a_hang(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        run(tmp_path / "nope.jsonl", load_ruleset())


@pytest.mark.parametrize("trailing_newline", [True, False])
def test_the_chunk_plan_covers_every_line_once(
    tmp_path: Path, trailing_newline: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [f'{{"n": {i}}}'.encode() for i in range(23_456)]
    lines[100] = b""  # a blank line is skipped, not an event
    text = b"\n".join(lines) + (b"\n" if trailing_newline else b"")
    path = tmp_path / "x.jsonl"
    path.write_bytes(text)
    monkeypatch.setattr(reading, "FIRST_CHUNK_BYTES", 1000)  # many chunks, cuts inside lines
    monkeypatch.setattr(reading, "CHUNK_BYTES", 7777)
    plan = plan_chunks(path)
    assert len(plan) > 30
    assert plan[0][0] == 0 and plan[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(plan, plan[1:], strict=False))
    got = [line for span in plan for line in read_lines(path, *span)]
    assert got == [line for line in lines if line]


def test_the_spool_of_decoded_chunks_is_removed_even_when_judging_fails(
    history: tuple[Path, Generator], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = history
    monkeypatch.setattr(reading, "_SHM", tmp_path)
    monkeypatch.setattr(reading, "CHUNK_BYTES", 1 << 20)  # about eight chunks, most spooled by the reader
    report = run(path, load_ruleset(), suspicious=frozenset(SUSPICIOUS_ACCOUNTS))
    assert report.events == 40_000
    assert list(tmp_path.iterdir()) == []

    judged = 0
    real_judge = InMemory.judge

    def judge_then_fail(self: InMemory, *args: Any, **kwargs: Any) -> Any:
        nonlocal judged
        judged += 1
        if judged == 3:
            raise RuntimeError("judging failed")
        return real_judge(self, *args, **kwargs)

    monkeypatch.setattr(InMemory, "judge", judge_then_fail)
    with pytest.raises(RuntimeError, match="judging failed"):
        run(path, load_ruleset())
    assert list(tmp_path.iterdir()) == []
    assert not multiprocessing.active_children()


def test_spools_left_by_killed_back_tests_are_removed(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])  # noqa: S607 - a process that has surely exited
    gone.wait()
    old = time.time() - reading._STALE_AFTER_S - 60

    def spool(pid: int, mtime: float, suffix: str = "x1y2") -> Path:
        path = tmp_path / f"txmon-backtest-{pid}-{suffix}"
        path.mkdir()
        (path / "chunk-3.pickle").write_bytes(b"...")
        os.utime(path, (mtime, mtime))
        return path

    stale = spool(gone.pid, old)
    running = spool(os.getpid(), old)  # a live process: kept however old
    recent = spool(gone.pid, time.time(), "a3b4")  # unchanged for too short a time to be sure
    unrelated = tmp_path / "txmon-backtest-notapid-x"
    unrelated.mkdir()
    os.utime(unrelated, (old, old))
    reading._remove_stale_spools(tmp_path)
    assert not stale.exists()
    assert running.exists() and recent.exists() and unrelated.exists()


def test_the_spool_is_in_memory_only_when_there_is_room(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "_SHM", tmp_path)
    assert reading._spool_parent() == tmp_path
    small = shutil.disk_usage(tmp_path)._replace(free=reading._SPOOL_NEEDS - 1)
    monkeypatch.setattr(reading.shutil, "disk_usage", lambda _: small)
    assert reading._spool_parent() is None  # e.g. a container's 64 MB /dev/shm: the ordinary temporary folder
    monkeypatch.undo()
    monkeypatch.setattr(reading, "_SHM", tmp_path / "missing")
    assert reading._spool_parent() is None


def test_precision_is_a_dash_when_nothing_is_labelled(tmp_path: Path) -> None:
    """Hits of a rule nothing in the file is labelled for have no truth to be measured against."""
    path = tmp_path / "unlabelled.jsonl"
    events = [
        {
            "type": "transfer",
            "event_id": f"t{i}",
            "account_id": "A",
            "ts": f"2026-11-28T09:00:0{i}+07:00",
            "device_id": f"new{i}",
            "amount": 1_000,
            "dest_account": "0011",
            "dest_bank": "VCB",
        }
        for i in range(3)
    ]
    path.write_text("".join(orjson.dumps(e).decode() + "\n" for e in events), encoding="utf-8")
    ruleset = load_ruleset()
    report = run(path, ruleset)
    assert report.rules["R3"].hits == 3 and report.rules["R3"].precision is None
    [row] = [line for line in format_report(report, ruleset).splitlines() if line.startswith("| R3 ")]
    assert row.endswith("| — | — |") and "0.0 %" not in row
