"""The console's /metrics: request counts and latency by route template, logins, officer actions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from alerts.console.metrics import ConsoleMetrics
from tests.unit.alerts.consoles import PASSWORD, start_console


@pytest_asyncio.fixture(loop_scope="function")
async def client() -> AsyncIterator[tuple[TestClient[Any, Any], str]]:
    async with start_console(metrics=ConsoleMetrics()) as console:
        yield console.client, console.cases["crit"]


async def _samples(c: TestClient[Any, Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = await c.get("/metrics")
    assert r.status == 200 and r.content_type == "text/plain"
    text = await r.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _get(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_need_no_session_and_carry_the_process_collectors(client: Any) -> None:
    c, _ = client
    samples = await _samples(c)
    names = {name for name, _ in samples}
    assert {"process_resident_memory_bytes", "process_cpu_seconds_total", "python_info"} <= names
    assert _get(samples, "txmon_console_logins_total", outcome="rejected") == 0  # present before any login


async def test_requests_logins_and_actions_are_counted_by_bounded_labels(client: Any) -> None:
    c, hold_id = client
    assert (await c.get("/api/queue")).status == 401
    assert (await c.post("/api/login", json={"user": "lan", "password": "wrong-password"})).status == 401
    ok = await c.post("/api/login", json={"user": "lan", "password": PASSWORD})
    csrf = (await ok.json())["csrf"]
    headers = {"X-CSRF-Token": csrf}
    assert (await c.get("/no/such/page/0912345678")).status in (302, 404)
    assert (await c.request("TRACE", "/api/queue")).status == 403
    released = await c.post(
        f"/api/cases/{hold_id}/release", json={"reason": "payee", "command_id": "r1"}, headers=headers
    )
    assert released.status == 200, await released.text()
    failed = await c.post(f"/api/cases/{hold_id}/bogus", json={"reason": "x", "command_id": "r2"}, headers=headers)
    assert failed.status == 404

    samples = await _samples(c)
    assert _get(samples, "txmon_console_requests_total", method="GET", route="/api/queue", status="401") == 1
    route = "/api/cases/{case_id}/{action}"
    assert _get(samples, "txmon_console_requests_total", method="POST", route=route, status="200") == 1
    assert _get(samples, "txmon_console_request_duration_seconds_count", method="POST", route=route) == 2
    assert _get(samples, "txmon_console_logins_total", outcome="rejected") == 1
    assert _get(samples, "txmon_console_logins_total", outcome="success") == 1
    actions = {
        labels[0][1]: v for (name, labels), v in samples.items() if name == "txmon_console_officer_actions_total"
    }
    assert actions == {"release": 1.0, "confirm": 0.0, "extend": 0.0, "dismiss": 0.0, "escalate": 0.0}  # not "bogus"
    every_label_value = {v for _, labels in samples for _, v in labels}
    assert not any("0912345678" in v or "bogus" in v for v in every_label_value)
    assert any(name == "txmon_console_requests_total" and ("method", "other") in labels for name, labels in samples)
