"""What the demo's labels look at: each labelled rule as ``rules/rules.yaml`` sets it, restated
for the generator over what it knows of a customer (``Customer``). The thresholds are read with
``load_ruleset()``, never copied; ``loadtest.fraud_scenarios`` plays the scenarios and calls these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rules.config import Ruleset, load_ruleset


def rule_params(ruleset: Ruleset, rule_id: str) -> Any:
    """A rule's validated parameters; the demo's labels follow whatever the ruleset sets."""
    active = ruleset.rule(rule_id)
    if active is None:
        msg = f"the demo scenarios label {rule_id}, which the ruleset {ruleset.version} does not enable"
        raise ValueError(msg)
    return active.params


# Thresholds from rules/rules.yaml (the ruleset the demo's worker runs), never a hand copy.
RULESET = load_ruleset()
_R1, _R6B, _R8 = (rule_params(RULESET, r) for r in ("R1", "R6b", "R8"))
_R9, _R10, _R12, _R14 = (rule_params(RULESET, r) for r in ("R9", "R10", "R12", "R14"))
_R5, _R15 = rule_params(RULESET, "R5"), rule_params(RULESET, "R15")
VN_OFFSET_MS, DAY_MS, HOUR_MS = 7 * 3_600_000, 86_400_000, 3_600_000
R12_WINDOW_S = _R12.window_s
R5_BIO_VALID_S, R5_CHANNELS = _R5.bio_valid_s, tuple(_R5.electronic_channels)
R1_SINGLE_VND, R1_DAILY_VND, R1_BIO_VALID_S = _R1.single_limit_vnd, _R1.daily_limit_vnd, _R1.bio_valid_s
R6B_ACCOUNTS, R6B_WINDOW_MS = _R6B.min_accounts, _R6B.window_s * 1000
R8_PAYERS, R8_PAYERS_MS, R8_SHARE_PCT = _R8.min_payers, _R8.payers_window_s * 1000, _R8.min_out_share_pct
R8_FLOW_H, R8_MIN_IN, R8_HOLD_PAYMENT = _R8.flow_window_h, _R8.min_inflow_vnd, _R8.hold_payment_vnd
R9_MAX, R9_WINDOW_MS = _R9.max_transfers, _R9.window_days * DAY_MS
R10_NIGHT, R10_NIGHT_VND = (_R10.night_from_hour, _R10.night_to_hour), _R10.night_amount_vnd
R10_TIMES, R10_HISTORY, R10_MIN_VND = _R10.times_usual, _R10.min_history, _R10.min_amount_vnd
CRYPTO_ACCOUNTS = tuple(sorted(_R14.accounts))
SUSPICIOUS_FILE = Path(__file__).with_name("suspicious_demo.csv")  # the demo's shared-list import
SUSPICIOUS_ACCOUNTS = tuple(
    line.split(",")[0] for line in SUSPICIOUS_FILE.read_text(encoding="utf-8").splitlines()[1:] if line
)


@dataclass
class Customer:
    account_id: str
    device_id: str
    ip: str
    usual_amount: int
    organisation: bool = False
    onboarded: bool = False
    # What R1 looks at: the day's outgoing total (Vietnam's calendar day) and the last face match.
    day: int = -1
    day_total: int = 0
    last_bio_ms: int = 0
    # What R10, R8 and R9 look at: earlier transfers, payers, money in/out per hour, tainted inflow.
    transfers: int = 0
    transfer_sum: int = 0
    payers: dict[str, int] = field(default_factory=dict)
    inflows: list[tuple[int, str]] = field(default_factory=list)  # (ms, payer), in time order
    flow: dict[int, list[int]] = field(default_factory=dict)
    tainted_ms: list[int] = field(default_factory=list)
    # What R15 looks at: transfers (ms, payee, amount, to a new payee), each payee's first day.
    sent: list[tuple[int, str, int, bool]] = field(default_factory=list)
    first_paid_day: dict[str, int] = field(default_factory=dict)


def unusual(c: Customer, amount: int, ms: int) -> bool:
    """R10 as rules.yaml sets it: high value at night in Hanoi, or far above the usual amount."""
    hour = ((ms + VN_OFFSET_MS) // HOUR_MS) % 24
    night = hour >= R10_NIGHT[0] or hour < R10_NIGHT[1]
    usual = c.transfer_sum / c.transfers if c.transfers else 0.0
    large = c.transfers >= R10_HISTORY and amount >= R10_MIN_VND and amount > R10_TIMES * usual
    return (night and amount >= R10_NIGHT_VND) or large


def passes_money_on(c: Customer, ms: int) -> bool:
    """R8 as rules.yaml sets it, after this transfer: many payers within one day's span of the
    inflow of the flow window, most of that inflow sent on."""
    hour = ms // HOUR_MS
    recent = sorted(x for x in c.inflows if x[0] // HOUR_MS >= hour - R8_FLOW_H)
    payers = max((len({p for t, p in recent if start <= t <= start + R8_PAYERS_MS}) for start, _ in recent), default=0)
    got = sum(v[0] for h, v in c.flow.items() if h >= hour - R8_FLOW_H)
    sent = sum(v[1] for h, v in c.flow.items() if h >= hour - R8_FLOW_H)
    capped = not _R8.max_out_share_pct or sent * 100 <= got * _R8.max_out_share_pct
    return payers >= R8_PAYERS and got >= R8_MIN_IN and sent * 100 >= got * R8_SHARE_PCT and capped


def drains_to_new_payees(c: Customer, ms: int, payee: str, amount: int) -> bool:
    """R15 as rules.yaml sets it, for this transfer (before it joins the customer's history):
    large transfers to payees not paid on an earlier day, within the window, enough of them."""
    day = (ms + VN_OFFSET_MS) // DAY_MS
    new = c.first_paid_day.setdefault(payee, day) >= day
    c.sent.append((ms, payee, amount, new))
    hour = ((ms + VN_OFFSET_MS) // HOUR_MS) % 24
    night = hour >= _R15.night_from_hour or hour < _R15.night_to_hour
    if night:
        large, needed = _R15.night_amount_vnd, _R15.night_total_vnd
    else:
        large, needed = _R15.min_amount_vnd, _R15.min_total_vnd
    if c.organisation or amount < large:
        return False
    found = [v for t, _, v, fresh in c.sent if ms - _R15.window_s * 1000 < t <= ms and fresh and v >= large]
    usual = c.transfer_sum / c.transfers if c.transfers else 0.0
    unusual = c.transfers < _R15.min_history or sum(found) >= _R15.times_usual * usual
    return len(found) >= _R15.min_transfers and sum(found) >= needed and unusual
