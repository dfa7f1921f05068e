"""R2, R3 and R6a per event, as the bench's hand-written baselines share them.

One account's state (:class:`Account`), the thresholds from ``load_ruleset()`` (:class:`ThreeRules`)
and the event contract's checks (:func:`decode`): ``baseline_loop`` keeps the accounts in a dict,
``baseline_quix`` in Quix Streams' per-key state and ``baseline_bytewax`` in a ``stateful_map``
keyed by account. Each raises ``(rule_id, event_id)`` pairs that ``loadtest.baselines.check``
compares with txmon's own engine restricted to these three rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from rules.columns import CHANNEL_CODE
from rules.config import Ruleset
from rules.geo import GeoIP
from rules.state import MAX_DEVICES

Alert = tuple[str, str]  # (rule_id, event_id)
Event = dict[str, Any]


@dataclass(slots=True)
class Account:
    otp_change_ms: int = 0
    otp_confirmed: bool = False
    bio_match_ms: int = 0
    last_transfer_device: str | None = None
    bio: dict[str, int] = field(default_factory=dict)  # device -> +ts matched / -ts not matched

    def to_json(self) -> list[Any]:
        """A JSON-able value for stores that serialise state (Quix Streams' default is JSON)."""
        return [self.otp_change_ms, self.otp_confirmed, self.bio_match_ms, self.last_transfer_device, self.bio]

    @classmethod
    def from_json(cls, value: list[Any]) -> Account:
        return cls(*value)


class ThreeRules:
    """R2, R3 and R6a as one per-event function of an event, its country and its account's state."""

    def __init__(self, ruleset: Ruleset) -> None:
        def params(rule_id: str) -> Any:
            rule = ruleset.rule(rule_id)
            if rule is None:
                msg = f"{rule_id} is not active in the ruleset"
                raise ValueError(msg)
            return rule.params

        self.r2_window_ms = params("R2").window_s * 1000
        self.r3_min_amount = params("R3").min_amount_vnd
        params("R6a")  # hits need no threshold (escalation is not compared)
        self.home = ruleset.home_countries
        codes = ruleset.device_id_required_on
        self.device_required: set[str | None] = {n for n, c in CHANNEL_CODE.items() if c in codes}
        if -1 in codes:
            self.device_required.add(None)

    def judge(self, acct: Account, e: Event, country: str) -> list[Alert]:
        """Alerts of one decoded event, then ``acct`` (its account's state) advanced by it."""
        kind, eid = e["type"], e["event_id"]
        ts = int(datetime.fromisoformat(e["ts"]).timestamp() * 1000)
        device = e.get("device_id")
        out: list[Alert] = []
        if kind in ("transfer", "login"):
            if device is None:
                untrusted = e.get("channel") in self.device_required
            else:
                untrusted = acct.bio.get(device, 0) <= 0 and acct.last_transfer_device != device
            if kind == "transfer":
                since = ts - acct.otp_change_ms
                if acct.otp_change_ms > 0 and 0 <= since <= self.r2_window_ms and not acct.otp_confirmed:
                    out.append(("R2", eid))
                if untrusted and e["amount"] >= self.r3_min_amount:
                    out.append(("R3", eid))
                if device is not None:
                    acct.last_transfer_device = device
            if country and country not in self.home:
                out.append(("R6a", eid))
        elif kind == "otp_phone_change":
            acct.otp_change_ms, acct.otp_confirmed = ts, False
        elif kind == "biometric_verification":
            matched = e["result"] == "matched"
            if matched:
                acct.otp_confirmed, acct.bio_match_ms = True, ts
            acct.bio[str(device)] = ts if matched else -ts
            if len(acct.bio) > MAX_DEVICES:
                del acct.bio[min(acct.bio, key=lambda d: abs(acct.bio[d]))]
        return out


def valid(e: Any) -> bool:
    """What the event contract rejects (txmon dead-letters it) is skipped here."""
    try:
        if not (isinstance(e, dict) and e["event_id"] and e["account_id"]):
            return False
        if datetime.fromisoformat(e["ts"]).tzinfo is None:
            return False
        if e["type"] == "transfer":
            return isinstance(e["amount"], int) and 0 < e["amount"] <= 10**15 and bool(e["dest_account"])
        if e["type"] == "biometric_verification":
            return e["result"] in ("matched", "not_matched") and bool(e["device_id"])
        return isinstance(e["type"], str)
    except (KeyError, TypeError, ValueError):
        return False


def decode(value: bytes | None) -> Event | None:
    """The event in a record's value, or None if it is not JSON or breaks the event contract."""
    try:
        e = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    return e if valid(e) else None


def country(geo: GeoIP, e: Event) -> str:
    """One event's country ('' if none), for baselines that look up event by event."""
    return str(geo.countries([e.get("ip")])[0])
