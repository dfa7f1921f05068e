"""The officers' queue on the case store: filters, search, sort orders and paging done by PostgreSQL.

Every filter is a parameter (never SQL text from the request), every sort order
is one of ``SORTS``, and each has an index (migration 0002). ``total`` counts
every case that matches, not only the page.

    q = QueueQuery(status="open", rule="R6a", sort="amount", offset=50, limit=50)
    page = await queue(pool, q)
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from alerts.cases.sla import clock


def rule_order(rule_id: str) -> tuple[int, str]:
    """R1, R2, ..., R6a, R6b, ..., R14: by number, then suffix (the store keeps them in id order)."""
    digits = "".join(c for c in rule_id if c.isdigit())
    return (int(digits) if digits else 10**6, rule_id)


SORTS = {
    "severity": "severity_rank DESC, opened_at ASC, case_id",
    "age": "opened_at ASC, case_id",
    "newest": "opened_at DESC, case_id",
    "amount": "amount_vnd DESC NULLS LAST, case_id",
    "expiry": "expires_at ASC NULLS LAST, case_id",
}
HOLD_STATUSES = ("active", "extended", "released", "confirmed", "expired")
STATUSES = ("open", "all", "open_alerts", *HOLD_STATUSES, "dismissed", "escalated")
KINDS = ("hold", "freeze", "alert")
WORKFLOWS = ("new", "investigating", "resolved")
COLUMNS = (
    "case_id, kind, account_id, status, is_open, workflow, resolution, assignee, claimed_by, claim_until, severity,"
    " severity_rank, rules, channels, reason_vi, reason_en, amount_vnd, alert_count, note_count, opened_at,"
    " expires_at, limit_at, lead_alert_id"
)
MAX_LIMIT = 200
# Matches are counted exactly up to here; beyond it the answer says "more than" (a count of
# hundreds of thousands of filtered rows costs more than the 200 ms a query may take). The
# number of open cases is always counted exactly.
COUNT_CAP = 10_000


@dataclass(frozen=True, slots=True)
class QueueQuery:
    status: str = "open"
    rule: str = ""
    channel: str = ""
    kind: str = ""
    workflow: str = ""
    assignee: str = ""  # a user name, or "none" for unassigned
    amount_min: int | None = None
    amount_max: int | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None
    search: str = ""  # a case id, account, counterparty, IP, device or event id (exact)
    sort: str = "severity"
    offset: int = 0
    limit: int = 50

    def where(self) -> tuple[str, dict[str, Any]]:
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if self.status == "open":
            clauses.append("is_open")
        elif self.status == "open_alerts":
            clauses.append("is_open AND kind = 'alert'")
        elif self.status != "all":
            clauses.append("status = %(status)s")
            params["status"] = self.status
        simple = (("rule", "rules @> ARRAY[%(rule)s]"), ("channel", "channels @> ARRAY[%(channel)s]"),
                  ("kind", "kind = %(kind)s"), ("workflow", "workflow = %(workflow)s"),
              )  # fmt: skip
        for name, clause in simple:
            value = getattr(self, name)
            if value:
                clauses.append(clause)
                params[name] = value
        if self.assignee == "none":
            clauses.append("assignee IS NULL")
        elif self.assignee:
            clauses.append("assignee = %(assignee)s")
            params["assignee"] = self.assignee
        ranges = (
            ("amount_min", "amount_vnd >= %(amount_min)s"),
            ("amount_max", "amount_vnd <= %(amount_max)s"),
            ("opened_from", "opened_at >= %(opened_from)s"),
            ("opened_to", "opened_at < %(opened_to)s"),
        )
        for name, clause in ranges:
            value = getattr(self, name)
            if value is not None:
                clauses.append(clause)
                params[name] = value
        return (" AND ".join(clauses) or "true"), params

    def source(self) -> tuple[str, dict[str, Any]]:
        """What to select from: the table, or for a search only the few cases holding that id.

        The planner cannot know a searched id is rare and would rather walk the sort order's
        index; the materialised search goes through the GIN index of search keys instead.
        """
        if not self.search:
            return "cases", {}
        hits = "WITH hits AS MATERIALIZED (SELECT * FROM cases WHERE search_keys @> ARRAY[%(search)s])"
        return f"({hits} SELECT * FROM hits) c", {"search": self.search}  # noqa: S608 - fixed text


def row_out(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A queue row as JSON: times as ISO strings, a lapsed claim shown as none, the SLA clock."""
    claimed = row["claimed_by"] if row["claim_until"] is not None and row["claim_until"] > now else None
    out = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
    out["rules"] = sorted(row["rules"], key=rule_order)
    out["claimed_by"] = claimed
    if claimed is None:
        out["claim_until"] = None
    out["sla"] = clock(row["opened_at"], row["expires_at"] if row["is_open"] else None,
                       row["limit_at"] if row["is_open"] else None, now)  # fmt: skip
    return out


