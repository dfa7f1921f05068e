"""The ordered-group primitives agree with a plain Python loop on random input."""

from __future__ import annotations

import random

import numpy as np
import pytest

from rules.facts.devices import remember
from rules.window import (
    cumsum_in_group,
    factor,
    group_order,
    last_in_group,
    member,
    pair_keys,
    prior_in_group,
    remember_recent,
    window_sum,
)


def naive_prior(keys: list[int], mask: list[bool]) -> list[int]:
    last: dict[int, int] = {}
    out = []
    for i, (k, m) in enumerate(zip(keys, mask, strict=True)):
        out.append(last.get(k, -1))
        if m:
            last[k] = i
    return out


@pytest.mark.parametrize("seed", range(20))
def test_prior_in_group_matches_a_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    keys = rng.integers(0, max(1, n // 5), n)
    mask = rng.random(n) < 0.4
    assert prior_in_group(keys, mask).tolist() == naive_prior(keys.tolist(), mask.tolist())


@pytest.mark.parametrize("seed", range(10))
def test_last_in_group_matches_a_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 7, 100)
    mask = rng.random(100) < 0.3
    expected = {int(k): i for i, (k, m) in enumerate(zip(keys, mask, strict=True)) if m}
    got_keys, got_rows = last_in_group(keys, mask)
    assert dict(zip(got_keys.tolist(), got_rows.tolist(), strict=True)) == expected


def test_empty_input() -> None:
    empty = np.empty(0, np.int64)
    assert prior_in_group(empty, empty.astype(bool)).tolist() == []
    assert [a.tolist() for a in last_in_group(empty, empty.astype(bool))] == [[], []]


def test_pair_keys_are_distinct_per_pair() -> None:
    a = np.array([0, 0, 1, 1, 2])
    b = np.array([-1, 3, -1, 3, 0])
    keys = pair_keys(a, b)
    assert len(set(keys.tolist())) == 5


def naive_last(keys: list[int], mask: list[bool]) -> dict[int, int]:
    return {k: i for i, (k, m) in enumerate(zip(keys, mask, strict=True)) if m}


# Shapes the rules produce: account codes (int32, few groups), pair keys (large int64), masks
# that are all set, all clear, or sparse.
SHAPES = [
    ("int32 account codes", np.int32, 0, 40, 0.5),
    ("one group", np.int64, 0, 1, 0.5),
    ("every row its own group", np.int64, 0, 10**9, 0.5),
    ("large pair keys", np.int64, 2**40, 2**40 + 50, 0.3),
    ("negative keys", np.int64, -20, 20, 0.3),
    ("mask all set", np.int64, 0, 10, 1.0),
    ("mask all clear", np.int64, 0, 10, 0.0),
]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("name", "dtype", "low", "high", "p"), SHAPES, ids=[s[0] for s in SHAPES])
def test_primitives_match_a_loop_on_every_shape(
    name: str, dtype: type, low: int, high: int, p: float, seed: int
) -> None:
    rng = np.random.default_rng([seed, len(name)])
    n = int(rng.integers(1, 200))
    keys: np.ndarray = rng.integers(low, high, n).astype(dtype)
    mask = rng.random(n) < p
    prior = prior_in_group(keys, mask)
    assert prior.dtype == np.int64
    assert prior.tolist() == naive_prior(keys.tolist(), mask.tolist())
    got_keys, got_rows = last_in_group(keys, mask)
    assert got_keys.dtype == np.int64 and got_rows.dtype == np.int64
    assert dict(zip(got_keys.tolist(), got_rows.tolist(), strict=True)) == naive_last(keys.tolist(), mask.tolist())


def test_prior_in_group_first_row_and_single_row() -> None:
    assert prior_in_group(np.array([5]), np.array([True])).tolist() == [-1]
    # A row never sees itself, only earlier rows.
    assert prior_in_group(np.array([1, 1, 1]), np.array([True, True, True])).tolist() == [-1, 0, 1]


def test_last_in_group_with_rows_but_no_mask() -> None:
    got_keys, got_rows = last_in_group(np.array([3, 1, 3]), np.zeros(3, np.bool_))
    assert got_keys.tolist() == [] and got_rows.tolist() == []


