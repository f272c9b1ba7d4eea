"""Reconnect delays: exponential backoff with full jitter, as a pure function."""

from __future__ import annotations

import random

import pytest

from wsclient.backoff import (
    DEFAULT_AFTER_DROP,
    DEFAULT_FACTOR,
    DEFAULT_INITIAL,
    DEFAULT_MAX,
    backoff_window,
    reconnect_delay,
)
from wsclient.options import Options


def test_exact_sequence_from_a_seeded_source() -> None:
    """The defaults and Random(42) give exactly this sequence of delays."""
    rng = random.Random(42)
    delays = [round(reconnect_delay(n, rng.random), 6) for n in range(1, 9)]
    assert delays == [
        0.639427,
        0.050022,
        1.100117,
        1.785686,
        11.783539,
        20.300985,
        26.765387,
        2.608165,
    ]


def test_windows_double_from_1_s_up_to_30_s() -> None:
    """The seed's numbers: 1, 2, 4, 8, 16 s, then capped at 30 s."""
    assert [backoff_window(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_source_that_always_returns_1_gives_the_seeds_delays() -> None:
    """With no jitter the delay is the whole window (the seed's policy)."""
    assert [reconnect_delay(n, lambda: 1.0) for n in range(1, 7)] == [1, 2, 4, 8, 16, 30]


def test_every_delay_is_within_zero_and_the_cap() -> None:
    """Full jitter: 0 <= delay <= min(cap, window) for draws at both ends."""
    for n in range(1, 50):
        assert reconnect_delay(n, lambda: 0.0) == 0
        assert 0 <= reconnect_delay(n, lambda: 1.0) <= DEFAULT_MAX


def test_parameters_shape_the_window() -> None:
    """initial, factor and cap are all used."""
    assert [backoff_window(n, initial=0.5, factor=3, cap=10) for n in range(1, 5)] == [
        0.5,
        1.5,
        4.5,
        10,
    ]


def test_huge_attempt_numbers_do_not_overflow() -> None:
    """After days of retries the window is simply the cap."""
    assert backoff_window(100_000) == DEFAULT_MAX
    assert backoff_window(10**9, factor=10) == DEFAULT_MAX


def test_attempt_numbers_start_at_1() -> None:
    """Attempt 0 is not a retry."""
    with pytest.raises(ValueError, match="attempt"):
        backoff_window(0)


@pytest.mark.parametrize("draw", [-0.1, 1.5, float("nan")])
def test_a_random_source_out_of_range_is_refused(draw: float) -> None:
    """The random source must return a float in [0, 1]."""
    with pytest.raises(ValueError, match="random source"):
        reconnect_delay(1, lambda: draw)


def test_options_defaults_come_from_the_backoff_constants() -> None:
    """Docs and constants live in one place: Options uses backoff.py's defaults."""
    o = Options()
    assert (o.backoff_initial, o.backoff_factor, o.backoff_max, o.backoff_after_drop) == (
        DEFAULT_INITIAL,
        DEFAULT_FACTOR,
        DEFAULT_MAX,
        DEFAULT_AFTER_DROP,
    )
