"""What the console shows, read from the worker's Redis records; it never writes them.

An account's rule state is read through the worker's own store interface
(``AccountStates``: ``streams.account_store.AccountStore.load``), never by its raw key, so
the console reads whatever record format and key layout the worker writes.

A *case* is what an officer decides on: a hold with the alerts attached to it,
or an alert that carries no hold. The queue looks at the newest ``scan``
alerts plus every hold still in force, so an old open hold never drops out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

from alerts.holds import AlertStore
from alerts.model import Alert, HoldInstruction, PoliceReport
from alerts.routing import police_report
from rules.model import SEVERITY_RANK
from rules.state import AccountView, States
from store import RedisClient, get_many
from store.keys import Keys

RANK = {str(k): v for k, v in SEVERITY_RANK.items()}
OPEN_STATUSES = frozenset({"active", "extended", "open"})
STATUSES = ("open", "all", "active", "extended", "released", "confirmed", "expired", "dismissed", "escalated")
# What an officer may do to a case in each status (the lifecycle enforces the same).
ACTIONS: dict[str, tuple[str, ...]] = {
    "active": ("release", "confirm", "extend", "escalate"),
    "extended": ("release", "confirm", "extend", "escalate"),
    "released": ("confirm", "escalate"),
    "expired": ("confirm", "escalate"),
    "confirmed": ("escalate",),
    "open": ("dismiss", "escalate"),
    "escalated": ("dismiss",),
    "dismissed": ("escalate",),
}


class AccountStates(Protocol):
    """The read side of ``streams.account_store.AccountStore`` (``streams.console_main`` hands
    the console a ``RedisAccountStore``): each account's state, None when it has none."""

    async def load(self, accounts: Sequence[str]) -> States: ...


class Geo(Protocol):
    """``rules.geo.GeoIP``: country codes ('' when unknown) for IPs the evidence did not place."""

    def countries(self, ips: Sequence[str | None]) -> Any: ...


@dataclass(frozen=True, slots=True)
class QueueFilter:
    rule: str = ""
    channel: str = ""
    status: str = "open"
    account: str = ""
    limit: int = 200


