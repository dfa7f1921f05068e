"""R6a — a login or transfer from an IP address outside the home countries.

Source: Hanoi plan III.8: "detect, classify and warn about accounts transacting
from foreign IP addresses". Signal: the event's IP geolocates outside
``home_countries``; classified by country, first time or not for the account,
and device trust; escalated (to a hold by default) when combined with an
untrusted device (``BatchContext.untrusted_device``, shared with R3 and R12: new,
not named where it must be, or not face-verified; a known device whose latest face
match succeeded is trusted), a recent OTP-phone change not confirmed by biometrics, or a
large amount not covered by a face match in the ``large_face_match_s`` before it (the check
Decision 2345 asks for above 10 M VND: a verified customer paying a hotel abroad is warned
about, not held).
"""

from __future__ import annotations

from typing import Any

import msgspec

from rules.features import BatchContext
from rules.registry import RuleDef, RuleResult, register
from rules.text import vnd


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    large_amount_vnd: int = msgspec.field(default=10_000_000)
    otp_window_s: int = msgspec.field(default=86_400)
    # A large transfer adds risk only without a face match this long before it (0: always).
    large_face_match_s: int = msgspec.field(default=300)


def evaluate(ctx: BatchContext, params: Params) -> RuleResult:
    b = ctx.batch
    hit = ctx.foreign
    since_otp = b.ts_ms - ctx.otp_change_ms
    # A change confirmed by a biometric match since is the customer's own; only an unconfirmed one adds risk.
    recent_otp = (
        (ctx.otp_change_ms > 0) & (since_otp >= 0) & (since_otp <= params.otp_window_s * 1000) & ~ctx.otp_confirmed
    )
    large = ctx.is_transfer & (b.amount >= params.large_amount_vnd)
    if params.large_face_match_s > 0:
        large &= ~ctx.face_match_within(params.large_face_match_s)
    escalated = hit & (ctx.untrusted_device | recent_otp | large)

    def explain(row: int) -> tuple[str, str, dict[str, Any]]:
        country = str(ctx.countries[row])
        first = not bool(ctx.country_seen[row])
        device = b.devices[b.device[row]] if b.device[row] >= 0 else None
        what_en, what_vi = ("transfer", "Giao dịch chuyển tiền") if ctx.is_transfer[row] else ("login", "Đăng nhập")
        combined_en: list[str] = []
        combined_vi: list[str] = []
        if ctx.untrusted_device[row]:
            combined_en.append("an unverified device")
            combined_vi.append("thiết bị chưa xác thực sinh trắc học")
        if recent_otp[row]:
            combined_en.append("a recent OTP phone change not confirmed by biometrics")
            combined_vi.append("vừa đổi số điện thoại nhận OTP chưa xác thực sinh trắc học")
        if large[row]:
            combined_en.append(f"a large amount ({vnd(int(b.amount[row]))})")
            combined_vi.append(f"số tiền lớn ({vnd(int(b.amount[row]))})")
        evidence: dict[str, Any] = {
            "ip": b.ip[row],
            "ip_country": country,
            "first_time_from_country": first,
            "device_id": device,
            "device_trusted": not bool(ctx.untrusted_device[row]),
            "recent_otp_phone_change": bool(recent_otp[row]),
        }
        if ctx.is_transfer[row]:
            evidence["amount_vnd"] = int(b.amount[row])
        first_en = " for the first time" if first else ""
        first_vi = " lần đầu" if first else ""
        en = f"{what_en.capitalize()} from a foreign IP ({b.ip[row]}, {country}){first_en}"
        vi = f"{what_vi} từ IP nước ngoài ({b.ip[row]}, {country}){first_vi}"
        if combined_en:
            en += ", combined with " + " and ".join(combined_en)
            vi += ", kèm " + " và ".join(combined_vi)
        return vi, en, evidence

    return RuleResult(hit=hit, escalated=escalated, explain=explain)


RULE = register(
    RuleDef(
        id="R6a",
        name="foreign_ip",
        params=Params,
        evaluate=evaluate,
        source="Hanoi plan III.8 (foreign IP addresses)",
    )
)
