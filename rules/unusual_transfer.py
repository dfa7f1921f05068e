"""R10 — a transfer at an unusual time or of an unusual size for the account.

Source: proposed (night-time draining after an OTP leak; amounts out of line
with the customer's habits). Signal: a transfer of at least
``night_amount_vnd`` between ``night_from_hour`` and ``night_to_hour`` in
Asia/Ho_Chi_Minh, or one above ``times_usual`` × the account's usual amount (the
mean of its earlier transfers, once it has ``min_history`` of them) and at least
``min_amount_vnd``. The state is two numbers per account (count and total).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import numpy as np
from msgspec import Meta

from rules.features import BatchContext
from rules.registry import RuleDef, RuleResult, register
from rules.text import vnd

Hour = Annotated[int, Meta(ge=0, le=23)]


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    night_from_hour: Hour = 23
    night_to_hour: Hour = 5
    night_amount_vnd: Annotated[int, Meta(ge=0)] = 10_000_000
    times_usual: Annotated[float, Meta(gt=1)] = 3.0
    min_history: Annotated[int, Meta(ge=1)] = 5
    min_amount_vnd: Annotated[int, Meta(ge=0)] = 2_000_000


def evaluate(ctx: BatchContext, params: Params) -> RuleResult:
    b = ctx.batch
    hour = ctx.local_hour
    night = ctx.in_hours(params.night_from_hour, params.night_to_hour)
    late = ctx.is_transfer & night & (b.amount >= params.night_amount_vnd)
    count, total = ctx.prior_transfers
    usual = total / np.maximum(count, 1)
    large = (
        ctx.is_transfer
        & (count >= params.min_history)
        & (b.amount >= params.min_amount_vnd)
        & (b.amount > params.times_usual * usual)
    )
    hit = late | large

    def explain(row: int) -> tuple[str, str, dict[str, Any]]:
        amount, typical = int(b.amount[row]), int(usual[row])
        evidence: dict[str, Any] = {"amount_vnd": amount, "local_hour": int(hour[row])}
        vi_parts, en_parts = [], []
        if late[row]:
            span = f"{params.night_from_hour:02d}:00-{params.night_to_hour:02d}:00"
            vi_parts.append(f"vào ban đêm ({span})")
            en_parts.append(f"at night ({span})")
        if large[row]:
            ratio = amount / max(typical, 1)
            evidence.update(usual_amount_vnd=typical, earlier_transfers=int(count[row]), times_usual=round(ratio, 1))
            vi_parts.append(f"gấp {ratio:.1f} lần mức thường ngày {vnd(typical)}")
            en_parts.append(f"{ratio:.1f}× the usual {vnd(typical)}")
        vi = f"Giao dịch bất thường: chuyển {vnd(amount)} " + " và ".join(vi_parts)
        en = f"Unusual transfer: {vnd(amount)} " + " and ".join(en_parts)
        return vi, en, evidence

    return RuleResult(hit=hit, escalated=None, explain=explain)


RULE = register(
    RuleDef(
        id="R10",
        name="unusual_time_or_amount",
        params=Params,
        evaluate=evaluate,
        source="Proposed: unusual time / amount for the account",
    )
)
