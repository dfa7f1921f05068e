"""Plain-words formatting for reasons and evidence (Vietnamese and English)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def vnd(amount: int) -> str:
    """An amount as Vietnamese write it, dots between thousands.

    >>> vnd(12500000)
    '12.500.000 VND'
    """
    return f"{amount:,}".replace(",", ".") + " VND"


def iso(ts_ms: int) -> str:
    """Event time in Vietnam's zone, ISO-8601 with offset."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).astimezone(VN_TZ).isoformat(timespec="seconds")


def duration_en(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def duration_vi(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} giây"
    if seconds < 7200:
        return f"{seconds // 60} phút"
    return f"{seconds // 3600} giờ"
