"""The connection core: states, transitions, retries and close codes (fake clock, fake sockets)."""

from __future__ import annotations

import logging

import pytest
from test_core_harness import FakeBrowser, assert_actions, connected

from wsclient.actions import CloseSocket, OpenSocket
from wsclient.core import Options, Session, State
from wsclient.link import LinkError
from wsclient.records import replace

ALWAYS_FULL = dict(random=lambda: 1.0)  # every delay is its whole window


# -- states ---------------------------------------------------------------------------------


def test_starts_disconnected_with_nothing_to_do() -> None:
    """A new connection is DISCONNECTED, has no deadline and no actions."""
    core = Session()
    assert core.state is State.DISCONNECTED
    assert core.next_deadline is None
    assert core.take_actions() == []


def test_state_values_are_the_ui_strings() -> None:
    """The enum's values are the strings the page shows in data-status."""
    assert [s.value for s in State] == [
        "connecting",
        "connected",
        "reconnecting",
        "disconnected",
        "error",
    ]
    assert str(State.RECONNECTING) == "reconnecting"


def test_connect_opens_one_socket_and_enters_connecting() -> None:
    """connect() asks for one socket and waits at most connect_timeout for it."""
    b = FakeBrowser()
    assert_actions(b.connect(), [OpenSocket(1)])
    assert b.core.state is State.CONNECTING
    assert b.core.next_deadline == Options().connect_timeout


def test_socket_opened_enters_connected() -> None:
    """The pending socket opening makes the connection CONNECTED, attempt 0."""
    b = connected()
    assert b.core.state is State.CONNECTED
    assert b.core.health().attempt == 0


@pytest.mark.parametrize("opened", [False, True])
def test_connect_while_connecting_or_connected_is_harmless(opened: bool) -> None:
    """A second connect() opens no second socket."""
    b = FakeBrowser()
    b.connect()
    if opened:
        b.opened()
    assert b.connect() == []


