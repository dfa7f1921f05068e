"""What happens on the incident days (after the week of history): fraud as criminals run it,
and the legitimate look-alikes a bank sees every day. Each typology is labelled by intent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from loadtest.quality.people import DAY, HOUR, MIN, Account, S, Sim

HISTORY_DAYS = 7  # the ordinary week before the incident days


@dataclass(frozen=True)
class Typology:
    intent: str  # hold / alert / none
    share: float  # of the accounts
    what: str
    play: Callable[[Sim, Account, int, list[Account]], None]


def _t0(sim: Sim) -> int:
    """A moment on the first incident day, 08:00-20:00 in Hanoi."""
    return sim.start_ms + HISTORY_DAYS * DAY + sim.rng.randrange(8 * HOUR, 20 * HOUR)


# --- fraud -----------------------------------------------------------------------------
def sim_swap(sim: Sim, acc: Account, t: int, others: list[Account]) -> None:
    """The number is moved to the criminal's SIM (or the OTP number changed in a "4G upgrade"
    call); a login on the criminal's phone, an OTP-authorised binding, the face match failing or
    skipped, then the account drained in amounts under the app's step-up, a minute apart."""
    r = sim.rng
    phone = sim.phone_id()
    if r.random() < 0.5:
        sim.emit(acc, "otp_phone_change", t, new_phone="09xxxx" + str(r.randrange(1000, 9999)), channel="mobile")
        t += r.randrange(20, 120) * S
    sim.login(acc, t, sim.vn_ip(), phone)
    sim.emit(acc, "device_binding", t + 15 * S, device_id=phone)
    if r.random() < 0.5:
        sim.face_match(acc, t + 30 * S, phone, matched=False)
    t += r.randrange(30, 150) * S
    for _ in range(r.randrange(2, 6)):
        sim.pay(
            acc, t, r.randrange(3_000, 9_900) * 1000, sim.outside_account(), ip=sim.vn_ip(), device=phone, genuine=False
        )
        t += r.randrange(40, 180) * S


def remote_access(sim: Sim, acc: Account, t: int, others: list[Account]) -> None:
    """A fake "police" or "tax office" call has the victim install a remote-access app. Either the
    coached victim passes every face match while the criminal moves the savings out in large
    amounts, or the criminal works at night on the sleeping victim's phone, under the step-up."""
    r = sim.rng
    if r.random() < 0.5:
        for _ in range(r.randrange(2, 5)):
            sim.pay(acc, t, r.randrange(15_000, 80_000) * 1000, sim.outside_account())
            t += r.randrange(2, 8) * MIN
        return
    t = sim.start_ms + (HISTORY_DAYS + 1) * DAY + r.randrange(2 * HOUR, 5 * HOUR)  # 02:00-05:00 in Hanoi
    sim.login(acc, t, acc.home_ip)
    for _ in range(2):
        t += r.randrange(60, 300) * S
        sim.pay(acc, t, r.randrange(8_000, 9_900) * 1000, sim.outside_account(), genuine=False)


def phishing_takeover(sim: Sim, acc: Account, t: int, others: list[Account]) -> None:
    """Credentials typed into a fake bank site; the call centre logs in from Cambodia on its own
    phone or a browser (which may send no device id) and empties the account at once."""
    r = sim.rng
    ip = sim.call_centre_ip()
    web = r.random() < 0.4
    device = (None if r.random() < 0.5 else f"web-{r.getrandbits(40):010x}") if web else sim.phone_id()
    channel = "internet" if web else "mobile"
    sim.emit(acc, "login", t, ip=ip, device_id=device, channel=channel)
    t += r.randrange(30, 150) * S
    for _ in range(r.randrange(1, 4)):
        sim.emit(
            acc,
            "transfer",
            t,
            ip=ip,
            device_id=device,
            channel=channel,
            amount=r.randrange(2_000, 9_900) * 1000,
            dest_account=sim.outside_account()[0],
            dest_bank="ACB",
        )
        t += r.randrange(30, 120) * S


def _victims_pay(sim: Sim, mule: Account, t: int, n: int, span_ms: int, others: list[Account]) -> int:
    """``n`` victims pay the mule over ``span_ms`` (some of them the bank's own customers)."""
    total = 0
    for _ in range(n):
        at = t + sim.rng.randrange(0, span_ms)
        amount = sim.rng.randrange(2_000, 30_000) * 1000
        total += amount
        if others and sim.rng.random() < 0.2:
            victim = sim.rng.choice(others)
            sim.intra_bank(victim, mule, at, amount)
            victim.scammed_at = at if victim.scammed_at is None else min(victim.scammed_at, at)
        else:
            sim.credit(mule, at, amount, sim.outside_account())
    return total


