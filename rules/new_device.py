"""R3 — a transfer from a new or unverified device.

Source: SBV Decision 2345/QĐ-NHNN, now Circular 50/2024: biometric
authentication before the first mobile-banking transaction and before a
transaction on a device other than the last one used. Signal: a transfer from an
untrusted device (``BatchContext.untrusted_device``, shared with R6a and R12): one
the account never used, or one whose latest face match failed or never happened and
that did not make the account's last transfer, or no device id on a channel that must
carry one (``device_id_required_on`` in the rules file).
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
        device = b.devices[b.device[row]] if b.device[row] >= 0 else None
        never_seen = not bool(ctx.device_seen[row])
        amount = int(b.amount[row])
        evidence = {
            "device_id": device,
            "device_never_seen": never_seen,
            "biometric_match_on_device": False,
            "amount_vnd": amount,
        }
        if device is None:
            vi = f"Chuyển {vnd(amount)} không kèm mã thiết bị (coi như thiết bị lạ) mà chưa xác thực sinh trắc học"
            en = f"Transfer of {vnd(amount)} naming no device (counted as an unknown device) without a biometric match"
            return vi, en, evidence
        seen_vi = "thiết bị chưa từng sử dụng" if never_seen else "thiết bị chưa xác thực sinh trắc học"
        seen_en = "a device never used before" if never_seen else "a device not face-verified"
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
