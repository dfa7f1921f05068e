"""Log output of every txmon process: plain text, or one JSON object per line (``TXMON_LOG_FORMAT=json``).

A JSON line has ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``event`` (the
message) and, for an exception, ``exc_type`` and ``exc``. Log messages never
need a full account number or a password, so both formats pass every message
through ``redact``: digit runs of account length keep only their first and
last two digits, and the password of a ``scheme://user:password@host`` URL is
replaced.

    >>> redact("hold on 0912345678 via redis://:s3cret@redis:6379/0")
    'hold on 09******78 via redis://:***@redis:6379/0'
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
from datetime import UTC, datetime
from typing import Any

from streams.settings import Settings

ACCOUNT = re.compile(r"(?<![\w.-])(\d{2})(\d{4,15})(\d{2})(?![\w.-])")
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def redact(text: str) -> str:
    text = URL_PASSWORD.sub(r"\1***@", text)
    return ACCOUNT.sub(lambda m: f"{m[1]}{'*' * len(m[2])}{m[3]}", text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": redact(record.getMessage()),
        }
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            line["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def logging_config(settings: Settings) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the format and level of ``settings`` (to stderr)."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"}
        if settings.log_format == "json"
        else {"()": f"{__name__}.RedactingFormatter", "format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"txmon": formatter},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "txmon", "stream": "ext://sys.stderr"}},
        "root": {"level": settings.log_level.upper(), "handlers": ["default"]},
    }


def configure_logging(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings))
