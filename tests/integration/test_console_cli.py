"""A supervisor made by `txmon create-user` gets a TOTP secret and logs in to a real `txmon
console` process only with its code; `txmon totp-enrol` replaces the secret. Over plain HTTP on
loopback (local development): no Secure cookies, no HSTS, and every answer has the headers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from alerts import totp
from loadtest.stack import namespace_env, start_healthy, stop_process
from tests.integration.conftest import ROOT, Services, free_port

pytestmark = pytest.mark.integration
PASSWORD = "cli-test-" + uuid.uuid4().hex[:12]


def _txmon(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "streams.cli", *args],
        input=stdin,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _secret(stderr: str) -> str:
    (line,) = [x for x in stderr.splitlines() if x.startswith("totp secret: ")]
    return line.removeprefix("totp secret: ")


@dataclass
class Answer:
    status_code: int
    headers: Message
    text: str


def _http(url: str, body: dict[str, Any] | None = None) -> Answer:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310
            return Answer(r.status, r.headers, r.read().decode())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.headers, exc.read().decode())


def _login(url: str, code: str | None = None) -> Answer:
    body: dict[str, Any] = {"user": "boss", "password": PASSWORD} | ({"code": code} if code else {})
    return _http(f"{url}/api/login", body)


def test_create_user_enrols_a_supervisor_and_the_console_demands_the_code(services: Services, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **services.env,
        **namespace_env("cli"),
        "TXMON_KAFKA_BOOTSTRAP": services.bootstrap,
        "TXMON_REDIS_URL": services.redis_url,
        "TXMON_CONSOLE_PORT": str(port),
    }
    weak = _txmon(env, "create-user", "boss", "--role", "supervisor", "--password-stdin", stdin="my-name-is-boss\n")
    assert weak.returncode == 1 and "name" in weak.stderr
    created = _txmon(env, "create-user", "boss", "--role", "supervisor", "--password-stdin", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["totp"] is True and "otpauth://totp/txmon:boss?" in created.stderr
    secret = _secret(created.stderr)
    console = start_healthy(
        ["-m", "streams.cli", "console"], env, tmp_path / "console.log", f"http://127.0.0.1:{port}/health", 60
    )
    try:
        url = f"http://127.0.0.1:{port}"
        assert _login(url).status_code == 401
        ok = _login(url, totp.totp(secret, time.time()))
        assert ok.status_code == 200, ok.text
        cookies = ok.headers.get_all("Set-Cookie") or []
        assert len(cookies) == 2 and all("Secure" not in c and "HttpOnly" in c for c in cookies)
        assert "Strict-Transport-Security" not in ok.headers and ok.headers["Server"] == "txmon"
        missing = _http(f"{url}/static/missing.js")  # no session: the redirect to the login page
        assert missing.status_code == 200 and missing.headers["X-Frame-Options"] == "DENY"
        enrolled = _txmon(env, "totp-enrol", "boss")
        assert enrolled.returncode == 0, enrolled.stderr
        new_secret = _secret(enrolled.stderr)
        assert new_secret != secret
        # enrolment starts the replay guard afresh: the new secret's current code works at once
        assert _login(url, totp.totp(secret, time.time())).status_code == 401  # the old secret is gone
        assert _login(url, totp.totp(new_secret, time.time())).status_code == 200
    finally:
        stop_process(console)
