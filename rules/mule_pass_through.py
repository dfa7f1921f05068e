"""R8 — a mule account: money from many payers, passed straight on.

Source: Hanoi plan III.8 (remove accounts not held by their true owner: mule /
rented accounts) and industry practice; a proposed rule ("≥ 5 distinct senders
within 24 h and ≥ 80 % of the inflow sent out within 48 h"). Signal: an outgoing
transfer when the money sent out in the last ``flow_window_h`` hours reaches
``min_out_share_pct`` of the money received in them (at least ``min_inflow_vnd``),
and that inflow came from ``min_payers`` or more distinct payers within one span of
``payers_window_s``. The two windows have their own anchors: the payers' window on
the inflow (anywhere inside the flow window), the flow window on the forwarding, so
money collected in a day and sent on a day or two later is caught. Bounded state per
account: the newest payers and inflows (``rules.state.MAX_PAYERS``, ``MAX_INFLOWS``)
and hourly in/out totals, so the flow window is counted in whole hours (the
transfer's hour and the ``flow_window_h`` before it).

Established payee (the shop that sweeps its takings): a transfer to a payee the account had
already paid on ``established_payee_days`` or more distinct Vietnamese days before the inflow
window (before the day the flow window starts) is not a pass-through. A shop, market stall
or landlord receives from many payers every day and sweeps the takings to the owner's usual
account; a rented or freshly opened mule forwards to an account it never paid before (the
next mule in the chain, a crypto trader, a cash-out). Banks already treat such payees as
"established / trusted beneficiaries" (UK PSR APP-scam guidance and Confirmation of Payee,
SWIFT payment-controls "new beneficiary" checks; a new beneficiary is the risk signal, an
established one lowers it). Money sent to established payees inside the flow window is not
passed on either: only the rest counts toward ``min_out_share_pct`` (the shop's evening sweep to
the owner does not make the owner's next bill look like a forwarding). Nor is an account that
sent out more than ``max_out_share_pct`` of its inflow in the flow window, sweeps included:
it is spending a balance of its own (a shop paying its suppliers from savings), where a
pass-through forwards about what came in and keeps a cut. Its limits: a mule account kept
long enough to pay the chain's next account on earlier days first is not held by R8 (R7/R9/R14
and the police list still apply); ``established_payee_days: 0`` turns the exception off.
Held or alerted: the hit is held (the rule's escalation) when ``min_payers`` of the payers in the
span each sent at least ``hold_payment_vnd`` (1M VND): scam victims transfer millions. Money
collected in purchase-size payments (a new shop's QR takings, friends paying their share of a
trip, a class fund) and then paid on is an alert for an officer, not a hold of the customer's
money; a fake-shop mule collecting small deposits is seen that way too, not stopped.
State: the account's ``paid_to`` / ``paid_day`` pairs (``rules.state.MAX_PAID_DAYS``,
``PAID_RETENTION_DAYS``) and its transfers to payees paid on an earlier day, among the
``outflow_*`` it keeps (``MAX_OUTFLOWS``); its inflows' amounts (``inflow_vnd``).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import numpy as np
from msgspec import Meta

from rules.features import BatchContext
from rules.registry import RuleDef, RuleResult, register
from rules.state import FLOW_RETENTION_H, HOUR_MS, MAX_PAYERS, PAID_RETENTION_DAYS, PAYER_RETENTION_MS
from rules.text import vnd


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    min_payers: Annotated[int, Meta(ge=2, le=MAX_PAYERS)] = 5
    payers_window_s: Annotated[int, Meta(ge=60, le=PAYER_RETENTION_MS // 1000)] = 86_400
    min_out_share_pct: Annotated[int, Meta(ge=1, le=100)] = 80
    flow_window_h: Annotated[int, Meta(ge=1, le=FLOW_RETENTION_H - 1)] = 48
    min_inflow_vnd: Annotated[int, Meta(ge=0)] = 1_000_000
    # 0: no exception; at most what PAID_RETENTION_DAYS can hold before a 3-day flow window.
    established_payee_days: Annotated[int, Meta(ge=0, le=PAID_RETENTION_DAYS - 4)] = 2
    # 0: no upper bound. An account that sent out more than this share of what it received
    # (sweeps included) spends its own balance: a pass-through forwards about what came in.
    max_out_share_pct: Annotated[int, Meta(ge=0)] = 150
    # The hit is held (the escalation) when min_payers of the payers each sent at least this
    # much: a scam victim's transfer, not a purchase; below it the hit is an alert. 0: always held.
    hold_payment_vnd: Annotated[int, Meta(ge=0)] = 1_000_000


def evaluate(ctx: BatchContext, params: Params) -> RuleResult:
    b = ctx.batch
    payers = ctx.payers_in_a_window(params.payers_window_s * 1000, params.flow_window_h, params.min_payers)
    candidates = ctx.is_transfer & (payers >= params.min_payers)
    money_in, money_out = ctx.flow_within(params.flow_window_h, np.flatnonzero(candidates))
    passed_on = money_out * 100 >= money_in * params.min_out_share_pct
    if params.max_out_share_pct:
        passed_on &= money_out * 100 <= money_in * params.max_out_share_pct
    total_out = money_out
    hit = candidates & (money_in >= max(params.min_inflow_vnd, 1)) & passed_on
    window_start_ms = (b.ts_ms // HOUR_MS - params.flow_window_h) * HOUR_MS
    paid_days = ctx.payee_days_before(np.flatnonzero(hit), window_start_ms)
    swept = np.zeros(len(b), np.int64)
    if params.established_payee_days:
        hit &= paid_days < params.established_payee_days
        swept = ctx.outflow_to_established(np.flatnonzero(hit), window_start_ms, params.established_payee_days)
        money_out = money_out - swept
        hit &= money_out * 100 >= money_in * params.min_out_share_pct
    large = payers
    if params.hold_payment_vnd and hit.any():
        window_ms = params.payers_window_s * 1000
        large = ctx.payers_in_a_window(window_ms, params.flow_window_h, params.min_payers, params.hold_payment_vnd)
    escalated = hit & (large >= params.min_payers)

    def explain(row: int) -> tuple[str, str, dict[str, Any]]:
        got, sent, n, before = int(money_in[row]), int(money_out[row]), int(payers[row]), int(paid_days[row])
        share = round(100 * sent / got)
        evidence = {
            "distinct_payers": n,
            "payers_of_hold_size": int(large[row]),
            "hold_payment_vnd": params.hold_payment_vnd,
            "payers_window_s": params.payers_window_s,
            "inflow_vnd": got,
            "outflow_vnd": sent,
            "outflow_to_established_vnd": int(swept[row]),
            "total_outflow_vnd": int(total_out[row]),
            "max_out_share_pct": params.max_out_share_pct,
            "out_share_pct": share,
            "flow_window_h": params.flow_window_h,
            "amount_vnd": int(b.amount[row]),
            "payee_paid_days_before": before,
            "established_payee_days": params.established_payee_days,
        }
        hours = params.flow_window_h
        vi = (
            f"Tài khoản nhận tiền từ {n} người chuyển khác nhau và đã chuyển đi {share}% số tiền nhận "
            f"({vnd(sent)}/{vnd(got)}) trong {hours} giờ, sang tài khoản "
            f"{'chưa từng nhận tiền' if not before else f'chỉ nhận tiền {before} ngày'} từ tài khoản này trước đó: "
            "dấu hiệu tài khoản trung gian (không chính chủ)"
        )
        en = (
            f"Money in from {n} different payers, {share}% of it sent on ({vnd(sent)} of {vnd(got)}) "
            f"within {hours} h, to a payee "
            f"{'never paid before' if not before else f'paid on only {before} earlier day(s)'}: "
            "a mule pass-through pattern"
        )
        return vi, en, evidence

    return RuleResult(hit=hit, escalated=escalated, explain=explain)


RULE = register(
    RuleDef(
        id="R8",
        name="mule_pass_through",
        params=Params,
        evaluate=evaluate,
        source="Hanoi plan III.8 (accounts not held by their owner); industry practice",
    )
)
