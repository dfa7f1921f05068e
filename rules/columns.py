"""A batch of events as numpy columns: what every rule evaluator reads.

The codec in ``streams`` builds it from decoded events; back-testing builds it
from a file. Strings (accounts, devices) are factorised to integer codes so
rules compare integers, not strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

# Event type codes, in the order of streams.events.EVENT_TYPES.
LOGIN, TRANSFER, OTP_PHONE_CHANGE, DEVICE_BINDING, BIOMETRIC, ID_DOCUMENT_CHANGE, INCOMING_TRANSFER = range(7)
KIND_NAMES = (
    "login",
    "transfer",
    "otp_phone_change",
    "device_binding",
    "biometric_verification",
    "id_document_change",
    "incoming_transfer",
)
KIND_CODE = {name: code for code, name in enumerate(KIND_NAMES)}
# Channel codes, in the order of streams.events.Channel; -1: the event names no channel.
CHANNELS = ("mobile", "internet", "counter", "atm", "pos", "api")
CHANNEL_CODE = {name: code for code, name in enumerate(CHANNELS)}

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Columns of one batch, one row per valid event, in arrival order.

    ``account`` and ``device`` index ``accounts`` / ``devices`` (-1: no device).
    ``bio`` is 1 for a matched biometric verification, 0 for not matched, -1
    for other event types. ``events`` keeps the decoded objects for evidence
    (empty when the caller needs none: back-tests carry only ``label``).
    """

    kind: I8
    ts_ms: I64
    account: I32
    accounts: list[str]
    device: I32
    devices: list[str]
    ip: list[str | None]
    amount: I64
    bio: I8
    event_id: list[str]
    events: Sequence[Any]
    # Counterparty account number: the payee of a transfer, the payer of an incoming
    # transfer (None for other types). ``amount`` is the amount of either (0 otherwise).
    dest: list[str | None] | None = None
    # Organisation accounts (R5), channel code (``CHANNELS``, -1: none; R5 and device trust),
    # ID expiry as a day number (R4, -1: none).
    organisation: Bools | None = None
    channel: I8 | None = None
    id_expires_day: I32 | None = None
    # Scenario labels (comma-separated rule ids) of labelled history, for back-test scoring.
    label: list[str | None] | None = None

    def __len__(self) -> int:
        return len(self.kind)

    def take(self, keep: Bools) -> EventBatch:
        """The rows where ``keep`` is set; account and device codes stay the same."""
        rows = np.flatnonzero(keep).tolist()

        def pick(values: Sequence[Any] | None) -> list[Any] | None:
            return None if values is None else [values[r] for r in rows]

        def cut(column: Any) -> Any:
            return None if column is None else column[keep]

        return EventBatch(
            kind=self.kind[keep],
            ts_ms=self.ts_ms[keep],
            account=self.account[keep],
            accounts=self.accounts,
            device=self.device[keep],
            devices=self.devices,
            ip=[self.ip[r] for r in rows],
            amount=self.amount[keep],
            bio=self.bio[keep],
            event_id=[self.event_id[r] for r in rows],
            events=[self.events[r] for r in rows] if self.events else [],
            dest=pick(self.dest),
            organisation=cut(self.organisation),
            channel=cut(self.channel),
            id_expires_day=cut(self.id_expires_day),
            label=pick(self.label),
        )


def factorize(values: Sequence[str | None]) -> tuple[I32, list[str]]:
    """Map strings to dense codes in first-seen order; ``None`` becomes -1."""
    names = [v for v in dict.fromkeys(values) if v is not None]  # C loops, no per-item Python
    code: dict[str | None, int] = {v: i for i, v in enumerate(names)}
    code[None] = -1
    return np.fromiter(map(code.__getitem__, values), np.int32, len(values)), names
