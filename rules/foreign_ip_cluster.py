"""R6b — several accounts used from one foreign IP address within a day.

Source: Hanoi plan III.8 ("detect, classify and warn about accounts transacting
from foreign IP addresses"); a proposed rule: one overseas address driving many
accounts is how rented / mule accounts are run from abroad. Signal: a login or
transfer from a foreign IP by an account not seen there within ``window_s``, when
that makes ``min_accounts`` or more accounts on the IP in the window. Accounts
live on every partition, so the IP's accounts are kept in one shared Redis key
per IP (bounded: the newest ``rules.state.MAX_IP_ACCOUNTS``), looked up per batch.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from rules.features import BatchContext
from rules.registry import RuleDef, RuleResult, register
from rules.state import IP_RETENTION_MS, MAX_IP_ACCOUNTS
from rules.text import duration_en, duration_vi


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    min_accounts: Annotated[int, Meta(ge=2, le=MAX_IP_ACCOUNTS)] = 3
    window_s: Annotated[int, Meta(ge=60, le=IP_RETENTION_MS // 1000)] = 86_400


def evaluate(ctx: BatchContext, params: Params) -> RuleResult:
    b = ctx.batch
    count, new, peers = ctx.ip_accounts_within(params.window_s * 1000)
    hit = new & (count >= params.min_accounts)

    def explain(row: int) -> tuple[str, str, dict[str, Any]]:
        ip, country, n = b.ip[row], str(ctx.countries[row]), int(count[row])
        others = peers.get(row, [])
        evidence = {
            "ip": ip,
            "ip_country": country,
            "accounts_on_ip": n,
            "other_accounts": others[:20],
            "window_s": params.window_s,
        }
        window_vi, window_en = duration_vi(params.window_s), duration_en(params.window_s)
        vi = f"IP nước ngoài {ip} ({country}) đã được {n} tài khoản sử dụng trong {window_vi}: nghi tài khoản thuê/mượn"
        en = f"Foreign IP {ip} ({country}) used by {n} accounts within {window_en}: possible rented / mule accounts"
        return vi, en, evidence

    return RuleResult(hit=hit, escalated=None, explain=explain)


RULE = register(
    RuleDef(
        id="R6b",
        name="foreign_ip_cluster",
        params=Params,
        evaluate=evaluate,
        source="Hanoi plan III.8 (foreign IP addresses); proposed",
    )
)
