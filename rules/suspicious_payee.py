"""R7 — a transfer to an account on the shared suspicious-account list (SIMO / police).

Source: the State Bank's SIMO practice ("warn, or block at the highest level")
and Hanoi plan III.1 (the police database of suspicious payment accounts).
Signal: the payee account number is on the list that the suspicious-list topic
and CSV imports maintain; the lookup is done by the caller, one per batch.
"""

from __future__ import annotations

from typing import Any

import msgspec

from rules.features import BatchContext
from rules.registry import RuleDef, RuleResult, register
from rules.text import vnd


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # Transfers below this amount are only reported, never left out: 0 checks all.
    min_amount_vnd: int = msgspec.field(default=0)


def evaluate(ctx: BatchContext, params: Params) -> RuleResult:
    b = ctx.batch
    hit = ctx.is_transfer & ctx.counterparty_listed & (b.amount >= params.min_amount_vnd)
    dest = b.dest or [None] * len(b)

    def explain(row: int) -> tuple[str, str, dict[str, Any]]:
        amount = int(b.amount[row])
        evidence = {"payee_account": dest[row], "amount_vnd": amount, "list": "shared suspicious-account list"}
        vi = f"Chuyển {vnd(amount)} tới tài khoản {dest[row]} nằm trong danh sách nghi ngờ gian lận (SIMO/Công an)"
        en = f"Transfer of {vnd(amount)} to account {dest[row]}, which is on the shared suspicious-account list"
        return vi, en, evidence

    return RuleResult(hit=hit, escalated=None, explain=explain)


RULE = register(
    RuleDef(id="R7", name="payee_on_suspicious_list", params=Params, evaluate=evaluate, source="SIMO; Hanoi plan III.1")
)
