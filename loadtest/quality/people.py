"""Customers and their ordinary week: the bank's app, salaries, bills, friends, web banking.

What the app does is modelled from the regulations, not from txmon: above 10 M VND for one
transfer or 20 M VND in a day the app asks for a face match (Decision 2345/QĐ-NHNN), a new
phone is bound and face-verified before its first payment (Circular 50/2024), a company's
legal representative verifies before the company pays (Circular 17/2024). A genuine customer
passes what the app asks; a criminal without the customer's face does not get the chance.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from itertools import count
from typing import Any

HANOI = timezone(timedelta(hours=7))
S, MIN, HOUR, DAY = 1_000, 60_000, 3_600_000, 86_400_000
# Networks as the bank sees them: Vietnamese ISPs, Cambodian hosting used by call centres, travel.
VN_NETS = ("14.160", "14.161", "113.161", "171.224", "171.225", "27.72", "27.73", "42.112", "42.113", "58.187")
CALL_CENTRE_NETS = ("116.212.130", "116.212.131", "103.216.50", "175.100.10", "36.37.130", "49.156.40")
TRAVEL_NETS = ("1.179.200", "1.179.201", "126.1.", "211.234.", "45.32.")  # TH, JP, KR, US
OTHER_BANKS = ("VCB", "BIDV", "CTG", "TCB", "MBB", "ACB", "VPB", "TPB")
# The app's own step-up (Decision 2345), which genuine customers pass.
APP_FACE_MATCH_SINGLE_VND = 10_000_000
APP_FACE_MATCH_DAY_VND = 20_000_000


@dataclass
class Account:
    account_id: str
    phone: str  # the app's device id
    home_ip: str
    usual_vnd: int
    organisation: bool = False
    browser: str | None = None  # web banking's device fingerprint, for customers who use the web
    payees: list[tuple[str, str]] = field(default_factory=list)  # (account, bank) paid regularly
    # The typology played on the account and what the bank should do about it.
    typology: str = "retail"
    intent: str = "none"
    # A phone upgrade: from this time on, ``new_phone`` is the app's device.
    upgraded_at: int | None = None
    new_phone: str | None = None
    # A scam victim: when the customer first paid a criminal's account (a mule) at their bidding.
    scammed_at: int | None = None

    def phone_at(self, t: int) -> str:
        return (
            self.new_phone if self.new_phone and self.upgraded_at is not None and t >= self.upgraded_at else self.phone
        )


@dataclass
class Sim:
    """The clock-less event factory: every event is stamped by the caller; ``events`` collects them."""

    rng: random.Random
    start_ms: int
    events: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ids = count(1)

    def event_id(self) -> str:
        return f"QB{next(self._ids):09d}"

    def emit(self, acc: Account, kind: str, t: int, eid: str | None = None, **fields: Any) -> dict[str, Any]:
        e: dict[str, Any] = {
            "type": kind,
            "event_id": eid or self.event_id(),
            "account_id": acc.account_id,
            "ts": datetime.fromtimestamp(t / 1000, tz=UTC).astimezone(HANOI).isoformat(timespec="milliseconds"),
        }
        if acc.organisation:
            e["account_type"] = "organisation"
        e.update({k: v for k, v in fields.items() if v is not None})
        self.events.append(e)
        return e

    # --- addresses -------------------------------------------------------------------
    def vn_ip(self) -> str:
        return f"{self.rng.choice(VN_NETS)}.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"

    def travel_ip(self) -> str:
        net = self.rng.choice(TRAVEL_NETS)
        tail = f"{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"
        return f"{net}{tail}" if net.endswith(".") else f"{net}.{self.rng.randrange(1, 255)}"

    def call_centre_ip(self) -> str:
        return f"{self.rng.choice(CALL_CENTRE_NETS)}.{self.rng.randrange(1, 255)}"

    def phone_id(self) -> str:
        return f"{self.rng.choice(('ios', 'android'))}-{self.rng.getrandbits(48):012x}"

    def outside_account(self) -> tuple[str, str]:
        return f"{self.rng.randrange(10**11, 10**12)}", self.rng.choice(OTHER_BANKS)

    # --- what customers do -----------------------------------------------------------
    def login(self, acc: Account, t: int, ip: str, device: str | None = None, channel: str = "mobile") -> None:
        self.emit(acc, "login", t, ip=ip, device_id=device or acc.phone_at(t), channel=channel)

    def face_match(self, acc: Account, t: int, device: str | None = None, matched: bool = True) -> None:
        result = "matched" if matched else "not_matched"
        self.emit(acc, "biometric_verification", t, device_id=device or acc.phone_at(t), result=result)

    def pay(
        self,
        acc: Account,
        t: int,
        amount: int,
        payee: tuple[str, str],
        *,
        ip: str | None = None,
        device: str | None = None,
        channel: str = "mobile",
        genuine: bool = True,
        eid: str | None = None,
    ) -> dict[str, Any]:
        """An outgoing transfer. ``genuine``: the customer passes the face match the app asks for
        (``step_up``, in time order once every event is made); False: no prompt is answered (a
        criminal without the face, or a payment file the representative already authorised)."""
        device = device or (acc.browser if channel == "internet" and acc.browser else acc.phone_at(t))
        fields = {"amount": amount, "dest_account": payee[0], "dest_bank": payee[1], "_app": genuine}
        return self.emit(acc, "transfer", t, eid, ip=ip or acc.home_ip, device_id=device, channel=channel, **fields)

    def step_up(self, accounts: dict[str, Account]) -> None:
        """The app's step-up, decided in time order: before a genuine customer's transfer over
        10 M VND, or one taking the day's total over 20 M VND, or any company transfer, the
        customer (the company's representative) passes a face match on the paying device."""
        self.events.sort(key=lambda e: e["ts"])  # ISO stamps in one zone sort as times
        day_total: dict[str, tuple[int, int]] = {}
        matches = []
        for e in self.events:
            if e["type"] != "transfer":
                continue
            genuine = e.pop("_app", False)  # transfers made with emit() directly are criminals'
            acc = accounts[e["account_id"]]
            t = int(datetime.fromisoformat(e["ts"]).timestamp() * 1000)
            day = (t + 7 * HOUR) // DAY
            last_day, total = day_total.get(acc.account_id, (day, 0))
            total = (total if last_day == day else 0) + e["amount"]
            day_total[acc.account_id] = (day, total)
            asks = acc.organisation or e["amount"] > APP_FACE_MATCH_SINGLE_VND or total > APP_FACE_MATCH_DAY_VND
            if genuine and asks:
                matches.append((acc, t - self.rng.randrange(5, 40) * S, e["device_id"]))
        for acc, t, device in matches:
            self.face_match(acc, t, device)
        self.events.sort(key=lambda e: e["ts"])

    def credit(self, acc: Account, t: int, amount: int, payer: tuple[str, str], eid: str | None = None) -> None:
        self.emit(acc, "incoming_transfer", t, eid, amount=amount, src_account=payer[0], src_bank=payer[1])

    def intra_bank(self, payer: Account, payee: Account, t: int, amount: int, **pay: Any) -> None:
        """A transfer between two customers of the bank: core banking posts the payer's leg and
        the payee's leg under one reference (the same ``event_id``)."""
        ref = self.event_id()
        self.pay(payer, t, amount, (payee.account_id, "QBANK"), eid=ref, **pay)
        self.credit(payee, t + self.rng.randrange(0, 800), amount, (payer.account_id, "QBANK"), eid=ref)

    def amount_near(self, usual: int, spread: float = 0.8) -> int:
        return max(10_000, int(self.rng.lognormvariate(0, spread) * usual) // 1000 * 1000)

    def daytime(self, day: int) -> int:
        """A moment between 07:00 and 22:00 in Hanoi on history day ``day``."""
        return self.start_ms + day * DAY + self.rng.randrange(7 * HOUR, 22 * HOUR)


def open_account(sim: Sim, acc: Account) -> None:
    """The app registered and the phone verified, before anything else the history shows."""
    t = sim.start_ms + sim.rng.randrange(0, 6 * HOUR)
    sim.emit(acc, "device_binding", t, device_id=acc.phone, device_name="phone")
    sim.face_match(acc, t + 30 * S)
    if acc.browser:
        sim.emit(acc, "device_binding", t + 90 * S, device_id=acc.browser, device_name="web browser")
        sim.face_match(acc, t + 120 * S, acc.browser)


def ordinary_day(sim: Sim, acc: Account, day: int, friends: list[Account]) -> None:
    """Logins, bills, groceries, the odd friend paid within the bank; salary on payday."""
    r = sim.rng
    for _ in range(r.choice((1, 1, 2, 2, 3))):
        t = sim.daytime(day)
        channel = "internet" if acc.browser and r.random() < 0.4 else "mobile"
        device = acc.browser if channel == "internet" else acc.phone
        sim.login(acc, t, acc.home_ip, device, channel)
        for k in range(r.choice((0, 1, 1, 2))):
            when = t + (k + 1) * r.randrange(20, 240) * S
            friend = r.choice(friends) if friends and r.random() < 0.15 else acc
            if friend is not acc:  # never oneself: both legs would be one account's event twice
                sim.intra_bank(acc, friend, when, sim.amount_near(acc.usual_vnd), channel=channel)
                continue
            payee = r.choice(acc.payees) if acc.payees and r.random() < 0.7 else sim.outside_account()
            sim.pay(acc, when, sim.amount_near(acc.usual_vnd), payee, channel=channel)
    if day == int(acc.account_id[-3:]) % 7:  # payday (stable per account)
        paid_at = sim.start_ms + day * DAY + 2 * HOUR
        sim.credit(acc, paid_at, acc.usual_vnd * r.randrange(15, 40), ("100200300400", "VCB"))
        if r.random() < 0.5:  # rent, the evening the salary comes
            rent = r.randrange(3_000, 15_000) * 1000
            sim.pay(acc, paid_at + r.randrange(10, 14) * HOUR, rent, acc.payees[0])


def new_customer(sim: Sim, i: int, *, organisation: bool = False) -> Account:
    r = sim.rng
    acc = Account(
        account_id=f"{'88' if organisation else '97'}{i:010d}",
        phone=sim.phone_id(),
        home_ip=sim.vn_ip(),
        usual_vnd=int(r.lognormvariate(13.0, 0.8)) // 1000 * 1000 + 20_000,  # median ~450k VND
        organisation=organisation,
        browser=f"web-{r.getrandbits(48):012x}" if organisation or r.random() < 0.3 else None,
    )
    acc.payees = [sim.outside_account() for _ in range(r.randrange(2, 6))]
    return acc
