"""txmon through the session broker's SASL_SSL (SCRAM-SHA-512) and mutual-TLS listeners.

Per listener, every Kafka client txmon has, configured only by TXMON_KAFKA_* settings: the CLI
(`txmon topics`, `rules publish`, `suspicious add`, `freeze request`), `loadtest.send`, a worker
(Faust app, hot path, control readers, hold expiry, freeze agent) and the console (an officer
releases a hold). Its alerts are exactly the back-test's of the same events. A wrong password, a
foreign CA and a missing client certificate are refused with one line naming the setting.
"""

from __future__ import annotations

import http.cookiejar
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from alerts.model import alert_id
from loadtest.stack import read_all, start_healthy, stop_process
from rules.config import load_ruleset
from store.keys import Keys
from streams.backtest import run as backtest
from streams.settings import Settings
from tests.integration.conftest import ROOT, SecuredKafka, Services, Worker, free_port, make_worker

pytestmark = pytest.mark.integration

EVENTS, ACCOUNTS, SEED = 3_000, 300, 11


def sasl_ssl(k: SecuredKafka, **override: str) -> dict[str, str]:
    return {
        "TXMON_KAFKA_BOOTSTRAP": k.sasl_ssl,
        "TXMON_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "TXMON_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "TXMON_KAFKA_SASL_USERNAME": k.user,
        "TXMON_KAFKA_SASL_PASSWORD": k.password,
        "TXMON_KAFKA_SSL_CAFILE": str(k.tls.ca),
        **override,
    }


def mtls(k: SecuredKafka, **override: str) -> dict[str, str]:
    return {
        "TXMON_KAFKA_BOOTSTRAP": k.mtls,
        "TXMON_KAFKA_SECURITY_PROTOCOL": "SSL",
        "TXMON_KAFKA_SSL_CAFILE": str(k.tls.ca),
        "TXMON_KAFKA_SSL_CERTFILE": str(k.tls.client_cert),
        "TXMON_KAFKA_SSL_KEYFILE": str(k.tls.client_key),
        **override,
    }


MODES: dict[str, Callable[..., dict[str, str]]] = {"sasl_ssl": sasl_ssl, "mtls": mtls}


def secured(services: Services) -> SecuredKafka:
    assert services.secured is not None
    return services.secured


def run(
    env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=timeout
    )


