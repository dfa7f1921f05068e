"""Records → columns and dead letters: every valid type, every kind of bad input."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from rules.columns import KIND_CODE
from streams.codec import decode_records

BASE = {"event_id": "e1", "account_id": "A1", "ts": "2026-11-28T09:00:00+07:00"}
TRANSFER = {**BASE, "type": "transfer", "amount": 1_500_000, "dest_account": "B", "dest_bank": "VCB"}


def _one(event: dict[str, Any] | bytes | None, key: bytes | None = b"A1") -> Any:
    raw = event if isinstance(event, bytes) or event is None else orjson.dumps(event)
    return decode_records([raw], [key])


@pytest.mark.parametrize(
    ("event", "kind", "amount", "bio", "has_device"),
    [
        ({**BASE, "type": "login", "ip": "1.2.3.4"}, "login", 0, -1, False),
        (TRANSFER, "transfer", 1_500_000, -1, False),
        ({**BASE, "type": "otp_phone_change", "new_phone": "09x"}, "otp_phone_change", 0, -1, False),
        ({**BASE, "type": "device_binding", "device_id": "d"}, "device_binding", 0, -1, True),
        (
            {**BASE, "type": "biometric_verification", "device_id": "d", "result": "matched"},
            "biometric_verification",
            0,
            1,
            True,
        ),
        (
            {**BASE, "type": "biometric_verification", "device_id": "d", "result": "not_matched"},
            "biometric_verification",
            0,
            0,
            True,
        ),
        ({**BASE, "type": "id_document_change", "document_type": "cccd"}, "id_document_change", 0, -1, False),
    ],
)
def test_valid_events_become_rows(event: dict[str, Any], kind: str, amount: int, bio: int, has_device: bool) -> None:
    d = _one(event)
    assert d.dead == [] and len(d.batch) == 1
    assert d.batch.kind.tolist() == [KIND_CODE[kind]]
    assert d.batch.ts_ms.tolist() == [1_795_831_200_000]  # 09:00 +07:00 is 02:00 UTC
    assert d.batch.amount.tolist() == [amount] and d.batch.amount.dtype.kind == "i"
    assert d.batch.bio.tolist() == [bio]
    assert (d.batch.device.tolist() == [0]) is has_device


@pytest.mark.parametrize(
    ("raw", "reason", "detail"),
    [
        (b'{"type": "login", ', "malformed_json", "truncated"),
        (b"[1, 2]", "schema_violation", "Expected `object`"),
        (None, "malformed_json", "empty"),
        ({**TRANSFER, "ts": "2026-11-28T09:00:00"}, "schema_violation", "timezone"),
        ({**TRANSFER, "amount": 10.5}, "schema_violation", "$.amount"),
        ({**TRANSFER, "amount": -1}, "schema_violation", "$.amount"),
        ({**TRANSFER, "amount": 10**15 + 1}, "schema_violation", "$.amount"),
        ({**TRANSFER, "type": "wire"}, "schema_violation", "$.type"),
        ({k: v for k, v in TRANSFER.items() if k != "dest_bank"}, "schema_violation", "dest_bank"),
        (
            {**BASE, "type": "biometric_verification", "device_id": "d", "result": "maybe"},
            "schema_violation",
            "$.result",
        ),
    ],
)
def test_bad_records_are_dead_letters_with_a_reason(raw: Any, reason: str, detail: str) -> None:
    d = _one(raw)
    assert len(d.batch) == 0
    assert [(x.index, x.reason) for x in d.dead] == [(0, reason)]
    assert detail in d.dead[0].detail


def test_key_must_be_the_account() -> None:
    d = _one(TRANSFER, key=b"OTHER")
    assert [x.reason for x in d.dead] == ["key_mismatch"]
    assert len(_one(TRANSFER, key=None).batch) == 1  # unkeyed records are accepted


def test_bad_records_do_not_disturb_their_neighbours() -> None:
    good2 = {**TRANSFER, "event_id": "e2"}
    d = decode_records([orjson.dumps(TRANSFER), b"{", orjson.dumps(good2)], [b"A1", b"A1", b"A1"])
    assert d.batch.event_id == ["e1", "e2"] and d.rows == [0, 2]
    assert [(x.index, x.reason) for x in d.dead] == [(1, "malformed_json")]


def test_a_resent_event_in_one_batch_is_judged_once() -> None:
    d = decode_records([orjson.dumps(TRANSFER)] * 3, [b"A1"] * 3)
    assert len(d.batch) == 1 and d.duplicates == 2
