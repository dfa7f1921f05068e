"""The bench's latency figures: send -> alert for labelled events, send -> hold from a hold's first message."""

from __future__ import annotations

import orjson

from loadtest.bench_latency import quantiles, send_to_output


def test_alert_and_hold_latencies_are_measured_from_the_sends() -> None:
    records = [(b"k", orjson.dumps({"event_id": e})) for e in ("e1", "e2", "e3")]
    sent_at = [1_000.0, 1_010.0, 1_020.0]
    alerts = [
        (1_030, orjson.dumps({"event_id": "e1", "alert_id": "A1"})),
        (1_050, orjson.dumps({"event_id": "e2", "alert_id": "A2"})),  # e2 is not labelled: no alert figure
        (1_060, orjson.dumps({"event_id": "unknown", "alert_id": "A9"})),
    ]
    holds = [
        (1_070, orjson.dumps({"hold_id": "H1", "alert_ids": ["A2", "A1"]})),
        (1_900, orjson.dumps({"hold_id": "H1", "alert_ids": ["A1"]})),  # a later status of the same hold
        (1_080, orjson.dumps({"hold_id": "H9", "alert_ids": ["A9"]})),  # no sent event behind it
    ]
    alert_lat, hold_lat = send_to_output(records, sent_at, {0, 2}, alerts, holds)
    assert alert_lat == [30.0]
    assert hold_lat == [70.0]


def test_quantiles_of_nothing_are_not_numbers() -> None:
    q = quantiles([])
    assert q["samples"] == 0 and q["p99"] != q["p99"]
    assert quantiles([float(x) for x in range(1, 101)])["p99"] == 100.0
