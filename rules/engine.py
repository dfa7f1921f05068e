"""The rule engine: one batch of columns and stored states in, hits and new states out.

Pure: no Kafka, no Redis, no clock in any decision (``time.perf_counter`` only feeds the
optional ``RuleEngine.timings`` profile). ``streams`` calls it for every batch and
``txmon backtest`` calls it on files, so both decide alike.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from rules.columns import INCOMING_TRANSFER, LOGIN, TRANSFER, EventBatch
from rules.config import Ruleset
from rules.facts import add_elapsed
from rules.facts.batch import Sources
from rules.facts.delivery import redelivered as _redelivered
from rules.facts.delivery import replayed as _replayed
from rules.features import BatchContext, advance_states
from rules.ip_cluster import Episode, IpVisits, batch_visits
from rules.model import Action, Channel, Outcome, RuleExecution, RuleHit, Severity
from rules.registry import EarlierHit
from rules.state import States

log = logging.getLogger(__name__)
# The event types (as alerts name them) that make R6b visits.
_VISIT_TYPES = {LOGIN: "Login", TRANSFER: "Transfer"}


class CountryLookup(Protocol):
    def countries(self, ips: Sequence[str | None]) -> npt.NDArray[np.str_]: ...


@dataclass(slots=True)
class Evaluation:
    # The rows judged: the input batch less money events the accounts' states had
    # already applied (resends from an earlier batch); ``RuleHit.row`` indexes it.
    batch: EventBatch
    hits: list[RuleHit]
    states: States
    countries: npt.NDArray[np.str_]
    # Rows left out: resent money events already counted (``replayed``), and events at or
    # below their account's applied offset, redelivered after a crash (``redelivered``).
    replayed: int = 0
    redelivered: int = 0
    # Every active rule's outcome on this batch, in ruleset order (hit / no hit / error).
    executions: list[RuleExecution] = field(default_factory=list)

    @property
    def errors(self) -> dict[str, str]:
        """Rule id -> error text, for rules that failed on this batch (the others still ran)."""
        return {e.rule_id: e.error or "" for e in self.executions if e.outcome is Outcome.ERROR}


class RuleEngine:
    def __init__(self, ruleset: Ruleset, geo: CountryLookup) -> None:
        self.ruleset = ruleset
        self.geo = geo
        # When set, ``evaluate`` adds the seconds each rule took (``rule:<id>``, the shared facts
        # it was first to need included) and each fact's ``advance`` (``fact:<name>``): a profile
        # that decides nothing (``python -m loadtest.engine_profile``).
        self.timings: MutableMapping[str, float] | None = None

    def foreign_ips(self, batch: EventBatch) -> tuple[npt.NDArray[np.str_], list[str]]:
        """Countries of the batch's IPs, and its distinct foreign IPs (what R6b looks up)."""
        countries = self.geo.countries(batch.ip)
        known = countries != ""
        foreign = known & ~np.isin(countries, list(self.ruleset.home_countries))
        return countries, list(dict.fromkeys(batch.ip[r] or "" for r in np.flatnonzero(foreign).tolist()))

    def ip_window_ms(self) -> int | None:
        """R6b's window, which decides how its visits are merged; None when R6b is off."""
        for rule in self.ruleset.rules:
            if rule.definition.id == "R6b":
                return int(rule.params.window_s) * 1000
        return None

    def ip_updates(self, batch: EventBatch, countries: npt.NDArray[np.str_]) -> dict[str, IpVisits]:
        """Foreign IP -> account -> the visits this batch's foreign logins and transfers make:
        what the caller merges into the shared R6b store *before* ``evaluate`` (which then
        gets the merged visits as ``ip_accounts``)."""
        window_ms = self.ip_window_ms()
        if window_ms is None or not len(batch):
            return {}
        known = countries != ""
        foreign = known & ~np.isin(countries, list(self.ruleset.home_countries))
        rows = np.flatnonzero(foreign & ((batch.kind == LOGIN) | (batch.kind == TRANSFER))).tolist()
        types = {r: _VISIT_TYPES[int(batch.kind[r])] for r in rows}
        return batch_visits(
            batch.ip, batch.accounts, batch.account, batch.ts_ms, batch.event_id, types, rows, window_ms
        )

    def evaluate(
        self,
        batch: EventBatch,
        states: States,
        counterparty_listed: npt.NDArray[np.bool_] | None = None,
        *,
        ip_accounts: Mapping[str, Mapping[str, Sequence[Episode]]] | None = None,
        countries: npt.NDArray[np.str_] | None = None,
        money_ids: npt.NDArray[np.int64] | None = None,
        facts: Mapping[str, Any] | None = None,
        explain: bool = True,
        sources: Sources | None = None,
    ) -> Evaluation:
        """Judge ``batch`` against ``states`` (one per account code; ``rules.state.States``).

        Looked up by the caller: ``counterparty_listed`` (per row, the counterparty is on the
        shared suspicious list: R7, R9), ``ip_accounts`` (foreign IP -> account -> visits,
        across workers, this batch's ``ip_updates`` merged in: R6b) and optionally
        ``countries`` (from ``foreign_ips``) and
        ``money_ids`` (from ``batch_money_ids``) and ``facts`` (from ``rules.features.batch_facts``),
        which depend on the batch alone. ``sources`` (live input) gives each row's partition
        and offset: rows an account's state has applied already are skipped, never judged twice.
        ``explain=False`` leaves the hits' reasons and evidence empty: for callers that only
        count decisions (back-tests), it saves the text and the facts only evidence needs.
        """
        timings, prepared = self.timings, time.perf_counter()
        if countries is None:
            countries = self.geo.countries(batch.ip)
        if money_ids is None:
            money_ids = batch_money_ids(batch)
        redelivered = _redelivered(batch, states, sources)
        replayed = _replayed(batch, states, money_ids) & ~redelivered
        if replayed.any() or redelivered.any():
            keep = ~(replayed | redelivered)
            batch, money_ids, countries = batch.take(keep), money_ids[keep], countries[keep]
            counterparty_listed = None if counterparty_listed is None else counterparty_listed[keep]
            sources = None if sources is None else sources.take(keep)
            facts = None  # they were for the whole batch
        home = self.ruleset.home_countries
        ctx = BatchContext(
            batch,
            states,
            countries,
            home,
            counterparty_listed,
            ip_accounts,
            facts,
            device_id_required_on=self.ruleset.device_id_required_on,
            money_ids=money_ids,
            sources=sources,
        )
        add_elapsed(timings, "engine:prepare", prepared)  # before the rules: replays, redeliveries dropped
        hits: list[RuleHit] = []
        executions: list[RuleExecution] = []
        for rule in self.ruleset.rules:
            rule_id, evaluate = rule.definition.id, rule.definition.evaluate
            if evaluate is None:
                continue
            before = len(hits)
            started = time.perf_counter()
            try:
                result = evaluate(ctx, rule.params)
                rows = np.flatnonzero(result.hit)
                spec, esc = rule.spec, rule.spec.escalation
                escalated = result.escalated if esc is not None else None
                usual = (spec.action, spec.severity, tuple(spec.channels))
                raised = usual if esc is None else (esc.action, esc.severity, tuple(esc.channels))
                for row, account, ts in zip(
                    rows.tolist(), batch.account[rows].tolist(), batch.ts_ms[rows].tolist(), strict=True
                ):
                    action, severity, channels = raised if escalated is not None and escalated[row] else usual
                    vi, en, evidence = result.explain(row) if explain else ("", "", {})
                    hits.append(
                        RuleHit(
                            rule_id=rule_id,
                            rule_name=rule.definition.name,
                            ruleset_version=self.ruleset.version,
                            row=row,
                            event_id=batch.event_id[row],
                            account_id=batch.accounts[account],
                            ts_ms=ts,
                            action=action,
                            severity=severity,
                            channels=channels,
                            reason_vi=vi,
                            reason_en=en,
                            evidence=evidence,
                        )
                    )
                hits += _earlier_hits(
                    rule_id, rule.definition.name, self.ruleset.version, usual, result.earlier, explain
                )
            except Exception as exc:  # a broken rule must not stop the others, nor pass unseen
                log.exception("rule %s failed on a batch of %d", rule_id, len(batch))
                error = f"{type(exc).__name__}: {exc}"
                del hits[before:]  # a rule that failed half-way decided nothing
                hits += rule_error_alerts(batch, rule_id, error, self.ruleset.version)
                executions.append(RuleExecution(rule_id, Outcome.ERROR, error=error))
                continue
            finally:
                add_elapsed(timings, f"rule:{rule_id}", started)
            n = len(hits) - before
            executions.append(RuleExecution(rule_id, Outcome.HIT if n else Outcome.NO_HIT, hits=n))
        new_states = advance_states(ctx, timings)
        return Evaluation(
            batch=batch,
            hits=hits,
            states=new_states,
            countries=countries,
            replayed=int(replayed.sum()),
            executions=executions,
            redelivered=int(redelivered.sum()),
        )


