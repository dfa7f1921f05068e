"""R12 — an outgoing transfer within minutes of a new-device login or an unconfirmed OTP-phone change.

Source: police reports that once an OTP leaks or a phone is taken over, money
leaves within 30 s to 3 min (DOMAIN.md, "takeover drain"). Signal: a transfer
at most ``window_s`` after the account's last login from a never-used device (or
one naming no device where the contract requires it) when the transfer's own device
is untrusted (``BatchContext.untrusted_device``: a face match on the new device
clears it, as Circular 50/2024 asks before its first transaction), or after its
last OTP-phone change not confirmed by a biometric match since.
"""

from __future__ import annotations

from typing import Any

import msgspec

from rules.features import BatchContext
from rules.registry import RuleDef, RuleResult, register
from rules.text import duration_en, duration_vi, iso, vnd


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    window_s: int = msgspec.field(default=180)


def evaluate(ctx: BatchContext, params: Params) -> RuleResult:
    b = ctx.batch
    window = params.window_s * 1000
    since_login = b.ts_ms - ctx.new_device_login_ms
    since_otp = b.ts_ms - ctx.otp_change_ms
    after_login = (ctx.new_device_login_ms > 0) & (since_login >= 0) & (since_login <= window) & ctx.untrusted_device
    after_otp = (ctx.otp_change_ms > 0) & (since_otp >= 0) & (since_otp <= window) & ~ctx.otp_confirmed
    hit = ctx.is_transfer & (after_login | after_otp)

    def explain(row: int) -> tuple[str, str, dict[str, Any]]:
        amount = int(b.amount[row])
        if after_otp[row]:
            gap, at = int(since_otp[row]) // 1000, int(ctx.otp_change_ms[row])
            what_en, what_vi = "an OTP phone number change", "đổi số điện thoại nhận OTP"
        else:
            gap, at = int(since_login[row]) // 1000, int(ctx.new_device_login_ms[row])
            what_en, what_vi = "a login from a never-used device", "đăng nhập từ thiết bị lạ"
        evidence = {"trigger": what_en, "trigger_at": iso(at), "seconds_after_trigger": gap, "amount_vnd": amount}
        vi = f"Chuyển {vnd(amount)} chỉ {duration_vi(gap)} sau {what_vi}: dấu hiệu chiếm đoạt tài khoản"
        en = f"Transfer of {vnd(amount)} only {duration_en(gap)} after {what_en}: an account-takeover drain pattern"
        return vi, en, evidence

    return RuleResult(hit=hit, escalated=None, explain=explain)


RULE = register(
    RuleDef(
        id="R12",
        name="takeover_drain",
        params=Params,
        evaluate=evaluate,
        source="police: drains within 30 s-3 min of an OTP leak or takeover",
    )
)
