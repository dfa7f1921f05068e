"""The freeze-request consumer: dead letters with the monitor's headers, one effect per request,
retries on passing faults, metrics, the rules in force, the Faust agent and the CLI's request."""

from __future__ import annotations

import fakeredis
import faust
import msgspec
import orjson
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

import streams.freeze as freeze_module
from alerts.freeze import FreezeRequest, FreezeResult, PoliceFreezes
from alerts.lifecycle import HoldLifecycle, Topics
from rules.config import ActiveRule, load_ruleset, load_ruleset_text
from streams.freeze import FreezeRequestHandler, attach_freeze_requests, new_request
from streams.metrics import Metrics
from streams.settings import Settings
from tests.unit.alerts.conftest import MemoryKafka

SETTINGS = Settings(dead_letter_topic="dlq", alerts_topic="alerts", freeze_requests_topic="requests")
RULESET = load_ruleset()
REQUEST = {
    "request_id": "PC02-9",
    "account_id": "ACC9",
    "requested_at": "2026-11-28T09:30:00+07:00",
    "authority": "Công an TP Hà Nội - PC02",
    "case_ref": "VV-9/2026",
    "reason": "nhận tiền lừa đảo",
}
SOURCE = "requests/3/41"


@pytest.fixture
def kafka() -> MemoryKafka:
    return MemoryKafka()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def lifecycle(kafka: MemoryKafka) -> HoldLifecycle:
    topics = Topics("holds", "police", "audit", "suspicious")
    return HoldLifecycle(fakeredis.aioredis.FakeRedis(), kafka, topics, prefix="t:", bank_code="BANK1")


@pytest.fixture
def handler(lifecycle: HoldLifecycle, kafka: MemoryKafka, metrics: Metrics) -> FreezeRequestHandler:
    freezes = PoliceFreezes(lifecycle, "alerts")
    return FreezeRequestHandler(SETTINGS, freezes, metrics, RULESET, kafka.send_dead_letter)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instantly(_: float) -> None:
        return None

    monkeypatch.setattr(freeze_module.asyncio, "sleep", instantly)


