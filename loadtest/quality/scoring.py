"""Decisions scored against intent, per typology; live and back-test decisions compared.

A decision is ``(account, event_id, rule, action, event ms)``. Only decisions on events of the
incident days count: the week before is history that builds state (its holds are reported
apart, as warm-up). A ``hold`` account is caught when any hold lands on it; an ``alert``
account when any alert or hold does; a false hold is a hold on an account whose intent is
not ``hold``, except a protective one: a hold on a scam victim (a customer the scenarios had pay
a mule, ``scammed_from_ms``) at or after their first payment to it. Those are the holds the
bank must place for the victim (as for the coached victims of ``remote_access``), counted
apart (``Row.protective``), never as false holds nor as catches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from loadtest.quality.typologies import TYPOLOGIES

Decision = tuple[str, str, str, str, int]
HOLDING = ("hold", "freeze")
GOAL_HOLD_RECALL, GOAL_FALSE_HOLDS = 0.99, 0.001


@dataclass
class Row:
    typology: str
    intent: str
    accounts: int
    held: int
    alerted: int
    protective: int = 0  # accounts held only as scam victims, at or after paying a mule

    @property
    def hold_recall(self) -> float | None:
        return self.held / self.accounts if self.intent == "hold" and self.accounts else None

    @property
    def alert_recall(self) -> float | None:
        return self.alerted / self.accounts if self.intent in ("hold", "alert") and self.accounts else None

    @property
    def false_holds(self) -> int:
        return 0 if self.intent == "hold" else self.held


def score(manifest: Mapping[str, Mapping[str, Any]], decisions: Iterable[Decision], from_ms: int) -> list[Row]:
    held: set[str] = set()
    protected: set[str] = set()
    alerted: set[str] = set()
    for account, _, _, action, ms in decisions:
        if ms >= from_ms:
            alerted.add(account)
            if action in HOLDING:
                (protected if _protective(manifest[account], ms) else held).add(account)
    rows = []
    for typology, t in TYPOLOGIES.items():
        members = {a for a, m in manifest.items() if m["typology"] == typology}
        row = Row(typology, t.intent, len(members), len(held & members), len(alerted & members))
        row.protective = len((protected - held) & members)
        rows.append(row)
    return rows


def _protective(account: Mapping[str, Any], ms: int) -> bool:
    """A hold on a scam victim at or after their first payment to a mule (not a false hold)."""
    since = account.get("scammed_from_ms")
    return account["intent"] != "hold" and since is not None and ms >= since


def victims(manifest: Mapping[str, Mapping[str, Any]]) -> int:
    """The customers the scenarios had pay a mule."""
    return sum(1 for m in manifest.values() if "scammed_from_ms" in m)


def warm_up_holds(decisions: Iterable[Decision], from_ms: int) -> int:
    """Accounts held during the week of history (before any incident)."""
    return len({d[0] for d in decisions if d[4] < from_ms and d[3] in HOLDING})


def rules_behind(manifest: Mapping[str, Mapping[str, Any]], decisions: Iterable[Decision], from_ms: int) -> str:
    """Which rules placed the false holds, and on which typology: where to look first."""
    found: Counter[str] = Counter()
    for account, _, rule, action, ms in decisions:
        m = manifest[account]
        if ms >= from_ms and action in HOLDING and m["intent"] != "hold" and not _protective(m, ms):
            found[f"{rule} on {manifest[account]['typology']}"] += 1
    return ", ".join(f"{k} ({n})" for k, n in found.most_common(8)) or "none"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def format_table(rows: list[Row], live: list[Row] | None = None) -> str:
    """The per-typology table (markdown); with ``live``, the live run's recall beside the back-test's."""
    head = "| typology | intent | accounts | hold recall | alert recall | false holds |"
    lines = [head + (" live hold recall | live false holds |" if live else ""), ""]
    lines[1] = "|" + "---|" * (head.count("|") - 1 + (2 if live else 0))
    for i, r in enumerate(rows):
        line = (
            f"| {r.typology} | {r.intent} | {r.accounts:,} | {_pct(r.hold_recall)} | {_pct(r.alert_recall)} "
            f"| {r.false_holds:,} |"
        )
        if live:
            line += f" {_pct(live[i].hold_recall)} | {live[i].false_holds:,} |"
        lines.append(line)
    return "\n".join(lines)


def summary(rows: list[Row]) -> tuple[float, int, int]:
    """(false holds as a share of the accounts not to be held, false holds, those accounts)."""
    normal = sum(r.accounts for r in rows if r.intent != "hold")
    false = sum(r.false_holds for r in rows)
    return (false / normal if normal else 0.0), false, normal


def goals(rows: list[Row]) -> list[str]:
    """The goals of issue 13, each with whether this run meets it (printed, never asserted)."""
    share, false, normal = summary(rows)
    out = []
    for r in rows:
        if r.intent == "hold":
            ok = (r.hold_recall or 0.0) >= GOAL_HOLD_RECALL
            out.append(f"{'met' if ok else 'NOT met'}: hold recall {_pct(r.hold_recall)} >= 99 % on {r.typology}")
    ok = share <= GOAL_FALSE_HOLDS
    out.append(
        f"{'met' if ok else 'NOT met'}: false holds {share:.2%} ({false} of {normal}) <= 0.1 % of normal accounts"
    )
    return out


def agreement(live: Iterable[Decision], backtest: Iterable[Decision]) -> tuple[int, int, int]:
    """(decisions both made, only live, only the back-test), as (account, event, rule, action)."""
    a = {d[:4] for d in live}
    b = {d[:4] for d in backtest}
    return len(a & b), len(a - b), len(b - a)


def disagreement_by_rule(live: Iterable[Decision], backtest: Iterable[Decision]) -> str:
    """Rules of the decisions only one side made, most first: where live and back-test part."""
    a = {d[:4] for d in live}
    b = {d[:4] for d in backtest}
    found = Counter(f"{d[2]} only live" for d in a - b) + Counter(f"{d[2]} only back-test" for d in b - a)
    return ", ".join(f"{k} ({n})" for k, n in found.most_common(8)) or "none"