def test_transitions_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Every state change is logged on the "wsclient" logger with both states."""
    with caplog.at_level(logging.INFO, logger="wsclient"):
        connected()
    assert "disconnected -> connecting" in caplog.text
    assert "connecting -> connected" in caplog.text


# -- failures and retries -------------------------------------------------------------------


def test_failed_first_attempt_waits_for_attempt_1() -> None:
    """A refused first attempt enters RECONNECTING, showing attempt 1 and when it will run."""
    b = FakeBrowser(**ALWAYS_FULL)
    b.connect()
    b.advance(0.2)
    b.closed(1006)
    health = b.core.health()
    assert (health.state, health.attempt, health.next_retry_at) == (State.RECONNECTING, 1, 1.2)
    assert b.core.next_deadline == 1.2


def test_retry_opens_a_new_socket_when_its_time_comes() -> None:
    """Nothing happens before the retry time; at it, one new socket opens, still RECONNECTING."""
    b = FakeBrowser(**ALWAYS_FULL)
    b.connect()
    b.closed(1006)
    assert b.advance(0.99) == []
    assert_actions(b.advance(0.01), [OpenSocket(2)])
    assert b.core.state is State.RECONNECTING
    assert b.core.health().attempt == 1
    assert b.core.health().next_retry_at is None


@pytest.mark.parametrize(
    ("options", "windows"),
    [
        (Options(), [1, 2, 4, 8, 16, 30, 30]),
        (
            Options(backoff_initial=0.5, backoff_factor=3, backoff_max=10),
            [0.5, 1.5, 4.5, 10, 10],
        ),
    ],
)
def test_failed_attempts_back_off_exponentially_up_to_the_cap(
    options: Options, windows: list[float]
) -> None:
    """Each failed attempt doubles (factor) the window, from backoff_initial up to backoff_max."""
    b = FakeBrowser(options, **ALWAYS_FULL)
    b.connect()
    delays = []
    for attempt, _ in enumerate(windows, start=1):
        b.closed(1006)
        assert b.core.health().attempt == attempt
        retry_at = b.core.next_deadline
        assert retry_at is not None
        delays.append(retry_at - b.now)
        b.advance(retry_at - b.now)
    assert delays == pytest.approx(windows)


def test_delays_are_drawn_from_the_injected_random_source() -> None:
    """Full jitter: the delay is the random draw times the window."""
    draws = iter([0.25, 0.75])
    b = FakeBrowser(random=lambda: next(draws))
    b.connect()
    b.closed(1006)
    assert b.core.next_deadline == pytest.approx(0.25 * 1)
    b.advance(1)
    b.closed(1006)
    assert b.core.next_deadline == pytest.approx(b.now + 0.75 * 2)


def test_connect_timeout_fails_the_attempt() -> None:
    """A socket not open within connect_timeout is closed (4000) and counts as a failure."""
    b = FakeBrowser(Options(connect_timeout=3), **ALWAYS_FULL)
    b.connect()
    assert b.advance(2.9) == []
    assert_actions(b.advance(0.1), [CloseSocket(1, 4000, "connect timeout")])
    assert b.core.state is State.RECONNECTING
    assert b.core.health().attempt == 1
    assert b.core.health().last_close_code == 4000
    assert_actions(b.advance(1), [OpenSocket(2)])


def test_connection_shorter_than_min_uptime_keeps_the_backoff() -> None:
    """A connection that drops before min_uptime continues the ladder instead of restarting it."""
    b = FakeBrowser(Options(min_uptime=5), **ALWAYS_FULL)
    b.connect()
    b.fail_attempt()
    b.fail_attempt()  # attempt 2 is pending; its window was 2 s
    b.opened()
    b.advance(4.9)
    b.closed(1006)
    assert b.core.health().attempt == 3
    assert b.core.next_deadline == pytest.approx(b.now + 4)


def test_connection_that_lasts_min_uptime_resets_the_backoff() -> None:
    """After min_uptime of being connected, the next failure starts again at attempt 1."""
    b = FakeBrowser(Options(min_uptime=2), **ALWAYS_FULL)
    b.connect()
    b.fail_attempt()
    b.fail_attempt()
    b.opened()
    b.advance(2)
    b.error()  # counted like a far-side drop
    assert b.core.health().attempt == 1


def test_far_side_drop_of_an_established_connection_spreads_the_first_retry() -> None:
    """A close from the server after min_uptime draws the first retry from backoff_after_drop."""
    b = connected(Options(backoff_after_drop=7), **ALWAYS_FULL)
    b.advance(5)
    b.frame()
    b.closed(1001)
    assert b.core.health().attempt == 1
    assert b.core.next_deadline == pytest.approx(b.now + 7)
    b.advance(7)
    b.closed(1006)
    assert b.core.next_deadline == pytest.approx(b.now + 14)


def test_link_found_dead_by_our_probe_retries_fast() -> None:
    """A close while our probe is unanswered is our side's trouble: backoff_initial, not the
    spread."""
    b = connected(**ALWAYS_FULL)
    b.advance(6)
    b.frame()
    b.online()
    b.advance(1)
    b.closed(1006)
    assert b.core.next_deadline == pytest.approx(b.now + 1)


# -- close codes ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [1008, 4400, 4401, 4403, 4499])
def test_policy_close_stops_retrying_with_the_reason(code: int) -> None:
    """1008 and 4400-4499 enter ERROR, keep the reason, and never retry by themselves."""
    b = connected()
    b.closed(code, "unauthorized")
    health = b.core.health()
    assert (health.state, health.error, health.last_close_code) == (
        State.ERROR,
        "unauthorized",
        code,
    )
    assert b.core.next_deadline is None
    assert b.advance(3600) == []


def test_policy_close_without_reason_names_the_code() -> None:
    """An ERROR with an empty close reason still says why."""
    b = connected()
    b.closed(4401)
    assert b.core.health().error == "closed with code 4401"


@pytest.mark.parametrize("code", [1000, 1001, 1006, 1011, 1012, 1013, 4000, 4399, 4500])
def test_other_closes_reconnect(code: int) -> None:
    """Every other close code reconnects with backoff and records the code and reason."""
    b = connected()
    b.closed(code, "bye")
    health = b.core.health()
    assert (health.state, health.last_close_code, health.last_close_reason) == (
        State.RECONNECTING,
        code,
        "bye",
    )
    assert_actions(b.until_deadline(), [OpenSocket(2)])


def test_connect_leaves_the_error_state() -> None:
    """connect() after ERROR clears the error and opens a socket at once."""
    b = connected()
    b.closed(4403, "forbidden")
    assert_actions(b.connect(), [OpenSocket(2)])
    assert b.core.state is State.CONNECTING
    assert b.core.health().error is None


def test_socket_error_closes_the_socket_and_retries() -> None:
    """An error event closes the socket (4000) and schedules a retry; its close event is stale."""
    b = connected()
    assert_actions(b.error(), [CloseSocket(1, 4000, "socket error")])
    assert b.core.state is State.RECONNECTING
    b.core.socket_closed(1, 1006, "", b.now)
    assert b.core.state is State.RECONNECTING
    assert_actions(b.until_deadline(), [OpenSocket(2)])


# -- disconnect -----------------------------------------------------------------------------


@pytest.mark.parametrize("opened", [False, True])
def test_disconnect_closes_with_1000_and_stays_down(opened: bool) -> None:
    """disconnect() closes with 1000; nothing reopens, not even the socket's own close event."""
    b = FakeBrowser()
    b.connect()
    if opened:
        b.opened()
    assert_actions(b.disconnect(), [CloseSocket(1, 1000, "client disconnect")])
    b.core.socket_closed(1, 1000, "", b.now)
    b.online()
    assert b.core.state is State.DISCONNECTED
    assert b.core.next_deadline is None
    assert b.advance(3600) == []


