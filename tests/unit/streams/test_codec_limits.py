"""The codec's limits: nesting depth, record size, and event times too far from arrival."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from streams.codec import EventTimeBounds, decode_records

ARRIVAL = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
ARRIVAL_MS = int(ARRIVAL.timestamp() * 1000)
BOUNDS = EventTimeBounds.of_seconds(7 * 86_400, 300)
LOGIN = {"type": "login", "event_id": "e1", "account_id": "A1", "ts": "2026-11-28T09:00:00+07:00"}


def _decode(events: list[dict[str, Any] | bytes], **kw: Any) -> Any:
    raw = [e if isinstance(e, bytes) else orjson.dumps(e) for e in events]
    return decode_records(raw, [b"A1"] * len(raw), arrival_ms=[ARRIVAL_MS] * len(raw), bounds=BOUNDS, **kw)


@pytest.mark.parametrize("depth", [1_000, 5_000, 200_000])
def test_deeply_nested_json_is_malformed_not_a_crash(depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    in_unknown_field = orjson.dumps(LOGIN)[:-1] + b',"extra":' + nested + b"}"
    d = _decode([in_unknown_field, nested, orjson.dumps(LOGIN | {"event_id": "e2"})])
    assert [(x.index, x.reason) for x in d.dead] == [(0, "malformed_json"), (1, "schema_violation")]
    assert "nested too deeply" in d.dead[0].detail
    assert d.batch.event_id == ["e2"]


def test_moderate_nesting_in_an_unknown_field_is_ignored() -> None:
    raw = orjson.dumps(LOGIN)[:-1] + b',"extra":' + b"[" * 200 + b"]" * 200 + b"}"
    assert _decode([raw]).batch.event_id == ["e1"]


def test_an_oversized_record_is_rejected_before_decoding() -> None:
    big = orjson.dumps(LOGIN | {"padding": "x" * 70_000})
    d = _decode([big, orjson.dumps(LOGIN | {"event_id": "e2"})], max_bytes=64 * 1024)
    assert [(x.index, x.reason) for x in d.dead] == [(0, "oversized")]
    assert str(len(big)) in d.dead[0].detail and d.batch.event_id == ["e2"]


@pytest.mark.parametrize(
    ("ts", "accepted"),
    [
        ("0001-01-01T00:00:00Z", False),
        ("0001-01-01T00:00:00+07:00", False),  # before year 1 in UTC: outside datetime's range
        ("9999-12-31T23:59:59+07:00", False),
        ("9999-12-31T23:59:59-12:00", False),
        ("2099-01-01T09:00:00+07:00", False),
        ("2026-11-28T02:05:00Z", True),  # exactly the future bound
        ("2026-11-28T02:05:00.001Z", False),
        ("2026-11-21T02:00:00Z", True),  # exactly the age bound
        ("2026-11-21T01:59:59.999Z", False),
        ("2026-11-27T10:00:00+07:00", True),  # late: from yesterday
    ],
)
def test_event_times_too_far_from_arrival_are_dead_letters(ts: str, accepted: bool) -> None:
    d = _decode([LOGIN | {"ts": ts}, LOGIN | {"event_id": "e2"}])
    assert d.batch.event_id == (["e1", "e2"] if accepted else ["e2"])
    if not accepted:
        assert [(x.index, x.reason) for x in d.dead] == [(0, "event_time_out_of_range")]
        assert ts[:4] in d.dead[0].detail


def test_arrival_is_per_record() -> None:
    events = [LOGIN, LOGIN | {"event_id": "e2"}]
    raw = [orjson.dumps(e) for e in events]
    # the second record arrived 8 days after its event time
    arrival = [ARRIVAL_MS, ARRIVAL_MS + 8 * 86_400_000]
    d = decode_records(raw, [b"A1", b"A1"], arrival_ms=arrival, bounds=BOUNDS)
    assert d.batch.event_id == ["e1"] and [x.index for x in d.dead] == [1]
    assert "691,200 s before" in d.dead[0].detail


def test_a_history_file_is_bounded_by_received_at_where_it_has_one() -> None:
    """A back-test has no Kafka timestamps: ``received_at`` (when the bank's system got the
    event) is the arrival; an event without it is not bounded."""
    lines = [
        orjson.dumps(LOGIN | {"event_id": "ok", "received_at": "2026-11-28T02:00:01Z"}),
        orjson.dumps(LOGIN | {"event_id": "2099", "ts": "2099-01-01T00:00:00Z", "received_at": "2026-11-28T02:00:00Z"}),
        orjson.dumps(LOGIN | {"event_id": "unstamped", "ts": "2099-01-01T00:00:00Z"}),
    ]
    d = decode_records(lines, None, bounds=BOUNDS)
    assert d.batch.event_id == ["ok", "unstamped"]
    assert [(x.index, x.reason) for x in d.dead] == [(1, "event_time_out_of_range")]
