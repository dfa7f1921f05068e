"""The population: customers with a week of ordinary history, then the incident days on which
each account plays its typology. Deterministic for a seed and a start day.

>>> events, accounts = generate(60, seed=1, start_ms=START_2026_11_02)
>>> sorted({a["intent"] for a in accounts.values()}) == ["alert", "hold", "none"]
True
>>> events == sorted(events, key=lambda e: e["ts"])
True
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from loadtest.quality.people import DAY, HANOI, Account, Sim, new_customer, open_account, ordinary_day
from loadtest.quality.typologies import HISTORY_DAYS, TYPOLOGIES, _t0, call_centre, shop_day

INCIDENT_DAYS = 3
START_2026_11_02 = int(datetime(2026, 11, 2, tzinfo=HANOI).timestamp() * 1000)


def _assign(n: int, rng: random.Random) -> list[str]:
    """Typology per account: each share rounded, at least one of each, retail fills the rest."""
    names = [t for t in TYPOLOGIES if t != "retail"]
    counts = {t: max(1, round(TYPOLOGIES[t].share * n)) for t in names}
    counts["call_centre"] = max(3, counts["call_centre"])
    plan = [t for t in names for _ in range(counts[t])]
    plan += ["retail"] * max(0, n - len(plan))
    rng.shuffle(plan)
    return plan


def generate(n_accounts: int, seed: int, start_ms: int) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Events in time order, and per account: typology, intent, whether it is a company and, for a
    customer who paid a criminal's account, when (``scammed_from_ms``: a scam victim from then on).
    ``start_ms`` is a midnight in Hanoi; the incident days begin ``HISTORY_DAYS`` later."""
    rng = random.Random(seed)
    sim = Sim(rng, start_ms)
    plan = _assign(n_accounts, rng)
    accounts = [new_customer(sim, i, organisation=t == "payroll") for i, t in enumerate(plan)]
    for acc, typology in zip(accounts, plan, strict=True):
        acc.typology, acc.intent = typology, TYPOLOGIES[typology].intent
    retail = [a for a in accounts if a.typology == "retail"]
    for acc in accounts:
        open_account(sim, acc)
    for day in range(HISTORY_DAYS + INCIDENT_DAYS):
        for acc in accounts:
            if acc.typology == "shop" and day < HISTORY_DAYS:
                shop_day(sim, acc, day, retail)
            ordinary_day(sim, acc, day, retail)
        if day == HISTORY_DAYS - 1:  # the incident days begin
            _incidents(sim, accounts, retail)
    sim.step_up({a.account_id: a for a in accounts})  # and into time order
    manifest: dict[str, dict[str, Any]] = {
        a.account_id: {"typology": a.typology, "intent": a.intent, "organisation": a.organisation} for a in accounts
    }
    for a in accounts:
        if a.scammed_at is not None:  # a customer who paid a mule: a scam victim from then on
            manifest[a.account_id]["scammed_from_ms"] = a.scammed_at
    return sim.events, manifest


def _incidents(sim: Sim, accounts: list[Account], retail: list[Account]) -> None:
    crews = [a for a in accounts if a.typology == "call_centre"]
    while crews:
        size = min(len(crews), sim.rng.randrange(3, 7))
        if len(crews) - size in (1, 2):  # no crew of fewer than three
            size = len(crews)
        call_centre(sim, crews[:size], retail)
        crews = crews[size:]
    for acc in accounts:
        if acc.typology != "call_centre":
            TYPOLOGIES[acc.typology].play(sim, acc, _t0(sim), retail)


def incident_start_ms(start_ms: int) -> int:
    return start_ms + HISTORY_DAYS * DAY
