"""An account's state stays bounded however many events it has, and packs to its record and back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import numpy as np
import orjson
import pytest

from rules.config import load_ruleset
from rules.engine import RuleEngine
from rules.state import MAX_COUNTRIES, MAX_DEVICES, SCALARS, AccountLists, AccountView, States
from rules.state_codec import STATE_CODEC
from streams.codec import to_columns
from streams.events import decode_event

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
COUNTRIES = ["VN", "US", "KH", "CN", "TH", "SG", "JP", "KR", "FR", "DE", "GB", "AU"]


class OctetGeo:
    """The first octet of the address indexes ``COUNTRIES``."""

    def countries(self, ips: Sequence[str | None]) -> np.ndarray:
        return np.array([COUNTRIES[int(ip.split(".")[0])] if ip else "" for ip in ips], dtype="<U2")


ENGINE = RuleEngine(load_ruleset(), OctetGeo())


def ev(kind: str, i: int, **fields: Any) -> dict[str, Any]:
    ts = (T0 + timedelta(seconds=i)).isoformat()
    return {"type": kind, "event_id": f"{kind}-{i}", "account_id": "A", "ts": ts, **fields}


def busy_account(n_devices: int, n_countries: int) -> list[dict[str, Any]]:
    """Per device: a binding, a biometric (every third one fails), a login and a transfer from a country."""
    events = []
    for d in range(n_devices):
        device, ip = f"dev{d}", f"{d % n_countries}.1.1.1"
        result = "not_matched" if d % 3 == 2 else "matched"
        events += [
            ev("device_binding", 4 * d, device_id=device),
            ev("biometric_verification", 4 * d + 1, device_id=device, result=result),
            ev("login", 4 * d + 2, device_id=device, ip=ip),
            ev("transfer", 4 * d + 3, device_id=device, ip=ip, amount=1_000, dest_account="B", dest_bank="VCB"),
        ]
    return events


def run(batches: list[list[dict[str, Any]]]) -> AccountView:
    state = States.empty(1)
    for events in batches:
        batch = to_columns([decode_event(orjson.dumps(e)) for e in events])
        result = ENGINE.evaluate(batch, state)
        assert result.errors == {}
        state = STATE_CODEC.decode(STATE_CODEC.encode(result.states))
    view = state[0]
    assert view is not None
    return view


def _one_batch(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [events]


def _one_per_batch(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [[e] for e in events]


def _chunks_of_7(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [events[i : i + 7] for i in range(0, len(events), 7)]


@pytest.mark.parametrize("batching", [_one_batch, _one_per_batch, _chunks_of_7])
@pytest.mark.parametrize(("n_devices", "n_countries"), [(3, 2), (MAX_DEVICES, MAX_COUNTRIES), (40, len(COUNTRIES))])
def test_state_is_bounded_and_keeps_the_most_recent(batching: Any, n_devices: int, n_countries: int) -> None:
    state = run(batching(busy_account(n_devices, n_countries)))
    devices = [f"dev{d}" for d in range(n_devices)]
    countries = list(dict.fromkeys(COUNTRIES[d % n_countries] for d in range(n_devices)))  # first-use order
    # Most recent last; the oldest are forgotten first.
    assert state.known_devices == devices[-MAX_DEVICES:]
    assert len(state.bio) <= MAX_DEVICES and set(state.bio) == set(devices[-MAX_DEVICES:])
    assert len(state.countries) <= MAX_COUNTRIES
    last_used = sorted(countries, key=lambda c: max(d for d in range(n_devices) if COUNTRIES[d % n_countries] == c))
    assert state.countries == last_used[-MAX_COUNTRIES:]
    assert state.last_transfer_device == devices[-1]
    last = n_devices - 1
    matched = last % 3 != 2
    assert state.bio[devices[-1]] == (1 if matched else -1) * int(
        (T0 + timedelta(seconds=4 * last + 1)).timestamp() * 1000
    )


def test_bounds_hold_for_devices_that_only_verify() -> None:
    events = [ev("biometric_verification", i, device_id=f"dev{i}", result="matched") for i in range(3 * MAX_DEVICES)]
    state = run([events])
    assert list(state.bio) == [f"dev{i}" for i in range(2 * MAX_DEVICES, 3 * MAX_DEVICES)]
    assert state.known_devices == list(state.bio)


def test_the_latest_result_per_device_is_kept_and_a_failed_match_withdraws_one() -> None:
    events = [
        ev("biometric_verification", 0, device_id="a", result="matched"),
        ev("biometric_verification", 1, device_id="b", result="matched"),
        ev("transfer", 2, device_id="a", amount=1_000, dest_account="B", dest_bank="VCB"),
        ev("biometric_verification", 3, device_id="c", result="matched"),
        ev("biometric_verification", 4, device_id="d", result="matched"),
        ev("biometric_verification", 5, device_id="d", result="not_matched"),
    ]
    for batches in (_one_batch(events), _one_per_batch(events), [events[:3], events[3:]]):
        state = run(batches)
        assert [d for d, t in state.bio.items() if t > 0] == ["a", "b", "c"]
        assert state.last_transfer_device == "a" and set(state.bio) == {"a", "b", "c", "d"} and state.bio["d"] < 0


def test_otp_confirmation_follows_event_order() -> None:
    otp = ev("otp_phone_change", 10, new_phone="09x")
    match = ev("biometric_verification", 10, device_id="a", result="matched")
    assert run([[match, otp]]).otp_confirmed is False
    assert run([[otp, match]]).otp_confirmed is True
    assert run([[otp], [match]]).otp_confirmed is True
    assert run([[match], [otp]]).otp_confirmed is False
    assert run([[otp, match]]).otp_change_ms == int((T0 + timedelta(seconds=10)).timestamp() * 1000)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        run([busy_account(MAX_DEVICES + 3, len(COUNTRIES))]).fields(),
        dict(
            last_transfer_device="đt-Nguyễn",
            known_devices=["x", "đt-Nguyễn"],
            bio={"x": -1_795_831_200_000, "đt-Nguyễn": 1_795_831_260_000},
            otp_change_ms=1_795_831_000_000,
            countries=["VN", "US"],
            last_transfer_ms=1_795_831_300_000,
            otp_confirmed=True,
            new_device_login_ms=1_795_831_100_000,
            day=20_785,
            day_total=10**15,
            bio_match_ms=1_795_831_260_000,
            inflow_ms=[1_795_831_000_000, 1_795_831_100_000],
            inflow_from=["0011223344", "Nguyễn-0099"],
        ),
    ],
    ids=["empty", "after a busy account", "every field set"],
)
def test_record_round_trip(fields: dict[str, Any]) -> None:
    states = States.of([fields])
    [record] = STATE_CODEC.encode(states)
    assert STATE_CODEC.decode([record])[0] == states[0]
    lists = record[2 + SCALARS.itemsize :]  # after the header and the fixed-width fields
    assert isinstance(msgspec.msgpack.decode(lists), list)  # array_like: compact, positional


def test_state_packed_by_an_older_version_decodes_with_defaults() -> None:
    """List fields are appended at the end, so lists written before one existed still decode."""
    full = msgspec.to_builtins(AccountLists(known_devices=["a"], applied=[7]))
    fields = AccountLists.__struct_fields__
    encode, decode = msgspec.msgpack.encode, msgspec.msgpack.Decoder(AccountLists).decode
    for kept in range(2, len(full)):
        old = decode(encode(full[:kept]))
        assert old.known_devices == ["a"]
        assert old.applied == ([] if kept <= fields.index("applied") else [7])
