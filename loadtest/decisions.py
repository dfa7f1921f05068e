"""Save the engine's decisions on deterministic data, and check a changed engine against them.

    python -m loadtest.decisions save [--dir .cache/decisions] [--events N]
    python -m loadtest.decisions check [--dir .cache/decisions] [--events N]

Two data sets, both generated from fixed seeds, so any checkout regenerates the same events:

- ``bench``: ``make bench``'s events (``loadtest.bench``: seed 11, 50,000 accounts) in its
  20,000-event batches, judged as its ``engine`` row and reference holds judge them;
- ``backtest``: ``txmon backtest`` over ``loadtest.send``'s JSON Lines (seed 7, 5,000
  accounts, 1,000,000 events by default), with ``loadtest/suspicious_demo.csv`` as the list.

A decision is ``(rule, event id, account, action)``: the alert id is a function of the rule, the
account and the event id (``alerts.model.alert_id``), so equal decisions are equal alert ids. Holds are the
accounts with a hold or freeze. ``save`` writes one sorted file per data set; ``check`` judges
again and prints, per data set, how many decisions are only in the saved or only in the new run
(exit 1 on any difference). Run ``save`` with the code whose decisions are the reference.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from loadtest.bank_traffic import Generator
from loadtest.scenario_labels import SUSPICIOUS_ACCOUNTS
from loadtest.send import write_jsonl
from rules.config import load_ruleset
from rules.engine import RuleEngine
from rules.geo import load_geoip
from streams.backtest import InMemory, run
from streams.codec import decode_records
from streams.lists import updates_from_csv

Decision = tuple[str, str, str, str]  # rule, event id, account, action
ROOT = Path(__file__).resolve().parent.parent
SUSPICIOUS_CSV = ROOT / "loadtest" / "suspicious_demo.csv"


def bench_decisions(events: int) -> list[Decision]:
    records = list(Generator(11, 50_000).take(events))
    store = InMemory(RuleEngine(load_ruleset(), load_geoip()), frozenset(SUSPICIOUS_ACCOUNTS))
    batches = [
        decode_records([v for _, v in records[i : i + 20_000]], [k for k, _ in records[i : i + 20_000]]).batch
        for i in range(0, len(records), 20_000)
    ]
    found: list[Decision] = []
    t = time.perf_counter()
    for batch in batches:  # as the bench's ``engine`` row: decoded batches, lookups from memory
        found += [(h.rule_id, h.event_id, h.account_id, str(h.action)) for h in store.judge(batch).hits]
    seconds = time.perf_counter() - t
    print(
        f"bench: engine judged {len(records):,} events in {seconds:.2f} s = {len(records) / seconds:,.0f}/s",
        file=sys.stderr,
    )
    return sorted(found)


def backtest_decisions(events: int, work: Path) -> list[Decision]:
    history = work / f"history-{events}.jsonl"
    if not history.exists():  # written whole, then renamed: an interrupted run leaves no half file
        partial = history.with_suffix(".partial")
        write_jsonl(Generator(7, 5_000).take(events), partial)
        partial.rename(history)
    listed = frozenset(u.account_id for u in updates_from_csv(SUSPICIOUS_CSV, by="backtest"))
    report = run(history, load_ruleset(), suspicious=listed, keep_decisions=True)
    rate = report.events / report.seconds
    print(f"backtest: {report.events:,} events in {report.seconds:.2f} s = {rate:,.0f}/s", file=sys.stderr)
    return sorted((rule, event, account, action) for account, event, rule, action, _ in report.hits)


def holds(decisions: Iterable[Decision]) -> set[str]:
    return {account for _, _, account, action in decisions if action in ("hold", "freeze")}


def _path(work: Path, name: str, events: int) -> Path:
    return work / f"{name}-{events}.tsv.gz"


def _write(path: Path, decisions: list[Decision]) -> str:
    text = "".join("\t".join(d) + "\n" for d in decisions).encode()
    path.write_bytes(gzip.compress(text, mtime=0))
    return hashlib.sha256(text).hexdigest()[:16]


def _read(path: Path) -> list[Decision]:
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    return [tuple(line.split("\t")) for line in lines]  # type: ignore[misc]


def judge_all(events_bench: int, events_backtest: int, work: Path) -> dict[str, tuple[int, list[Decision]]]:
    out = {"bench": (events_bench, bench_decisions(events_bench))}
    out["backtest"] = (events_backtest, backtest_decisions(events_backtest, work))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("save", "check"))
    p.add_argument("--dir", type=Path, default=ROOT / ".cache" / "decisions")
    p.add_argument("--events", type=int, default=1_000_000, help="events of each data set")
    args = p.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    failed = False
    for name, (events, found) in judge_all(args.events, args.events, args.dir).items():
        path = _path(args.dir, name, events)
        if args.command == "save":
            digest = _write(path, found)
            print(f"{name}: saved {len(found):,} decisions, {len(holds(found)):,} holds, sha256 {digest} -> {path}")
            continue
        saved = _read(path)
        only_saved, only_new = sorted(set(saved) - set(found)), sorted(set(found) - set(saved))
        same = not only_saved and not only_new and len(saved) == len(found)
        failed |= not same
        print(
            f"{name}: {'identical' if same else 'DIFFERENT'}: {len(found):,} decisions ({len(saved):,} saved), "
            f"{len(holds(found)):,} holds ({len(holds(saved)):,} saved), "
            f"{len(only_saved):,} only saved, {len(only_new):,} only new"
        )
        for d in (only_saved[:5], only_new[:5]):
            for row in d:
                print("   ", "\t".join(row))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
