"""The projection: topic records in, case rows out, idempotently.

Every row has the id of the record it came from (alert id, audit id, report id,
hold transition), inserts skip what is there, and the alert-derived columns of
a case are recomputed from its alerts (``txmon_refresh_cases``). A hold's
columns change only for a newer hold record, the workflow only for a newer
audit record. So the same records applied twice, or in another order across
topics, give the same rows: the store can always be rebuilt from the topics.

    batch = Batch(); batch.add(topic_kind, raw_value)
    async with pool.connection() as conn: await apply(conn, batch)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import msgspec
from psycopg import AsyncConnection, AsyncCursor

from alerts.audit import AuditRecord
from alerts.cases.sla import business_day_limit
from alerts.model import Alert, HoldInstruction, PoliceReport
from rules.model import SEVERITY_RANK

Kind = Literal["alerts", "holds", "police", "audit"]
# Every applied batch notifies this channel (at commit): the console's live queue listens.
NOTIFY_CHANNEL = "txmon_cases"
RANK = {str(k): v for k, v in SEVERITY_RANK.items()}
# Audit actions of the officers' workflow: their ``after`` sets these case columns.
WORKFLOW_FIELDS = ("workflow", "resolution", "assignee", "claimed_by", "claim_until")
# Audit actions that change the status of a case made of one alert without a hold.
ALERT_STATUS = {"dismiss": "dismissed", "escalate": "escalated"}

_decoders: dict[str, msgspec.json.Decoder[Any]] = {
    "alerts": msgspec.json.Decoder(Alert),
    "holds": msgspec.json.Decoder(HoldInstruction),
    "police": msgspec.json.Decoder(PoliceReport),
    "audit": msgspec.json.Decoder(AuditRecord),
}
_json = msgspec.json.Encoder()


def case_of(subject: str) -> str | None:
    """The case an audit record is about: holds and alerts are cases; accounts and users are not."""
    return subject if subject.startswith(("H-", "A-")) else None


@dataclass
class Batch:
    alerts: list[Alert] = field(default_factory=list)
    holds: list[HoldInstruction] = field(default_factory=list)
    reports: list[PoliceReport] = field(default_factory=list)
    audits: list[AuditRecord] = field(default_factory=list)
    rejected: int = 0

    def add(self, kind: Kind, raw: bytes) -> None:
        """Decode one record; one that is not what its topic carries is counted and left out."""
        try:
            record = _decoders[kind].decode(raw)
        except msgspec.DecodeError:
            self.rejected += 1
            return
        if isinstance(record, Alert):
            self.alerts.append(record)
        elif isinstance(record, HoldInstruction):
            self.holds.append(record)
        elif isinstance(record, PoliceReport):
            self.reports.append(record)
        else:
            self.audits.append(record)

    def __len__(self) -> int:
        return len(self.alerts) + len(self.holds) + len(self.reports) + len(self.audits)


def _alert_row(a: Alert) -> tuple[Any, ...]:
    # The generator's ``label`` is test scaffolding, never evidence: it is not stored.
    event = {k: v for k, v in a.event.items() if k != "label"}
    stored = msgspec.structs.replace(a, event=event)
    case_id = a.hold_id or a.alert_id
    return (
        a.alert_id,
        case_id,
        a.rule_id,
        RANK.get(a.severity, 0),
        a.detected_at,
        a.event_ts,
        a.event_id,
        _json.encode(stored).decode(),
    )


def _events(batch: Batch) -> list[tuple[Any, ...]]:
    """Timeline rows: (key, case, at, kind, who, role, facts)."""
    rows: list[tuple[Any, ...]] = []
    for a in batch.alerts:
        case_id = a.hold_id or a.alert_id
        rows.append(
            (
                f"ev:{case_id}:{a.event_id}",
                case_id,
                a.event_ts,
                "event",
                a.account_id,
                "customer",
                {"event_id": a.event_id, "event_type": a.event_type, "amount": a.event.get("amount")},
            )
        )
        rows.append(
            (
                a.alert_id,
                case_id,
                a.detected_at,
                "alert",
                "txmon",
                "system",
                {
                    "alert_id": a.alert_id,
                    "rule_id": a.rule_id,
                    "severity": a.severity,
                    "action": a.action,
                    "reason_vi": a.reason_vi,
                    "reason_en": a.reason_en,
                },
            )
        )
    rows.extend(
        (
            f"{h.hold_id}:{h.transition}:{h.updated_at}",
            h.hold_id,
            h.updated_at,
            f"hold_{h.transition}",
            h.updated_by,
            "system" if h.updated_by == "txmon" else "officer",
            {"status": h.status, "kind": h.kind, "expires_at": h.expires_at, "alerts": len(h.alert_ids)},
        )
        for h in batch.holds
    )
    for r in batch.reports:
        case_id = r.hold_id or r.report_id
        rows.append(
            (
                f"report:{r.report_id}",
                case_id,
                r.reported_at,
                "police_report",
                r.reporting_bank,
                "bank",
                {
                    "report_id": r.report_id,
                    "kind": r.kind,
                    "rule_id": r.rule_id,
                    "channel": "police",
                    "delivered": True,
                },
            )
        )
    for au in batch.audits:
        audit_case = case_of(au.subject)
        if audit_case is not None:
            rows.append(
                (
                    au.audit_id,
                    audit_case,
                    au.when,
                    au.action,
                    au.who,
                    au.role,
                    {"reason": au.reason, "before": au.before, "after": au.after},
                )
            )
    return [(*r[:6], _json.encode(r[6]).decode()) for r in rows]


def _hold_row(h: HoldInstruction) -> tuple[Any, ...]:
    limit = business_day_limit(datetime.fromisoformat(h.created_at))
    return (
        h.hold_id,
        h.kind,
        h.account_id,
        h.status,
        h.updated_at,
        _json.encode(h).decode(),
        h.updated_at,
        h.expires_at,
        h.created_at,
        limit,
    )


HOLD_UPSERT = """
INSERT INTO cases (case_id, kind, account_id, status, status_at, hold, hold_updated_at, expires_at, opened_at, limit_at)
VALUES (%s, %s, %s, %s, %s::timestamptz, %s::jsonb, %s::timestamptz, %s::timestamptz, %s::timestamptz, %s)
ON CONFLICT (case_id) DO UPDATE SET
    kind = excluded.kind, account_id = excluded.account_id, status = excluded.status,
    status_at = excluded.status_at, hold = excluded.hold, hold_updated_at = excluded.hold_updated_at,
    expires_at = excluded.expires_at, opened_at = excluded.opened_at, limit_at = excluded.limit_at
