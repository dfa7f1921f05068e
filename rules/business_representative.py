"""R5 — an organisation's Internet-Banking transfer without the legal representative's face match.

Source: SBV Circular 17/2024 and Official Dispatch 29/CĐ-TTg: biometric authentication of a
business's legal representative for its Internet-Banking transactions. Signal: a transfer on
the ``internet`` channel by an ``organisation`` account with no matched biometric on the account
in the ``bio_valid_s`` before it.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from rules.features import BatchContext
from rules.registry import RuleDef, RuleResult, register
from rules.text import vnd


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    bio_valid_s: int = msgspec.field(default=300)


def evaluate(ctx: BatchContext, params: Params) -> RuleResult:
    b = ctx.batch
    n = len(b)
    organisation = b.organisation if b.organisation is not None else np.zeros(n, np.bool_)
    internet = b.internet if b.internet is not None else np.zeros(n, np.bool_)
    hit = ctx.is_transfer & organisation & internet & ~ctx.face_match_within(params.bio_valid_s)

    def explain(row: int) -> tuple[str, str, dict[str, Any]]:
        amount = int(b.amount[row])
        evidence = {"amount_vnd": amount, "channel": "internet", "account_type": "organisation"}
        vi = (
            f"Tổ chức chuyển {vnd(amount)} qua Internet Banking mà người đại diện theo pháp luật "
            "chưa xác thực sinh trắc học"
        )
        en = (
            f"Organisation Internet-Banking transfer of {vnd(amount)} "
            "without the legal representative's biometric match"
        )
        return vi, en, evidence

    return RuleResult(hit=hit, escalated=None, explain=explain)


RULE = register(
    RuleDef(
        id="R5",
        name="business_legal_representative",
        params=Params,
        evaluate=evaluate,
        source="Circular 17/2024; CD 29/CD-TTg",
    )
)
