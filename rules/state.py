"""Per-account state that rules need from earlier batches: what it holds, and its bounds.

State is bounded: a handful of devices and countries per account, never a list
that grows with the number of events. ``streams`` stores it (one packed record
per account); this module says what it holds, each fact (``rules.facts``) how a batch
changes the fields it owns.
"""

from __future__ import annotations

import msgspec

MAX_DEVICES = 8
MAX_COUNTRIES = 8
HOUR_MS = 3_600_000
# R8: payers remembered per account, and for how long; money in/out kept in hourly buckets.
MAX_PAYERS = 32
PAYER_RETENTION_MS = 72 * HOUR_MS
# R8: the newest incoming transfers (time, payer) per account, kept as long as payers, so the
# payers' 24 h window can be anchored on the inflow anywhere inside the 48 h flow window.
MAX_INFLOWS = 64
# An inflow whose amount was not kept (recorded before amounts were): it counts as a payment of
# any size, as every inflow counted before.
UNKNOWN_VND = -1
FLOW_RETENTION_H = 72
# R8: the (payee, Vietnamese day) pairs of the account's transfers, so a sweep to a payee the
# account has paid on earlier days is told from a mule's forwarding to a fresh account: at most
# MAX_PAID_DAYS of them (the newest days), within PAID_RETENTION_DAYS of the newest.
MAX_PAID_DAYS = 64
PAID_RETENTION_DAYS = 35
# R8, R15: the account's transfers that either rule can count (time, payee, amount): those to a
# payee paid on an earlier day (R8 does not count money swept to an established payee as passed
# on) and those of LARGE_OUTFLOW_VND or more (R15 counts large transfers to new payees; its
# amounts cannot be set lower). The newest MAX_OUTFLOWS within FLOW_RETENTION_H of the latest
# to arrive; a small payment to a new payee, most of a customer's, is not kept.
MAX_OUTFLOWS = 64
LARGE_OUTFLOW_VND = 1_000_000
# R9: incoming transfers from listed accounts remembered per account, and for how long.
MAX_TAINTED = 16
TAINTED_RETENTION_MS = 90 * 24 * HOUR_MS
# R6b: accounts kept per foreign IP (shared across workers, in Redis), and for how long.
MAX_IP_ACCOUNTS = 64
IP_RETENTION_MS = 7 * 24 * HOUR_MS
# Money events (transfers in and out) whose id hashes are kept, so a bank's resend is not counted
# twice: every one within RESEND_HORIZON_MS (event time) of the account's newest money event, at
# most MAX_APPLIED of them (the newest). Redelivery after a crash needs none of this: it is
# recognised by the input offsets (``offsets``).
MAX_APPLIED = 512
RESEND_HORIZON_MS = 72 * HOUR_MS


# gc=False: only strings, ints, and lists/dicts of them; no cycles for the collector to find.
class AccountState(msgspec.Struct, array_like=True, kw_only=True, gc=False):
    """What earlier events of one account left behind (compact msgpack array)."""

    last_transfer_device: str | None = None
    # Devices seen on this account, most recent last.
    known_devices: list[str] = msgspec.field(default_factory=list)
    # Latest biometric result per device: +ts_ms when matched, -ts_ms when not.
    bio: dict[str, int] = msgspec.field(default_factory=dict)
    otp_change_ms: int = 0
    countries: list[str] = msgspec.field(default_factory=list)
    last_transfer_ms: int = 0
    # A biometric match came after the last OTP-phone change (R2 needs order, not clocks).
    otp_confirmed: bool = False
    # Last login from a device the account had never used (R12).
    new_device_login_ms: int = 0
    # R1: the Vietnamese calendar day of the last transfer, that day's outgoing total, last face match.
    day: int = -1
    day_total: int = 0
    bio_match_ms: int = 0
    # R4: expiry (day number) of the latest ID document on record, -1 when none is known.
    id_expires_day: int = -1
    # Retired (no longer written or read: device trust now follows ``bio``, the latest result per
    # device); kept so that packed states keep their positional layout.
    bio_since_transfer: list[str] = msgspec.field(default_factory=list)
    # R10: how many transfers the account made and their total (its usual amount is the mean).
    transfer_count: int = 0
    transfer_sum: int = 0
    # R8: payers of incoming transfers -> time of their latest one (newest MAX_PAYERS kept),
    # and money in / out per hour for the last FLOW_RETENTION_H hours, as three parallel
    # lists in hour order (flat lists: no small container per hour to allocate or pack).
    payers: dict[str, int] = msgspec.field(default_factory=dict)
    flow_hour: list[int] = msgspec.field(default_factory=list)
    flow_in: list[int] = msgspec.field(default_factory=list)
    flow_out: list[int] = msgspec.field(default_factory=list)
    # R9: times of incoming transfers from listed accounts (newest MAX_TAINTED kept).
    tainted_ms: list[int] = msgspec.field(default_factory=list)
    # Id hashes of the money events applied here within the resend horizon, with their event
    # times (parallel lists): a bank's resend in a later batch is skipped.
    applied: list[int] = msgspec.field(default_factory=list)
    # R8: the newest incoming transfers (at most MAX_INFLOWS, within PAYER_RETENTION_MS of the
    # newest), as parallel lists in arrival order: time and payer account.
    inflow_ms: list[int] = msgspec.field(default_factory=list)
    inflow_from: list[str] = msgspec.field(default_factory=list)
    # Input partition -> offset of the last event of this account applied here. Written with the
    # state in one atomic write, so an event at or below it (redelivered after a crash) is skipped.
    offsets: dict[int, int] = msgspec.field(default_factory=dict)
    applied_ms: list[int] = msgspec.field(default_factory=list)
    # R8: distinct (payee account, Vietnamese day number) pairs of the account's transfers, as
    # parallel lists (bounded by MAX_PAID_DAYS and PAID_RETENTION_DAYS): an "established payee"
    # is one paid on earlier days, before the inflow window.
    paid_to: list[str] = msgspec.field(default_factory=list)
    paid_day: list[int] = msgspec.field(default_factory=list)
    # R8, R15: the account's transfers to a payee paid on an earlier day or of LARGE_OUTFLOW_VND
    # or more, as parallel lists in arrival order (time, payee, amount; MAX_OUTFLOWS,
    # FLOW_RETENTION_H); with ``paid_*`` they tell sweeps to an established payee (R8) and large
    # transfers to new payees (R15).
    outflow_ms: list[int] = msgspec.field(default_factory=list)
    outflow_to: list[str] = msgspec.field(default_factory=list)
    outflow_vnd: list[int] = msgspec.field(default_factory=list)
    # R8: the amount of each of ``inflow_ms``'s transfers (parallel; a record written before
    # amounts were kept has fewer: its oldest inflows' amounts are unknown, ``UNKNOWN_VND``).
    inflow_vnd: list[int] = msgspec.field(default_factory=list)