def rule_error_alerts(batch: EventBatch, rule_id: str, error: str, version: str) -> list[RuleHit]:
    """When a rule raises, the state still advances past the batch (a rule that fails on every
    batch must not stop the stream), so its miss is made visible on the alert path: one bank
    alert per account of the batch, on its last event, saying its events were not judged by
    the rule, with the error. Its rule id is ``<rule>:error``, so its alert id never takes the
    place of the rule's own alert on a later, successful judgement of the same event."""
    last_rows: dict[int, int] = {}
    counts: dict[int, int] = {}
    for row, account in enumerate(batch.account.tolist()):
        last_rows[account] = row
        counts[account] = counts.get(account, 0) + 1
    out = []
    for account, row in last_rows.items():
        n = counts[account]
        out.append(
            RuleHit(
                rule_id=f"{rule_id}:error",
                rule_name="rule_error",
                ruleset_version=version,
                row=row,
                event_id=batch.event_id[row],
                account_id=batch.accounts[account],
                ts_ms=int(batch.ts_ms[row]),
                action=Action.ALERT,
                severity=Severity.HIGH,
                channels=(Channel.BANK,),
                reason_vi=f"Quy tắc {rule_id} gặp lỗi: {n} sự kiện của tài khoản trong lô chưa được đánh giá",
                reason_en=f"Rule {rule_id} failed: {n} events of this account in the batch were not judged by it",
                evidence={
                    "rule_id": rule_id,
                    "outcome": str(Outcome.ERROR),
                    "error": error[:500],
                    "events_not_judged": n,
                },
            )
        )
    return out


