"""R9 — repeated money in from accounts on the shared suspicious list.

Source: the banking association's handbook (Decision 71/QĐ-HHNH, 2025): an
account receiving more than three transfers from listed suspicious accounts is
itself suspect. Signal: an incoming transfer from a listed payer when, with it,
more than ``max_transfers`` such transfers reached the account within
``window_days``. The list is the one R7 uses (SIMO / police topic, CSV); the
account keeps the times of its newest tainted transfers (``rules.state.MAX_TAINTED``).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from rules.features import BatchContext
from rules.registry import RuleDef, RuleResult, register
from rules.state import MAX_TAINTED, TAINTED_RETENTION_MS
from rules.text import vnd

DAY_MS = 86_400_000


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    max_transfers: Annotated[int, Meta(ge=0, lt=MAX_TAINTED)] = 3
    window_days: Annotated[int, Meta(ge=1, le=TAINTED_RETENTION_MS // DAY_MS)] = 30


def evaluate(ctx: BatchContext, params: Params) -> RuleResult:
    b = ctx.batch
    count = ctx.tainted_within(params.window_days * DAY_MS)
    hit = ctx.tainted_in & (count > params.max_transfers)
    payers = b.dest or [None] * len(b)

    def explain(row: int) -> tuple[str, str, dict[str, Any]]:
        n, amount = int(count[row]), int(b.amount[row])
        evidence = {
            "payer_account": payers[row],
            "amount_vnd": amount,
            "tainted_transfers": n,
            "window_days": params.window_days,
            "list": "shared suspicious-account list",
        }
        vi = (
            f"Nhận {vnd(amount)} từ tài khoản nghi ngờ {payers[row]}: lần thứ {n} trong {params.window_days} ngày "
            f"nhận tiền từ tài khoản trong danh sách nghi ngờ gian lận"
        )
        en = (
            f"Received {vnd(amount)} from listed account {payers[row]}: transfer no. {n} from suspicious-list "
            f"accounts within {params.window_days} days"
        )
        return vi, en, evidence

    return RuleResult(hit=hit, escalated=None, explain=explain)


RULE = register(
    RuleDef(
        id="R9",
        name="tainted_inbound",
        params=Params,
        evaluate=evaluate,
        source="Banking association handbook, Decision 71/QD-HHNH (2025)",
    )
)
