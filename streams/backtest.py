"""`txmon backtest`: the worker's engine over a file of historical events, no Kafka or Redis.

    txmon backtest events.jsonl [--rules rules.yaml]
    txmon backtest events.jsonl --compare old.yaml new.yaml

Events are JSON Lines in the input contract; ``--suspicious FILE.csv`` gives the
shared suspicious-account list (R7) as it stood. When they carry ``label`` (the
comma-separated rule ids that should fire), precision and recall per rule are
reported. State is kept in memory exactly as the worker keeps it in Redis, read and
saved per batch through the same ``AccountStore`` methods (``streams.account_store``).

The file is decoded by two processes and judged here in file order
(``streams.history``).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import compress, count
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from alerts.routing import hit_alert_id
from rules.columns import EventBatch
from rules.config import Ruleset, load_ruleset
from rules.engine import Evaluation, RuleEngine, Sources
from rules.facts import add_elapsed
from rules.geo import load_geoip
from rules.model import Action
from streams.account_store import MemoryAccountStore
from streams.codec import EventTimeBounds
from streams.gc_tuning import batch_gc
from streams.history import decoded_chunks
from streams.lists import counterparties, rows_on_list, updates_from_csv


@dataclass
class RuleScore:
    hits: int = 0
    holds: int = 0
    labelled: int = 0
    true_positives: int = 0

    @property
    def precision(self) -> float | None:
        """None (printed "—") when nothing is labelled for the rule: no truth to measure against."""
        return self.true_positives / self.hits if self.hits and self.labelled else None

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
    # (account, event_id, rule, action, event ms) of every hit, with keep_decisions: what a
    # live run's alerts are compared with (one reference can name two accounts' legs)
    hits: list[tuple[str, str, str, str, int]] = field(default_factory=list)

    def score(self, rule: str) -> RuleScore:
        return self.rules.setdefault(rule, RuleScore())


class InMemory:
    """What the worker keeps in Redis, kept in memory: account states, the suspicious list
    and R6b's per-IP visits in a ``MemoryAccountStore`` (the worker's ``AccountStore``
    interface), and the ids of the alerts already raised.

    ``judge`` reads a batch as the worker does (``read_batch``: states, listed counterparties,
    the batch's visits merged into the IP store first, as the worker's Lua script does), packs
    and saves what the engine returns, and drops hits whose alert id was raised already (as
    the worker's alert records do), so back-tests and benchmarks decide exactly as a worker would.
    """

    def __init__(self, engine: RuleEngine, suspicious: frozenset[str] = frozenset()) -> None:
        self.engine = engine
        self.store = MemoryAccountStore(suspicious=suspicious)
        self.ip_accounts = self.store.ip_accounts
        self.raised: set[str] = set()  # the alert ids already raised (``alerts.routing.hit_alert_id``)

    def judge(
        self,
        batch: EventBatch,
        listed: np.ndarray | None = None,
        countries: np.ndarray | None = None,
        money_ids: np.ndarray | None = None,
        explain: bool = True,
        facts: dict[str, Any] | None = None,
        sources: Sources | None = None,
    ) -> Evaluation:
        """``listed``, ``countries``, ``money_ids`` and ``facts``: what ``streams.history`` found
        ahead in its reading process (``listed`` against this store's list); else found here."""
        if countries is None:
            countries, _ = self.engine.foreign_ips(batch)
        payees = counterparties(batch.dest) if listed is None else ()
        updates = self.engine.ip_updates(batch, countries)
        timings, started = self.engine.timings, time.perf_counter()
        read = self.store.read_batch_now(batch.accounts, payees, updates, self.engine.ip_window_ms() or 0)
        add_elapsed(timings, "store:read", started)
        if listed is None:
            listed = rows_on_list(batch.dest or [None] * len(batch), read.listed)
        result = self.engine.evaluate(
            batch,
            read.states,
            listed,
            ip_accounts=read.ip_accounts,
            countries=countries,
            money_ids=money_ids,
            facts=facts,
            explain=explain,
            sources=sources,
        )
        started = time.perf_counter()
        self.store.save_packed_now(self.store.pack(batch.accounts, result.states))
        add_elapsed(timings, "store:save", started)
        fresh = []
        for hit in result.hits:
            key = hit_alert_id(hit)  # as the worker's alert records: two accounts may share an event id
            if key not in self.raised:
                self.raised.add(key)
                fresh.append(hit)
        result.hits = fresh
        return result


def run(
    path: Path,
    ruleset: Ruleset,
    *,
    suspicious: frozenset[str] = frozenset(),
    keep_decisions: bool = False,
    progress: TextIO | None = None,
    bounds: EventTimeBounds | None = None,
) -> Report:
    """Judge the file; ``bounds``: event times too far from their ``received_at`` are dead letters."""
    report = Report()
    start = time.perf_counter()
    with batch_gc():  # as in the worker (streams.gc_tuning)
        engine = RuleEngine(ruleset, load_geoip())
        _judge_all(path, engine, suspicious, report, keep_decisions, progress, start, bounds)
    report.seconds = time.perf_counter() - start
    if progress is not None:
        progress.write("\n")
    return report


def _judge_all(
    path: Path,
    engine: RuleEngine,
    suspicious: frozenset[str],
    report: Report,
    keep_decisions: bool,
    progress: TextIO | None,
    start: float,
    bounds: EventTimeBounds | None,
) -> None:
    store = InMemory(engine, suspicious)
    total, done_bytes = path.stat().st_size, 0
    # (event id, rule): a hit can name an event of an earlier batch (R6b), so both are kept whole
    fired: set[tuple[str, str]] = set()
    labelled: set[tuple[str, str]] = set()
    for chunk in decoded_chunks(path, engine, store.store.suspicious, bounds):  # listed ahead, on this list
        # decisions only: the report counts hits and actions, so no reason text or evidence is built
        result = store.judge(
            chunk.batch,
            chunk.listed,
            chunk.countries,
            chunk.money_ids,
            explain=False,
            facts=chunk.facts,
        )
        report.events += chunk.lines
        report.dead_letters += chunk.dead_letters
        for hit in result.hits:
            score = report.score(hit.rule_id)
            score.hits += 1
            score.holds += hit.action in (Action.HOLD, Action.FREEZE)
            fired.add((hit.event_id, hit.rule_id))
            if keep_decisions:
                report.decisions[(hit.event_id, hit.rule_id)] = str(hit.action)
                report.hits.append((hit.account_id, hit.event_id, hit.rule_id, str(hit.action), hit.ts_ms))
        labels = result.batch.label or []
        # the few labelled rows, found in C loops; resends already counted are left out
        for row, label in zip(compress(count(), labels), filter(None, labels), strict=True):
            labelled.update((result.batch.event_id[row], rule) for rule in label.split(","))
        done_bytes += chunk.size
        if progress is not None:
            _bar(progress, done_bytes / total, report.events, time.perf_counter() - start)
    for event_id, rule in labelled:
        score = report.score(rule)
        score.labelled += 1
        score.true_positives += (event_id, rule) in fired


def rule_order(rule_id: str) -> tuple[int, str]:
    """R1, R2, ..., R6a, R6b, ..., R14: by number, then suffix."""
    digits = "".join(c for c in rule_id if c.isdigit())
    return (int(digits) if digits else 10**6, rule_id)


def _bar(out: TextIO, fraction: float, events: int, elapsed: float) -> None:
    filled = int(fraction * 30)
    rate = events / elapsed if elapsed else 0.0
    out.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction:5.1%} {events:,} events {rate:,.0f}/s")
    out.flush()


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def format_report(report: Report, ruleset: Ruleset) -> str:
    lines = [
        f"rules version {ruleset.version}: {report.events:,} events ({report.dead_letters:,} dead letters) "
        f"in {report.seconds:.2f} s = {report.events / max(report.seconds, 1e-9):,.0f} events/s",
        "",
        "| rule | hits | holds | labelled | true positives | precision | recall |",
        "|---|---|---|---|---|---|---|",
    ]
    for rule in sorted(report.rules, key=rule_order):
        s = report.rules[rule]
        lines.append(
            f"| {rule} | {s.hits:,} | {s.holds:,} | {s.labelled:,} | {s.true_positives:,} "
            f"| {_pct(s.precision)} | {_pct(s.recall)} |"
        )
    return "\n".join(lines)


def compare(
    path: Path,
    old_file: Path,
    new_file: Path,
    suspicious: frozenset[str],
    progress: TextIO | None = None,
    bounds: EventTimeBounds | None = None,
) -> str:
    old_rules, new_rules = load_ruleset(old_file), load_ruleset(new_file)
    old = run(path, old_rules, suspicious=suspicious, keep_decisions=True, progress=progress, bounds=bounds)
    new = run(path, new_rules, suspicious=suspicious, keep_decisions=True, progress=progress, bounds=bounds)
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


def main(
    events: Path,
    rules_file: Path | None,
    compare_files: list[Path] | None,
    suspicious_csv: Path | None,
    bounds: EventTimeBounds | None = None,
    labels_csv: Path | None = None,
) -> int:
    listed = (
        frozenset(u.account_id for u in updates_from_csv(suspicious_csv, by="backtest"))
        if suspicious_csv
        else frozenset()
    )
    if compare_files:
        print(compare(events, compare_files[0], compare_files[1], listed, progress=sys.stderr, bounds=bounds))
        return 0
    ruleset = load_ruleset(rules_file)
    keep = labels_csv is not None  # officers' labels are matched against the decisions
    report = run(events, ruleset, suspicious=listed, keep_decisions=keep, progress=sys.stderr, bounds=bounds)
    print(format_report(report, ruleset))
    if labels_csv is not None:  # officers' resolutions exported from the case store
        from streams.case_labels import officer_precision, read_labels

        print("\n" + officer_precision(report.decisions, read_labels(labels_csv)))
    return 0
