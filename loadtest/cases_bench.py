"""Queue query times on a case store of 1,000,000 generated cases (a report, not a timed test).

    .venv/bin/python -m loadtest.cases_bench [--cases 1000000] [--runs 7]

On the PostgreSQL of ``make up`` (or ``--server``), in a database of its own
(dropped at the end): migrates it, fills it with generated
cases (rules, channels, kinds and statuses mixed as in the demo traffic: most are
R6a warnings), runs ANALYZE, then times every kind of queue query the console
sends (``alerts.cases.queue``), each ``--runs`` times, and prints the median
and the slowest in milliseconds, with the plan's top node.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg

from alerts.cases.db import PgConfig, migrate, open_pool
from alerts.cases.queue import QueueQuery, next_candidates, open_cases, queue

BENCH_DB = "txmon_cases_bench"
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)

FILL = """
INSERT INTO cases (case_id, kind, account_id, status, severity, severity_rank, lead_alert_id, reason_vi, reason_en,
                   rules, channels, amount_vnd, alert_count, opened_at, expires_at, limit_at, workflow, assignee,
                   search_keys)
SELECT id, kind, acct,
       CASE WHEN kind = 'alert' THEN (ARRAY['open','open','open','dismissed'])[1 + i %% 4]
            ELSE (ARRAY['active','active','extended','released','confirmed','expired'])[1 + i %% 6] END,
       (ARRAY['low','medium','high','critical'])[1 + sev], sev + 1, 'A-' || id, 'lý do', 'reason',
       rules, channels,
       CASE WHEN rules[1] = 'R6a' AND i %% 3 = 0 THEN NULL ELSE 100000 + (i::bigint * 7919) %% 90000000 END,
       1 + i %% 3, opened,
       CASE WHEN kind = 'alert' THEN NULL ELSE opened + interval '24 hours' END,
       CASE WHEN kind = 'alert' THEN NULL ELSE opened + interval '4 days' END,
       (ARRAY['new','new','new','investigating'])[1 + i %% 4],
       CASE WHEN i %% 50 = 0 THEN 'officer' || (i %% 7) END,
       ARRAY[id, acct, 'ev-' || i, 'dst-' || (i %% 200000), 'ip-' || (i %% 50000), 'dev-' || (i %% 300000)]