def rented_mule(sim: Sim, acc: Account, t: int, others: list[Account]) -> None:
    """A student rents the account out: at the hand-over the criminal's phone is bound and the
    student does the face match on it. Victims of an investment scam pay in over a day; the
    money is forwarded a day or more later, nearly all of it."""
    r = sim.rng
    phone = sim.phone_id()
    sim.login(acc, t, acc.home_ip, phone)
    sim.emit(acc, "device_binding", t + 20 * S, device_id=phone)
    sim.face_match(acc, t + 40 * S, phone)
    ip = sim.call_centre_ip() if r.random() < 0.3 else sim.vn_ip()
    first = t + HOUR
    got = _victims_pay(sim, acc, first, r.randrange(5, 13), r.randrange(6, 20) * HOUR, others)
    out_at = first + r.randrange(24, 40) * HOUR
    parts = r.randrange(1, 4)
    share = r.uniform(0.9, 0.98)
    for _ in range(parts):
        sim.login(acc, out_at - 30 * S, ip, phone)
        sim.pay(
            acc,
            out_at,
            int(got * share / parts) // 1000 * 1000,
            sim.outside_account(),
            ip=ip,
            device=phone,
            genuine=False,
        )
        out_at += r.randrange(5, 90) * MIN


def call_centre(sim: Sim, group: list[Account], others: list[Account]) -> None:
    """Rented accounts worked from one Cambodian office: every one logs in from the same IP on
    the callers' phones, collects from victims and forwards within hours."""
    r = sim.rng
    ip = sim.call_centre_ip()
    t = _t0(sim)
    for acc in group:
        phone = sim.phone_id()
        at = t + r.randrange(0, 3 * HOUR)
        sim.login(acc, at, ip, phone)
        if r.random() < 0.5:  # the account's owner verified the caller's phone at the hand-over
            sim.emit(acc, "device_binding", at + 20 * S, device_id=phone)
            sim.face_match(acc, at + 40 * S, phone)
        got = _victims_pay(sim, acc, at + 10 * MIN, r.randrange(3, 7), 3 * HOUR, others)
        out = at + r.randrange(4, 7) * HOUR
        sim.login(acc, out - 20 * S, ip, phone)
        sim.pay(
            acc,
            out,
            int(got * r.uniform(0.85, 0.95)) // 1000 * 1000,
            sim.outside_account(),
            ip=ip,
            device=phone,
            genuine=False,
        )


# --- legitimate look-alikes --------------------------------------------------------------
def traveller(sim: Sim, acc: Account, t: int, others: list[Account]) -> None:
    """Three days abroad on the usual phone: logins, meals, a hotel paid with the face match."""
    r = sim.rng
    for day in range(3):
        ip = sim.travel_ip()
        at = t + day * DAY
        sim.login(acc, at, ip)
        for k in range(r.randrange(1, 4)):
            sim.pay(
                acc,
                at + (k + 1) * r.randrange(2, 30) * MIN,
                r.randrange(200, 5_000) * 1000,
                sim.outside_account(),
                ip=ip,
            )
        if day == 0:
            sim.pay(acc, at + 2 * HOUR, r.randrange(8_000, 25_000) * 1000, sim.outside_account(), ip=ip)


def second_device_abroad(sim: Sim, acc: Account, t: int, others: list[Account]) -> None:
    """A tablet bound and face-verified during the ordinary week, taken on the trip."""
    r = sim.rng
    tablet = sim.phone_id()
    bound = sim.start_ms + 2 * DAY + 10 * HOUR
    sim.emit(acc, "device_binding", bound, device_id=tablet)
    sim.face_match(acc, bound + 30 * S, tablet)
    for day in range(2):
        ip = sim.travel_ip()
        sim.login(acc, t + day * DAY, ip, tablet)
        sim.pay(
            acc,
            t + day * DAY + r.randrange(1, 20) * MIN,
            r.randrange(200, 4_000) * 1000,
            sim.outside_account(),
            ip=ip,
            device=tablet,
        )


def phone_upgrade(sim: Sim, acc: Account, t: int, others: list[Account]) -> None:
    """A new phone: log in, bind it, face match on it as Circular 50/2024 asks, pay at once."""
    r = sim.rng
    acc.upgraded_at, acc.new_phone = t, sim.phone_id()
    sim.login(acc, t, acc.home_ip)
    sim.emit(acc, "device_binding", t + 20 * S, device_id=acc.new_phone)
    sim.face_match(acc, t + 45 * S)
    sim.pay(acc, t + r.randrange(60, 170) * S, sim.amount_near(acc.usual_vnd), acc.payees[0])


