"""The dashboard's timeline, rate, sparkline and ETA rules."""

from __future__ import annotations

import pytest

from demo.activity import (
    Feed,
    Rate,
    Timeline,
    auth_text,
    eta,
    human_size,
    rate_text,
    reconnect_count,
    sparkline,
    tabs_text,
)
from wsclient.messages import GenericMessage


def msg(type_: str, n: int = 0) -> GenericMessage:
    return GenericMessage(type_, None, {"type": type_, "n": n})


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


def test_a_reconnect_shorter_than_a_frame_keeps_its_mark_and_count() -> None:
    """Connected -> reconnecting -> connected within 20 ms still shows one reconnect, at the
    moment it happened; a later retry while still reconnecting is not a second one."""
    line = Timeline(window=100.0)
    line.record(0.0, "connecting")
    line.record(1.0, "connected")
    line.record(50.0, "reconnecting")
    line.record(50.0, "reconnecting")  # attempt 2: the same state
    line.record(50.02, "connected")
    assert line.reconnect_marks(100.0) == [0.5]
    assert line.reconnects(100.0) == 1
    assert reconnect_count(1) == "1 reconnect"
    assert reconnect_count(3) == "3 reconnects"
    assert reconnect_count(0) == ""


def test_the_timeline_tells_connecting_from_reconnecting_in_words() -> None:
    """The accessible summary names each state's share (a short one is not 0 %), the number of
    reconnects and the state now."""
    line = Timeline(window=300.0)
    line.record(0.0, "connecting")
    line.record(30.0, "connected")
    line.record(150.0, "reconnecting")
    line.record(150.1, "connected")
    assert line.summary(300.0) == (
        "Connection over the last 5 minutes: connecting 10%, connected 90%, reconnecting 1%; "
        "1 reconnect; connected now"
    )
    assert Timeline().summary(0.0).endswith("nothing recorded yet")


def test_the_timeline_stays_bounded_when_nobody_draws_it() -> None:
    """Recording alone (a hidden tab draws nothing) drops what left the window, and a flapping
    link keeps at most max_changes changes."""
    line = Timeline(window=10.0)
    for second in range(1000):
        line.record(float(second), "connected" if second % 2 else "reconnecting")
    assert len(line._changes) <= 12  # what a hidden tab keeps in memory
    assert line.reconnects(999.0) == 5
    flapping = Timeline(window=1e9, max_changes=50)
    for n in range(1000):
        flapping.record(n / 1000, "connected" if n % 2 else "reconnecting")
    assert len(flapping.segments(1.0)) == 50
    assert flapping.reconnects(1.0) == 25


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


def test_the_first_round_trip_draws_a_visible_line() -> None:
    """One sample is a level line across the box (a single point would draw nothing)."""
    assert sparkline([0.003], 10.0, 4.0) == "0.0,0.0 10.0,0.0"


def test_a_quiet_link_reads_as_a_rate_above_zero() -> None:
    """A heartbeat every 3 s is 0.3/s, not "0"; busy links read in whole messages."""
    assert rate_text(0.0) == "0"
    assert rate_text(0.33) == "0.3"
    assert rate_text(42.4) == "42"


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


def test_the_feed_keeps_real_events_while_heartbeats_fill_the_shared_window() -> None:
    """An event, then 150 heartbeats through a 100-message window, batch by batch: the feed
    still has the event, and with heartbeats asked for, the newest of them after it."""
    feed: Feed[GenericMessage] = Feed(keep=100, heartbeats=50)
    window: list[GenericMessage] = []
    event = msg("chat.message", 1)

    def deliver(*batch: GenericMessage) -> None:
        window.extend(batch)
        del window[:-100]
        feed.take(tuple(window))

    deliver(msg("project.snapshot"), event)
    for n in range(0, 150, 10):
        deliver(*(msg("system.heartbeat", n + i) for i in range(10)))
    assert event not in window
    assert [m.type for m in feed.shown(50)] == ["chat.message", "project.snapshot"]
    assert feed.kept() == 2
    both = feed.shown(50, heartbeats=True)
    assert len(both) == 50 and all(m.type == "system.heartbeat" for m in both)
    assert [m.fields["n"] for m in both[:2]] == [149, 148]
    assert feed.kept(heartbeats=True) == 52
    assert [m.type for m in feed.shown(3, heartbeats=True)] == ["system.heartbeat"] * 3


def test_the_feed_merges_events_and_heartbeats_in_arrival_order() -> None:
    """Newest first across both kinds; a window given again adds nothing."""
    feed: Feed[GenericMessage] = Feed()
    window = (msg("a"), msg("pong"), msg("b"), msg("system.heartbeat"))
    feed.take(window)
    feed.take(window)
    assert [m.type for m in feed.shown(10, heartbeats=True)] == [
        "system.heartbeat",
        "b",
        "pong",
        "a",
    ]
    assert [m.type for m in feed.shown(10)] == ["b", "a"]


def test_the_feed_bounds_what_it_keeps() -> None:
    """A flood keeps the newest `keep` events, not more."""
    feed: Feed[GenericMessage] = Feed(keep=5, heartbeats=2)
    window: list[GenericMessage] = []
    for n in range(40):
        window.append(msg("chat.message", n))
        del window[:-10]
        feed.take(tuple(window))
    assert feed.kept() == 5
    assert [m.fields["n"] for m in feed.shown(50)] == [39, 38, 37, 36, 35]


@pytest.mark.parametrize(
    ("auth", "refresh_at", "now", "text"),
    [
        ("signed_in", 142.2, 100.0, "signed in, refresh in 43 s"),
        ("signed_in", 99.0, 100.0, "signed in, refresh in 0 s"),
        ("signed_in", None, 100.0, "signed in"),
        ("signing_in", None, 0.0, "signing in..."),
        ("signed_out", None, 0.0, "signed out"),
        ("none", None, 0.0, "no sign-in"),
    ],
)
def test_auth_line_counts_down_to_the_next_refresh(
    auth: str, refresh_at: float | None, now: float, text: str
) -> None:
    assert auth_text(auth, refresh_at, now) == text


@pytest.mark.parametrize(
    ("role", "tabs", "text"),
    [
        ("alone", 1, "this tab alone"),
        ("leader", 3, "leader of 3 tabs"),
        ("follower", 1, "follower of 1 tab"),
    ],
)
def test_tabs_line_says_the_role_and_how_many_tabs_share(role: str, tabs: int, text: str) -> None:
    assert tabs_text(role, tabs) == text