FROM (
    SELECT i,
           CASE WHEN i %% 20 = 0 THEN 'H-' || i ELSE 'A-' || i END AS id,
           CASE WHEN i %% 20 = 0 THEN (CASE WHEN i %% 400 = 0 THEN 'freeze' ELSE 'hold' END) ELSE 'alert' END AS kind,
           '9704' || lpad((i %% 250000)::text, 8, '0') AS acct,
           CASE WHEN i %% 20 = 0 THEN 2 + i %% 2 ELSE i %% 3 END AS sev,
           CASE WHEN i %% 20 = 0
                THEN (CASE i %% 80 WHEN 0 THEN ARRAY['R1','R12'] WHEN 20 THEN ARRAY['R2','R12']
                      WHEN 40 THEN ARRAY['R3','R6a'] ELSE ARRAY['R7','R14'] END)
                WHEN i %% 10 = 1 THEN ARRAY['R10'] WHEN i %% 17 = 2 THEN ARRAY['R6b'] ELSE ARRAY['R6a'] END AS rules,
           CASE WHEN i %% 3 = 0 THEN ARRAY['bank','police'] ELSE ARRAY['bank'] END AS channels,
           %(now)s::timestamptz - (i %% 2592000) * interval '1 second' AS opened
    FROM generate_series(1, %(n)s) AS i
) g
"""


def queries() -> list[tuple[str, QueueQuery]]:
    day = NOW - timedelta(days=3)
    return [
        ("open, by severity, first page", QueueQuery()),
        ("open, by severity, page 200 (offset 10,000)", QueueQuery(offset=10_000)),
        ("open, oldest first", QueueQuery(sort="age")),
        ("open, by amount", QueueQuery(sort="amount")),
        ("open, by hold expiry", QueueQuery(sort="expiry")),
        ("rule R6a, open", QueueQuery(rule="R6a")),
        ("rule R7, open, by amount", QueueQuery(rule="R7", sort="amount")),
        ("channel police, open", QueueQuery(channel="police")),
        ("kind hold, open, by expiry", QueueQuery(kind="hold", sort="expiry")),
        ("status confirmed", QueueQuery(status="confirmed")),
        ("assignee officer3", QueueQuery(assignee="officer3")),
        ("amount 50M-60M VND, open", QueueQuery(amount_min=50_000_000, amount_max=60_000_000)),
        ("opened in one day 3 days ago", QueueQuery(opened_from=day, opened_to=day + timedelta(days=1))),
        (
            "R6a + amount range + date range",
            QueueQuery(rule="R6a", amount_min=1_000_000, amount_max=20_000_000, opened_from=day, opened_to=NOW),
        ),  # fmt: skip
        ("all statuses, by severity", QueueQuery(status="all")),
        ("search: account", QueueQuery(status="all", search="970400012345")),
        ("search: case id", QueueQuery(status="all", search="A-777777")),
        ("search: counterparty", QueueQuery(status="all", search="dst-4242")),
        ("search: IP", QueueQuery(status="all", search="ip-31337")),
        ("search: device", QueueQuery(status="all", search="dev-123456")),
        ("search: event id", QueueQuery(status="all", search="ev-999999")),
    ]


async def measure(config: PgConfig, n: int, runs: int) -> None:
    with psycopg.connect(config.conninfo(), autocommit=True) as conn:
        started = time.perf_counter()
        if n:
            conn.execute(FILL, {"n": n, "now": NOW})
            conn.execute("VACUUM ANALYZE cases")
        opened = conn.execute("SELECT count(*) FROM cases WHERE is_open").fetchone()
        took = time.perf_counter() - started
        print(f"generated {n:,} cases ({opened[0] if opened else 0:,} open) in {took:.0f} s")
    pool = await open_pool(config)
    try:
        print(f"| query ({runs} runs each) | median ms | slowest ms | rows | total |")
        print("|---|---|---|---|---|")
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            await open_cases(pool)
            times.append((time.perf_counter() - t0) * 1000)
        median = statistics.median(times)
        name = "the number of open cases (kept by triggers: one row)"
        print(f"| {name} | {median:.1f} | {max(times):.1f} | 1 | - |")
        for name, q in queries():
            times, page = [], {}
            for _ in range(runs):
                t0 = time.perf_counter()
                page = await queue(pool, q, now=NOW)
                times.append((time.perf_counter() - t0) * 1000)
            median, rows = statistics.median(times), len(page["cases"])
            total = f"{page['total']:,}" + ("" if page["total_exact"] else "+")
            print(f"| {name} | {median:.1f} | {max(times):.1f} | {rows} | {total} |")
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            await next_candidates(pool, "officer3")
            times.append((time.perf_counter() - t0) * 1000)
        print(f"| next case for an officer | {statistics.median(times):.1f} | {max(times):.1f} | 10 | - |")
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help=f"keep the database ({BENCH_DB}) for EXPLAIN")
    parser.add_argument("--reuse", action="store_true", help="time the queries on the database a --keep run left")
    parser.add_argument(
        "--server",
        default=os.environ.get("TXMON_POSTGRES_URL", "postgresql://txmon@127.0.0.1:5432/txmon"),
        help="a PostgreSQL server (`make up` starts one); a database of its own is made and dropped",
    )
    args = parser.parse_args()
    base = args.server.rsplit("/", 1)[0]
    admin = PgConfig(base + "/postgres", sslmode="disable").conninfo()
    if not args.reuse:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
            conn.execute(f"CREATE DATABASE {BENCH_DB}")
    try:
        config = PgConfig(f"{base}/{BENCH_DB}", sslmode="disable")
        migrate(config)
        asyncio.run(measure(config, 0 if args.reuse else args.cases, args.runs))
    finally:
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")


if __name__ == "__main__":
    main()