WHERE cases.hold_updated_at IS NULL OR cases.hold_updated_at <= excluded.hold_updated_at
"""
WORKFLOW_UPDATE = """
UPDATE cases SET
    workflow    = CASE WHEN %(a)s::jsonb ? 'workflow' THEN %(a)s::jsonb->>'workflow' ELSE workflow END,
    resolution  = CASE WHEN %(a)s::jsonb ? 'resolution' THEN %(a)s::jsonb->>'resolution' ELSE resolution END,
    assignee    = CASE WHEN %(a)s::jsonb ? 'assignee' THEN %(a)s::jsonb->>'assignee' ELSE assignee END,
    claimed_by  = CASE WHEN %(a)s::jsonb ? 'claimed_by' THEN %(a)s::jsonb->>'claimed_by' ELSE claimed_by END,
    claim_until = CASE WHEN %(a)s::jsonb ? 'claim_until' THEN (%(a)s::jsonb->>'claim_until')::timestamptz
                       ELSE claim_until END,
    workflow_at = %(when)s::timestamptz
WHERE case_id = %(case)s AND (workflow_at IS NULL OR workflow_at <= %(when)s::timestamptz)
"""
STATUS_UPDATE = """
UPDATE cases SET status = %(status)s, status_at = %(when)s::timestamptz
WHERE case_id = %(case)s AND kind = 'alert' AND (status_at IS NULL OR status_at <= %(when)s::timestamptz)
"""


async def _copy_in(cur: AsyncCursor[Any], table: str, rows: list[tuple[Any, ...]]) -> None:
    """Insert rows not there yet: COPY into a staging table, then one INSERT that skips known ids."""
    stage = f"stage_{table}"
    # Fixed table names only (case_alerts, case_events); a temporary table lives with its connection.
    await cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DELETE ROWS")
    async with cur.copy(f"COPY {stage} FROM STDIN") as copy:
        for row in rows:
            await copy.write_row(row)
    await cur.execute(f"INSERT INTO {table} SELECT * FROM {stage} ON CONFLICT DO NOTHING")  # noqa: S608


async def apply(conn: AsyncConnection[Any], batch: Batch) -> None:
    """Write one batch in one transaction."""
    touched = {a.hold_id or a.alert_id for a in batch.alerts} | {h.hold_id for h in batch.holds}
    audits = sorted(batch.audits, key=lambda r: (r.when, r.audit_id))
    case_audits = [(r, c) for r in audits if (c := case_of(r.subject)) is not None]
    async with conn.transaction(), conn.cursor() as cur:
        if batch.alerts:
            await _copy_in(cur, "case_alerts", [_alert_row(a) for a in batch.alerts])
        if batch.holds:
            await cur.executemany(HOLD_UPSERT, [_hold_row(h) for h in batch.holds])
        ids = sorted(touched | {c for _, c in case_audits} | {r.hold_id or r.report_id for r in batch.reports})
        if ids:
            await cur.execute("SELECT txmon_refresh_cases(%s)", (ids,))
        events = _events(batch)
        if events:
            await _copy_in(cur, "case_events", events)
        workflow = [
            {
                "a": _json.encode({k: v for k, v in (r.after or {}).items() if k in WORKFLOW_FIELDS}).decode(),
                "when": r.when,
                "case": c,
            }
            for r, c in case_audits
            if any(k in WORKFLOW_FIELDS for k in r.after or {})
        ]
        if workflow:
            await cur.executemany(WORKFLOW_UPDATE, workflow)
        statuses = [
            {"status": ALERT_STATUS[r.action], "when": r.when, "case": c}
            for r, c in case_audits
            if r.action in ALERT_STATUS and c.startswith("A-")
        ]
        if statuses:
            await cur.executemany(STATUS_UPDATE, statuses)
        await cur.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, str(len(batch))))
        notes = sorted({c for r, c in case_audits if r.action == "case_note"})
        if notes:
            await cur.execute(
                "UPDATE cases c SET note_count = (SELECT count(*) FROM case_events e"
                " WHERE e.case_id = c.case_id AND e.kind = 'case_note') WHERE c.case_id = ANY(%s)",
                (notes,),
            )
