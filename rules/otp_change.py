"""R2 — an outgoing transfer soon after the OTP phone number changed, unconfirmed by biometrics.

Source: Hanoi plan III.8 (biometric check when the OTP-receiving phone number
changes); police report SIM-swap / "4G upgrade" drains within 30 s–3 min of an
OTP leak. Signal: a transfer within ``window_s`` of the account's last
OTP-phone change with no matched biometric verification since that change.
"""

from __future__ import annotations

from typing import Any

import msgspec

from rules.features import BatchContext
from rules.registry import RuleDef, RuleResult, register
from rules.text import duration_en, duration_vi, iso, vnd


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    window_s: int = msgspec.field(default=86_400)


def evaluate(ctx: BatchContext, params: Params) -> RuleResult:
    b = ctx.batch
    since = b.ts_ms - ctx.otp_change_ms
    hit = (
        ctx.is_transfer
        & (ctx.otp_change_ms > 0)
        & (since >= 0)
        & (since <= params.window_s * 1000)
        & ~ctx.otp_confirmed
    )

    def explain(row: int) -> tuple[str, str, dict[str, Any]]:
        gap = int(since[row]) // 1000
        amount = int(b.amount[row])
        evidence = {
            "otp_phone_changed_at": iso(int(ctx.otp_change_ms[row])),
            "seconds_since_otp_change": gap,
            "amount_vnd": amount,
            "biometric_since_change": False,
        }
        vi = (
            f"Chuyển {vnd(amount)} chỉ {duration_vi(gap)} sau khi đổi số điện thoại nhận OTP, "
            "chưa xác thực sinh trắc học sau thay đổi"
        )
        en = (
            f"Transfer of {vnd(amount)} only {duration_en(gap)} after the OTP phone number changed, "
            "with no biometric match since the change"
        )
        return vi, en, evidence

    return RuleResult(hit=hit, escalated=None, explain=explain)


RULE = register(
    RuleDef(
        id="R2",
        name="otp_phone_change",
        params=Params,
        evaluate=evaluate,
        source="Hanoi plan III.8; police: SIM-swap drains in 30 s-3 min",
    )
)
