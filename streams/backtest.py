"""`txmon backtest`: the worker's engine over a file of historical events, no Kafka or Redis.

    txmon backtest events.jsonl [--rules rules.yaml]
    txmon backtest events.jsonl --compare old.yaml new.yaml

Events are JSON Lines in the input contract; ``--suspicious FILE.csv`` gives the
shared suspicious-account list (R7) as it stood. When they carry ``label`` (the
comma-separated rule ids that should fire), precision and recall per rule are
reported. State is kept in memory exactly as the worker keeps it in Redis.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from rules.config import Ruleset, load_ruleset
from rules.engine import RuleEngine
from rules.geo import load_geoip
from rules.model import Action
from rules.state import AccountState, merge_ip_accounts
from streams.codec import decode_records
from streams.lists import updates_from_csv

CHUNK = 20_000


@dataclass
class RuleScore:
    hits: int = 0
    holds: int = 0
    labelled: int = 0
    true_positives: int = 0

    @property
    def precision(self) -> float | None:
        return self.true_positives / self.hits if self.hits else None

    @property
    def recall(self) -> float | None:
        return self.true_positives / self.labelled if self.labelled else None


@dataclass
class Report:
    events: int = 0
    dead_letters: int = 0
    seconds: float = 0.0
    rules: dict[str, RuleScore] = field(default_factory=dict)
    # (event_id, rule) -> action, for --compare
    decisions: dict[tuple[str, str], str] = field(default_factory=dict)

    def score(self, rule: str) -> RuleScore:
        return self.rules.setdefault(rule, RuleScore())


def _chunks(path: Path) -> Iterator[list[bytes]]:
    with path.open("rb") as f:
        chunk: list[bytes] = []
        for line in f:
            if line.strip():
                chunk.append(line)
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def run(
    path: Path,
    ruleset: Ruleset,
    *,
    suspicious: frozenset[str] = frozenset(),
    keep_decisions: bool = False,
    progress: TextIO | None = None,
) -> Report:
    engine = RuleEngine(ruleset, load_geoip())
    states: dict[str, AccountState] = {}
    ip_accounts: dict[str, dict[str, int]] = {}  # R6b's shared store, kept in memory
    report = Report()
    total = path.stat().st_size
    done_bytes = 0
    start = time.perf_counter()
    for lines in _chunks(path):
        decoded = decode_records(lines, [None] * len(lines))
        batch = decoded.batch
        listed = np.fromiter((d in suspicious for d in batch.dest or ()), np.bool_, len(batch))
        countries, ips = engine.foreign_ips(batch)
        seen = {ip: ip_accounts[ip] for ip in ips if ip in ip_accounts}
        result = engine.evaluate(
            batch, [states.get(a) for a in batch.accounts], listed, ip_accounts=seen, countries=countries
        )
        states.update(zip(batch.accounts, result.states, strict=True))
        merge_ip_accounts(ip_accounts, result.ip_updates)
        report.events += len(lines)
        report.dead_letters += len(decoded.dead)
        fired: set[tuple[int, str]] = set()
        for hit in result.hits:
            score = report.score(hit.rule_id)
            score.hits += 1
            score.holds += hit.action in (Action.HOLD, Action.FREEZE)
            fired.add((hit.row, hit.rule_id))
            if keep_decisions:
                report.decisions[(hit.event_id, hit.rule_id)] = str(hit.action)
        for row, event in enumerate(result.batch.events):  # resends already counted are left out
            if event.label:
                for rule in event.label.split(","):
                    score = report.score(rule)
                    score.labelled += 1
                    score.true_positives += (row, rule) in fired
        done_bytes += sum(len(line) for line in lines)
        if progress is not None:
            _bar(progress, done_bytes / total, report.events, time.perf_counter() - start)
    report.seconds = time.perf_counter() - start
    if progress is not None:
        progress.write("\n")
    return report


def _bar(out: TextIO, fraction: float, events: int, elapsed: float) -> None:
    filled = int(fraction * 30)
    rate = events / elapsed if elapsed else 0.0
    out.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction:5.1%} {events:,} events {rate:,.0f}/s")
    out.flush()


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def format_report(report: Report, ruleset: Ruleset) -> str:
    lines = [
        f"rules version {ruleset.version}: {report.events:,} events ({report.dead_letters:,} dead letters) "
        f"in {report.seconds:.2f} s = {report.events / max(report.seconds, 1e-9):,.0f} events/s",
        "",
        "| rule | hits | holds | labelled | true positives | precision | recall |",
        "|---|---|---|---|---|---|---|",
    ]
    for rule in sorted(report.rules):
        s = report.rules[rule]
        lines.append(
            f"| {rule} | {s.hits:,} | {s.holds:,} | {s.labelled:,} | {s.true_positives:,} "
            f"| {_pct(s.precision)} | {_pct(s.recall)} |"
        )
    return "\n".join(lines)


def compare(
    path: Path, old_file: Path, new_file: Path, suspicious: frozenset[str], progress: TextIO | None = None
) -> str:
    old_rules, new_rules = load_ruleset(old_file), load_ruleset(new_file)
    old = run(path, old_rules, suspicious=suspicious, keep_decisions=True, progress=progress)
    new = run(path, new_rules, suspicious=suspicious, keep_decisions=True, progress=progress)
    changes: Counter[tuple[str, str]] = Counter()
    examples: list[str] = []
    for key in sorted(set(old.decisions) | set(new.decisions)):
        before, after = old.decisions.get(key, "none"), new.decisions.get(key, "none")
        if before != after:
            changes[(key[1], f"{before} -> {after}")] += 1
            if len(examples) < 10:
                examples.append(f"  {key[0]} {key[1]}: {before} -> {after}")
    lines = [f"{old_rules.version} -> {new_rules.version} on {old.events:,} events", ""]
    if not changes:
        lines.append("no decision changes")
    else:
        lines += ["| rule | change | events |", "|---|---|---|"]
        lines += [f"| {rule} | {change} | {n:,} |" for (rule, change), n in sorted(changes.items())]
        lines += ["", "examples:", *examples]
    return "\n".join(lines)


def main(events: Path, rules_file: Path | None, compare_files: list[Path] | None, suspicious_csv: Path | None) -> int:
    listed = (
        frozenset(u.account_id for u in updates_from_csv(suspicious_csv, by="backtest"))
        if suspicious_csv
        else frozenset()
    )
    if compare_files:
        print(compare(events, compare_files[0], compare_files[1], listed, progress=sys.stderr))
        return 0
    ruleset = load_ruleset(rules_file)
    report = run(events, ruleset, suspicious=listed, progress=sys.stderr)
    print(format_report(report, ruleset))
    return 0