def counter_otp_change(sim: Sim, acc: Account, t: int, others: list[Account]) -> None:
    """A new phone number for OTP at the branch, confirmed by a face match at the counter."""
    sim.emit(acc, "otp_phone_change", t, new_phone="09xxxx" + str(sim.rng.randrange(1000, 9999)), channel="counter")
    sim.face_match(acc, t + 60 * S, f"counter-cam-{sim.rng.randrange(1, 40)}")
    sim.login(acc, t + 30 * MIN, acc.home_ip)
    sim.pay(acc, t + 32 * MIN, sim.amount_near(acc.usual_vnd), acc.payees[0])


def payroll(sim: Sim, acc: Account, t: int, others: list[Account]) -> None:
    """A company: the legal representative verifies on the web and uploads the payroll (posted
    within two minutes, employees at this bank paid within it); a supplier paid from the app."""
    r = sim.rng
    sim.login(acc, t, acc.home_ip, acc.browser, "internet")
    sim.face_match(acc, t + 30 * S, acc.browser)
    at = t + 60 * S
    for _ in range(r.randrange(10, 50)):
        salary = r.randrange(7_000, 35_000) * 1000
        # the representative's one match authorises the whole file: no prompt per salary
        if others and r.random() < 0.3:
            sim.intra_bank(acc, r.choice(others), at, salary, channel="internet", genuine=False)
        else:
            sim.pay(acc, at, salary, sim.outside_account(), channel="internet", genuine=False)
        at += r.randrange(500, 2500)
    later = t + DAY
    sim.login(acc, later, acc.home_ip)
    sim.pay(acc, later + 90 * S, r.randrange(20_000, 200_000) * 1000, acc.payees[0])


def shop_day(sim: Sim, acc: Account, day: int, others: list[Account]) -> None:
    """A shop's QR takings from many customers, swept in the evening to the owner's other bank."""
    r = sim.rng
    start = sim.start_ms + day * DAY
    takings = 0
    for _ in range(r.randrange(15, 60)):
        amount = r.randrange(30, 600) * 1000
        takings += amount
        at = start + r.randrange(7 * HOUR, 21 * HOUR)
        if others and r.random() < 0.2:
            sim.intra_bank(r.choice(others), acc, at, amount)
        else:
            sim.credit(acc, at, amount, sim.outside_account())
    evening = start + r.randrange(21 * HOUR, 23 * HOUR)
    sim.login(acc, evening - MIN, acc.home_ip)
    sim.pay(acc, evening, int(takings * r.uniform(0.5, 0.97)) // 1000 * 1000, acc.payees[0])


def shop(sim: Sim, acc: Account, t: int, others: list[Account]) -> None:
    for day in range(HISTORY_DAYS, HISTORY_DAYS + 2):
        shop_day(sim, acc, day, others)


def retail(sim: Sim, acc: Account, t: int, others: list[Account]) -> None:
    """Nothing out of the ordinary."""


TYPOLOGIES: dict[str, Typology] = {
    "retail": Typology("none", 0.60, "salary, bills, friends paid within the bank, web banking", retail),
    "traveller": Typology("alert", 0.04, "three days abroad on the usual phone, a hotel over 10M", traveller),
    "second_device_abroad": Typology(
        "alert", 0.02, "abroad on a tablet bound and verified earlier", second_device_abroad
    ),
    "phone_upgrade": Typology("none", 0.05, "new phone bound, face match on it, paying at once", phone_upgrade),
    "counter_otp_change": Typology(
        "none", 0.02, "OTP number changed at the branch with a face match", counter_otp_change
    ),
    "payroll": Typology("none", 0.02, "company payroll from the web after the representative's match", payroll),
    "shop": Typology("none", 0.05, "many QR payments a day, swept to the owner's other bank", shop),
    "sim_swap": Typology("hold", 0.03, "SIM swap / 4G-upgrade: new phone, drain under the step-up", sim_swap),
    "remote_access": Typology("hold", 0.03, "remote-access app: coached victim, or at night", remote_access),
    "phishing_takeover": Typology("hold", 0.03, "phished login from a Cambodian call centre", phishing_takeover),
    "rented_mule": Typology("hold", 0.04, "rented account: a day of victims, forwarded 24-40 h later", rented_mule),
    "call_centre": Typology(
        "hold", 0.07, "rented accounts worked from one foreign IP, forwarded in hours", retail
    ),  # played per group by ``call_centre``
}
