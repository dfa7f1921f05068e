"""TXMON_LOG_FORMAT: JSON lines with masked account numbers and URL passwords; text redacted alike."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from streams.logs import logging_config, redact
from streams.settings import Settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("applied to account 0912345678", "applied to account 09******78"),
        ("payee 9704229200001234567 blocked", "payee 97***************67 blocked"),
        ("redis://:s3cret@redis:6379/0 refused", "redis://:***@redis:6379/0 refused"),
        ("rediss://txmon:p%40ss@r1:6380", "rediss://txmon:***@r1:6380"),
        (
            "batch of 20000 failed (attempt 3) at t.events/0/1234567",
            "batch of 20000 failed (attempt 3) at t.events/0/1234567",
        ),
        ("ip 203.113.130.5 and rule R6b", "ip 203.113.130.5 and rule R6b"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def _emit(fmt: str, emit: object) -> str:
    stream = io.StringIO()
    config = logging_config(Settings(log_format=fmt, log_level="INFO"))  # type: ignore[arg-type]
    config["handlers"]["default"]["stream"] = stream
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(config)
        emit(logging.getLogger("streams.freeze"))  # type: ignore[operator]
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    return stream.getvalue()


def test_json_lines_one_object_per_event_with_masked_accounts() -> None:
    def emit(log: logging.Logger) -> None:
        log.info("police freeze request %s applied to account %s", "PR-1", "0912345678")
        try:
            raise ConnectionError("redis://:hunter2@10.0.0.5:6379 refused for 0987654321")
        except ConnectionError:
            log.exception("batch failed")
        log.debug("not at INFO")

    lines = _emit("json", emit).splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "info" and first["logger"] == "streams.freeze" and first["ts"].endswith("+00:00")
    assert first["event"] == "police freeze request PR-1 applied to account 09******78"
    assert (
        second["exc_type"] == "ConnectionError" and "hunter2" not in second["exc"] and "0987654321" not in second["exc"]
    )


def test_text_format_is_redacted_too() -> None:
    out = _emit("text", lambda log: log.warning("hold on %s", "0912345678"))
    assert "WARNING streams.freeze: hold on 09******78" in out and "0912345678" not in out
