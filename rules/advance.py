"""How a batch advances the accounts' states (``rules.state.AccountState``): after all its
rows, vectorised with numpy where it can, then one Python pass per account or bucket.

The given states are the batch's own copies (decoded from the store for it), so they are
updated in place. ``rules.engine`` calls ``advance`` once per batch, after the rules.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence

import numpy as np

from rules.columns import (
    BIOMETRIC,
    ID_DOCUMENT_CHANGE,
    INCOMING_TRANSFER,
    LOGIN,
    OTP_PHONE_CHANGE,
    TRANSFER,
    EventBatch,
    factorize,
)
from rules.state import (
    FLOW_RETENTION_H,
    HOUR_MS,
    LARGE_OUTFLOW_VND,
    MAX_APPLIED,
    MAX_COUNTRIES,
    MAX_DEVICES,
    MAX_INFLOWS,
    MAX_OUTFLOWS,
    MAX_PAID_DAYS,
    MAX_PAYERS,
    MAX_TAINTED,
    PAID_RETENTION_DAYS,
    PAYER_RETENTION_MS,
    RESEND_HORIZON_MS,
    TAINTED_RETENTION_MS,
    AccountState,
)
from rules.window import factor, group_order, last_in_group, pair_keys, run_starts, short_string_codes


def _remember(items: list[str], item: str, limit: int) -> None:
    if item in items:
        items.remove(item)
    items.append(item)
    del items[:-limit]


def advance(
    batch: EventBatch,
    states: Sequence[AccountState | None],
    countries: np.ndarray,
    new_device_login: np.ndarray,
    day: np.ndarray,
    day_total: np.ndarray,
    tainted_in: np.ndarray,
    money_ids: np.ndarray,
    by_account: np.ndarray | None = None,
    by_device_pair: np.ndarray | None = None,
    country_pairs: tuple[np.ndarray, list[str], np.ndarray, np.ndarray] | None = None,
    partition: np.ndarray | None = None,
    offset: np.ndarray | None = None,
) -> list[AccountState]:
    """State of every account in ``batch`` after all its rows (index = account code).

    ``tainted_in`` marks incoming transfers from listed accounts (R9); ``money_ids``
    holds the id hash of every transfer in or out (0 for other rows). When the caller has
    them (``rules.features.BatchContext``), ``by_account`` is ``group_order(batch.account)``,
    ``by_device_pair`` the order of ``pair_keys(account, device)`` and ``country_pairs`` its
    ``country_pairs``; otherwise they are computed here.

    The given states are this batch's own copies (decoded from the store for it),
    so they are updated in place rather than copied.
    """
    new = [s if s is not None else AccountState() for s in states]
    acct, dev, kind, ts = batch.account, batch.device, batch.kind, batch.ts_ms
    devices = batch.devices
    has_dev = dev >= 0

    bio_accounts, bio_rows = last_in_group(acct, (kind == BIOMETRIC) & (batch.bio == 1), by_account)
    last_bio = dict(zip(bio_accounts.tolist(), bio_rows.tolist(), strict=True))
    for a, t in _last(bio_accounts, bio_rows, ts):
        s = new[a]
        s.otp_confirmed = True
        s.bio_match_ms = t
    otp_accounts, otp_rows = last_in_group(acct, kind == OTP_PHONE_CHANGE, by_account)
    for a, row, t in zip(otp_accounts.tolist(), otp_rows.tolist(), ts[otp_rows].tolist(), strict=True):
        new[a].otp_change_ms = t
        new[a].otp_confirmed = last_bio.get(a, -1) > row
    for a, t in _last(*last_in_group(acct, new_device_login, by_account), ts):
        new[a].new_device_login_ms = t
    # R1 keeps the total of the account's latest Vietnamese day: a late transfer (an earlier day)
    # counts toward its own day's total but never replaces the latest day's.
    is_transfer = kind == TRANSFER
    latest_day = np.full(len(new), np.iinfo(np.int64).min, np.int64)
    np.maximum.at(latest_day, acct[is_transfer], day[is_transfer])
    on_latest_day = is_transfer & (day == latest_day[acct])
    for a, d, total in _last(*last_in_group(acct, on_latest_day, by_account), day, day_total):
        s = new[a]
        if d >= s.day:
            s.day = d
            s.day_total = total
    if batch.id_expires_day is not None:
        for a, expires in _last(*last_in_group(acct, kind == ID_DOCUMENT_CHANGE, by_account), batch.id_expires_day):
            new[a].id_expires_day = expires
    transfer_accounts, transfer_rows = last_in_group(acct, (kind == TRANSFER) & has_dev, by_account)
    for a, d, t in _last(transfer_accounts, transfer_rows, dev, ts):
        s = new[a]
        s.last_transfer_device = devices[d]
        s.last_transfer_ms = t

    width = int(dev.max(initial=0)) + 2
    pairs = pair_keys(acct, dev)
    if by_device_pair is None:
        by_device_pair = group_order(pairs)
    for key, row in _pairs(last_in_group(pairs, (kind == BIOMETRIC) & has_dev, by_device_pair)):
        a, name, matched = key // width, devices[dev[row]], batch.bio[row] == 1
        s = new[a]
        t = int(ts[row])
        s.bio[name] = t if matched else -t
        if len(s.bio) > MAX_DEVICES:  # forget the oldest result
            del s.bio[min(s.bio, key=lambda d: abs(s.bio[d]))]
    _, dev_rows = last_in_group(pairs, has_dev, by_device_pair)
    dev_rows.sort()  # in row order so "most recent last" holds
    for a, d in zip(acct[dev_rows].tolist(), dev[dev_rows].tolist(), strict=True):
        known, name = new[a].known_devices, devices[d]
        if not known or known[-1] != name:  # inline check: most events reuse the last device
            _remember(known, name, MAX_DEVICES)

    with_ip = ((kind == LOGIN) | (kind == TRANSFER)) & (countries != "")
    if country_pairs is None:
        codes, names = short_string_codes(countries)
        keys = pair_keys(acct, codes)
        country_pairs = codes, names, keys, group_order(keys)
    inverse, names, country_keys, by_country_pair = country_pairs
    _, ip_rows = last_in_group(country_keys, with_ip, by_country_pair)
    ip_rows.sort()
    for a, c in zip(acct[ip_rows].tolist(), inverse[ip_rows].tolist(), strict=True):
        seen, name = new[a].countries, names[c]
        if not seen or seen[-1] != name:
            _remember(seen, name, MAX_COUNTRIES)
    _advance_money(batch, new, tainted_in, money_ids)
    _remember_payees(batch, new, day)
    if partition is not None and offset is not None and len(batch):
        keys, rows = last_in_group(pair_keys(acct, partition), np.ones(len(batch), np.bool_))
        for a, p, o in zip(acct[rows].tolist(), partition[rows].tolist(), offset[rows].tolist(), strict=True):
            offsets = new[a].offsets
            if o > offsets.get(p, -1):
                offsets[p] = o
    return new


def _advance_money(batch: EventBatch, new: list[AccountState], tainted_in: np.ndarray, money_ids: np.ndarray) -> None:
    """Totals, payers, hourly flow, tainted inflow and applied ids (R8, R9, R10).

    The batch's money rows are summed per account and per (account, hour) with numpy
    first, so the Python loops run once per account or bucket, not once per row.
    """
    rows = np.flatnonzero((batch.kind == TRANSFER) | (batch.kind == INCOMING_TRANSFER))
    if len(rows) == 0:
        return
    acct, ts, amount = batch.account[rows], batch.ts_ms[rows], batch.amount[rows]
    incoming = batch.kind[rows] == INCOMING_TRANSFER
    money_in, money_out = np.where(incoming, amount, 0), np.where(incoming, 0, amount)

    # money in / out per (account, hour), buckets in hour order
    hour = ts // HOUR_MS
    keys = pair_keys(acct, hour - int(hour.min()))
    uniq, first, inverse = factor(keys)
    sum_in, sum_out = np.zeros(len(uniq), np.int64), np.zeros(len(uniq), np.int64)
    np.add.at(sum_in, inverse, money_in)
    np.add.at(sum_out, inverse, money_out)
    for a, h, got, sent in zip(
        acct[first].tolist(), hour[first].tolist(), sum_in.tolist(), sum_out.tolist(), strict=True
    ):
        s = new[a]
        hours = s.flow_hour
        if not hours or hours[-1] < h:  # the usual case: a new hour, appended in order
            hours.append(h)
            s.flow_in.append(got)
            s.flow_out.append(sent)
        else:
            i = _hour_slot(s, h)
            s.flow_in[i] += got
            s.flow_out[i] += sent

    # transfers made, for the usual amount
    out = ~incoming
    senders = np.flatnonzero(np.bincount(acct[out], minlength=len(new)))
    count = np.bincount(acct[out], minlength=len(new))[senders]
    totals = np.zeros(len(new), np.int64)
    np.add.at(totals, acct[out], amount[out])
    for a, n, total in zip(senders.tolist(), count.tolist(), totals[senders].tolist(), strict=True):
        s = new[a]
        s.transfer_count += n
        s.transfer_sum += total

    # the money ids per account within the resend horizon (rows of an account in arrival order)
    order = group_order(acct)
    ids, times = money_ids[rows][order].tolist(), ts[order].tolist()
    grouped = acct[order]
    starts = np.flatnonzero(run_starts(grouped))
    ends = np.r_[starts[1:], len(order)]
    with_money = grouped[starts].tolist()  # every account with a money row, once
    for a, lo, hi in zip(with_money, starts.tolist(), ends.tolist(), strict=True):
        _remember_ids(new[a], ids[lo:hi], times[lo:hi])

    # each payer's latest incoming transfer
    received: set[int] = set()
    if incoming.any():
        dest = batch.dest or [None] * len(batch)
        codes, names = factorize([dest[r] or "" for r in rows[incoming].tolist()])
        width = len(names) + 1
        last_keys, last_rows = last_in_group(
            acct[incoming].astype(np.int64) * width + codes, np.ones(len(codes), np.bool_)
        )
        at = ts[incoming]
        for key, t in zip(last_keys.tolist(), at[last_rows].tolist(), strict=True):
            s, payer = new[key // width], names[key % width]
            if t > s.payers.get(payer, -1):
                s.payers[payer] = t
            received.add(key // width)
        _remember_inflows(new, acct[incoming].tolist(), at.tolist(), [dest[r] or "" for r in rows[incoming].tolist()])
    for a in with_money:
        s = new[a]
        hours = s.flow_hour
        if hours[0] <= hours[-1] - FLOW_RETENTION_H:  # hours are in order: drop from the front
            drop = bisect.bisect_right(hours, hours[-1] - FLOW_RETENTION_H)
            del hours[:drop], s.flow_in[:drop], s.flow_out[:drop]
    for a in received:
        payers = new[a].payers
        newest = max(payers.values())
        if len(payers) > MAX_PAYERS or min(payers.values()) <= newest - PAYER_RETENTION_MS:
            kept = sorted(((t, p) for p, t in payers.items() if t > newest - PAYER_RETENTION_MS), reverse=True)
            new[a].payers = {p: t for t, p in kept[:MAX_PAYERS]}
    for a, t in zip(batch.account[tainted_in].tolist(), batch.ts_ms[tainted_in].tolist(), strict=True):
        times = new[a].tainted_ms
        times.append(int(t))
        newest = max(times)
        times[:] = [x for x in times if x > newest - TAINTED_RETENTION_MS][-MAX_TAINTED:]


def _remember_inflows(new: list[AccountState], accounts: list[int], times: list[int], payers: list[str]) -> None:
    """Append incoming transfers (in arrival order) and keep each account's newest ones."""
    touched = set(accounts)
    for a, t, payer in zip(accounts, times, payers, strict=True):
        new[a].inflow_ms.append(t)
        new[a].inflow_from.append(payer)
    for a in touched:
        s = new[a]
        newest = max(s.inflow_ms)
        if len(s.inflow_ms) > MAX_INFLOWS or min(s.inflow_ms) <= newest - PAYER_RETENTION_MS:
            kept = [i for i, t in enumerate(s.inflow_ms) if t > newest - PAYER_RETENTION_MS][-MAX_INFLOWS:]
            s.inflow_ms = [s.inflow_ms[i] for i in kept]
            s.inflow_from = [s.inflow_from[i] for i in kept]