def txmon(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return run(env, "-m", "streams.cli", *args, stdin=stdin)


def kafka_settings(env: dict[str, str]) -> Settings:
    """The settings the processes read from ``env``, for the test's own readers (kafka-python)."""
    fields = {n: env[f"TXMON_{n.upper()}"] for n in Settings.model_fields if f"TXMON_{n.upper()}" in env}
    return Settings.model_validate(fields)


def wait_records(
    kafka: Settings, topic: str, cond: Callable[[list[dict[str, Any]]], bool], timeout: float = 60
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        values = [orjson.loads(v) for _, v, _ in read_all(kafka, topic, timeout=10)]
        if cond(values) or time.monotonic() > deadline:
            return values
        time.sleep(0.5)


class Console:
    """`txmon console` on the worker's settings; an officer logged in through the JSON API."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.env = {**env, "TXMON_CONSOLE_PORT": str(self.port)}
        self.log_path = log_path
        self.jar = http.cookiejar.CookieJar()
        self.http = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf = ""
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, officer: str, password: str) -> None:
        created = txmon(
            self.env, "create-user", officer, "--role", "officer", "--password-stdin", stdin=password + "\n"
        )
        assert created.returncode == 0, created.stderr
        url = f"http://127.0.0.1:{self.port}/health"
        self.proc = start_healthy(["-m", "streams.cli", "console"], self.env, self.log_path, url, 60)
        self.csrf = self.post("/api/login", {"user": officer, "password": password})["csrf"]

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - 127.0.0.1 only
            f"http://127.0.0.1:{self.port}{path}",
            data=orjson.dumps(body),
            headers={"Content-Type": "application/json", "X-CSRF-Token": self.csrf},
            method="POST",
        )
        with self.http.open(request, timeout=30) as r:
            data: dict[str, Any] = orjson.loads(r.read())
            return data

    def stop(self) -> None:
        stop_process(self.proc, timeout=20)


# R6b (one foreign IP, 3+ accounts) counts accounts across partitions, so which event is the third
# depends on how the partitions interleave, not on the file's order; making live and back-test agree
# on it is issue 13 point 7. Every other rule is per account and must match exactly.
ACROSS_PARTITIONS = {"R6b"}


def expected_alert_ids(events: Path) -> set[str]:
    report = backtest(events, load_ruleset(), keep_decisions=True)
    return {alert_id(r, e, account=a) for a, e, r, _, _ in report.hits if r not in ACROSS_PARTITIONS}


def per_account(alerts: list[dict[str, Any]]) -> set[str]:
    return {a["alert_id"] for a in alerts if a["rule_id"] not in ACROSS_PARTITIONS}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_worker_console_cli_and_load_generator_work_through_the_secured_listener(
    mode: str, services: Services, tmp_path: Path
) -> None:
    k = secured(services)
    worker: Worker = make_worker(services, tmp_path, **MODES[mode](k))
    env, topics = worker.env, worker.topics
    kafka = kafka_settings(env)

    listed = txmon(env, "topics")
    assert listed.returncode == 0, listed.stderr
    assert topics["input"] in listed.stdout.split()
    published = txmon(env, "rules", "publish", str(ROOT / "rules" / "rules.yaml"))
    assert published.returncode == 0, published.stderr
    suspect = f"SUSPECT-{uuid.uuid4().hex[:8]}"
    added = txmon(env, "suspicious", "add", suspect, "--reason", "SIMO report", "--source", "SIMO")
    assert added.returncode == 0, added.stderr

    worker.start()
    try:
        r = redis.Redis.from_url(services.redis_url)
        deadline = time.monotonic() + 20
        while not r.sismember(Keys(env["TXMON_STATE_PREFIX"]).suspicious, suspect):  # the control reader's work
            assert time.monotonic() < deadline, "the worker did not apply the list update"
            time.sleep(0.2)

        traffic = ["-m", "loadtest.send", "--events", str(EVENTS), "--accounts", str(ACCOUNTS), "--seed", str(SEED)]
        traffic += ["--scenario-every", "60", "--malformed-every", "0"]
        jsonl = tmp_path / "events.jsonl"
        assert run(env, *traffic, "--out", str(jsonl)).returncode == 0
        sent = run(env, *traffic, timeout=180)  # TXMON_INPUT_TOPIC and the secured bootstrap from the env
        assert sent.returncode == 0, sent.stderr
        expected = expected_alert_ids(jsonl)
        assert len(expected) > 20  # the scenarios fire

        alerts = wait_records(kafka, topics["alerts"], lambda vs: per_account(vs) >= expected)
        assert per_account(alerts) == expected, worker.log_tail()
        holds = wait_records(kafka, topics["holds"], lambda vs: len(vs) > 0)
        hold = next(h for h in holds if h["status"] == "active")
        assert hold["alert_ids"] and {a["alert_id"] for a in alerts} >= set(hold["alert_ids"])

        frozen_account = f"FROZEN-{uuid.uuid4().hex[:8]}"
        request = txmon(
            env, "freeze", "request", "--account", frozen_account, "--authority", "Công an TP Hà Nội - PC02",
            "--case", "VV-1/2026", "--reason", "nhận tiền lừa đảo",
        )  # fmt: skip
        assert request.returncode == 0, request.stderr
        freezes = wait_records(kafka, topics["holds"], lambda vs: any(v["account_id"] == frozen_account for v in vs))
        assert [h.get("kind") for h in freezes if h["account_id"] == frozen_account] == ["freeze"], worker.log_tail()

        console = Console(env, tmp_path / "console.log")
        console.start(f"officer-{mode}", "officer-pw-" + uuid.uuid4().hex[:8])
        try:
            reason = "Customer called: the transfer was their own"
            done = console.post(
                f"/api/cases/{hold['hold_id']}/release", {"reason": reason, "command_id": str(uuid.uuid4())}
            )
            assert done, done
            released = wait_records(
                kafka,
                topics["holds"],
                lambda vs: any(v["hold_id"] == hold["hold_id"] and v["status"] == "released" for v in vs),
            )
            assert any(v["hold_id"] == hold["hold_id"] and v["status"] == "released" for v in released)
            audit = wait_records(kafka, topics["audit"], lambda vs: any(reason in str(v) for v in vs))
            assert any(reason in str(v) for v in audit)
        finally:
            console.stop()
        assert worker.health()["status"] == "ok"
    finally:
        worker.stop()


def assert_refused(result: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def test_a_wrong_password_is_refused_naming_the_settings(services: Services, tmp_path: Path) -> None:
    k = secured(services)
    env = {**services.env, **sasl_ssl(k, TXMON_KAFKA_SASL_PASSWORD="not-the-password")}
    expected = (f"refused SASL authentication for user '{k.user}'", "TXMON_KAFKA_SASL_PASSWORD")
    assert_refused(txmon(env, "topics"), *expected)
    assert_refused(txmon(env, "worker", "--quiet"), *expected)
    assert_refused(run(env, "-m", "loadtest.send", "--events", "10"), *expected)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_foreign_ca_is_refused_naming_the_setting(mode: str, services: Services) -> None:
    k = secured(services)
    env = {**services.env, **MODES[mode](k, TXMON_KAFKA_SSL_CAFILE=str(k.tls.foreign_ca))}
    expected = ("TLS handshake", "not signed by TXMON_KAFKA_SSL_CAFILE", str(k.tls.foreign_ca))
    assert_refused(txmon(env, "rules", "publish", str(ROOT / "rules" / "rules.yaml")), *expected)
    assert_refused(txmon(env, "console"), *expected)


def test_mutual_tls_without_a_trusted_client_certificate_is_refused(services: Services) -> None:
    k = secured(services)
    bare = {**services.env, **mtls(k)}
    del bare["TXMON_KAFKA_SSL_CERTFILE"], bare["TXMON_KAFKA_SSL_KEYFILE"]
    assert_refused(txmon(bare, "topics"), "wants a client certificate", "TXMON_KAFKA_SSL_CERTFILE")
    foreign = {
        **services.env,
        **mtls(
            k,
            TXMON_KAFKA_SSL_CERTFILE=str(k.tls.foreign_client_cert),
            TXMON_KAFKA_SSL_KEYFILE=str(k.tls.foreign_client_key),
        ),
    }
    assert_refused(txmon(foreign, "suspicious", "add", "ACC1", "--reason", "x"), "refused our client certificate")


def test_settings_mistakes_stop_the_start_naming_the_variable(services: Services) -> None:
    k = secured(services)
    no_user = {**services.env, **sasl_ssl(k)}
    del no_user["TXMON_KAFKA_SASL_USERNAME"]
    assert_refused(txmon(no_user, "topics"), "TXMON_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs TXMON_KAFKA_SASL_USERNAME")
    misspelt = "TXMON_KAFKA_SASL_" + "PASWORD"  # split: the unit test finds every name the tests use
    typo = {**services.env, **sasl_ssl(k), misspelt: k.password}
    assert_refused(txmon(typo, "worker"), f"unknown setting(s) {misspelt}")
