"""A hold's legal clock: the 24-hour hold and the limit at the end of the 4th business day.

Business days are Monday to Friday on Hanoi's calendar; the day the hold was
placed is day 0, so a hold placed on a Friday may last until Thursday 24:00.

>>> from datetime import datetime, UTC
>>> business_day_limit(datetime(2026, 11, 27, 9, 0, tzinfo=UTC)).isoformat()  # Friday
'2026-12-03T17:00:00+00:00'
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from rules.text import VN_TZ

BUSINESS_DAYS = 4
# Highlight a case this long before its deadline.
WARN_BEFORE_EXPIRY_S = 2 * 3600
WARN_BEFORE_LIMIT_S = 12 * 3600


def business_day_limit(placed_at: datetime, days: int = BUSINESS_DAYS) -> datetime:
    """Midnight (Hanoi) at the end of the ``days``-th business day after the one it was placed on."""
    day = placed_at.astimezone(VN_TZ).date()
    left = days
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=VN_TZ)
    return end.astimezone(UTC)


def clock(
    opened_at: datetime | None, expires_at: datetime | None, limit_at: datetime | None, now: datetime
) -> dict[str, object]:
    """What the queue shows: time open, time left on the hold and to the legal limit, and warnings."""
    left = int((expires_at - now).total_seconds()) if expires_at else None
    to_limit = int((limit_at - now).total_seconds()) if limit_at else None
    return {
        "open_s": max(int((now - opened_at).total_seconds()), 0) if opened_at else None,
        "hold_left_s": left,
        "limit_left_s": to_limit,
        "hold_warning": left is not None and left < WARN_BEFORE_EXPIRY_S,
        "limit_warning": to_limit is not None and to_limit < WARN_BEFORE_LIMIT_S,
    }
