"""R5 — an organisation's Internet-Banking transfer without the legal representative's face match.

Source: SBV Circular 17/2024 and Official Dispatch 29/CĐ-TTg: biometric authentication of a
business's legal representative for its Internet-Banking transactions; Internet Banking there
covers every electronic channel of the organisation, web and app. Signal: a transfer on one of
``electronic_channels`` (default ``internet`` and ``mobile``) by an ``organisation`` account with no matched
biometric on the account in the ``bio_valid_s`` before it.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
import numpy as np

from rules.columns import CHANNEL_CODE
from rules.features import BatchContext
from rules.registry import RuleDef, RuleResult, register
from rules.text import vnd


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    bio_valid_s: int = msgspec.field(default=300)
    # The organisation's electronic channels (streams.events.Channel names).
    electronic_channels: list[Literal["mobile", "internet", "counter", "atm", "pos", "api"]] = msgspec.field(
        default_factory=lambda: ["internet", "mobile"]
    )


def evaluate(ctx: BatchContext, params: Params) -> RuleResult:
    b = ctx.batch
    n = len(b)
    organisation = b.organisation if b.organisation is not None else np.zeros(n, np.bool_)
    channel = b.channel if b.channel is not None else np.full(n, -1, np.int8)
    electronic = np.isin(channel, [CHANNEL_CODE[c] for c in params.electronic_channels])
    hit = ctx.is_transfer & organisation & electronic & ~ctx.face_match_within(params.bio_valid_s)
    names = dict(enumerate(CHANNEL_CODE))

    def explain(row: int) -> tuple[str, str, dict[str, Any]]:
        amount = int(b.amount[row])
        evidence = {"amount_vnd": amount, "channel": names[int(channel[row])], "account_type": "organisation"}
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
