"""Case-store helpers for the integration tests: a fresh database per test, and topic records."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from alerts.audit import AuditRecord
from alerts.cases.db import PgConfig
from alerts.model import Alert, HoldInstruction, PoliceReport, alert_id, hold_id_for
from loadtest.stack import ROOT, stop_process

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
VIETNAM = timezone(timedelta(hours=7))


def daytime_before(t: datetime) -> datetime:
    """`t`, or 22:00 Vietnamese time just before it when `t` falls in 22:00-06:00.

    The browser tests send events stamped close to now; stamped at night, a large transfer also
    raises R10 (a night-time transfer), and the queue shows a second case for the account. The
    hold (24 h from the event) is still active for events stamped at most eight hours ago.
    """
    local = t.astimezone(VIETNAM)
    if 6 <= local.hour < 22:
        return t
    evening = local.replace(hour=22, minute=0, second=0, microsecond=0)
    return (evening if local.hour >= 22 else evening - timedelta(days=1)).astimezone(UTC)


def fresh_database(server_url: str) -> PgConfig:
    """A new, empty database on the session's PostgreSQL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PgConfig(server_url.rsplit("/", 1)[0] + f"/{name}", sslmode="disable")


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat(timespec="milliseconds")


def make_alert(
    rule: str, event_id: str, account: str, *, hold_id: str | None = None, minutes: float = 0, **event: Any
) -> Alert:
    severity = {"R6a": "low", "R10": "medium"}.get(rule, "high")
    ev = {"type": "transfer", "event_id": event_id, "account_id": account, "ts": at(minutes), **event}
    return Alert(
        alert_id=alert_id(rule, event_id, account=account),
        rule_id=rule,
        rule_name=rule,
        ruleset_version="test",
        account_id=account,
        event_id=event_id,
        event_type="Transfer" if ev["type"] == "transfer" else "Login",
        event_ts=at(minutes),
        detected_at=at(minutes + 0.01),
        action="alert" if hold_id is None else "hold",
        severity=severity,
        channels=["bank"],
        reason_vi=f"{rule} vi",
        reason_en=f"{rule} en",
        evidence={"amount_vnd": ev["amount"]} if "amount" in ev else {"ip_country": "SG"},
        event=ev,
        hold_id=hold_id,
    )


def make_hold(alerts: list[Alert], status: str = "active", minutes: float = 0.02, by: str = "txmon") -> HoldInstruction:
    return HoldInstruction(
        hold_id=hold_id_for(alerts[0].alert_id),
        account_id=alerts[0].account_id,
        status=status,  # type: ignore[arg-type]
        transition="placed" if status == "active" else status,
        reason_vi="vi",
        reason_en="en",
        alert_ids=[a.alert_id for a in alerts],
        created_at=at(0.02),
        expires_at=at(24 * 60),
        updated_at=at(minutes),
        updated_by=by,
    )


def audit(action: str, subject: str, minutes: float, who: str = "lan", **after: Any) -> AuditRecord:
    return AuditRecord(
        audit_id=f"AU-{uuid.uuid5(uuid.NAMESPACE_URL, f'{action}{subject}{minutes}').hex[:20]}",
        command_id=f"cmd-{action}-{subject}-{minutes}",
        who=who,
        role="officer",
        when=at(minutes),
        action=action,
        subject=subject,
        reason="test",
        after=after or None,
        account_id="",
    )


def state(workflow: str, **fields: Any) -> dict[str, Any]:
    """A workflow audit record's ``after``: the whole workflow state, so the newest record decides."""
    return {
        "workflow": workflow,
        "resolution": None,
        "assignee": None,
        "claimed_by": None,
        "claim_until": None,
        **fields,
    }


def scenario() -> list[tuple[str, bytes]]:
    """Topic records of a small day: a hold of two alerts, two R6a warnings, claims, notes, a report."""
    enc = msgspec.json.encode
    first = make_alert("R2", "e1", "970400000001", amount=5_352_000, dest_account="0011", minutes=0)
    hold_id = hold_id_for(first.alert_id)
    first = msgspec.structs.replace(first, hold_id=hold_id)
    second = make_alert("R12", "e2", "970400000001", hold_id=hold_id, minutes=1, amount=9_000_000, dest_account="0022")
    second = msgspec.structs.replace(second, event={**second.event, "label": "R12"})
    warn1 = make_alert("R6a", "e3", "970400000002", minutes=2, type="login", ip="1.2.3.4")
    warn2 = make_alert("R6a", "e4", "970400000003", minutes=3, type="login", ip="1.2.3.5")
    hold = make_hold([first, second])
    confirmed = msgspec.structs.replace(
        hold, status="confirmed", transition="confirmed", updated_at=at(30), updated_by="lan"
    )
    report = PoliceReport(
        report_id=f"P-{hold_id}-confirmed",
        idempotency_key="k",
        kind="confirmed_fraud",
        reporting_bank="TESTBANK",
        account_id=first.account_id,
        rule_id="R2",
        severity="critical",
        reason_vi="vi",
        reason_en="en",
        event_ts=first.event_ts,
        reported_at=at(30),
        hold_id=hold_id,
    )
    return [
        ("alerts", enc(first)),
        ("alerts", enc(second)),
        ("alerts", enc(warn1)),
        ("alerts", enc(warn2)),
        ("holds", enc(hold)),
        (
            "audit",
            enc(audit("case_claim", hold_id, 10, **state("investigating", claimed_by="lan", claim_until=at(25)))),
        ),
        ("audit", enc(audit("case_note", hold_id, 11, note="called the customer"))),
        ("audit", enc(audit("dismiss", warn1.alert_id, 12, status="dismissed"))),
        ("holds", enc(confirmed)),
        ("police", enc(report)),
        ("audit", enc(audit("case_resolve", hold_id, 31, **state("resolved", resolution="fraud")))),
        ("alerts", b"not json"),
    ]


def snapshot(config: PgConfig) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the three tables, in a stable order."""
    with psycopg.connect(config.conninfo()) as conn:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()  # noqa: S608 - fixed table names
            for t in ("cases", "case_alerts", "case_events")
        }


def case_store_env(server_url: str) -> dict[str, str]:
    """Settings for a console or sink on a new database of its own, with a sink group of its own."""
    config = fresh_database(server_url)
    return {"TXMON_POSTGRES_URL": config.url, "TXMON_POSTGRES_SSLMODE": "disable",
            "TXMON_CASES_GROUP": f"cases-{uuid.uuid4().hex[:8]}"}  # fmt: skip


def start_sink(env: dict[str, str], log_path: Path, timeout: float = 60.0) -> subprocess.Popen[bytes]:
    """A `txmon cases` process; returns once it has migrated the store and joined its group."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "streams.cli", "cases"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"txmon cases exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}"
            raise RuntimeError(msg)
        if "txmon cases:" in log_path.read_text(errors="replace"):
            return proc
        time.sleep(0.2)
    stop_process(proc)
    msg = f"txmon cases did not start:\n{log_path.read_text(errors='replace')[-3000:]}"
    raise RuntimeError(msg)
