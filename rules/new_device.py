"""R3 — a transfer from a device that is neither biometric-verified nor the last one used.

Source: SBV Decision 2345/QĐ-NHNN, now Circular 50/2024: biometric
authentication before the first mobile-banking transaction and before a
transaction on a device other than the last one used. Signal: a transfer from a
device other than that of the account's previous transfer, with no biometric
match on that device since the previous transfer.
"""

from __future__ import annotations

from typing import Any

import msgspec

from rules.features import BatchContext
from rules.registry import RuleDef, RuleResult, register
from rules.text import vnd


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # Transfers below this amount are left to the bank's own step-up; 0 checks all.
    min_amount_vnd: int = msgspec.field(default=0)


def evaluate(ctx: BatchContext, params: Params) -> RuleResult:
    b = ctx.batch
    hit = ctx.is_transfer & ctx.untrusted_device & (b.amount >= params.min_amount_vnd)

    def explain(row: int) -> tuple[str, str, dict[str, Any]]:
        device = b.devices[b.device[row]]
        never_seen = not bool(ctx.device_seen[row])
        amount = int(b.amount[row])
        evidence = {
            "device_id": device,
            "device_never_seen": never_seen,
            "biometric_match_on_device": False,
            "amount_vnd": amount,
        }
        seen_vi = "thiết bị chưa từng sử dụng" if never_seen else "thiết bị khác thiết bị giao dịch gần nhất"
        seen_en = "a device never used before" if never_seen else "a device other than the last one used"
        vi = f"Chuyển {vnd(amount)} từ {seen_vi} ({device}) mà chưa xác thực sinh trắc học trên thiết bị này"
        en = f"Transfer of {vnd(amount)} from {seen_en} ({device}) without a biometric match on it"
        return vi, en, evidence

    return RuleResult(hit=hit, escalated=None, explain=explain)


RULE = register(
    RuleDef(
        id="R3",
        name="new_device_without_biometrics",
        params=Params,
        evaluate=evaluate,
        source="SBV Decision 2345/QD-NHNN; Circular 50/2024",
    )
)