def test_disconnect_while_waiting_cancels_the_retry() -> None:
    """disconnect() between attempts closes nothing and cancels the pending retry."""
    b = FakeBrowser()
    b.connect()
    b.closed(1006)
    assert b.disconnect() == []
    assert b.core.next_deadline is None
    assert b.advance(3600) == []


def test_disconnect_when_down_is_harmless() -> None:
    """disconnect() in DISCONNECTED does nothing; in ERROR it moves to DISCONNECTED."""
    b = FakeBrowser()
    assert b.disconnect() == []
    b.connected()
    b.closed(1008)
    assert b.disconnect() == []
    assert b.core.state is State.DISCONNECTED


def test_connect_after_disconnect_starts_afresh() -> None:
    """connect() after disconnect() opens at once as CONNECTING, attempt 0."""
    b = FakeBrowser()
    b.connect()
    b.fail_attempt()
    b.disconnect()
    assert_actions(b.connect(), [OpenSocket(3)])
    assert (b.core.state, b.core.health().attempt) == (State.CONNECTING, 0)


def test_connect_while_waiting_retries_now() -> None:
    """connect() while waiting for a retry makes the attempt at once."""
    b = FakeBrowser()
    b.connect()
    b.closed(1006)
    assert_actions(b.connect(), [OpenSocket(2)])


# -- offline / online -----------------------------------------------------------------------


def test_offline_keeps_retrying_on_the_ladder() -> None:
    """``navigator.onLine`` lies on some systems: while "offline" the retries go on, each on
    the backoff ladder, and the health says offline."""
    b = FakeBrowser(random=lambda: 1.0)
    b.connect()
    b.closed(1006)
    b.offline()
    assert b.core.health().offline is True
    assert b.core.next_deadline == 1.0
    assert_actions(b.advance(1.0), [OpenSocket(2)])
    b.closed(1006)
    assert b.core.next_deadline == b.now + 2.0
    assert_actions(b.advance(2.0), [OpenSocket(3)])


def test_going_online_retries_at_once() -> None:
    """Coming back online makes the pending attempt immediately."""
    b = FakeBrowser()
    b.connect()
    b.closed(1006)
    b.offline()
    b.advance(0.1)
    assert_actions(b.online(), [OpenSocket(2)])
    assert b.core.health().attempt == 1
    assert b.core.health().offline is False


def test_failure_while_offline_retries_from_the_short_window() -> None:
    """A socket lost while offline is our side's failure: the ladder starts at
    ``backoff_initial``, not at the wider window of a server-side drop."""
    b = connected(random=lambda: 1.0)
    b.advance(6)  # up longer than min_uptime
    b.offline()
    b.closed(1006)
    assert b.core.next_deadline == b.now + b.core.options.backoff_initial


