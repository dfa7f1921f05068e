"""Records → columns and dead letters: every valid type, every kind of bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
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
    # The contract requires the account id as key: a record without one lands on any partition.
    d = _one(TRANSFER, key=None)
    assert len(d.batch) == 0 and [x.reason for x in d.dead] == ["missing_key"] and "A1" in d.dead[0].detail
    # A file has no keys at all (``keys=None``): nothing to check.
    assert len(decode_records([orjson.dumps(TRANSFER)]).batch) == 1


def test_bad_records_do_not_disturb_their_neighbours() -> None:
    good2 = {**TRANSFER, "event_id": "e2"}
    d = decode_records([orjson.dumps(TRANSFER), b"{", orjson.dumps(good2)], [b"A1", b"A1", b"A1"])
    assert d.batch.event_id == ["e1", "e2"] and d.rows == [0, 2]
    assert [(x.index, x.reason) for x in d.dead] == [(1, "malformed_json")]


def test_a_resent_event_in_one_batch_is_judged_once() -> None:
    d = decode_records([orjson.dumps(TRANSFER)] * 3, [b"A1"] * 3)
    assert len(d.batch) == 1 and d.duplicates == 2


def test_both_legs_of_one_reference_are_judged() -> None:
    """Core banking posts an intra-bank transfer as the payer's transfer and the payee's
    incoming transfer under one reference: event ids are unique per account, not globally."""
    payer: dict[str, Any] = {**TRANSFER, "event_id": "FT2611280001", "account_id": "A1", "dest_account": "B1"}
    payee: dict[str, Any] = {**BASE, "type": "incoming_transfer", "event_id": "FT2611280001", "account_id": "B1"} | {
        "amount": 1_500_000,
        "src_account": "A1",
        "src_bank": "OURBANK",
    }
    for order in ([payer, payee], [payee, payer]):
        d = decode_records([orjson.dumps(e) for e in order], [e["account_id"].encode() for e in order])
        assert d.dead == [] and d.duplicates == 0 and d.rows == [0, 1]
        assert sorted(d.batch.accounts) == ["A1", "B1"] and d.batch.event_id == ["FT2611280001"] * 2
    # ... while a resend of either leg is still one event.
    both = [payer, payee, payee, payer]
    d = decode_records([orjson.dumps(e) for e in both], [e["account_id"].encode() for e in both])
    assert d.rows == [0, 1] and d.duplicates == 2


def test_columns_of_a_mixed_batch() -> None:
    events: list[dict[str, Any]] = [
        {**TRANSFER, "event_id": "t1", "ts": "2026-11-28T09:00:00.123+07:00", "device_id": "d1", "ip": "8.8.8.8"},
        {**BASE, "event_id": "l1", "account_id": "A2", "type": "login", "ts": "2026-11-28T02:00:01Z"},
        {**BASE, "event_id": "b1", "type": "biometric_verification", "device_id": "d2", "result": "not_matched"},
        {**BASE, "event_id": "b2", "account_id": "A2", "type": "biometric_verification", "device_id": "d1"}
        | {"result": "matched"},
        {**TRANSFER, "event_id": "t2", "ts": "2026-11-28T10:00:00+08:00", "amount": 10**15},
    ]
    d = decode_records([orjson.dumps(e) for e in events], [e["account_id"].encode() for e in events])
    b = d.batch
    assert d.dead == [] and d.rows == [0, 1, 2, 3, 4] and len(b) == 5
    kinds = ["transfer", "login", "biometric_verification", "biometric_verification", "transfer"]
    assert b.kind.dtype == np.int8 and b.kind.tolist() == [KIND_CODE[k] for k in kinds]
    # UTC milliseconds, whatever offset the bank used.
    t0 = 1_795_831_200_000
    assert b.ts_ms.dtype == np.int64 and b.ts_ms.tolist() == [t0 + 123, t0 + 1_000, t0, t0, t0]
    assert b.amount.dtype == np.int64 and b.amount.tolist() == [1_500_000, 0, 0, 0, 10**15]
    assert b.bio.tolist() == [-1, -1, 0, 1, -1]
    assert b.accounts == ["A1", "A2"] and b.account.tolist() == [0, 1, 0, 1, 0]
    assert b.devices == ["d1", "d2"] and b.device.tolist() == [0, -1, 1, 0, -1]
    assert b.ip == ["8.8.8.8", None, None, None, None]
    assert b.dest == ["B", None, None, None, "B"] and b.event_id == ["t1", "l1", "b1", "b2", "t2"]


BAD = [
    ("malformed json", b'{"type": "transfer", "event_id"', b"A1", "malformed_json"),
    ("not utf-8", b"\xff\xfe{}", b"A1", "malformed_json"),
    ("None value", None, b"A1", "malformed_json"),
    ("naive ts", {**TRANSFER, "ts": "2026-11-28T09:00:00"}, b"A1", "schema_violation"),
    ("float amount", {**TRANSFER, "amount": 1_500_000.0}, b"A1", "schema_violation"),
    ("negative amount", {**TRANSFER, "amount": -5}, b"A1", "schema_violation"),
    ("zero amount", {**TRANSFER, "amount": 0}, b"A1", "schema_violation"),
    ("amount over 10^15", {**TRANSFER, "amount": 10**15 + 1}, b"A1", "schema_violation"),
    ("amount as a string", {**TRANSFER, "amount": "1500000"}, b"A1", "schema_violation"),
    ("unknown type", {**TRANSFER, "type": "withdrawal"}, b"A1", "schema_violation"),
    ("missing type", {k: v for k, v in TRANSFER.items() if k != "type"}, b"A1", "schema_violation"),
    ("missing account_id", {k: v for k, v in TRANSFER.items() if k != "account_id"}, b"A1", "schema_violation"),
    ("empty event_id", {**TRANSFER, "event_id": ""}, b"A1", "schema_violation"),
    ("key is another account", TRANSFER, b"A2", "key_mismatch"),
    ("key differs only in case", TRANSFER, b"a1", "key_mismatch"),
]


@pytest.mark.parametrize(("name", "raw", "key", "reason"), BAD, ids=[c[0] for c in BAD])
def test_a_bad_record_between_good_ones(name: str, raw: Any, key: bytes, reason: str) -> None:
    before = {**TRANSFER, "event_id": "before"}
    after = {**BASE, "type": "login", "event_id": "after", "device_id": "d"}
    value = raw if isinstance(raw, bytes) or raw is None else orjson.dumps(raw)
    d = decode_records([orjson.dumps(before), value, orjson.dumps(after)], [b"A1", key, b"A1"])
    assert [(x.index, x.reason) for x in d.dead] == [(1, reason)]
    assert d.dead[0].detail
    assert d.rows == [0, 2] and d.batch.event_id == ["before", "after"]
    assert d.batch.kind.tolist() == [KIND_CODE["transfer"], KIND_CODE["login"]]
    assert d.batch.amount.tolist() == [1_500_000, 0] and d.batch.device.tolist() == [-1, 0]


def test_dead_letters_keep_their_positions_in_a_long_batch() -> None:
    values: list[bytes | None] = []
    expected = []
    for i in range(30):
        good = orjson.dumps({**TRANSFER, "event_id": f"e{i}"})
        values.append([good, None, b"{", orjson.dumps({**TRANSFER, "amount": -1})][i % 4])
        if i % 4:
            expected.append((i, ["", "malformed_json", "malformed_json", "schema_violation"][i % 4]))
    d = decode_records(values, [b"A1"] * len(values))
    assert [(x.index, x.reason) for x in d.dead] == expected
    assert d.rows == list(range(0, 30, 4)) and d.batch.event_id == [f"e{i}" for i in range(0, 30, 4)]


def test_an_empty_batch() -> None:
    d = decode_records([], [])
    assert len(d.batch) == 0 and d.dead == [] and d.rows == [] and d.batch.accounts == []
