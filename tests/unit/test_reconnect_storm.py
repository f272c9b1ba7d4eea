"""10,000 clients, one server restart: the reconnect storm stays under 2 % per 100 ms."""

from __future__ import annotations

import pytest

from bench.reconnect_storm import (
    CLIENTS,
    StormResult,
    defaults,
    peak_in_window,
    seed_policy,
    simulate,
)

LIMIT = 0.02


@pytest.fixture(scope="module")
def storm() -> StormResult:
    return defaults()


def test_peak_in_window_counts_a_sliding_window() -> None:
    """The peak is over any 100 ms window, not fixed buckets."""
    assert peak_in_window([0.05, 0.12, 0.14, 0.3]) == (3, 0.05)
    assert peak_in_window([]) == (0, 0.0)


def test_defaults_keep_the_storm_under_2_percent(storm: StormResult) -> None:
    """With the default options no 100 ms window sees more than 2 % of the clients attempt."""
    assert storm.peak_all_share <= LIMIT
    assert storm.peak_after_back_share <= LIMIT


def test_every_client_gets_back(storm: StormResult) -> None:
    """The spread costs time, not clients: everyone is back within the 30 s cap after t = 5 s."""
    assert storm.reconnected == CLIENTS
    assert storm.last_reconnect <= 5 + 30 + 1


@pytest.mark.parametrize("code", [1001, 1012])
def test_a_graceful_shutdown_is_spread_the_same_way(code: int) -> None:
    """A server that says it is going away gets the same spread as one that crashes (1006)."""
    crash = simulate(1_000, drop_code=1006)
    assert simulate(1_000, drop_code=code).attempt_times == crash.attempt_times


def test_the_seeds_policy_fails_the_same_test() -> None:
    """Without jitter every client retries in the same instant."""
    result = seed_policy()
    assert result.peak_all_share > LIMIT
    assert result.peak_after_back_share > LIMIT