def test_page_visible_while_waiting_retries_at_once() -> None:
    """The page becoming visible while a retry is pending retries now (as Phoenix does)."""
    b = FakeBrowser(random=lambda: 1.0)
    b.connect()
    b.closed(1006)
    b.core.visibility_changed(False, b.now)
    b.advance(0.2)
    b.core.visibility_changed(True, b.now)
    assert_actions(b.pump(), [OpenSocket(2)])


def test_page_visible_without_having_been_hidden_changes_nothing() -> None:
    """A visibility event that does not follow a hide neither retries nor probes."""
    b = FakeBrowser(random=lambda: 1.0)
    b.connect()
    b.closed(1006)
    b.core.visibility_changed(True, b.now)
    assert b.pump() == []


# -- misuse ---------------------------------------------------------------------------------


def test_socket_opened_twice_raises_naming_the_phase() -> None:
    """Opening the already open socket is a caller bug; the error names the socket's phase."""
    b = connected()
    with pytest.raises(LinkError, match="socket 1: socket opened is not allowed while open"):
        b.core.socket_opened(1, b.now)


@pytest.mark.parametrize("socket_id", [0, 2, -1])
def test_events_for_a_socket_never_opened_raise(socket_id: int) -> None:
    """An id the core never handed out is a caller bug."""
    b = connected()
    with pytest.raises(LinkError, match="never opened"):
        b.core.socket_closed(socket_id, 1006, "", b.now)


def test_events_from_stale_sockets_are_ignored() -> None:
    """A late open/close/error of a socket the core gave up on changes nothing."""
    b = FakeBrowser()
    b.connect()
    b.fail_attempt()
    b.opened()
    b.core.socket_opened(1, b.now)
    b.core.socket_closed(1, 4401, "", b.now)
    b.core.socket_error(1, b.now)
    assert b.core.state is State.CONNECTED
    assert b.pump() == []


def test_time_going_backwards_raises() -> None:
    """now must never decrease between inputs."""
    b = connected()
    b.advance(5)
    with pytest.raises(ValueError, match="backwards"):
        b.core.tick(4.0)


def test_tick_before_the_deadline_is_harmless() -> None:
    """An early timer (or a spurious tick) does nothing."""
    b = FakeBrowser()
    b.connect()
    b.core.tick(1.0)
    assert b.pump() == []
    assert b.core.state is State.CONNECTING


# -- options and health ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ping_interval", 0),
        ("pong_timeout", -1),
        ("probe_timeout", float("nan")),
        ("backoff_initial", 0),
        ("backoff_max", float("inf")),
        ("connect_timeout", 0),
        ("backoff_after_drop", 0),
        ("min_uptime", -1),
        ("backoff_factor", 0.5),
        ("max_queue", 0),
        ("max_queue", 1.5),
    ],
)
def test_invalid_options_are_refused_by_name(name: str, value: float) -> None:
    """Options() raises a ValueError naming the bad option."""
    with pytest.raises(ValueError, match=name):
        Options(**{name: value})  # type: ignore[arg-type]


def test_default_options() -> None:
    """The defaults: the seed's backoff, a silent link found in <= 10 s, a probe in <= 3 s."""
    o = Options()
    assert (o.backoff_initial, o.backoff_factor, o.backoff_max) == (1, 2, 30)
    assert (o.connect_timeout, o.min_uptime, o.max_queue) == (10, 5, 1000)
    assert o.ping_interval + o.pong_timeout <= 10
    assert o.probe_timeout <= 3


def test_health_reports_the_last_close() -> None:
    """Health carries the state, attempt, next retry, last close code and reason."""
    b = connected(**ALWAYS_FULL)
    b.advance(4)
    b.frame()
    b.advance(4)
    b.frame()
    b.closed(1012, "service restart")
    health = b.core.health()
    assert health == replace(
        health,
        state=State.RECONNECTING,
        attempt=1,
        next_retry_at=b.now + Options().backoff_after_drop,
        last_close_code=1012,
        last_close_reason="service restart",
        error=None,
        queue_depth=0,
        queue_overflow=0,
        offline=False,
    )


def test_subscriptions_lists_active_projects_with_their_counts() -> None:
    """The UI reads which projects are active and how many local subscribers each has."""
    core = Session()
    core.subscribe("a", 0.0)
    core.subscribe("b", 0.0)
    core.subscribe("a", 0.0)
    core.unsubscribe("b", 0.0)
    assert core.streams.counts() == {"a": 2}
