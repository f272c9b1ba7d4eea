"""The dashboard's timeline, rate, sparkline and ETA rules."""

from __future__ import annotations

import pytest

from wsclient.activity import Rate, Timeline, eta, human_size, sparkline


def test_the_timeline_splits_the_window_by_state() -> None:
    """Each state gets the share of the window it lasted; the oldest is cut at the window."""
    line = Timeline(window=100.0)
    line.record(0.0, "connecting")
    line.record(10.0, "connected")
    line.record(150.0, "reconnecting")
    line.record(160.0, "connected")
    assert line.segments(200.0) == [
        ("connected", 0.0, 0.5),
        ("reconnecting", 0.5, 0.1),
        ("connected", 0.6, 0.4),
    ]
    assert line.reconnects(200.0) == 1


def test_repeated_states_do_not_split_a_segment() -> None:
    """Recording the same state again changes nothing."""
    line = Timeline(window=10.0)
    line.record(0.0, "connected")
    line.record(5.0, "connected")
    assert line.segments(10.0) == [("connected", 0.0, 1.0)]


def test_the_rate_counts_complete_seconds_only() -> None:
    """Events of the current, unfinished second wait for the next reading."""
    rate = Rate(seconds=2)
    rate.add(10.2, 4)
    rate.add(11.5, 6)
    rate.add(12.1, 100)
    assert rate.per_second(12.5) == 5.0
    assert rate.count == 110


def test_the_sparkline_scales_into_its_box() -> None:
    """The largest sample touches the top; the first and last the sides."""
    assert sparkline([1.0, 2.0], 10.0, 4.0) == "0.0,2.0 10.0,0.0"
    assert sparkline([], 10.0, 4.0) == ""


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ((0.0, 0.0), (10.0, 0.5), 10.0),
        ((0.0, 0.5), (10.0, 0.5), None),
        ((5.0, 0.2), (5.0, 0.4), None),
    ],
)
def test_eta_extrapolates_the_observed_speed(
    first: tuple[float, float], last: tuple[float, float], expected: float | None
) -> None:
    """Halfway after 10 s: 10 s to go; no progress or no time: unknown."""
    assert eta(first, last) == expected


@pytest.mark.parametrize(
    ("size", "text"),
    [(512, "512 B"), (15_800_000, "15.8 MB"), (2_500, "2.5 kB"), (3e12, "3000.0 GB")],
)
def test_sizes_read_as_people_write_them(size: int, text: str) -> None:
    """Bytes below 1000, then kB, MB, GB with one decimal."""
    assert human_size(int(size)) == text
