"""Deterministic bank traffic with labelled fraud scenarios, for the demo, tests and benchmarks.

Normal customers log in and transfer from their own phone and Vietnamese IPs,
now and then verify their face before a large transfer, change phones properly
(binding + biometric) or travel abroad. Every ``scenario_every`` events one
scenario from ``loadtest.fraud_scenarios`` runs on a fresh account. An event that
should make a rule fire carries ``label`` = the comma-separated rule ids it
should fire; malformed records are counted in ``GenerationStats.malformed``.

>>> gen = Generator(seed=7, n_accounts=50)
>>> len(list(gen.take(1000)))
1000
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from loadtest.fraud_scenarios import MALFORMED, SCENARIOS, Customer, Scenario, World

VN_PREFIXES = ("14.160", "14.161", "113.160", "113.161", "27.64", "27.72", "171.224", "171.236", "116.96", "116.104")
BANKS = ("VCB", "BIDV", "CTG", "TCB", "MB", "ACB", "VPB", "TPB", "STB", "VIB")
# /16s that geolocate abroad throughout (US, TH/JP/CN, US, DE/ES/GB/NL), so travellers rarely share an IP
TRAVEL_IPS = ("8.8.", "1.1.", "104.16.", "185.220.")


@dataclass
class GenerationStats:
    events: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    scenarios: Counter[str] = field(default_factory=Counter)
    expected: Counter[str] = field(default_factory=Counter)  # rule id -> events that should fire it
    malformed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "valid": self.events - self.malformed,
            "malformed": self.malformed,
            "by_type": dict(self.by_type),
            "scenarios": dict(self.scenarios),
            "expected_hits": dict(sorted(self.expected.items())),
        }


class Generator:
    """Yields ``(key, value)`` records in production order; ``stats`` counts what it made."""

    def __init__(
        self,
        seed: int = 7,
        n_accounts: int = 5_000,
        *,
        scenario_every: int = 1_000,
        malformed_every: int = 5_000,
        start: datetime | None = None,
        events_per_second: float = 2_000.0,
    ) -> None:
        self.rng = random.Random(seed)
        self.stats = GenerationStats()
        self.world = World(
            rng=self.rng,
            now=(start or datetime(2026, 11, 28, 1, 0, tzinfo=UTC)).timestamp(),
            vn_ip=self._vn_ip,
            foreign_ip=self._foreign_ip,
            bank=lambda: self.rng.choice(BANKS),
        )
        self.customers = [self._customer(i) for i in range(n_accounts)]
        self.scenario_every = scenario_every
        self.malformed_every = malformed_every
        self.step_s = 1.0 / events_per_second
        self._scenario_turn = 0

    def _vn_ip(self) -> str:
        return f"{self.rng.choice(VN_PREFIXES)}.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"

    def _foreign_ip(self) -> str:
        return f"{self.rng.choice(TRAVEL_IPS)}{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"

    def _customer(self, i: int) -> Customer:
        r = self.rng
        return Customer(
            account_id=f"9704{i:08d}",
            device_id=f"{r.choice(('ios', 'android'))}-{r.getrandbits(32):08x}",
            ip=self._vn_ip(),
            usual_amount=int(r.lognormvariate(13.1, 0.9)) // 1000 * 1000 + 10_000,  # median ~500k VND
            organisation=r.random() < 0.03,
        )

    def take(self, n: int) -> Iterator[tuple[bytes, bytes]]:
        """The next ``n`` records."""
        made = 0
        while made < n:
            for key, value in self._next_records():
                yield key, value
                made += 1
                if made >= n:
                    return

    def _emit(self, events: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
        out = []
        for e in events:
            self.stats.events += 1
            self.stats.by_type[e["type"]] += 1
            for rule in filter(None, str(e.get("label") or "").split(",")):
                self.stats.expected[rule] += 1
            out.append((e["account_id"].encode(), orjson.dumps(e)))
        return out

    def _next_records(self) -> list[tuple[bytes, bytes]]:
        w, n = self.world, self.stats.events + 1
        w.now += self.step_s
        if self.malformed_every and n % self.malformed_every == 0:
            self.stats.events += 1
            self.stats.malformed += 1
            bad = MALFORMED[(n // self.malformed_every) % len(MALFORMED)]
            return [(b"9704malformed", bad(w))]
        if self.scenario_every and n % self.scenario_every == 0:
            scenario: Scenario = SCENARIOS[self._scenario_turn % len(SCENARIOS)]
            self._scenario_turn += 1
            self.stats.scenarios[scenario.name] += 1
            victim = self._customer(len(self.customers) + self._scenario_turn + 10_000_000)
            return self._emit(scenario.run(w, victim))
        return self._emit(self._normal(self.rng.choice(self.customers)))

    def _normal(self, c: Customer) -> list[dict[str, Any]]:
        w, r = self.world, self.rng
        if not c.onboarded:
            c.onboarded = True
            return [w.event(c, "device_binding"), w.event(c, "biometric_verification", result="matched")]
        roll = r.random()
        if roll < 0.45:
            return [w.event(c, "login", ip=c.ip, success=r.random() > 0.02)]
        if roll < 0.80:
            amount = max(10_000, int(r.lognormvariate(0, 0.6) * c.usual_amount) // 1000 * 1000)
            events = []
            if w.needs_face_match(c, amount):  # Decision 2345: face match above 10M, or 20M a day
                events.append(w.event(c, "biometric_verification", result="matched", purpose="large_transfer"))
            events.append(w.transfer(c, amount))
            return events
        if roll < 0.85:  # money in: salary, family, a sale (interbank or from another customer)
            payer = f"{r.randrange(10**11, 10**12)}"
            return [w.incoming(c, payer, max(50_000, int(r.lognormvariate(0.5, 0.8) * c.usual_amount) // 1000 * 1000))]
        if roll < 0.93:
            return [w.event(c, "login", ip=c.ip)]
        if roll < 0.95:  # a trip abroad: foreign login on the usual phone is an R6a warning
            return [w.event(c, "login", ip=self._foreign_ip(), label="R6a")]
        if roll < 0.97:  # a proper phone change: bind the new phone, verify the face on it
            c.device_id = f"{r.choice(('ios', 'android'))}-{r.getrandbits(32):08x}"
            return [w.event(c, "device_binding"), w.event(c, "biometric_verification", result="matched")]
        if roll < 0.985:  # OTP phone changed at the counter, confirmed by biometrics
            return [
                w.event(c, "otp_phone_change", new_phone=f"09xxxx{r.randrange(10_000):04d}", channel="counter"),
                w.event(c, "biometric_verification", result="matched", purpose="otp_phone_change"),
            ]
        return [w.event(c, "id_document_change", document_type="cccd_chip", expires_on="2041-01-01")]
