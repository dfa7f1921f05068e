"""R4 — an e-transaction by an account with no matched biometrics on file, or with an expired ID.

Source: SBV Circular 17/2024 (accounts must have biometrics matched against the chip ID /
VNeID before online transactions, and valid ID documents). Signal: a transfer by an account
that has never had a matched biometric verification, or whose latest ID document on record
expired before the transfer's Vietnamese calendar day.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import msgspec
import numpy as np

from rules.features import BatchContext
from rules.registry import RuleDef, RuleResult, register
from rules.text import vnd


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    check_biometrics_on_file: bool = True
    check_id_expiry: bool = True


def evaluate(ctx: BatchContext, params: Params) -> RuleResult:
    b = ctx.batch
    off = np.zeros(len(b), np.bool_)
    no_bio = (ctx.last_face_match_ms == 0) if params.check_biometrics_on_file else off
    expiry = ctx.id_expires_day
    expired = ((expiry >= 0) & (ctx.local_day > expiry)) if params.check_id_expiry else off
    hit = ctx.is_transfer & (no_bio | expired)

    def explain(row: int) -> tuple[str, str, dict[str, Any]]:
        amount = int(b.amount[row])
        expires = (date(1970, 1, 1) + timedelta(days=int(expiry[row]))).isoformat() if expiry[row] >= 0 else None
        evidence = {"amount_vnd": amount, "biometrics_on_file": not bool(no_bio[row]), "id_expires_on": expires}
        if no_bio[row]:
            vi = f"Chuyển {vnd(amount)} khi tài khoản chưa có dữ liệu sinh trắc học đối chiếu khớp đúng"
            en = f"Transfer of {vnd(amount)} by an account with no matched biometrics on file"
        else:
            vi = f"Chuyển {vnd(amount)} khi giấy tờ tùy thân đã hết hạn ({expires})"
            en = f"Transfer of {vnd(amount)} with an expired ID document ({expires})"
        return vi, en, evidence

    return RuleResult(hit=hit, escalated=None, explain=explain)


RULE = register(
    RuleDef(id="R4", name="no_biometrics_or_expired_id", params=Params, evaluate=evaluate, source="Circular 17/2024")
)
