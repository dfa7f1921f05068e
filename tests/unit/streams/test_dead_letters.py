"""Dead letters always fit: truncated with their source and original size when too large."""

from __future__ import annotations

from streams.dead_letters import dead_letter_record, size_of, stub_record

LIMIT = 1_000_000


def test_a_small_record_is_copied_whole() -> None:
    value, key, headers = dead_letter_record(b'{"type":', b"A1", "malformed_json", "truncated", "in/3/17", limit=LIMIT)
    h = dict(headers)
    assert value == b'{"type":' and key == b"A1"
    assert h["txmon-reason"] == b"malformed_json" and h["txmon-source"] == b"in/3/17"
    assert "txmon-truncated" not in h


def test_a_record_near_the_broker_limit_is_truncated_to_fit() -> None:
    raw = b"x" * 1_048_000  # under Kafka's 1,048,588 bytes, over it with a long error header
    value, key, headers = dead_letter_record(raw, b"A1", "oversized", "e" * 5_000, "in/0/9", limit=LIMIT)
    h = dict(headers)
    assert size_of(value, key, headers) <= LIMIT
    assert raw.startswith(value) and len(value) > LIMIT - 5_000
    assert h["txmon-truncated"] == b"true" and h["txmon-original-size"] == b"1048000"
    assert len(h["txmon-error"]) == 2_000 and h["txmon-source"] == b"in/0/9"


def test_a_garbage_key_is_cut() -> None:
    _, key, headers = dead_letter_record(b"{}", b"k" * 10_000, "key_mismatch", "", "in/0/1", limit=LIMIT)
    assert key == b"k" * 256 and dict(headers)["txmon-key-truncated"] == b"true"


def test_the_stub_carries_only_where_and_why() -> None:
    value, key, headers = stub_record(b"A1", "oversized", "in/2/5", 2_000_000)
    h = dict(headers)
    assert value == b"" and key == b"A1" and h["txmon-original-size"] == b"2000000"
    assert h["txmon-reason"] == b"oversized" and h["txmon-source"] == b"in/2/5"
