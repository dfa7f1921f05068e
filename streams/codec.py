"""Kafka records in, numpy columns and dead letters out.

Bad input is a value, not an exception: every record either becomes a row of
the ``EventBatch`` or a ``DeadLetter`` with its original bytes and a reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import msgspec
import numpy as np

from rules.columns import KIND_CODE, EventBatch, factorize
from streams.events import BiometricVerification, Event, IdDocumentChange, IncomingTransfer, Transfer, decode_event

_KIND_OF = {cls: KIND_CODE[cls.__struct_config__.tag] for cls in Event.__args__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    index: int  # position of the record in the input batch
    reason: str  # machine-readable: malformed_json, schema_violation, key_mismatch
    detail: str  # human-readable


@dataclass(frozen=True, slots=True)
class Decoded:
    batch: EventBatch
    rows: list[int]  # row -> position of the record in the input batch
    dead: list[DeadLetter]
    duplicates: int  # records whose event_id already came earlier in the batch


def decode_records(values: Sequence[bytes | None], keys: Sequence[bytes | None]) -> Decoded:
    events: list[Event] = []
    rows: list[int] = []
    dead: list[DeadLetter] = []
    seen: set[str] = set()
    duplicates = 0
    for i, raw in enumerate(values):
        if raw is None:
            dead.append(DeadLetter(i, "malformed_json", "empty record value"))
            continue
        try:
            event = decode_event(raw)
        except msgspec.ValidationError as exc:
            dead.append(DeadLetter(i, "schema_violation", str(exc)))
            continue
        except msgspec.DecodeError as exc:
            dead.append(DeadLetter(i, "malformed_json", str(exc)))
            continue
        key = keys[i]
        if key is not None and key != event.account_id.encode():
            # Ordering per account relies on the key; a wrong key would split an account.
            msg = f"record key {key!r} is not the event's account_id {event.account_id!r}"
            dead.append(DeadLetter(i, "key_mismatch", msg))
            continue
        if event.event_id in seen:  # a resend inside one batch: judge the event once
            duplicates += 1
            continue
        seen.add(event.event_id)
        events.append(event)
        rows.append(i)
    return Decoded(batch=to_columns(events), rows=rows, dead=dead, duplicates=duplicates)


def to_columns(events: Sequence[Event]) -> EventBatch:
    n = len(events)
    account, accounts = factorize([e.account_id for e in events])
    device, devices = factorize([e.device_id for e in events])
    return EventBatch(
        kind=np.fromiter((_KIND_OF[type(e)] for e in events), np.int8, n),
        ts_ms=np.fromiter((int(e.ts.timestamp() * 1000) for e in events), np.int64, n),
        account=account,
        accounts=accounts,
        device=device,
        devices=devices,
        ip=[e.ip for e in events],
        amount=np.fromiter((e.amount if type(e) in _MONEY else 0 for e in events), np.int64, n),  # type: ignore[union-attr]
        bio=np.fromiter(
            ((e.result == "matched") if type(e) is BiometricVerification else -1 for e in events), np.int8, n
        ),
        event_id=[e.event_id for e in events],
        events=events,
        dest=[_counterparty(e) for e in events],
        organisation=np.fromiter((e.account_type == "organisation" for e in events), np.bool_, n),
        internet=np.fromiter((e.channel == "internet" for e in events), np.bool_, n),
        id_expires_day=np.fromiter(
            (_day_number(e.expires_on) if type(e) is IdDocumentChange else -1 for e in events), np.int32, n
        ),
    )


_MONEY = (Transfer, IncomingTransfer)


def _counterparty(e: Event) -> str | None:
    t = type(e)
    if t is Transfer:
        return e.dest_account  # type: ignore[union-attr]
    if t is IncomingTransfer:
        return e.src_account  # type: ignore[union-attr]
    return None


def _day_number(iso_date: str | None) -> int:
    """Days since 1970-01-01 of a YYYY-MM-DD date; -1 when absent or not a real date."""
    if not iso_date:
        return -1
    try:
        return (date.fromisoformat(iso_date) - _EPOCH).days
    except ValueError:
        return -1


_EPOCH = date(1970, 1, 1)
