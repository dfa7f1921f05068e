"""`txmon backtest`: the worker's engine over a file of historical events, no Kafka or Redis.

    txmon backtest events.jsonl [--rules rules.yaml]
    txmon backtest events.jsonl --compare old.yaml new.yaml

Events are JSON Lines in the input contract; ``--suspicious FILE.csv`` gives the
shared suspicious-account list (R7) as it stood. When they carry ``label`` (the
comma-separated rule ids that should fire), precision and recall per rule are
reported. State is kept in memory exactly as the worker keeps it in Redis.

A second process reads and decodes the file while this one evaluates (the
machine has two cores); chunks are judged strictly in file order.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import queue
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from operator import attrgetter
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from rules.columns import EventBatch
from rules.config import Ruleset, load_ruleset
from rules.engine import Evaluation, RuleEngine, batch_money_ids
from rules.geo import load_geoip
from rules.model import Action
from rules.state import AccountState, merge_ip_accounts
from streams.codec import decode_records
from streams.lists import updates_from_csv

# Events judged as one batch: larger batches amortise per-account work; the first ones are
# small so that judging starts at once, doubling up to CHUNK.
CHUNK = 100_000
FIRST_CHUNK = 5_000


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


def _non_blank(lines: list[bytes]) -> list[bytes]:
    kept = list(filter(None, lines))  # empty lines, at C speed
    lengths = np.fromiter(map(len, kept), np.int64, len(kept))
    blank = {i for i in np.flatnonzero(lengths < 3).tolist() if not kept[i].strip()}  # e.g. a lone "\r"
    return [line for i, line in enumerate(kept) if i not in blank] if blank else kept


def _plan(path: Path) -> list[tuple[int, int]]:
    """Byte ranges of the chunks, in file order: FIRST_CHUNK lines, then twice as many each
    time up to CHUNK. Found by counting newlines (numpy), without splitting lines."""
    ranges: list[tuple[int, int]] = []
    size, begin, lines, offset = FIRST_CHUNK, 0, 0, 0
    with path.open("rb") as f:
        while block := f.read(16 << 20):
            ends = np.flatnonzero(np.frombuffer(block, np.uint8) == 10) + offset + 1  # just after each newline
            while lines + len(ends) >= size:
                cut = int(ends[size - lines - 1])
                ranges.append((begin, cut))
                ends = ends[size - lines :]
                begin, lines, size = cut, 0, min(size * 2, CHUNK)
            lines += len(ends)
            offset += len(block)
    if offset > begin:
        ranges.append((begin, offset))
    return ranges


def _read_lines(path: Path, begin: int, end: int) -> list[bytes]:
    with path.open("rb") as f:
        f.seek(begin)
        return _non_blank(f.read(end - begin).split(b"\n"))


class InMemory:
    """What the worker keeps in Redis, kept in dicts: account states and R6b's per-IP store.

    ``judge`` does the worker's lookups (suspicious list, foreign IPs) and saves what the
    engine returns, so back-tests and benchmarks decide exactly as a worker would.
    """

    def __init__(self, engine: RuleEngine, suspicious: frozenset[str] = frozenset()) -> None:
        self.engine = engine
        self.suspicious = suspicious
        self.states: dict[str, AccountState] = {}
        self.ip_accounts: dict[str, dict[str, int]] = {}

    def listed(self, batch: EventBatch) -> np.ndarray:
        """Per row: the counterparty is on the suspicious list (one C-level set intersection
        first: most batches name no listed account at all)."""
        dest = batch.dest or []
        found = self.suspicious.intersection(dest)
        if not found:
            return np.zeros(len(batch), np.bool_)
        return np.fromiter(map(found.__contains__, dest), np.bool_, len(batch))

    def judge(
        self,
        batch: EventBatch,
        listed: np.ndarray | None = None,
        countries: np.ndarray | None = None,
        foreign_ips: list[str] | None = None,
        money_ids: np.ndarray | None = None,
        explain: bool = True,
    ) -> Evaluation:
        if countries is None or foreign_ips is None:
            countries, foreign_ips = self.engine.foreign_ips(batch)
        result = self.engine.evaluate(
            batch,
            [self.states.get(a) for a in batch.accounts],
            self.listed(batch) if listed is None else listed,
            ip_accounts={ip: self.ip_accounts[ip] for ip in foreign_ips if ip in self.ip_accounts},
            countries=countries,
            money_ids=money_ids,
            explain=explain,
        )
        self.states.update(zip(batch.accounts, result.states, strict=True))
        merge_ip_accounts(self.ip_accounts, result.ip_updates)
        return result


_LABEL = attrgetter("label")


@dataclass(frozen=True, slots=True)
class _Chunk:
    """One batch and what depends on it alone (what the worker looks up before evaluating)."""

    batch: EventBatch  # without event objects: only ``label`` is needed here
    listed: np.ndarray  # per row: the counterparty is on the suspicious list
    countries: np.ndarray
    foreign_ips: list[str]
    money_ids: np.ndarray
    dead_letters: int
    lines: int
    size: int  # bytes of the file it covers


def _decode_chunk(path: Path, span: tuple[int, int], engine: RuleEngine, suspicious: frozenset[str]) -> _Chunk:
    lines = _read_lines(path, *span)
    decoded = decode_records(lines, [None] * len(lines))
    batch = replace(decoded.batch, events=[], label=list(map(_LABEL, decoded.batch.events)))
    listed = InMemory(engine, suspicious).listed(batch)
    countries, ips = engine.foreign_ips(batch)
    size = span[1] - span[0]
    return _Chunk(batch, listed, countries, ips, batch_money_ids(batch), len(decoded.dead), len(lines), size)


class _Claims:
    """Which chunk is decoded next, shared by the judge and the reading process: each takes
    the next unclaimed one, so neither waits while the other has work it could share."""

    def __init__(self, ctx: Any, total: int) -> None:
        self.next = ctx.Value("i", 0)
        self.total = total

    def take(self) -> int | None:
        with self.next.get_lock():
            k = int(self.next.value)
            if k >= self.total:
                return None
            self.next.value = k + 1
            return k


def _decode_claimed(
    path: Path,
    plan: list[tuple[int, int]],
    claims: _Claims,
    engine: RuleEngine,
    suspicious: frozenset[str],
    out: mp.Queue,  # type: ignore[type-arg]
) -> None:
    """The reading process: decode claimed chunks onto ``out`` as ``(index, chunk)``, then ``None``."""
    try:
        while (k := claims.take()) is not None:
            out.put((k, _decode_chunk(path, plan[k], engine, suspicious)))
        out.put(None)
    except BaseException as exc:
        out.put(exc)
        raise


def _decoded_chunks(path: Path, engine: RuleEngine, suspicious: frozenset[str]) -> Iterator[_Chunk]:
    """Chunks in file order. A reading process decodes chunks while this one judges; when the
    next chunk is not ready, this process decodes an unclaimed one itself instead of waiting
    (decoding costs about as much as judging, and the machine has two cores)."""
    plan = _plan(path)
    ctx = mp.get_context("fork")
    claims = _Claims(ctx, len(plan))
    # Bounded: the judge drains it in order, so the reader never runs far ahead.
    delivered: mp.Queue = ctx.Queue(maxsize=3)  # type: ignore[type-arg]
    args = (path, plan, claims, engine, suspicious, delivered)
    reader = ctx.Process(target=_decode_claimed, args=args, name="txmon-backtest-reader", daemon=True)
    reader.start()
    ready: dict[int, _Chunk] = {}
    reader_done = False
    try:
        for k in range(len(plan)):
            while k not in ready:
                item = None
                if not reader_done:
                    try:
                        item = delivered.get_nowait()
                    except queue.Empty:
                        mine = claims.take()
                        if mine is not None:
                            ready[mine] = _decode_chunk(path, plan[mine], engine, suspicious)
                            continue
                        item = _get(delivered, reader)
                if item is None:
                    reader_done = True
                    if k not in ready:
                        msg = f"chunk {k} of {path} was never decoded"
                        raise RuntimeError(msg)
                elif isinstance(item, BaseException):
                    raise item
                else:
                    ready[item[0]] = item[1]
            yield ready.pop(k)
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join()
        delivered.close()


def _get(delivered: mp.Queue, reader: Any) -> Any:  # type: ignore[type-arg]
    """The reading process's next item; an error if it died without saying so."""
    while True:
        try:
            return delivered.get(timeout=5)
        except queue.Empty:
            if not reader.is_alive():
                msg = f"the reading process stopped (exit code {reader.exitcode})"
                raise RuntimeError(msg) from None


