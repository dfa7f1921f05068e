"""Dead letters as Kafka records: the rejected record's bytes, its key and why, always producible.

A record just under the broker's size limit, copied with its reason headers, can be over the
producer's ``max_request_size`` or the dead-letter topic's ``max.message.bytes``. Such a copy is
truncated to fit (headers ``txmon-truncated`` and ``txmon-original-size`` say so), so the worker
never retries a dead letter that can never be produced.

>>> v, k, h = dead_letter_record(b"x" * 5000, b"A1", "oversized", "too long", "in/0/7", limit=4096)
>>> len(v) < 5000, dict(h)["txmon-truncated"], dict(h)["txmon-original-size"]
(True, b'true', b'5000')
"""

from __future__ import annotations

from aiokafka.record.default_records import DefaultRecordBatchBuilder

Headers = list[tuple[str, bytes]]

MAX_DETAIL_BYTES = 2000
MAX_KEY_BYTES = 256  # a key is an account id (at most 64 characters): longer is garbage


def dead_letter_record(
    value: bytes | None, key: bytes | None, reason: str, detail: str, source: str, *, limit: int
) -> tuple[bytes, bytes | None, Headers]:
    """``(value, key, headers)`` of the dead letter of a record from ``source``
    (topic/partition/offset), at most ``limit`` bytes as the producer counts them."""
    raw = value or b""
    headers: Headers = [
        ("txmon-reason", reason.encode()),
        ("txmon-error", detail.encode()[:MAX_DETAIL_BYTES]),
        ("txmon-source", source.encode()),
    ]
    if key is not None and len(key) > MAX_KEY_BYTES:
        key = key[:MAX_KEY_BYTES]
        headers.append(("txmon-key-truncated", b"true"))
    if size_of(raw, key, headers) <= limit:
        return raw, key, headers
    headers += [("txmon-truncated", b"true"), ("txmon-original-size", str(len(raw)).encode())]
    room = max(limit - size_of(b"", key, headers) - 16, 0)  # 16: the value's length varint grows
    return raw[:room], key, headers


def stub_record(key: bytes | None, reason: str, source: str, original_size: int) -> tuple[bytes, bytes | None, Headers]:
    """The smallest dead letter: no value, only where the record was and why it was rejected
    (when even the truncated copy was refused, e.g. a topic limit smaller than configured)."""
    headers: Headers = [
        ("txmon-reason", reason.encode()),
        ("txmon-error", b"the dead-letter copy was refused by the broker as too large; see txmon-source"),
        ("txmon-source", source.encode()),
        ("txmon-truncated", b"true"),
        ("txmon-original-size", str(original_size).encode()),
    ]
    return b"", key[:MAX_KEY_BYTES] if key is not None else None, headers


def size_of(value: bytes, key: bytes | None, headers: Headers) -> int:
    """What the producer compares with its ``max_request_size`` (an upper bound of the record's
    size in a batch of its own)."""
    size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)  # type: ignore[arg-type]
    return size