def _remember_payees(batch: EventBatch, new: list[AccountState], day: np.ndarray) -> None:
    """R8: record each (payee, Vietnamese day) of the batch's transfers once, ``paid_day`` kept in
    day order (a late transfer is inserted at its day); the oldest days go first. A transfer to
    a payee paid on an earlier day, or of ``LARGE_OUTFLOW_VND`` or more, is also kept as an
    outflow (``outflow_*``, R8 and R15)."""
    rows = np.flatnonzero(batch.kind == TRANSFER)
    if len(rows) == 0 or batch.dest is None:
        return
    dest, ts, amount = batch.dest, batch.ts_ms[rows].tolist(), batch.amount[rows].tolist()
    touched: set[int] = set()
    sent: set[int] = set()
    for r, a, d, t, vnd in zip(
        rows.tolist(), batch.account[rows].tolist(), day[rows].tolist(), ts, amount, strict=True
    ):
        payee = dest[r]
        if not payee:
            continue
        s = new[a]
        lo, hi = bisect.bisect_left(s.paid_day, d), bisect.bisect_right(s.paid_day, d)
        if vnd >= LARGE_OUTFLOW_VND or payee in s.paid_to[:lo]:
            s.outflow_ms.append(t)
            s.outflow_to.append(payee)
            s.outflow_vnd.append(vnd)
            sent.add(a)
        if payee not in s.paid_to[lo:hi]:
            s.paid_to.insert(hi, payee)
            s.paid_day.insert(hi, d)
            touched.add(a)
    for a in touched:
        s = new[a]
        too_old = bisect.bisect_right(s.paid_day, s.paid_day[-1] - PAID_RETENTION_DAYS)
        drop = max(len(s.paid_day) - MAX_PAID_DAYS, too_old)
        if drop > 0:
            del s.paid_to[:drop], s.paid_day[:drop]
    for a in sent:
        s = new[a]
        since = s.outflow_ms[-1] - FLOW_RETENTION_H * HOUR_MS  # the latest to arrive
        if len(s.outflow_ms) > MAX_OUTFLOWS or s.outflow_ms[0] <= since:
            kept = [i for i, t in enumerate(s.outflow_ms) if t > since][-MAX_OUTFLOWS:]
            s.outflow_ms = [s.outflow_ms[i] for i in kept]
            s.outflow_to = [s.outflow_to[i] for i in kept]
            s.outflow_vnd = [s.outflow_vnd[i] for i in kept]