def count(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_a_request_is_applied_once_and_a_resend_changes_nothing(
    handler: FreezeRequestHandler, kafka: MemoryKafka, metrics: Metrics
) -> None:
    first = await handler.handle(orjson.dumps(REQUEST), b"ACC9", SOURCE)
    again = await handler.handle(orjson.dumps(REQUEST), b"ACC9", "requests/3/42")
    assert first is not None and first.status == "applied" and again is not None and again.status == "duplicate"
    assert [t for t, _, _ in kafka.sent] == ["alerts", "holds", "audit"] and kafka.dead == []
    assert kafka.on("holds")[0]["kind"] == "freeze"
    assert count(metrics, "txmon_freeze_requests_received_total") == 2
    assert count(metrics, "txmon_freeze_requests_total", outcome="applied") == 1
    assert count(metrics, "txmon_freeze_requests_total", outcome="duplicate") == 1


@pytest.mark.parametrize(
    ("raw", "reason", "detail"),
    [
        (b'{"request_id": "PC02-9", "account_id": ', b"malformed_json", b"truncated"),
        (b"", b"malformed_json", b"empty record value"),
        (None, b"malformed_json", b"empty record value"),
        (orjson.dumps({**REQUEST, "requested_at": "2026-11-28T09:30:00"}), b"schema_violation", b"timezone"),
        (orjson.dumps({k: v for k, v in REQUEST.items() if k != "authority"}), b"schema_violation", b"authority"),
        (orjson.dumps({**REQUEST, "duration_h": 5000}), b"schema_violation", b"$.duration_h"),
    ],
)
async def test_a_bad_request_is_dead_lettered_with_the_monitor_headers(
    handler: FreezeRequestHandler, kafka: MemoryKafka, metrics: Metrics, raw: bytes | None, reason: bytes, detail: bytes
) -> None:
    assert await handler.handle(raw, b"ACC9", SOURCE) is None
    ((topic, key, value, headers),) = kafka.dead
    h = dict(headers)
    assert topic == "dlq" and key == b"ACC9" and value == (raw or b"")
    assert h["txmon-reason"] == reason and detail in h["txmon-error"] and h["txmon-source"] == SOURCE.encode()
    assert kafka.sent == []
    assert count(metrics, "txmon_freeze_requests_total", outcome="rejected") == 1
    assert count(metrics, "txmon_dead_letters_total", reason=reason.decode()) == 1


class Flaky:
    """A ``PoliceFreezes`` whose first ``failures`` calls raise ``error``."""

    def __init__(self, inner: PoliceFreezes, error: Exception, failures: int) -> None:
        self.inner, self.error, self.failures, self.calls = inner, error, failures, 0

    async def apply(self, req: FreezeRequest, rule: ActiveRule | None, version: str) -> FreezeResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return await self.inner.apply(req, rule, version)


async def test_redis_faults_are_retried_until_they_pass(
    handler: FreezeRequestHandler, kafka: MemoryKafka, lifecycle: HoldLifecycle
) -> None:
    flaky = Flaky(PoliceFreezes(lifecycle, "alerts"), RedisConnectionError("redis restarting"), failures=7)
    handler.freezes = flaky  # type: ignore[assignment]
    result = await handler.handle(orjson.dumps(REQUEST), b"ACC9", SOURCE)
    assert result is not None and result.status == "applied" and flaky.calls == 8 and kafka.dead == []


async def test_a_request_that_keeps_failing_unexpectedly_is_dead_lettered(
    handler: FreezeRequestHandler, kafka: MemoryKafka, lifecycle: HoldLifecycle
) -> None:
    flaky = Flaky(PoliceFreezes(lifecycle, "alerts"), KeyError("bug"), failures=100)
    handler.freezes = flaky  # type: ignore[assignment]
    assert await handler.handle(orjson.dumps(REQUEST), b"ACC9", SOURCE) is None
    ((_, _, value, headers),) = kafka.dead
    assert dict(headers)["txmon-reason"] == b"processing_error" and value == orjson.dumps(REQUEST)
    assert flaky.calls == freeze_module.RETRIES and kafka.sent == []


async def test_the_rules_in_force_decide_and_a_new_version_applies_at_once(
    handler: FreezeRequestHandler, kafka: MemoryKafka, metrics: Metrics
) -> None:
    handler.use_ruleset(
        load_ruleset_text("version: no-r13\nrules:\n  R2: {action: hold, severity: high, channels: [bank]}")
    )
    result = await handler.handle(orjson.dumps(REQUEST), b"ACC9", SOURCE)
    assert result is not None and result.status == "not_applied" and [t for t, _, _ in kafka.sent] == ["audit"]
    assert count(metrics, "txmon_freeze_requests_total", outcome="not_applied") == 1
    handler.use_ruleset(RULESET)
    other = await handler.handle(orjson.dumps({**REQUEST, "request_id": "PC02-10"}), b"ACC9", SOURCE)
    assert (
        other is not None and other.status == "applied" and kafka.on("alerts")[0]["ruleset_version"] == RULESET.version
    )


async def test_the_agent_hands_each_record_with_its_source_to_the_handler(
    lifecycle: HoldLifecycle, kafka: MemoryKafka, metrics: Metrics
) -> None:
    app = faust.App("txmon-freeze-test", broker="kafka://127.0.0.1:1", store="memory://")
    handler = attach_freeze_requests(app, SETTINGS, lifecycle, metrics, RULESET)
    handler.ready.set()
    agent = app.agents["txmon.freeze_requests"]
    try:
        async with agent.test_context() as test_agent:
            await test_agent.put(orjson.dumps(REQUEST), key=b"ACC9")
            await test_agent.put(orjson.dumps(REQUEST), key=b"ACC9")
            results = [test_agent.results[i] for i in range(2)]
    finally:
        # The stream made Faust's consumer, whose idle thread owns an event loop nobody runs.
        app.consumer._thread.thread_loop.close()  # type: ignore[attr-defined]  # Faust's private consumer thread
    assert [r.status for r in results] == ["applied", "duplicate"]
    assert len(kafka.on("alerts")) == 1 and kafka.on("alerts")[0]["rule_id"] == "R13"


def test_the_cli_request_is_checked_against_the_contract() -> None:
    req = new_request("ACC9", "Công an TP Hà Nội - PC02", "VV-9/2026", "nhận tiền lừa đảo", duration_h=72)
    assert req.request_id.startswith("FR-") and req.duration_h == 72 and req.requested_at.tzinfo is not None
    again = msgspec.json.decode(freeze_module.encoder.encode(req), type=FreezeRequest)
    assert again == req
    assert new_request("ACC9", "PC02", "VV", "r", request_id="PC02-11").request_id == "PC02-11"
    with pytest.raises(msgspec.ValidationError, match="duration_h"):
        new_request("ACC9", "PC02", "VV", "r", duration_h=0)
    with pytest.raises(msgspec.ValidationError, match="authority"):
        new_request("ACC9", " ", "VV", "r")