async def open_cases(pool: AsyncConnectionPool) -> int:
    """The exact number of open cases, kept by the store's triggers (migration 0003)."""
    async with pool.connection() as conn, conn.cursor() as cur:
        await cur.execute("SELECT open FROM case_counts")
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def queue(pool: AsyncConnectionPool, q: QueueQuery, now: datetime | None = None) -> dict[str, Any]:
    """One page, the number of matches and the number of open cases."""
    now = now or datetime.now(tz=UTC)
    where, params = q.where()
    source, more = q.source()
    params |= more
    started = time.perf_counter()
    # Fixed SQL parts only: every value from the request is a parameter.
    page = f"SELECT {COLUMNS} FROM {source} WHERE {where} ORDER BY {SORTS[q.sort]} LIMIT %(limit)s OFFSET %(offset)s"  # noqa: S608
    count = f"SELECT count(*) AS n FROM (SELECT 1 FROM {source} WHERE {where} LIMIT %(cap)s) m"  # noqa: S608
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(page, {**params, "limit": q.limit, "offset": q.offset})
        rows = await cur.fetchall()
        await cur.execute(count, {**params, "cap": COUNT_CAP + 1})
        counted = await cur.fetchone()
        await cur.execute("SELECT open AS n FROM case_counts")
        open_row = await cur.fetchone()
    took_ms = (time.perf_counter() - started) * 1000
    total = int(counted["n"]) if counted else 0
    return {
        "cases": [row_out(r, now) for r in rows],
        "total": min(total, COUNT_CAP),
        "total_exact": total <= COUNT_CAP,
        "open_total": int(open_row["n"]) if open_row else 0,
        "offset": q.offset,
        "limit": q.limit,
        "took_ms": round(took_ms, 1),
    }


async def export_rows(
    pool: AsyncConnectionPool, q: QueueQuery, max_rows: int = 100_000
) -> AsyncIterator[dict[str, Any]]:
    """Every matching case in the queue's order, read with a server-side cursor."""
    where, params = q.where()
    source, more = q.source()
    sql = f"SELECT {COLUMNS} FROM {source} WHERE {where} ORDER BY {SORTS[q.sort]} LIMIT %(max)s"  # noqa: S608
    async with (
        pool.connection() as conn,
        conn.transaction(),
        conn.cursor(name="txmon_export", row_factory=dict_row) as cur,
    ):
        await cur.execute(sql, {**params, **more, "max": max_rows})
        async for row in cur:
            yield {**row, "rules": sorted(row["rules"], key=rule_order)}


async def rules_in_store(pool: AsyncConnectionPool) -> list[str]:
    """The rule ids with open cases, for the rule filter (from the GIN index's distinct values)."""
    async with pool.connection() as conn, conn.cursor() as cur:
        await cur.execute(
            "SELECT r FROM (SELECT DISTINCT unnest(rules) AS r FROM"
            " (SELECT rules FROM cases WHERE is_open ORDER BY severity_rank DESC, opened_at LIMIT 20000) s) u"
            " ORDER BY txmon_rule_order(r), r"
        )
        return [r[0] for r in await cur.fetchall()]


async def case_row(pool: AsyncConnectionPool, case_id: str, now: datetime | None = None) -> dict[str, Any] | None:
    now = now or datetime.now(tz=UTC)
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {COLUMNS} FROM cases WHERE case_id = %s", (case_id,))  # noqa: S608
        row = await cur.fetchone()
    return row_out(row, now) if row else None


async def timeline(pool: AsyncConnectionPool, case_id: str) -> list[dict[str, Any]]:
    """What happened to a case, oldest first: events, alerts, hold transitions, officers' actions, reports."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT at, kind, who, role, facts FROM case_events WHERE case_id = %s ORDER BY at, event_key", (case_id,)
        )
        rows = await cur.fetchall()
    return [{**r, "at": r["at"].isoformat()} for r in rows]


async def next_candidates(pool: AsyncConnectionPool, user: str, limit: int = 10) -> list[str]:
    """Open cases the user may take next: their own assignments first, then the most severe and oldest."""
    free = "(claimed_by IS NULL OR claim_until < now() OR claimed_by = %(u)s)"
    order = "ORDER BY severity_rank DESC, opened_at ASC, case_id LIMIT %(n)s"
    out: list[str] = []
    async with pool.connection() as conn, conn.cursor() as cur:
        # Two queries, each along an index: the user's assignments, then the unassigned queue.
        for who in ("assignee = %(u)s", "assignee IS NULL"):
            sql = f"SELECT case_id FROM cases WHERE is_open AND {who} AND {free} {order}"  # noqa: S608
            await cur.execute(sql, {"u": user, "n": limit})
            out += [r[0] for r in await cur.fetchall()]
    return out[:limit]
