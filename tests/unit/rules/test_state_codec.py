"""The stored form of account states is pinned: its bytes, its version, and the migration from
every msgpack record format txmon wrote before (``rules.state_codec``)."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from rules.state import FIELDS, States
from rules.state_codec import MARKER, STATE_CODEC, VERSION, UnknownStateFormat

# Every field set, each to a value no other field has, so moving any two fields moves bytes.
EVERY_FIELD: dict[str, Any] = {
    "last_transfer_device": "d1",
    "known_devices": ["d0", "d1"],
    "bio": {"d1": 11, "d0": -12},
    "otp_change_ms": 13,
    "countries": ["VN", "US"],
    "last_transfer_ms": 14,
    "otp_confirmed": True,
    "new_device_login_ms": 15,
    "day": 16,
    "day_total": 17,
    "bio_match_ms": 18,
    "id_expires_day": 19,
    "transfer_count": 20,
    "transfer_sum": 21,
    "payers": {"p1": 22},
    "flow_hour": [23],
    "flow_in": [24],
    "flow_out": [25],
    "tainted_ms": [26],
    "applied": [27],
    "inflow_ms": [28],
    "inflow_from": ["p1"],
    "offsets": {3: 29},
    "applied_ms": [30],
    "paid_to": ["p2"],
    "paid_day": [31],
    "outflow_ms": [32],
    "outflow_to": ["p2"],
    "outflow_vnd": [33],
    "inflow_vnd": [34],
}
# Version 5: the header, then the fixed-width fields in ``rules.state.SCALARS`` order (ten
# little-endian int64, then the country slots: each ISO code's two characters as 16 bits each in a
# little-endian uint32, left-aligned, 0 empty), then the lists as a positional msgpack array of
# ``AccountLists``' 19 fields.
SCALARS_OF_EVERY_FIELD = struct.pack("<10q", 13, 1, 18, 14, 15, 16, 17, 19, 20, 21) + struct.pack(
    "<8I", ord("V") << 16 | ord("N"), ord("U") << 16 | ord("S"), 0, 0, 0, 0, 0, 0
)
LISTS_OF_EVERY_FIELD = (
    "dc0013a2643192a26430a2643182a264310ba26430f481a2703116911791189119911a911b911e81031d911c"
    "91a27031912291a27032911f912091a270329121"
)
EMPTY = bytes.fromhex("c105") + struct.pack("<10q", 0, 0, 0, 0, 0, -1, 0, -1, 0, 0) + bytes(32)
EMPTY_LISTS = "dc0013c0908080909090909090809090909090909090"

# ``EVERY_FIELD`` (and a retired field, ``bio_since_transfer``: ["r"]) as a version-4 record,
# txmon's format until 2026-12-03 (code at 4b99d4b): a positional msgpack array of 31 fields.
PAYLOAD = (
    "dc001fa2643192a26430a2643182a264310ba26430f40d92a2564ea255530ec30f1011121391a172141581a27031"
    "16911791189119911a911b911c91a2703181031d911e91a27032911f912091a2703291219122"
)
VERSION_4 = bytes.fromhex("c104" + PAYLOAD)

# ``EVERY_FIELD`` as a version-3 record (30 fields, before R8's ``inflow_vnd``), as txmon wrote it
# from 2026-12-03 (code at 51a69f5): what a deployment of that code holds in Redis.
VERSION_3 = bytes.fromhex(
    "c103dc001ea2643192a26430a2643182a264310ba26430f40d92a2564ea255530ec30f1011121391a172141581a27031"
    "16911791189119911a911b911c91a2703181031d911e91a27032911f912091a270329121"
)
# ``EVERY_FIELD`` as a version-2 record (27 fields, before R8's ``outflow_*``), as txmon wrote it
# from 2026-12-02: what a deployment of that code holds in Redis.
VERSION_2 = bytes.fromhex(
    "c102dc001ba2643192a26430a2643182a264310ba26430f40d92a2564ea255530ec30f1011121391a172141581a27031"
    "16911791189119911a911b911c91a2703181031d911e91a27032911f"
)
# ``EVERY_FIELD`` as txmon stored it before records had a version (``msgspec.msgpack.encode``
# of ``AccountState`` at commit da931f3, 25 fields, before R8's ``paid_to`` / ``paid_day``):
# what a running deployment holds in Redis today.
WRITTEN_BEFORE_VERSIONS = bytes.fromhex(
    "dc0019a2643192a26430a2643182a264310ba26430f40d92a2564ea255530ec30f1011121391a1721415"
    "81a2703116911791189119911a911b911c91a2703181031d911e"
)
# What each held: every field but those added since (they read as their defaults).
BEFORE_AMOUNTS = EVERY_FIELD | {"inflow_vnd": []}
BEFORE_OUTFLOWS = BEFORE_AMOUNTS | {"outflow_ms": [], "outflow_to": [], "outflow_vnd": []}
BEFORE_VERSIONS = BEFORE_OUTFLOWS | {"paid_to": [], "paid_day": []}


def _fields(record: bytes) -> dict[str, Any]:
    view = STATE_CODEC.decode([record])[0]
    assert view is not None
    return view.fields()


def test_record_bytes_are_pinned() -> None:
    """A change here changes how every record in Redis reads: it needs a new VERSION and a
    migration in ``rules.state_codec``, never an edit of these bytes."""
    [record] = STATE_CODEC.encode(States.of([EVERY_FIELD]))
    assert record == bytes.fromhex("c105") + SCALARS_OF_EVERY_FIELD + bytes.fromhex(LISTS_OF_EVERY_FIELD)
    assert STATE_CODEC.encode(States.of([{}])) == [EMPTY + bytes.fromhex(EMPTY_LISTS)]


def test_every_field_is_in_the_pinned_record() -> None:
    assert set(EVERY_FIELD) == set(FIELDS)


def test_every_record_says_its_version() -> None:
    for record in STATE_CODEC.encode(States.of([{}, EVERY_FIELD])):
        assert record[0] == MARKER and record[1] == VERSION == STATE_CODEC.version_of(record) == 5


def test_pinned_bytes_decode_to_the_fields_they_were_written_from() -> None:
    assert _fields(bytes.fromhex("c105") + SCALARS_OF_EVERY_FIELD + bytes.fromhex(LISTS_OF_EVERY_FIELD)) == EVERY_FIELD


@pytest.mark.parametrize(
    ("record", "version", "held"),
    [
        (VERSION_4, 4, EVERY_FIELD),
        (VERSION_3, 3, BEFORE_AMOUNTS),
        (VERSION_2, 2, BEFORE_OUTFLOWS),
        (WRITTEN_BEFORE_VERSIONS, 1, BEFORE_VERSIONS),
    ],
    ids=["v4", "v3", "v2", "v1"],
)
def test_msgpack_records_upgrade_without_loss(record: bytes, version: int, held: dict[str, Any]) -> None:
    """Read old on load, write new on save: every field the old record held survives."""
    assert STATE_CODEC.version_of(record) == version
    old = STATE_CODEC.decode([record])
    assert old[0] is not None and old[0].fields() == held
    [upgraded] = STATE_CODEC.encode(old)
    assert STATE_CODEC.version_of(upgraded) == VERSION
    assert _fields(upgraded) == held


def test_a_batch_mixing_formats_reads_each_record_by_its_own() -> None:
    """A deployment mid-upgrade: some accounts saved since (version 5), some not."""
    new = STATE_CODEC.encode(States.of([EVERY_FIELD | {"day_total": 99}]))[0]
    states = STATE_CODEC.decode([VERSION_3, None, new, WRITTEN_BEFORE_VERSIONS, new])
    assert [s.fields() if s is not None else None for s in states] == [
        BEFORE_AMOUNTS,
        None,
        EVERY_FIELD | {"day_total": 99},
        BEFORE_VERSIONS,
        EVERY_FIELD | {"day_total": 99},
    ]
    assert states.column("day_total").tolist() == [17, 0, 99, 17, 99]


def test_old_records_of_fewer_fields_still_upgrade() -> None:
    """The oldest records stop after ``bio_since_transfer`` (fields were appended since)."""
    short = bytes.fromhex("dc000da2643192a26430a2643182a264310ba26430f40d92a2564ea255530ec30f1011121391a172")
    old = STATE_CODEC.decode([short])
    view = old[0]
    assert view is not None
    assert view.bio == {"d1": 11, "d0": -12} and view.id_expires_day == 19 and view.day_total == 17
    assert view.applied == [] and view.offsets == {} and view.transfer_count == 0
    assert _fields(STATE_CODEC.encode(old)[0]) == view.fields()


def test_missing_records_are_unknown_accounts() -> None:
    states = STATE_CODEC.decode([None, VERSION_4])
    assert states[0] is None and states.lists[0] is None
    assert states.column("day").tolist() == [-1, 16] and states.column("id_expires_day").tolist() == [-1, 19]


@pytest.mark.parametrize("version", [VERSION + 1, 0xFF])
def test_a_record_of_a_newer_version_is_refused_not_misread(version: int) -> None:
    with pytest.raises(UnknownStateFormat):
        STATE_CODEC.decode([bytes((MARKER, version)) + bytes.fromhex(PAYLOAD)])
