"""R15 — large transfers to new payees in quick succession: the victim's own phone being emptied.

Source: proposed, from the police's and the State Bank's warnings on the commonest high-tech
fraud of 2024-2025 (Official Dispatch 139/CĐ-TTg; the Hanoi plan III.8 "recognise suspicious
transactions"): a caller posing as the police, the tax office or the bank has the victim install
a remote-access ("remote control") app, or coaches the victim through the transfers to "safe
accounts". Everything the other rules look at is the customer's own: the phone, its face match,
the home IP. What is left is the money's path: several large transfers, minutes apart, to
accounts the customer never paid before. Banks treat "new beneficiary plus unusual amount,
repeated" as the payment-scam signal (UK PSR APP-scam guidance, SWIFT payment controls).

Signal: a transfer by an individual (an organisation's payroll and suppliers are excluded) that
brings the account's transfers of at least ``min_amount_vnd`` to new payees (not paid on an
earlier Vietnamese day) within ``window_s`` to ``min_transfers`` or more, totalling at least
``min_total_vnd`` (between ``night_from_hour`` and ``night_to_hour`` in Asia/Ho_Chi_Minh, when
the victim is asleep and the criminal works the phone under the app's step-up limit:
``night_amount_vnd`` and ``night_total_vnd``) and at least ``times_usual`` × the account's usual transfer once it has
``min_history`` of them. Its limits: a customer making several large first payments within
minutes (a house deposit split between new payees) is held too, for an officer to release; a
criminal who spreads the transfers beyond ``window_s`` or sends to one earlier-paid account is
not. State: ``outflow_*`` and ``paid_*`` (``rules.state.MAX_OUTFLOWS``, ``MAX_PAID_DAYS``).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import numpy as np
from msgspec import Meta

from rules.features import BatchContext
from rules.registry import RuleDef, RuleResult, register
from rules.state import FLOW_RETENTION_H, LARGE_OUTFLOW_VND
from rules.text import vnd

Hour = Annotated[int, Meta(ge=0, le=23)]


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    window_s: Annotated[int, Meta(ge=60, le=FLOW_RETENTION_H * 3600)] = 900
    min_transfers: Annotated[int, Meta(ge=1)] = 2
    # at least what the state keeps of transfers to new payees (rules.state.LARGE_OUTFLOW_VND)
    min_amount_vnd: Annotated[int, Meta(ge=LARGE_OUTFLOW_VND)] = 10_000_000
    min_total_vnd: Annotated[int, Meta(ge=0)] = 30_000_000
    night_amount_vnd: Annotated[int, Meta(ge=LARGE_OUTFLOW_VND)] = 5_000_000
    night_total_vnd: Annotated[int, Meta(ge=0)] = 10_000_000
    night_from_hour: Hour = 23
    night_to_hour: Hour = 6
    times_usual: Annotated[float, Meta(ge=0)] = 3.0
    min_history: Annotated[int, Meta(ge=1)] = 5


def evaluate(ctx: BatchContext, params: Params) -> RuleResult:
    b = ctx.batch
    n = len(b)
    organisation = b.organisation if b.organisation is not None else np.zeros(n, np.bool_)
    hour = ctx.local_hour
    night = ctx.in_hours(params.night_from_hour, params.night_to_hour)
    large = np.where(night, params.night_amount_vnd, params.min_amount_vnd)
    candidates = ctx.is_transfer & ~organisation & (b.amount >= large)
    count, total = ctx.large_to_new_payees(np.flatnonzero(candidates), params.window_s * 1000, large)
    needed = np.where(night, params.night_total_vnd, params.min_total_vnd)
    prior_count, prior_total = ctx.prior_transfers
    usual = prior_total / np.maximum(prior_count, 1)
    unusual = (prior_count < params.min_history) | (total >= params.times_usual * usual)
    hit = candidates & (count >= params.min_transfers) & (total >= needed) & unusual

    def explain(row: int) -> tuple[str, str, dict[str, Any]]:
        k, sent, minutes = int(count[row]), int(total[row]), params.window_s // 60
        evidence: dict[str, Any] = {
            "transfers_to_new_payees": k,
            "total_vnd": sent,
            "window_s": params.window_s,
            "min_amount_vnd": int(large[row]),
            "amount_vnd": int(b.amount[row]),
            "local_hour": int(hour[row]),
            "night": bool(night[row]),
        }
        if prior_count[row] >= params.min_history:
            evidence.update(usual_amount_vnd=int(usual[row]), earlier_transfers=int(prior_count[row]))
        when_vi, when_en = (" vào ban đêm", " at night") if night[row] else ("", "")
        vi = (
            f"{k} giao dịch lớn (từ {vnd(int(large[row]))}) tới người nhận mới trong {minutes} phút"
            f"{when_vi}, tổng {vnd(sent)}: dấu hiệu bị lừa đảo chuyển tiền hoặc bị điều khiển điện thoại từ xa"
        )
        en = (
            f"{k} large transfers (from {vnd(int(large[row]))}) to new payees within {minutes} min"
            f"{when_en}, {vnd(sent)} in all: a coached victim or a remotely controlled phone"
        )
        return vi, en, evidence

    return RuleResult(hit=hit, escalated=None, explain=explain)


RULE = register(
    RuleDef(
        id="R15",
        name="new_payee_drain",
        params=Params,
        evaluate=evaluate,
        source="Proposed: CĐ 139/CĐ-TTg, Hanoi plan III.8 (suspicious transactions); payment-scam practice",
    )
)
