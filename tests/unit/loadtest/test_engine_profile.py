"""``python -m loadtest.engine_profile``: every rule and fact timed, within the total, on a small run."""

from __future__ import annotations

from loadtest.engine_profile import decoded_batches, format_profile, profile


def test_the_parts_are_within_the_total() -> None:
    us = profile(decoded_batches(3_000, accounts=500))
    assert us["total"] > 0 and "rule:R1" in us and "fact:Devices" in us
    assert us["other"] >= 0  # the timed parts never add up to more than the whole
    table = format_profile(us)
    assert table.splitlines()[0] == "| part | µs per event | share |" and "**total**" in table
