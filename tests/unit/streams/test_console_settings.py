"""How the console decides it is in local development (no Secure cookies, no HSTS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings


@pytest.mark.parametrize(
    ("env", "secure"),
    [
        ({}, False),  # the default: 127.0.0.1, plain HTTP
        ({"TXMON_CONSOLE_HOST": "::1"}, False),
        ({"TXMON_CONSOLE_HOST": "localhost"}, False),
        ({"TXMON_CONSOLE_HOST": "0.0.0.0"}, True),  # reachable from other machines: behind TLS
        ({"TXMON_CONSOLE_HOST": "10.0.0.8"}, True),
        ({"TXMON_CONSOLE_TLS_CERT": "/etc/txmon/console.pem"}, True),  # serves HTTPS itself
        ({"TXMON_CONSOLE_HOST": "0.0.0.0", "TXMON_CONSOLE_SECURE_COOKIES": "false"}, False),  # said explicitly
        ({"TXMON_CONSOLE_SECURE_COOKIES": "true"}, True),  # a local TLS proxy in front
    ],
)
def test_secure_cookies_are_on_outside_local_development(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], secure: bool
) -> None:
    for name in ("TXMON_CONSOLE_HOST", "TXMON_CONSOLE_TLS_CERT", "TXMON_CONSOLE_SECURE_COOKIES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.console_secure() is secure
    if "TXMON_CONSOLE_SECURE_COOKIES" not in env:
        assert settings.console_is_local() is not secure
    if "TXMON_CONSOLE_TLS_CERT" in env:
        assert settings.console_tls_cert == Path(env["TXMON_CONSOLE_TLS_CERT"])