@pytest.mark.parametrize("seed", range(10))
def test_pair_keys_are_one_to_one_on_random_pairs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    a = rng.integers(0, 30, n).astype(np.int32)
    b = rng.integers(-1, int(rng.integers(1, 20)), n).astype(np.int32)  # -1: no device
    keys = pair_keys(a, b)
    assert keys.dtype == np.int64
    pairs = list(zip(a.tolist(), b.tolist(), strict=True))
    # Same key exactly when same pair.
    assert len(set(keys.tolist())) == len(set(pairs))
    assert len(set(zip(pairs, keys.tolist(), strict=True))) == len(set(pairs))
    # Grouping by the key is grouping by the pair.
    code: dict[tuple[int, int], int] = {}
    pair_codes = [code.setdefault(p, len(code)) for p in pairs]
    assert prior_in_group(keys, np.ones(n, np.bool_)).tolist() == naive_prior(pair_codes, [True] * n)


def test_pair_keys_on_empty_input() -> None:
    assert pair_keys(np.empty(0, np.int32), np.empty(0, np.int32)).tolist() == []


@pytest.mark.parametrize("seed", range(20))
def test_last_in_group_with_a_precomputed_order_agrees(seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 7, 60)
    mask = rng.random(60) < 0.4
    plain = last_in_group(keys, mask)
    ordered = last_in_group(keys, mask, group_order(keys))
    assert plain[0].tolist() == ordered[0].tolist() and plain[1].tolist() == ordered[1].tolist()


@pytest.mark.parametrize("seed", range(20))
def test_window_sum_and_cumsum_match_a_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys, values = rng.integers(0, 4, 40), rng.integers(0, 9, 40)
    ts = np.cumsum(rng.integers(0, 5, 40))
    expected_window = [
        sum(int(values[j]) for j in range(i + 1) if keys[j] == keys[i] and ts[j] > ts[i] - 7) for i in range(40)
    ]
    expected_cumsum = [sum(int(values[j]) for j in range(i + 1) if keys[j] == keys[i]) for i in range(40)]
    assert window_sum(keys, ts, values, 7).tolist() == expected_window
    assert window_sum(keys, ts, values, 7, group_order(keys)).tolist() == expected_window
    assert cumsum_in_group(keys, values).tolist() == expected_cumsum


@pytest.mark.parametrize("seed", range(20))
def test_group_order_and_factor_agree_with_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys = rng.integers(-3, 9, 50)
    assert group_order(keys).tolist() == np.argsort(keys, kind="stable").tolist()
    uniq, first, inverse = factor(keys)
    expected = np.unique(keys, return_index=True, return_inverse=True)
    assert [uniq.tolist(), first.tolist(), inverse.tolist()] == [a.reshape(-1).tolist() for a in expected]
    huge = keys.astype(np.int64) * (1 << 60) // 16  # too wide for the fast path
    assert group_order(huge).tolist() == np.argsort(huge, kind="stable").tolist()


@pytest.mark.parametrize("seed", range(10))
def test_member_agrees_with_isin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values, table = rng.integers(0, 50, 200), rng.integers(0, 50, rng.integers(0, 12))
    assert member(values, table).tolist() == np.isin(values, table).tolist()


@pytest.mark.parametrize("seed", range(30))
def test_remember_recent_is_remove_append_and_keep_the_newest(seed: int) -> None:
    """Against the per-value list operations it replaces (``rules.facts.devices.remember``)."""
    rng = random.Random(seed)
    width, accounts = rng.randint(1, 5), rng.randint(1, 6)
    lists = [rng.sample(range(1, 9), rng.randint(0, width)) for _ in range(accounts)]
    slots = np.zeros((accounts, width), np.int64)
    for a, values in enumerate(lists):
        slots[a, : len(values)] = values
    every = [(a, v) for a in range(accounts) for v in range(1, 12)]
    pairs = rng.sample(every, rng.randint(0, min(20, len(every))))
    for a, v in pairs:
        remember(lists[a], v, width)  # type: ignore[arg-type]
    remember_recent(slots, np.array([a for a, _ in pairs], np.int64), np.array([v for _, v in pairs], np.int64))
    assert [[v for v in row if v] for row in slots.tolist()] == lists