def _text(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _age_s(stamp: str, now: datetime) -> int:
    return max(int((now - datetime.fromisoformat(stamp)).total_seconds()), 0)


def _amount(alerts: Iterable[Alert]) -> int | None:
    amounts = [a.evidence.get("amount_vnd") or a.event.get("amount") for a in alerts]
    found = [int(x) for x in amounts if isinstance(x, int)]
    return max(found) if found else None


def summarise(
    case_id: str, alerts: Sequence[Alert], status: str, hold: HoldInstruction | None, now: datetime
) -> dict[str, Any]:
    """One queue row."""
    lead = max(alerts, key=lambda a: (RANK.get(a.severity, 0), a.detected_at))
    opened = hold.created_at if hold is not None else min(a.detected_at for a in alerts)
    return {
        "case_id": case_id,
        "kind": hold.kind if hold is not None else "alert",  # hold, freeze (police request, R13) or alert
        "account_id": lead.account_id,
        "status": status,
        "open": status in OPEN_STATUSES,
        "severity": lead.severity,
        "severity_rank": RANK.get(lead.severity, 0),
        "rules": sorted({a.rule_id for a in alerts}),
        "channels": sorted({c for a in alerts for c in a.channels}),
        "reason_vi": lead.reason_vi,
        "reason_en": lead.reason_en,
        "opened_at": opened,
        "age_s": _age_s(opened, now),
        "alert_count": len(alerts),
        "expires_at": hold.expires_at if hold is not None else None,
        "amount_vnd": _amount(alerts),
    }


class CaseReader:
    def __init__(
        self,
        redis: RedisClient,
        accounts: AccountStates,
        prefix: str = "txmon:",
        scan: int = 2_000,
        geo: Geo | None = None,
    ) -> None:
        self.redis = redis
        self.accounts = accounts
        self.k = Keys(prefix)
        self.scan = scan
        self.geo = geo
        self.store = AlertStore(redis, prefix)

    async def _recent_alerts(self) -> list[Alert]:
        ids = [_text(i) for i in await self.redis.zrevrange(self.k.alerts_queue, 0, self.scan - 1)]
        return await self.store.alerts(ids)

    async def _holds(self, hold_ids: Sequence[str]) -> dict[str, HoldInstruction]:
        if not hold_ids:
            return {}
        raws = await get_many(self.redis, [self.k.hold(h) for h in hold_ids])
        decoded = (msgspec.json.decode(r, type=HoldInstruction) for r in raws if r is not None)
        return {h.hold_id: h for h in decoded}

    async def _case_statuses(self, alert_ids: Sequence[str]) -> dict[str, str]:
        if not alert_ids:
            return {}
        raws = await self.redis.hmget(self.k.case_status, list(alert_ids))
        return {a: _text(r) if r is not None else "open" for a, r in zip(alert_ids, raws, strict=True)}

    async def queue(self, f: QueueFilter, now: datetime | None = None) -> dict[str, Any]:
        """Cases matching the filter, most severe first, then the longest waiting."""
        now = now or datetime.now(tz=UTC)
        alerts = await self._recent_alerts()
        by_hold: dict[str, list[Alert]] = {}
        alone: list[Alert] = []
        for a in alerts:
            (by_hold.setdefault(a.hold_id, []) if a.hold_id else alone).append(a)
        in_force = [_text(h) for h in await self.redis.zrange(self.k.holds_expiry, 0, -1)]
        holds = await self._holds(sorted({*by_hold, *in_force}))
        missing = [h for h in in_force if h not in by_hold and h in holds]
        # Old holds still in force whose alerts fell out of the scan: their alerts in one round trip.
        for a in await self.store.alerts([i for h in missing for i in holds[h].alert_ids]):
            by_hold.setdefault(a.hold_id or "", []).append(a)
        statuses = await self._case_statuses([a.alert_id for a in alone])
        cases = [
            summarise(h, group, holds[h].status, holds[h], now) for h, group in by_hold.items() if h in holds and group
        ]
        cases += [summarise(a.alert_id, [a], statuses[a.alert_id], None, now) for a in alone]
        rules = sorted({r for c in cases for r in c["rules"]})
        cases = [c for c in cases if _matches(c, f)]
        cases.sort(key=lambda c: (-c["severity_rank"], -c["age_s"]))
        return {"cases": cases[: f.limit], "total": len(cases), "rules": rules, "statuses": list(STATUSES)}

    async def detail(self, case_id: str, now: datetime | None = None) -> dict[str, Any] | None:
        now = now or datetime.now(tz=UTC)
        hold = await self.store.hold(case_id) if case_id.startswith("H-") else None
        alerts = await self.store.alerts(hold.alert_ids if hold is not None else [case_id])
        if not alerts:
            return None
        alerts.sort(key=lambda a: a.event_ts)
        status = hold.status if hold is not None else (await self._case_statuses([case_id]))[case_id]
        account = alerts[0].account_id
        recent = [a for a in await self._recent_alerts() if a.account_id == account]
        (state,) = await self.accounts.load([account])
        listed = await self.redis.sismember(self.k.suspicious, account)
        info = await self.redis.hget(self.k.suspicious_info, account) if listed else None
        return {
            "case": summarise(case_id, alerts, status, hold, now),
            "hold": msgspec.to_builtins(hold) if hold is not None else None,
            "alerts": [msgspec.to_builtins(a) for a in alerts],
            "facts": facts(alerts, self.geo),
            "account": {
                "account_id": account,
                "suspicious": (msgspec.json.decode(info) if info else {"account_id": account}) if listed else None,
                "profile": profile(state),
                "recent_alerts": [
                    {
                        k: getattr(a, k)
                        for k in ("alert_id", "rule_id", "severity", "event_ts", "reason_vi", "reason_en")
                    }
                    | {"hold_id": a.hold_id}
                    for a in recent[:20]
                ],
            },
            "actions": list(ACTIONS.get(status, ())),
        }

    async def police_reports(self, account: str = "", limit: int = 200) -> list[dict[str, Any]]:
        """The police channel: reports the worker routed there, escalations and confirmed frauds."""
        reports: dict[str, PoliceReport] = {}
        ids = [_text(i) for i in await self.redis.zrevrange(self.k.police_queue, 0, self.scan - 1)]
        if ids:
            raws = await get_many(self.redis, [self.k.police_report(i) for i in ids])
            for raw in raws:
                if raw is not None:
                    r = msgspec.json.decode(raw, type=PoliceReport)
                    reports[r.report_id] = r
        for a in await self._recent_alerts():
            if "police" in a.channels and a.alert_id not in reports:
                reports[a.alert_id] = police_report(a, a.event, a.bank_code, a.detected_at)
        found = [r for r in reports.values() if not account or account in r.account_id]
        found.sort(key=lambda r: r.reported_at, reverse=True)
        return [msgspec.to_builtins(r) for r in found[:limit]]


def _matches(case: dict[str, Any], f: QueueFilter) -> bool:
    if f.rule and f.rule not in case["rules"]:
        return False
    if f.channel and f.channel not in case["channels"]:
        return False
    if f.account and f.account not in case["account_id"]:
        return False
    if f.status == "open":
        return bool(case["open"])
    return f.status in ("", "all") or case["status"] == f.status


def facts(alerts: Sequence[Alert], geo: Geo | None = None) -> dict[str, Any]:
    """IPs with their countries, devices and biometric results, gathered from the evidence."""
    ips: dict[str, str] = {}
    devices: dict[str, dict[str, Any]] = {}
    biometric: list[dict[str, Any]] = []
    for a in alerts:
        ip = a.evidence.get("ip") or a.event.get("ip")
        if ip:
            ips[ip] = a.evidence.get("ip_country") or ips.get(ip) or ""
        device = a.evidence.get("device_id") or a.event.get("device_id")
        if device:
            seen = devices.setdefault(device, {"device_id": device})
            for key in ("device_never_seen", "device_trusted"):
                if key in a.evidence:
                    seen[key] = a.evidence[key]
        biometric += [
            {"alert_id": a.alert_id, "rule_id": a.rule_id, "fact": k, "value": v}
            for k, v in a.evidence.items()
            if "biometric" in k or "otp" in k
        ]
    unplaced = [ip for ip, country in ips.items() if not country]
    if geo is not None and unplaced:
        ips.update(zip(unplaced, (str(c) for c in geo.countries(unplaced)), strict=True))
    return {
        "ips": [{"ip": ip, "country": country} for ip, country in ips.items()],
        "devices": list(devices.values()),
        "biometric": biometric,
    }


def _ms(ms: int) -> str | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds") if ms else None


def profile(state: AccountView | None) -> dict[str, Any] | None:
    """The account's rule state as facts: devices, biometric results by device, countries."""
    if state is None:  # none yet
        return None
    return {
        "known_devices": state.known_devices,
        "last_transfer_device": state.last_transfer_device,
        "biometrics": [
            {"device_id": d, "result": "matched" if ms > 0 else "not_matched", "at": _ms(abs(ms))}
            for d, ms in state.bio.items()
        ],
        "countries": state.countries,
        "otp_phone_change_at": _ms(state.otp_change_ms),
        "otp_confirmed_by_biometrics": state.otp_confirmed,
        "new_device_login_at": _ms(state.new_device_login_ms),
        "last_transfer_at": _ms(state.last_transfer_ms),
    }