def run(
    path: Path,
    ruleset: Ruleset,
    *,
    suspicious: frozenset[str] = frozenset(),
    keep_decisions: bool = False,
    progress: TextIO | None = None,
) -> Report:
    report = Report()
    # As in the worker: a batch allocates tens of thousands of small objects and the states
    # hold millions; collect young objects less often, and never rescan what exists already.
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    start = time.perf_counter()
    try:
        _judge_all(path, RuleEngine(ruleset, load_geoip()), suspicious, report, keep_decisions, progress, start)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
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
) -> None:
    store = InMemory(engine, suspicious)
    total, done_bytes = path.stat().st_size, 0
    for chunk in _decoded_chunks(path, engine, suspicious):
        # decisions only: the report counts hits and actions, so no reason text or evidence is built
        result = store.judge(
            chunk.batch, chunk.listed, chunk.countries, chunk.foreign_ips, chunk.money_ids, explain=False
        )
        report.events += chunk.lines
        report.dead_letters += chunk.dead_letters
        fired: set[tuple[int, str]] = set()
        for hit in result.hits:
            score = report.score(hit.rule_id)
            score.hits += 1
            score.holds += hit.action in (Action.HOLD, Action.FREEZE)
            fired.add((hit.row, hit.rule_id))
            if keep_decisions:
                report.decisions[(hit.event_id, hit.rule_id)] = str(hit.action)
        for row, label in enumerate(result.batch.label or ()):  # resends already counted are left out
            if label:
                for rule in label.split(","):
                    score = report.score(rule)
                    score.labelled += 1
                    score.true_positives += (row, rule) in fired
        done_bytes += chunk.size
        if progress is not None:
            _bar(progress, done_bytes / total, report.events, time.perf_counter() - start)


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
    return "-" if value is None else f"{value:.1%}"


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
