"""R6b — several accounts used from one foreign IP address within a day.

Source: Hanoi plan III.8 ("detect, classify and warn about accounts transacting
from foreign IP addresses"); a proposed rule: one overseas address driving many
accounts is how rented / mule accounts are run from abroad. Signal: ``min_accounts``
or more accounts visit one foreign IP (logins, transfers) within ``window_s``; every
account of the ring is alerted, on the first event of its visit (``rules.ip_cluster``),
the first two when the third arrives. Accounts live on every partition, so the IP's
visits are one shared Redis key per IP, merged and read in one atomic step per batch.
The decision depends on the set of events only: any batch split, worker count or
arrival order gives the same alert ids (the evidence says what was known when raised).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import numpy as np
from msgspec import Meta

from rules.features import BatchContext
from rules.ip_cluster import ring_visits
from rules.registry import EarlierHit, RuleDef, RuleResult, register
from rules.state import IP_RETENTION_MS, MAX_IP_ACCOUNTS
from rules.text import duration_en, duration_vi


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    min_accounts: Annotated[int, Meta(ge=2, le=MAX_IP_ACCOUNTS)] = 3
    window_s: Annotated[int, Meta(ge=60, le=IP_RETENTION_MS // 1000)] = 86_400


def evaluate(ctx: BatchContext, params: Params) -> RuleResult:
    b, window_ms = ctx.batch, params.window_s * 1000
    hit = np.zeros(len(b), np.bool_)
    found: dict[int, tuple[str, str, dict[str, Any]]] = {}
    earlier: list[EarlierHit] = []
    foreign = np.flatnonzero(ctx.foreign).tolist()
    first_row = {(b.accounts[b.account[r]], b.event_id[r]): r for r in reversed(foreign)}
    country = {b.ip[r] or "": str(ctx.countries[r]) for r in foreign}
    for ip in dict.fromkeys(b.ip[r] or "" for r in foreign):
        for account, (start, _end, event_id, event_type), peers in ring_visits(
            ctx.ip_accounts.get(ip, {}), window_ms, params.min_accounts
        ):
            why = _explain(ip, country[ip], peers, params.window_s)
            row = first_row.get((account, event_id))
            if row is not None:
                hit[row] = True
                found[row] = why
            else:
                event = {"event_id": event_id, "account_id": account, "ip": ip}
                earlier.append(EarlierHit(account, event_id, event_type, start, event, *why))
    return RuleResult(hit=hit, escalated=None, explain=found.__getitem__, earlier=earlier)


def _explain(ip: str, country: str, peers: list[str], window_s: int) -> tuple[str, str, dict[str, Any]]:
    n = len(peers) + 1
    evidence = {
        "ip": ip,
        "ip_country": country,
        "accounts_on_ip": n,
        "other_accounts": peers[:20],
        "window_s": window_s,
    }
    window_vi, window_en = duration_vi(window_s), duration_en(window_s)
    vi = f"IP nước ngoài {ip} ({country}) đã được {n} tài khoản sử dụng trong {window_vi}: nghi tài khoản thuê/mượn"
    en = f"Foreign IP {ip} ({country}) used by {n} accounts within {window_en}: possible rented / mule accounts"
    return vi, en, evidence


RULE = register(
    RuleDef(
        id="R6b",
        name="foreign_ip_cluster",
        params=Params,
        evaluate=evaluate,
        source="Hanoi plan III.8 (foreign IP addresses); proposed",
    )
)
