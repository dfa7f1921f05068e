"""Fraud scenarios injected into normal traffic, each labelled with the rules it should fire.

A scenario gets a fresh customer, onboards it like a real one (bound phone,
face match, a first transfer from that phone) and then plays the attack.
Labels follow the rule definitions in ``rules/`` exactly, with the thresholds of
``rules/rules.yaml`` read through ``load_ruleset()``; add a scenario by
adding a function and a row to ``SCENARIOS``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count
from typing import Any

import orjson

from loadtest.scenario_labels import (
    CRYPTO_ACCOUNTS,
    DAY_MS,
    HOUR_MS,
    R1_BIO_VALID_S,
    R1_DAILY_VND,
    R1_SINGLE_VND,
    R5_BIO_VALID_S,
    R5_CHANNELS,
    R6B_ACCOUNTS,
    R6B_WINDOW_MS,
    R8_HOLD_PAYMENT,
    R8_PAYERS,
    R9_MAX,
    R9_WINDOW_MS,
    R10_HISTORY,
    R10_MIN_VND,
    R12_WINDOW_S,
    SUSPICIOUS_ACCOUNTS,
    VN_OFFSET_MS,
    Customer,
    drains_to_new_payees,
    passes_money_on,
    unusual,
)


@dataclass
class World:
    """The generator's clock, random source and address pools, shared with the scenarios."""

    rng: random.Random
    now: float  # simulated epoch seconds
    vn_ip: Callable[[], str]
    foreign_ip: Callable[[], str]
    bank: Callable[[], str]

    def __post_init__(self) -> None:
        self._ids = count(1)
        # R6b: every foreign IP handed out; per IP and account, the current visit's first
        # event and the time of its latest one.
        self._foreign_ips: set[str] = set()
        self.ip_visits: dict[str, dict[str, tuple[dict[str, Any], int]]] = {}
        make_foreign = self.foreign_ip

        def foreign_ip() -> str:
            ip = make_foreign()
            self._foreign_ips.add(ip)
            return ip

        self.foreign_ip = foreign_ip

    def event(self, c: Customer, type_: str, **fields: Any) -> dict[str, Any]:
        self.now += self.rng.uniform(0.2, 3.0)  # steps of one customer take a moment each
        e: dict[str, Any] = {
            "type": type_,
            "event_id": f"ev-{next(self._ids):010d}",
            "account_id": c.account_id,
            "ts": datetime.fromtimestamp(self.now, tz=UTC).isoformat(timespec="milliseconds"),
            "device_id": c.device_id,
            "channel": "mobile",
        }
        if c.organisation:
            e["account_type"] = "organisation"
        e.update(fields)
        if type_ == "biometric_verification" and e.get("result") == "matched":
            c.last_bio_ms = _ms(e)
        if type_ in ("login", "transfer") and e.get("ip") in self._foreign_ips:
            self._foreign_ip_seen(e)
        return e

    def _foreign_ip_seen(self, e: dict[str, Any]) -> None:
        """R6b: when ``R6B_ACCOUNTS`` or more accounts used this foreign IP within the window,
        every one of them is labelled on the first event of its visit (a run of events on the
        IP with gaps under the window). Events come in time order, so the window ending here
        is the one to look at."""
        ms, visits = _ms(e), self.ip_visits.setdefault(e["ip"], {})
        current = visits.get(e["account_id"])
        first = e if current is None or current[1] <= ms - R6B_WINDOW_MS else current[0]
        visits[e["account_id"]] = (first, ms)
        recent = [start for start, last in visits.values() if last > ms - R6B_WINDOW_MS]
        if len(recent) >= R6B_ACCOUNTS:
            for start in recent:
                if "R6b" not in (start.get("label") or "").split(","):
                    _add_label(start, "R6b")

    def incoming(self, c: Customer, payer: str, amount: int, **fields: Any) -> dict[str, Any]:
        """Money credited to ``c``; R9 joins the label when it is the 4th+ from listed payers."""
        fields = {"amount": amount, "src_account": payer, "src_bank": self.bank(), "channel": "api", **fields}
        e = self.event(c, "incoming_transfer", device_id=None, **fields)
        ms = _ms(e)
        c.payers[payer] = max(c.payers.get(payer, 0), ms)
        c.inflows.append((ms, payer))
        c.flow.setdefault(ms // HOUR_MS, [0, 0])[0] += amount
        if payer in SUSPICIOUS_ACCOUNTS:
            c.tainted_ms.append(ms)
            if sum(1 for t in c.tainted_ms if t > ms - R9_WINDOW_MS) > R9_MAX:
                _add_label(e, "R9")
        return e

    def transfer(self, c: Customer, amount: int, **fields: Any) -> dict[str, Any]:
        """A transfer; R1 joins its label when the amount gate applies and no fresh face match covers it."""
        payee = f"{self.rng.randrange(10**9, 10**10)}"
        fields = {"ip": c.ip, "amount": amount, "dest_account": payee, "dest_bank": self.bank(), **fields}
        e = self.event(c, "transfer", **fields)
        ms = _ms(e)
        day = (ms + VN_OFFSET_MS) // DAY_MS
        if day != c.day:
            c.day, c.day_total = day, 0
        c.day_total += amount
        gated = amount > R1_SINGLE_VND or c.day_total > R1_DAILY_VND
        covered = c.last_bio_ms > 0 and ms - c.last_bio_ms <= R1_BIO_VALID_S * 1000
        if gated and not covered:
            _add_label(e, "R1")
        recent_face = c.last_bio_ms > 0 and 0 <= ms - c.last_bio_ms <= R5_BIO_VALID_S * 1000
        if c.organisation and e.get("channel") in R5_CHANNELS and not recent_face:
            _add_label(e, "R5")
        if unusual(c, amount, ms):
            _add_label(e, "R10")
        if drains_to_new_payees(c, ms, e["dest_account"], amount):
            _add_label(e, "R15")
        c.transfers += 1
        c.transfer_sum += amount
        c.flow.setdefault(ms // HOUR_MS, [0, 0])[1] += amount
        if passes_money_on(c, ms):
            _add_label(e, "R8")
        return e

    def needs_face_match(self, c: Customer, amount: int) -> bool:
        """Whether the bank app asks for a face match before this transfer: the amount gate
        (Decision 2345), and every organisation transfer (its legal representative, Circular 17/2024)."""
        day = (int(self.now * 1000) + VN_OFFSET_MS) // DAY_MS
        total = (c.day_total if day == c.day else 0) + amount
        return c.organisation or amount > R1_SINGLE_VND or total > R1_DAILY_VND

    def later(self, seconds: float) -> None:
        self.now += seconds


def onboard(w: World, c: Customer) -> list[dict[str, Any]]:
    c.onboarded = True
    return [
        w.event(c, "device_binding"),
        w.event(c, "biometric_verification", result="matched"),
        w.event(c, "login", ip=c.ip),
        w.transfer(c, c.usual_amount),
    ]


def _ms(e: dict[str, Any]) -> int:
    return round(datetime.fromisoformat(e["ts"]).timestamp() * 1000)  # as the codec: to the millisecond


def _add_label(e: dict[str, Any], rules: str) -> None:
    e["label"] = ",".join(filter(None, [rules, e.get("label")]))


def _within(later: dict[str, Any], earlier: dict[str, Any], seconds: int) -> bool:
    return 0 <= _ms(later) - _ms(earlier) <= seconds * 1000


def sim_swap_drain(w: World, c: Customer) -> list[dict[str, Any]]:
    """OTP phone moved to the fraudster's SIM, then the account is emptied within minutes (R2; R12
    for transfers inside R12's 3-minute window)."""
    events = onboard(w, c)
    otp = w.event(c, "otp_phone_change", new_phone="09xxxx0000", channel="counter", device_id=None)
    events.append(otp)
    for _ in range(w.rng.randint(1, 3)):
        w.later(w.rng.uniform(30, 180))
        t = w.transfer(c, w.rng.randrange(5_000, 40_000) * 1000)
        _add_label(t, "R2,R12" if _within(t, otp, R12_WINDOW_S) else "R2")
        events.append(t)
    return events


def foreign_takeover(w: World, c: Customer) -> list[dict[str, Any]]:
    """Login from abroad on a brand-new device, then a large transfer from it (R6a, R3)."""
    events = onboard(w, c)
    c.device_id = f"emu-{w.rng.getrandbits(32):08x}"
    ip = w.foreign_ip()
    w.later(w.rng.uniform(60, 600))
    login = w.event(c, "login", ip=ip, label="R6a")
    w.later(w.rng.uniform(20, 240))
    t = w.transfer(c, w.rng.randrange(10_000, 90_000) * 1000, ip=ip)
    _add_label(t, "R6a,R3,R12" if _within(t, login, R12_WINDOW_S) else "R6a,R3")
    return [*events, login, t]


def new_phone_no_bio(w: World, c: Customer) -> list[dict[str, Any]]:
    """A new phone bound (e.g. through a fake app) and used at once, no face match (R3)."""
    events = onboard(w, c)
    c.device_id = f"android-{w.rng.getrandbits(32):08x}"
    w.later(w.rng.uniform(60, 3600))
    events.append(w.event(c, "device_binding"))
    w.later(w.rng.uniform(5, 60))
    events.append(w.transfer(c, w.rng.randrange(1_000, 20_000) * 1000, label="R3"))
    return events


def new_phone_with_bio(w: World, c: Customer) -> list[dict[str, Any]]:
    """Negative control: a new phone done right (binding, face match, transfer) fires nothing."""
    events = onboard(w, c)
    c.device_id = f"ios-{w.rng.getrandbits(32):08x}"
    w.later(w.rng.uniform(60, 3600))
    events.append(w.event(c, "device_binding"))
    events.append(w.event(c, "biometric_verification", result="matched", purpose="new_device"))
    events.append(w.transfer(c, w.rng.randrange(1_000, 20_000) * 1000))
    return events


def traveller(w: World, c: Customer) -> list[dict[str, Any]]:
    """A customer abroad on their own phone: R6a warns, nothing is held."""
    events = onboard(w, c)
    ip = w.foreign_ip()
    w.later(w.rng.uniform(3600, 7200))
    events.append(w.event(c, "login", ip=ip, label="R6a"))
    events.append(w.transfer(c, 300_000, ip=ip, label="R6a"))
    return events


def _pays_one_of(
    w: World, c: Customer, payees: tuple[str, ...], thousands: tuple[int, int], label: str
) -> list[dict[str, Any]]:
    """Onboarding, then a while later a transfer to one of ``payees`` (amount in thousands of VND)."""
    events = onboard(w, c)
    w.later(w.rng.uniform(600, 7200))
    payee = w.rng.choice(payees)
    events.append(w.transfer(c, w.rng.randrange(*thousands) * 1000, dest_account=payee, label=label))
    return events


def crypto_purchase(w: World, c: Customer) -> list[dict[str, Any]]:
    """Proceeds moved to a known virtual-currency exchange account (R14)."""
    return _pays_one_of(w, c, CRYPTO_ACCOUNTS, (2_000, 9_000), "R14")


def pays_listed_mule(w: World, c: Customer) -> list[dict[str, Any]]:
    """A victim talked into paying an account already on the shared suspicious list (R7)."""
    return _pays_one_of(w, c, SUSPICIOUS_ACCOUNTS, (1_000, 50_000), "R7")


def expired_id(w: World, c: Customer) -> list[dict[str, Any]]:
    """A customer whose chip ID expired keeps transferring online (R4)."""
    events = onboard(w, c)
    events.append(w.event(c, "id_document_change", document_type="cccd_chip", expires_on="2026-01-15"))
    w.later(w.rng.uniform(600, 7200))
    t = w.transfer(c, w.rng.randrange(500, 5_000) * 1000)
    _add_label(t, "R4")
    return [*events, t]


def business_without_representative(w: World, c: Customer) -> list[dict[str, Any]]:
    """A company's Internet-Banking transfer with no face match of its legal representative (R5)."""
    c.organisation = True
    events = onboard(w, c)
    w.later(w.rng.uniform(600, 7200))
    t = w.transfer(c, w.rng.randrange(1_000, 9_000) * 1000, channel="internet")  # labelled R5 by transfer()
    return [*events, t]


def _payer(w: World) -> str:
    return f"{w.rng.randrange(10**11, 10**12)}"


def _pay_with_face_match(w: World, c: Customer, amount: int) -> list[dict[str, Any]]:
    """A transfer, preceded by the face match the app asks for when the amount gate applies."""
    face = [w.event(c, "biometric_verification", result="matched")] if w.needs_face_match(c, amount) else []
    return [*face, w.transfer(c, amount)]


def mule_pass_through(w: World, c: Customer) -> list[dict[str, Any]]:
    """A rented account: money from many victims within hours, sent straight on (R8, held: every
    victim pays at least R8's ``hold_payment_vnd``)."""
    events = onboard(w, c)
    received = 0
    least = max(2_000, -(-R8_HOLD_PAYMENT // 1000))  # thousands of VND
    for _ in range(w.rng.randint(R8_PAYERS, R8_PAYERS + 3)):
        w.later(w.rng.uniform(60, 1800))
        amount = w.rng.randrange(least, least + 7_000) * 1000
        events.append(w.incoming(c, _payer(w), amount))
        received += amount
    w.later(w.rng.uniform(60, 600))
    first = received * w.rng.randint(45, 55) // 100 // 1000 * 1000
    events += _pay_with_face_match(w, c, first)
    w.later(w.rng.uniform(30, 300))
    events += _pay_with_face_match(w, c, (received * 9 // 10 - first) // 1000 * 1000)
    return events


def tainted_inbound(w: World, c: Customer) -> list[dict[str, Any]]:
    """An account fed again and again by accounts on the shared suspicious list (R9)."""
    events = onboard(w, c)
    for _ in range(w.rng.randint(R9_MAX + 1, R9_MAX + 3)):
        w.later(w.rng.uniform(60, 3600))
        events.append(w.incoming(c, w.rng.choice(SUSPICIOUS_ACCOUNTS), w.rng.randrange(500, 5_000) * 1000))
    return events


def foreign_ip_ring(w: World, c: Customer) -> list[dict[str, Any]]:
    """Several rented accounts operated from one overseas address (R6b for all once the third arrives; R6a each)."""
    ip = w.foreign_ip()
    ring = [c] + [
        Customer(f"{c.account_id}{k}", f"android-{w.rng.getrandbits(32):08x}", w.vn_ip(), c.usual_amount)
        for k in range(w.rng.randint(R6B_ACCOUNTS - 1, R6B_ACCOUNTS + 1))
    ]
    events = [e for member in ring for e in onboard(w, member)]
    for member in ring:
        w.later(w.rng.uniform(30, 900))
        events.append(w.event(member, "login", ip=ip, label="R6a"))
    return events


def unusual_amount(w: World, c: Customer) -> list[dict[str, Any]]:
    """A customer with a steady habit suddenly sends many times the usual amount (R10)."""
    events = onboard(w, c)
    for _ in range(R10_HISTORY - 1):
        w.later(w.rng.uniform(60, 1800))
        events.append(w.transfer(c, c.usual_amount))
    w.later(w.rng.uniform(60, 1800))
    return events + _pay_with_face_match(w, c, max(R10_MIN_VND, c.usual_amount * w.rng.randint(4, 12)))


def coached_victim(w: World, c: Customer) -> list[dict[str, Any]]:
    """A caller posing as the police talks the customer through moving the savings to "safe
    accounts": large transfers to new payees minutes apart, each with the app's face match
    (R15 once enough of them; R10 when far above the usual amount)."""
    events = onboard(w, c)
    for _ in range(w.rng.randint(2, 4)):
        w.later(w.rng.uniform(60, 300))
        events += _pay_with_face_match(w, c, w.rng.randrange(15_000, 60_000) * 1000)
    return events


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[World, Customer], list[dict[str, Any]]]


SCENARIOS: tuple[Scenario, ...] = tuple(
    Scenario(f.__name__, f)
    for f in (
        sim_swap_drain,
        foreign_takeover,
        new_phone_no_bio,
        new_phone_with_bio,
        traveller,
        crypto_purchase,
        pays_listed_mule,
        expired_id,
        business_without_representative,
        mule_pass_through,
        tainted_inbound,
        foreign_ip_ring,
        unusual_amount,
        coached_victim,
    )
)


def _valid(w: World) -> dict[str, Any]:
    c = Customer("9704malformed", "android-00000000", "14.160.0.1", 100_000)
    return w.transfer(c, 100_000)


# Each makes one record the worker must dead-letter, with the reason it should give.
MALFORMED: tuple[Callable[[World], bytes], ...] = (
    lambda w: b'{"type": "transfer", "amount": ',  # truncated JSON
    lambda w: orjson.dumps({**_valid(w), "ts": "2026-11-28T09:00:00"}),  # naive timestamp
    lambda w: orjson.dumps({**_valid(w), "amount": 150000.5}),  # money as a float
    lambda w: orjson.dumps({**_valid(w), "amount": -5}),  # negative amount
    lambda w: orjson.dumps({**_valid(w), "type": "wire"}),  # unknown type
    lambda w: orjson.dumps({k: v for k, v in _valid(w).items() if k != "dest_account"}),  # missing field
    lambda w: b"[1, 2, 3]",  # not an object
)
