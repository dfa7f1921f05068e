"""R1 — a large transfer, or one that takes the day's total over the limit, without a fresh face match.

Source: SBV Decision 2345/QĐ-NHNN (in force 1/7/2024): biometric authentication
for a transfer above 10,000,000 VND, or when the day's total (00:00-24:00,
Asia/Ho_Chi_Minh) passes 20,000,000 VND. Signal: such a transfer with no matched
biometric verification on the account within ``bio_valid_s`` before it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from rules.features import BatchContext
from rules.registry import RuleDef, RuleResult, register
from rules.text import iso, vnd


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    single_limit_vnd: int = msgspec.field(default=10_000_000)
    daily_limit_vnd: int = msgspec.field(default=20_000_000)
    bio_valid_s: int = msgspec.field(default=300)


def evaluate(ctx: BatchContext, params: Params) -> RuleResult:
    b = ctx.batch
    single = b.amount > params.single_limit_vnd
    daily = ctx.day_total > params.daily_limit_vnd
    since_face = b.ts_ms - ctx.last_face_match_ms
    covered = (ctx.last_face_match_ms > 0) & (since_face >= 0) & (since_face <= params.bio_valid_s * 1000)
    hit = ctx.is_transfer & (single | daily) & ~covered

    def explain(row: int) -> tuple[str, str, dict[str, Any]]:
        amount, total = int(b.amount[row]), int(ctx.day_total[row])
        last = int(ctx.last_face_match_ms[row])
        evidence = {
            "amount_vnd": amount,
            "day_total_vnd": total,
            "over_single_limit": bool(single[row]),
            "over_daily_limit": bool(daily[row]),
            "last_biometric_match": iso(last) if last else None,
        }
        if single[row]:
            vi_why = f"giao dịch {vnd(amount)} trên hạn mức {vnd(params.single_limit_vnd)}/lần"
            en_why = f"{vnd(amount)} is above {vnd(params.single_limit_vnd)} per transfer"
        else:
            vi_why = f"tổng trong ngày {vnd(total)} vượt {vnd(params.daily_limit_vnd)}"
            en_why = f"the day's total {vnd(total)} passes {vnd(params.daily_limit_vnd)}"
        vi = f"Chưa xác thực sinh trắc học cho giao dịch: {vi_why} (Quyết định 2345/QĐ-NHNN)"
        en = f"No biometric match for this transfer: {en_why} (SBV Decision 2345)"
        return vi, en, evidence

    return RuleResult(hit=hit, escalated=None, explain=explain)


RULE = register(
    RuleDef(id="R1", name="biometric_amount_gate", params=Params, evaluate=evaluate, source="SBV Decision 2345/QD-NHNN")
)
