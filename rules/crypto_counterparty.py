"""R14 — a transfer to a known virtual-currency exchange or P2P trader account.

Source: Directive 02/CT-NHNN (control of transactions related to virtual
currency) and Hanoi plan III.8. Signal: the transfer's payee account is on the
configured list of crypto exchange / P2P counterparty accounts.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from rules.features import BatchContext
from rules.registry import RuleDef, RuleResult, register
from rules.text import vnd


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    accounts: frozenset[str] = msgspec.field(default_factory=frozenset)


def evaluate(ctx: BatchContext, params: Params) -> RuleResult:
    b = ctx.batch
    dest = b.dest or [None] * len(b)
    listed = params.accounts
    hit = np.zeros(len(b), np.bool_)
    if not listed.isdisjoint(dest):  # the usual batch pays none of them: one pass at C speed
        rows = np.flatnonzero(ctx.is_transfer)
        hit[rows] = np.fromiter((dest[r] in listed for r in rows.tolist()), np.bool_, len(rows))

    def explain(row: int) -> tuple[str, str, dict[str, Any]]:
        amount = int(b.amount[row])
        evidence = {"counterparty_account": dest[row], "amount_vnd": amount, "list": "virtual-currency counterparties"}
        vi = f"Chuyển {vnd(amount)} tới tài khoản sàn/nhà giao dịch tiền ảo {dest[row]}"
        en = f"Transfer of {vnd(amount)} to a known virtual-currency exchange / P2P account {dest[row]}"
        return vi, en, evidence

    return RuleResult(hit=hit, escalated=None, explain=explain)


RULE = register(
    RuleDef(
        id="R14",
        name="virtual_currency_counterparty",
        params=Params,
        evaluate=evaluate,
        source="Directive 02/CT-NHNN",
    )
)
