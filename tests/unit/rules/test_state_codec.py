"""The stored form of account states is pinned: its bytes, its version, and the migration from
the unversioned msgpack records that txmon wrote before (``rules.state_codec``)."""

from __future__ import annotations

import msgspec
import pytest

from rules.state import AccountState
from rules.state_codec import MARKER, STATE_CODEC, VERSION, UnknownStateFormat

# Every field set, each to a value no other field has, so moving any two fields moves bytes.
EVERY_FIELD = AccountState(
    last_transfer_device="d1",
    known_devices=["d0", "d1"],
    bio={"d1": 11, "d0": -12},
    otp_change_ms=13,
    countries=["VN", "US"],
    last_transfer_ms=14,
    otp_confirmed=True,
    new_device_login_ms=15,
    day=16,
    day_total=17,
    bio_match_ms=18,
    id_expires_day=19,
    bio_since_transfer=["r"],
    transfer_count=20,
    transfer_sum=21,
    payers={"p1": 22},
    flow_hour=[23],
    flow_in=[24],
    flow_out=[25],
    tainted_ms=[26],
    applied=[27],
    inflow_ms=[28],
    inflow_from=["p1"],
    offsets={3: 29},
    applied_ms=[30],
    paid_to=["p2"],
    paid_day=[31],
    outflow_ms=[32],
    outflow_to=["p2"],
    outflow_vnd=[33],
    inflow_vnd=[34],
)
# The payload: a positional msgpack array of the 31 fields, in this order.
PAYLOAD = (
    "dc001fa2643192a26430a2643182a264310ba26430f40d92a2564ea255530ec30f1011121391a172141581a27031"
    "16911791189119911a911b911c91a2703181031d911e91a27032911f912091a2703291219122"
)
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
# What it held: every field but those added since (they read as their defaults).
BEFORE_AMOUNTS = msgspec.structs.replace(EVERY_FIELD, inflow_vnd=[])
BEFORE_OUTFLOWS = msgspec.structs.replace(BEFORE_AMOUNTS, outflow_ms=[], outflow_to=[], outflow_vnd=[])
BEFORE_VERSIONS = msgspec.structs.replace(BEFORE_OUTFLOWS, paid_to=[], paid_day=[])


def test_record_bytes_are_pinned() -> None:
    """A change here changes how every record in Redis reads: it needs a new VERSION and a
    migration in ``rules.state_codec``, never an edit of these bytes."""
    assert STATE_CODEC.encode([EVERY_FIELD]) == [bytes.fromhex("c104" + PAYLOAD)]
    assert STATE_CODEC.encode([AccountState()]) == [
        bytes.fromhex("c104dc001fc09080009000c200ff0000ff90000080909090909090908090909090909090")
    ]


def test_every_record_says_its_version() -> None:
    for record in STATE_CODEC.encode([AccountState(), EVERY_FIELD]):
        assert record[0] == MARKER and record[1] == VERSION == STATE_CODEC.version_of(record)


def test_pinned_bytes_decode_to_the_fields_they_were_written_from() -> None:
    assert STATE_CODEC.decode([bytes.fromhex("c104" + PAYLOAD)]) == [EVERY_FIELD]


@pytest.mark.parametrize(
    ("record", "version", "held"), [(VERSION_3, 3, BEFORE_AMOUNTS), (VERSION_2, 2, BEFORE_OUTFLOWS)], ids=["v3", "v2"]
)
def test_versioned_records_upgrade_without_loss(record: bytes, version: int, held: AccountState) -> None:
    assert STATE_CODEC.version_of(record) == version
    [old] = STATE_CODEC.decode([record])
    assert old == held
    [upgraded] = STATE_CODEC.encode([old])
    assert STATE_CODEC.version_of(upgraded) == VERSION == 4
    assert STATE_CODEC.decode([upgraded]) == [held]


def test_records_written_before_versions_upgrade_without_loss() -> None:
    """Read old on load, write new on save: the old record's every field survives."""
    assert STATE_CODEC.version_of(WRITTEN_BEFORE_VERSIONS) == 1
    [old] = STATE_CODEC.decode([WRITTEN_BEFORE_VERSIONS])
    assert old == BEFORE_VERSIONS
    [upgraded] = STATE_CODEC.encode([old])
    assert STATE_CODEC.version_of(upgraded) == VERSION
    assert STATE_CODEC.decode([upgraded]) == [BEFORE_VERSIONS]


def test_old_records_of_fewer_fields_still_upgrade() -> None:
    """The oldest records stop after ``bio_since_transfer`` (fields were appended since)."""
    short = bytes.fromhex("dc000da2643192a26430a2643182a264310ba26430f40d92a2564ea255530ec30f1011121391a172")
    [old] = STATE_CODEC.decode([short])
    assert old is not None
    assert old.bio == {"d1": 11, "d0": -12} and old.id_expires_day == 19 and old.bio_since_transfer == ["r"]
    assert old.applied == [] and old.offsets == {}
    assert STATE_CODEC.decode(STATE_CODEC.encode([old])) == [old]


def test_missing_records_are_unknown_accounts() -> None:
    assert STATE_CODEC.decode([None, bytes.fromhex("c104" + PAYLOAD)]) == [None, EVERY_FIELD]


def test_a_record_of_a_newer_version_is_refused_not_misread() -> None:
    with pytest.raises(UnknownStateFormat):
        STATE_CODEC.decode([bytes((MARKER, VERSION + 1)) + bytes.fromhex(PAYLOAD)])
