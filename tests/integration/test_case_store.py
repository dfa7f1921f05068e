"""The case store on the session's PostgreSQL: migrations, the projection and the sink."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from kafka import KafkaProducer

from alerts.cases.db import applied, migrate, migrations, open_pool
from alerts.cases.project import Batch, apply
from alerts.cases.queue import rule_order
from streams.case_labels import export_labels, read_labels
from streams.case_sink import rebuild, run_sink, source_topics
from streams.settings import Settings
from tests.integration.case_helpers import fresh_database, scenario, snapshot
from tests.integration.conftest import Services

pytestmark = pytest.mark.integration


def test_migrations_up_on_an_empty_database(services: Services) -> None:
    config = fresh_database(services.postgres_url)
    assert migrate(config) == migrations()
    assert applied(config) == migrations()
    assert migrate(config) == []  # nothing left to do
    with psycopg.connect(config.conninfo()) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"cases", "case_alerts", "case_events"} <= tables


def test_migrations_up_on_the_previous_schema_keep_and_complete_the_rows(services: Services) -> None:
    config = fresh_database(services.postgres_url)
    first = migrations()[0]
    assert migrate(config, upto=first) == [first]
    alert = '{"account_id": "970400000009", "severity": "high", "reason_vi": "v", "reason_en": "e", "channels": ["bank"], "event": {"amount": 7000000, "dest_account": "0099", "ip": "1.1.1.1"}, "evidence": {}}'
    with psycopg.connect(config.conninfo()) as conn:
        conn.execute(
            "INSERT INTO case_alerts VALUES ('A-R1-1', 'A-R1-1', 'R1', 3, now(), now(), 'ev-9', %s::jsonb)", (alert,)
        )
        conn.execute("SELECT txmon_refresh_cases(ARRAY['A-R1-1'])")
        conn.execute("INSERT INTO cases (case_id, status, is_open) VALUES ('A-R6a-2', 'dismissed', false)")
    assert migrate(config) == migrations()[1:]
    with psycopg.connect(config.conninfo()) as conn:
        row = conn.execute(
            "SELECT account_id, amount_vnd, rules, is_open, workflow, search_keys FROM cases WHERE case_id = 'A-R1-1'"
        ).fetchone()
        closed = conn.execute("SELECT is_open FROM cases WHERE case_id = 'A-R6a-2'").fetchone()
    assert row is not None
    account, amount, rules, is_open, workflow, keys = row
    assert (account, amount, rules, is_open, workflow) == ("970400000009", 7_000_000, ["R1"], True, "new")
    assert {"A-R1-1", "ev-9", "970400000009", "0099", "1.1.1.1"} <= set(keys)
    assert closed == (False,)
    with psycopg.connect(config.conninfo()) as conn:
        assert conn.execute("SELECT open FROM case_counts").fetchone() == (1,)  # 0003 counted what was there


def _batch(records: list[tuple[str, bytes]]) -> Batch:
    batch = Batch()
    for kind, raw in records:
        batch.add(kind, raw)  # type: ignore[arg-type]
    return batch


async def test_a_redelivered_batch_changes_nothing_and_order_across_topics_does_not_matter(services: Services) -> None:
    once, twice, reverse = (fresh_database(services.postgres_url) for _ in range(3))
    records = scenario()
    for config in (once, twice, reverse):
        migrate(config)
    for config, batches in ((once, [records]), (twice, [records, records]), (reverse, [[r] for r in records[::-1]])):
        async with await psycopg.AsyncConnection.connect(config.conninfo()) as conn:
            for b in batches:
                await apply(conn, _batch(b))
    assert snapshot(once) == snapshot(twice)
    for config in (once, twice, reverse):  # the triggers' count is the count of open rows
        with psycopg.connect(config.conninfo()) as conn:
            kept = conn.execute("SELECT open FROM case_counts").fetchone()
            counted = conn.execute("SELECT count(*) FROM cases WHERE is_open").fetchone()
        assert kept == counted == (1,)  # the second R6a warning; the hold is confirmed, the first dismissed
    rows = snapshot(once)["cases"]
    assert snapshot(reverse)["cases"] == rows
    assert len(rows) == 3  # the hold (two alerts), two R6a warnings


def _case(config: Any, case_id: str) -> dict[str, Any]:
    with psycopg.connect(config.conninfo()) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute("SELECT * FROM cases WHERE case_id = %s", (case_id,)).fetchone()
    assert row is not None
    return row


async def test_the_sink_stores_the_topics_and_a_rebuild_gives_the_same_rows(
    services: Services, producer: KafkaProducer, tmp_path: Path
) -> None:
    from loadtest.stack import namespace_env

    config = fresh_database(services.postgres_url)
    env = {
        **namespace_env("cases"),
        "TXMON_KAFKA_BOOTSTRAP": services.bootstrap,
        "TXMON_POSTGRES_URL": config.url,
        "TXMON_POSTGRES_SSLMODE": "disable",
        "TXMON_TOPIC_PARTITIONS": "2",
    }
    settings = cast(Any, Settings)(**{k.removeprefix("TXMON_").lower(): v for k, v in env.items()})
    topic_of: dict[str, str] = {kind: topic for topic, kind in source_topics(settings).items()}
    from streams.topics import ensure_topics

    await ensure_topics(settings, list(topic_of.values()))
    records = scenario()
    for kind, raw in records:
        producer.send(topic_of[kind], raw, key=b"970400000001")
    producer.flush(timeout=30)
    migrate(config)
    pool = await open_pool(config)
    try:
        stop = asyncio.Event()
        good = sum(1 for _, raw in records if raw.startswith(b"{"))

        def seen(stats: Any) -> None:
            if stats.records >= good:
                stop.set()

        stats = await asyncio.wait_for(run_sink(settings, stop, pool=pool, on_batch=seen), timeout=60)
        assert (stats.records, stats.rejected) == (good, 1)
        streamed = snapshot(config)
        first = await rebuild(settings, pool)
        assert snapshot(config) == streamed
        await rebuild(settings, pool)
        assert snapshot(config) == streamed
        assert first.records == good
    finally:
        await pool.close()
    hold = next(r for r in streamed["cases"] if r[0].startswith("H-"))[0]
    row = _case(config, hold)
    assert (row["status"], row["workflow"], row["resolution"], row["is_open"]) == (
        "confirmed",
        "resolved",
        "fraud",
        False,
    )
    assert (row["note_count"], row["alert_count"], row["amount_vnd"]) == (1, 2, 9_000_000)
    assert sorted(row["rules"], key=rule_order) == ["R2", "R12"]
    kinds = [e[3] for e in streamed["case_events"] if e[1] == hold]
    assert {
        "event",
        "alert",
        "hold_placed",
        "case_claim",
        "case_note",
        "hold_confirmed",
        "police_report",
        "case_resolve",
    } <= set(kinds)
    stored = next(r for r in streamed["case_alerts"] if r[0].startswith("A-R12"))
    assert "label" not in stored[7]["event"]  # the generator's label is never stored
    # Officers' decisions as back-test labels: the confirmed hold's two alerts, the dismissed warning.
    assert await export_labels(settings, tmp_path / "labels.csv") == 3
    assert read_labels(tmp_path / "labels.csv") == {("e1", "R2"): True, ("e2", "R12"): True, ("e3", "R6a"): False}
