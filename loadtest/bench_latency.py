"""The bench's latency figures from what it sent and what the worker wrote.

An alert's latency is from the send of its (labelled) event to the alert's timestamp on the
alerts topic; a hold's is from the send of the earliest event among its alerts to the hold's
first message on the holds topic (when it was placed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Sequence

import orjson


def send_to_output(
    records: Sequence[tuple[bytes, bytes]],
    sent_at: Sequence[float],
    wanted: Collection[int],
    alerts: Sequence[tuple[int, bytes]],
    holds: Sequence[tuple[int, bytes]],
) -> tuple[list[float], list[float]]:
    """Send -> alert latencies of the ``wanted`` (labelled) rows, and send -> hold latencies (ms)."""
    event_sent: dict[str, tuple[float, bool]] = {}
    for i, (_, v) in enumerate(records):
        if b'"event_id"' in v:
            with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError):
                event_sent[orjson.loads(v)["event_id"]] = (sent_at[i], i in wanted)
    alert_lat: list[float] = []
    alert_sent: dict[str, float] = {}
    for stamp, value in alerts:
        alert = orjson.loads(value)
        sent, labelled = event_sent.get(alert["event_id"], (None, False))
        if sent is not None:
            alert_sent[alert["alert_id"]] = sent
            if labelled:
                alert_lat.append(stamp - sent)
    hold_lat: list[float] = []
    placed: set[str] = set()
    for stamp, value in holds:
        hold = orjson.loads(value)
        sends = [alert_sent[a] for a in hold["alert_ids"] if a in alert_sent]
        if hold["hold_id"] not in placed and sends:
            placed.add(hold["hold_id"])
            hold_lat.append(stamp - min(sends))
    return alert_lat, hold_lat


def quantiles(lat: list[float]) -> dict[str, float]:
    lat = sorted(lat)

    def q(p: float) -> float:
        return float(lat[min(len(lat) - 1, int(p * len(lat)))]) if lat else float("nan")

    return {"p50": q(0.50), "p95": q(0.95), "p99": q(0.99), "samples": len(lat)}
