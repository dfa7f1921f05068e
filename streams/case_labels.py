"""``txmon cases labels``: officers' resolutions as labels for ``txmon backtest --labels``.

    txmon cases labels --out labels.csv
    txmon backtest history.jsonl --labels labels.csv   # precision per rule on officers' decisions


One row per alert of a decided case: ``event_id,rule_id,label`` with ``fraud``
or ``not_fraud``. A case is decided by the officer's resolution; without one, a
hold an officer confirmed is fraud and a hold an officer released, or an alert
dismissed, is not fraud. Expired holds and inconclusive cases are left out.
"""

from __future__ import annotations

import asyncio
import csv
from collections import Counter
from pathlib import Path

from alerts.cases.db import open_pool
from streams.settings import Settings

LABELS = """
SELECT a.event_id, a.rule_id,
       CASE WHEN c.resolution IN ('fraud', 'not_fraud') THEN c.resolution
            WHEN c.status = 'confirmed' THEN 'fraud'
            WHEN c.status = 'dismissed' THEN 'not_fraud'
            WHEN c.status = 'released' AND c.hold->>'updated_by' <> 'txmon' THEN 'not_fraud' END AS label
FROM cases c JOIN case_alerts a ON a.case_id = c.case_id
WHERE c.resolution IN ('fraud', 'not_fraud') OR c.status IN ('confirmed', 'dismissed', 'released')
ORDER BY a.event_id, a.rule_id
"""


async def export_labels(settings: Settings, out: Path) -> int:
    from streams.case_sink import pg_config  # the sink's settings; back-tests only read files

    pool = await open_pool(pg_config(settings))
    try:
        async with pool.connection() as conn, conn.cursor() as cur:
            await cur.execute(LABELS)
            rows = [r for r in await cur.fetchall() if r[2] is not None]
    finally:
        await pool.close()
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["event_id", "rule_id", "label"])
        writer.writerows(rows)
    return len(rows)


def export_labels_command(settings: Settings, out: Path) -> int:
    n = asyncio.run(export_labels(settings, out))
    print(f"wrote {n} labels from officers' decisions to {out}")
    return 0


def read_labels(path: Path) -> dict[tuple[str, str], bool]:
    """(event_id, rule_id) -> fraud? from a labels file (``txmon cases labels``)."""
    with path.open(newline="", encoding="utf-8") as f:
        return {
            (row["event_id"], row["rule_id"]): row["label"] == "fraud"
            for row in csv.DictReader(f)
            if row.get("label") in ("fraud", "not_fraud")
        }


def officer_precision(decisions: dict[tuple[str, str], str], labels: dict[tuple[str, str], bool]) -> str:
    """Per rule: of the back-test's hits that officers decided, how many they found to be fraud."""
    fraud: Counter[str] = Counter()
    decided: Counter[str] = Counter()
    for key in decisions.keys() & labels.keys():
        decided[key[1]] += 1
        fraud[key[1]] += labels[key]
    unmatched = len(labels.keys() - decisions.keys())
    lines = ["officers' decisions (labels from the case store):", "",
             "| rule | decided hits | fraud | not fraud | precision |", "|---|---|---|---|---|"]  # fmt: skip
    for rule in sorted(decided, key=lambda r: (int("".join(c for c in r if c.isdigit()) or 0), r)):
        n, f = decided[rule], fraud[rule]
        lines.append(f"| {rule} | {n:,} | {f:,} | {n - f:,} | {f / n:.1%} |")
    if not decided:
        lines.append("| - | 0 | 0 | 0 | - |")
    lines += ["", f"{unmatched:,} labels name a hit this back-test did not make (another rules version or file)"]
    return "\n".join(lines)