def _remember_ids(s: AccountState, ids: list[int], times: list[int]) -> None:
    """Add money event ids; keep those within RESEND_HORIZON_MS of the newest, at most MAX_APPLIED."""
    applied, at = s.applied, s.applied_ms
    if len(at) != len(applied):  # written before event times were kept: count them as the newest
        at[:] = at[-len(applied) :] if len(at) > len(applied) else [max(times)] * (len(applied) - len(at)) + at
    applied += ids
    at += times
    cutoff = max(at) - RESEND_HORIZON_MS
    if len(applied) > MAX_APPLIED or min(at) <= cutoff:
        kept = [i for i, t in enumerate(at) if t > cutoff][-MAX_APPLIED:]
        s.applied = [applied[i] for i in kept]
        s.applied_ms = [at[i] for i in kept]


def _hour_slot(s: AccountState, hour: int) -> int:
    """Index of ``hour`` in the account's hourly flow (a late event), inserted in order when missing."""
    i = bisect.bisect_left(s.flow_hour, hour)
    if i == len(s.flow_hour) or s.flow_hour[i] != hour:
        s.flow_hour.insert(i, hour)
        s.flow_in.insert(i, 0)
        s.flow_out.insert(i, 0)
    return i


def _pairs(found: tuple[np.ndarray, np.ndarray]) -> list[tuple[int, int]]:
    keys, rows = found
    return list(zip(keys.tolist(), rows.tolist(), strict=True))


def _last(keys: np.ndarray, rows: np.ndarray, *columns: np.ndarray) -> Iterator[tuple[int, ...]]:
    """``(key, column values at its row...)`` as Python ints, for per-account updates."""
    return zip(keys.tolist(), *(c[rows].tolist() for c in columns), strict=True)