def _earlier_hits(
    rule_id: str,
    name: str,
    version: str,
    usual: tuple[Action, Severity, tuple[Channel, ...]],
    earlier: Sequence[EarlierHit],
    explain: bool,
) -> list[RuleHit]:
    action, severity, channels = usual
    return [
        RuleHit(
            rule_id=rule_id,
            rule_name=name,
            ruleset_version=version,
            row=-1,
            event_id=e.event_id,
            account_id=e.account_id,
            ts_ms=e.ts_ms,
            action=action,
            severity=severity,
            channels=channels,
            reason_vi=e.reason_vi if explain else "",
            reason_en=e.reason_en if explain else "",
            evidence=e.evidence if explain else {},
            event=e.event,
            event_type=e.event_type,
        )
        for e in earlier
    ]


def id_hash(event_id: str) -> int:
    """A stable 63-bit hash of an event id (Python's ``hash`` differs between processes);
    states store it, so it must never change."""
    return int(id_hashes([event_id])[0])


def id_hashes(event_ids: Iterable[str]) -> npt.NDArray[np.int64]:
    """``id_hash`` of many ids at once: the checksums run in C loops (map), the combining in numpy."""
    raw = list(map(str.encode, event_ids))
    crc = np.fromiter(map(zlib.crc32, raw), np.int64, len(raw))
    adler = np.fromiter(map(zlib.adler32, raw), np.int64, len(raw))
    hashes = (crc << 31) ^ adler
    hashes[hashes == 0] = 1  # 0 means "no money event" in batch_money_ids
    return hashes


def batch_money_ids(batch: EventBatch) -> npt.NDArray[np.int64]:
    """Per row: the id hash of a transfer in or out, 0 for other events."""
    money = (batch.kind == TRANSFER) | (batch.kind == INCOMING_TRANSFER)
    ids = np.zeros(len(batch), np.int64)
    rows = np.flatnonzero(money).tolist()
    ids[rows] = id_hashes(map(batch.event_id.__getitem__, rows))
    return ids
