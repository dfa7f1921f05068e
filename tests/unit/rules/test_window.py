"""The ordered-group primitives agree with a plain Python loop on random input."""

from __future__ import annotations

import numpy as np
import pytest

from rules.window import last_in_group, pair_keys, prior_in_group


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
