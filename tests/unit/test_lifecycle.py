"""The lifecycle on its own (no Session): the five states table, the retry ladder it drives,
close/error memory, offline/hidden, the round trip and the ``Health`` snapshot."""

from __future__ import annotations

import itertools

import pytest

from wsclient.actions import Action
from wsclient.auth import Authenticator
from wsclient.lifecycle import (
    Event,
    Health,
    InvalidTransition,
    Lifecycle,
    State,
    is_fatal_close,
)
from wsclient.link import Link, LinkEvent, Refresh, RefreshEvent
from wsclient.options import Options
from wsclient.outbound import Outbound, Outbox

S = State
E = Event

#: Every allowed (state, event) and its target, written out by hand (not read from the table).
ALLOWED: dict[tuple[State, Event], State] = {
    (S.DISCONNECTED, E.CONNECT): S.CONNECTING,
    (S.CONNECTING, E.OPENED): S.CONNECTED,
    (S.CONNECTING, E.LOST): S.RECONNECTING,
    (S.CONNECTING, E.REJECTED): S.ERROR,
    (S.CONNECTING, E.DISCONNECT): S.DISCONNECTED,
    (S.CONNECTED, E.LOST): S.RECONNECTING,
    (S.CONNECTED, E.REJECTED): S.ERROR,
    (S.CONNECTED, E.DISCONNECT): S.DISCONNECTED,
    (S.RECONNECTING, E.RETRY): S.RECONNECTING,
    (S.RECONNECTING, E.OPENED): S.CONNECTED,
    (S.RECONNECTING, E.LOST): S.RECONNECTING,
    (S.RECONNECTING, E.REJECTED): S.ERROR,
    (S.RECONNECTING, E.DISCONNECT): S.DISCONNECTED,
    (S.ERROR, E.CONNECT): S.CONNECTING,
    (S.ERROR, E.DISCONNECT): S.DISCONNECTED,
}
DISALLOWED = [(state, event) for state in State for event in Event if (state, event) not in ALLOWED]

FULL = lambda: 1.0  # noqa: E731 - every delay is its whole window


def life_in(state: State, options: Options | None = None) -> Lifecycle:
    life = Lifecycle(options or Options(), FULL)
    life.state = state
    return life


def rung(life: Lifecycle) -> tuple[int, float | None]:
    """The ladder's attempt and when it opens (read through a call: no narrowing)."""
    return life.ladder.attempt, life.ladder.at


def link(now: float = 0.0, *, usable: bool = True, socket_id: int = 1) -> Link:
    """A link made at ``now``; ``usable``: its socket opened (no auth) at ``now``."""
    made = Link(socket_id, now, [], itertools.count(1))
    if usable:
        made.fire(LinkEvent.TOKEN)
        made.fire(LinkEvent.OPENED)
        made.became_usable(now)
    return made


# -- the states table ---------------------------------------------------------------------


@pytest.mark.parametrize(("state", "event"), list(ALLOWED))
def test_every_allowed_transition_reaches_its_target(state: State, event: Event) -> None:
    life = life_in(state)
    life.fire(event)
    assert life.state is ALLOWED[(state, event)]


@pytest.mark.parametrize(("state", "event"), DISALLOWED)
def test_every_other_transition_raises_naming_event_and_state(state: State, event: Event) -> None:
    life = life_in(state)
    with pytest.raises(InvalidTransition) as info:
        life.fire(event)
    assert str(info.value) == f"{event.value} is not allowed in state {state.value!r}"
    assert (info.value.state, info.value.event) == (state, event.value)
    assert life.state is state  # nothing changed


def test_the_table_has_15_allowed_and_15_refused_pairs() -> None:
    """A pair added to or removed from the table shows up here (5 states x 6 events)."""
    assert (len(ALLOWED), len(DISALLOWED)) == (15, 15)


def test_a_new_lifecycle_is_disconnected_with_nothing_remembered() -> None:
    life = Lifecycle(Options(), FULL)
    assert life.state is State.DISCONNECTED
    assert (life.last_close_code, life.last_close_reason, life.error) == (None, "", None)
    assert (life.rtt, life.rtt_samples, life.offline, life.hidden) == (None, 0, False, False)
    assert rung(life) == (0, None)


# -- start / stop / refused / closed ------------------------------------------------------


@pytest.mark.parametrize("state", [S.DISCONNECTED, S.ERROR])
def test_start_from_down_connects_afresh(state: State) -> None:
    """connect() from DISCONNECTED or ERROR: CONNECTING, the error cleared, the ladder reset."""
    life = life_in(state)
    life.error = "refused"
    life.ladder.attempt, life.ladder.at = 4, 99.0
    assert life.start() is True
    assert life.state is State.CONNECTING
    assert life.error is None
    assert rung(life) == (0, None)


@pytest.mark.parametrize("state", [S.CONNECTING, S.CONNECTED, S.RECONNECTING])
def test_start_while_up_or_trying_does_nothing(state: State) -> None:
    life = life_in(state)
    life.ladder.attempt = 3
    assert life.start() is False
    assert life.state is state
    assert life.ladder.attempt == 3


def test_stop_when_already_disconnected_is_false() -> None:
    life = life_in(S.DISCONNECTED)
    assert life.stop() is False
    assert life.state is State.DISCONNECTED


@pytest.mark.parametrize("state", [S.CONNECTING, S.CONNECTED, S.RECONNECTING, S.ERROR])
def test_stop_disconnects_and_resets_the_ladder(state: State) -> None:
    life = life_in(state)
    life.ladder.attempt, life.ladder.at = 2, 7.0
    assert life.stop() is True
    assert life.state is State.DISCONNECTED
    assert rung(life) == (0, None)


@pytest.mark.parametrize("state", [S.CONNECTING, S.CONNECTED, S.RECONNECTING])
def test_refused_keeps_the_error_and_resets_the_ladder(state: State) -> None:
    life = life_in(state)
    life.ladder.attempt, life.ladder.at = 5, 12.0
    life.refused("forbidden")
    assert life.state is State.ERROR
    assert life.error == "forbidden"
    assert rung(life) == (0, None)


@pytest.mark.parametrize("state", [S.DISCONNECTED, S.ERROR])
def test_refused_while_down_is_an_invalid_transition(state: State) -> None:
    life = life_in(state)
    with pytest.raises(InvalidTransition, match="connection rejected is not allowed"):
        life.refused("forbidden")
    assert life.error is None


def test_closed_remembers_the_last_code_and_reason() -> None:
    life = life_in(S.CONNECTED)
    life.closed(1006, "")
    life.closed(4403, "forbidden")
    assert (life.last_close_code, life.last_close_reason) == (4403, "forbidden")
    assert life.state is State.CONNECTED  # closed() alone changes no state


@pytest.mark.parametrize(
    ("code", "fatal"),
    [
        (1000, False),
        (1001, False),
        (1006, False),
        (1008, True),
        (1011, False),
        (4000, False),
        (4399, False),
        (4400, True),
        (4401, True),
        (4403, True),
        (4499, True),
        (4500, False),
    ],
)
def test_fatal_close_codes(code: int, fatal: bool) -> None:
    assert is_fatal_close(code) is fatal


# -- the ladder: who starts it where --------------------------------------------------------


def test_far_side_drop_of_an_established_connection_starts_at_backoff_after_drop() -> None:
    """Up for min_uptime (5 s), dropped by the server while online: the herd window (10 s)."""
    life = life_in(S.CONNECTED)
    up = link(100.0)
    life.lost(up, 105.0, far_side=True)
    assert life.state is State.RECONNECTING
    assert life.ladder.attempt == 1
    assert life.ladder.at == 115.0  # 105 + the whole 10 s window


def test_the_climb_after_a_drop_doubles_from_backoff_after_drop_up_to_the_cap() -> None:
    life = life_in(S.CONNECTED)
    life.lost(link(0.0), 50.0, far_side=True)
    windows = [life.ladder.at - 50.0 if life.ladder.at is not None else None]
    for now in (100.0, 200.0, 300.0):
        life.fire(Event.RETRY)
        life.lost(link(now, usable=False), now, far_side=True)  # the attempt failed
        assert life.ladder.at is not None
        windows.append(life.ladder.at - now)
    assert windows == [10.0, 20.0, 30.0, 30.0]
    assert life.ladder.attempt == 4


def test_our_side_losing_an_established_connection_starts_at_backoff_initial() -> None:
    """A heartbeat or connect timeout (the core closes): the 1 s window."""
    life = life_in(S.CONNECTED)
    life.lost(link(0.0), 60.0, far_side=False)
    assert rung(life) == (1, 61.0)


def test_offline_makes_a_far_side_drop_ours() -> None:
    """While the browser says offline, a drop is taken for our own trouble: 1 s window."""
    life = life_in(S.CONNECTED)
    life.offline = True
    life.lost(link(0.0), 60.0, far_side=True)
    assert rung(life) == (1, 61.0)


def test_an_unanswered_probe_makes_a_far_side_drop_ours() -> None:
    life = life_in(S.CONNECTED)
    probed = link(0.0)
    probed.probe(59.0, 2.5)  # no frame since
    assert probed.suspected
    life.lost(probed, 60.0, far_side=True)
    assert rung(life) == (1, 61.0)


def test_an_answered_probe_does_not_count_as_suspicion() -> None:
    life = life_in(S.CONNECTED)
    probed = link(0.0)
    probed.probe(59.0, 2.5)
    probed.rx_since_ping = True  # a frame came
    life.lost(probed, 60.0, far_side=True)
    assert life.ladder.at == 70.0


def test_a_short_lived_connection_does_not_reset_the_ladder() -> None:
    """Up for less than min_uptime: each drop climbs one rung (1, 2, 4 s), never back to 1."""
    life = life_in(S.CONNECTING)
    life.lost(link(0.0, usable=False), 0.0, far_side=False)
    assert rung(life) == (1, 1.0)
    life.fire(Event.RETRY)
    life.fire(Event.OPENED)
    life.lost(link(1.0), 5.9, far_side=True)  # up 4.9 s < 5 s, dropped by the server
    assert rung(life) == (2, 7.9)
    life.fire(Event.RETRY)
    life.fire(Event.OPENED)
    life.lost(link(8.0), 9.0, far_side=True)
    assert rung(life) == (3, 13.0)


def test_exactly_min_uptime_counts_as_established() -> None:
    life = life_in(S.CONNECTED)
    life.ladder.attempt = 6
    life.lost(link(10.0), 15.0, far_side=True)
    assert rung(life) == (1, 25.0)


def test_an_established_connection_resets_a_high_ladder() -> None:
    life = life_in(S.CONNECTED)
    life.ladder.attempt = 7
    life.lost(link(0.0), 100.0, far_side=False)
    assert rung(life) == (1, 101.0)


def test_a_connection_that_never_opened_is_never_established() -> None:
    """A pre-open link (TOKEN phase) made long ago is still not an established connection."""
    life = life_in(S.CONNECTING)
    life.lost(link(0.0, usable=False), 100.0, far_side=True)
    assert rung(life) == (1, 101.0)


def test_failed_counts_the_attempt_without_scheduling_it() -> None:
    """``failed`` (a 4401 retry opens at once) counts; only ``lost`` sets ``at``."""
    life = life_in(S.CONNECTED)
    life.failed(link(0.0), 1.0, far_side=True)
    assert life.state is State.RECONNECTING
    assert rung(life) == (1, None)


@pytest.mark.parametrize("state", [S.DISCONNECTED, S.ERROR])
def test_lost_while_down_is_an_invalid_transition(state: State) -> None:
    life = life_in(state)
    with pytest.raises(InvalidTransition, match="connection lost is not allowed"):
        life.lost(link(0.0), 1.0, far_side=True)


def test_the_delay_is_jittered_by_the_random_source() -> None:
    life = Lifecycle(Options(), lambda: 0.25)
    life.state = State.CONNECTED
    life.lost(link(0.0), 100.0, far_side=True)
    assert life.ladder.at == 102.5  # a quarter of the 10 s window


# -- round trip, hidden -------------------------------------------------------------------


def test_measured_ignores_none_and_counts_every_sample() -> None:
    life = life_in(S.CONNECTED)
    life.measured(None)
    assert (life.rtt, life.rtt_samples) == (None, 0)
    life.measured(0.25)
    life.measured(0.25)  # the same value is a new sample
    assert (life.rtt, life.rtt_samples) == (0.25, 2)
    life.measured(None)
    assert (life.rtt, life.rtt_samples) == (0.25, 2)


def test_shown_says_whether_the_page_had_been_hidden() -> None:
    life = life_in(S.CONNECTED)
    assert life.shown() is False
    life.hidden = True
    assert life.shown() is True
    assert life.hidden is False
    assert life.shown() is False


# -- health --------------------------------------------------------------------------------


def authenticator(enabled: bool = False) -> Authenticator:
    actions: list[Action] = []
    return Authenticator(enabled, actions, lambda: 0.5, lambda attempt: 1.0)


def test_health_of_a_new_lifecycle() -> None:
    life = Lifecycle(Options(), FULL)
    assert life.health(None, Outbox(10), 0, authenticator()) == Health(
        state=State.DISCONNECTED,
        attempt=0,
        next_retry_at=None,
        last_close_code=None,
        last_close_reason="",
        error=None,
        rtt=None,
        queue_depth=0,
        queue_overflow=0,
    )


def test_next_retry_at_only_while_waiting() -> None:
    """RECONNECTING with no attempt under way: the retry time and attempt; once an attempt is
    under way (a link exists) no retry time; CONNECTED: attempt 0."""
    life = life_in(S.CONNECTED)
    auth, box = authenticator(), Outbox(10)
    life.lost(link(0.0), 1.0, far_side=False)
    waiting = life.health(None, box, 0, auth)
    assert (waiting.state, waiting.attempt, waiting.next_retry_at) == (S.RECONNECTING, 1, 2.0)
    trying = life.health(link(2.0, usable=False), box, 0, auth)
    assert (trying.attempt, trying.next_retry_at) == (1, None)
    life.fire(Event.RETRY)
    life.fire(Event.OPENED)
    up = life.health(link(2.0), box, 0, auth)
    assert (up.state, up.attempt, up.next_retry_at) == (S.CONNECTED, 0, None)


def test_an_attempt_starting_takes_its_number_and_clears_the_retry_time() -> None:
    """The first attempt after ``connect()`` is 0; a retry takes the ladder's attempt number,
    and its retry time is gone once it starts."""
    life = life_in(S.DISCONNECTED)
    life.start()
    assert life.attempt_starts() == 0
    life.lost(link(0.0, usable=False), 0.0, far_side=False)
    life.lost(link(1.0, usable=False), 1.0, far_side=False)
    assert (life.retry_at, life.ladder.attempt) == (3.0, 2)
    life.fire(Event.RETRY)
    assert life.attempt_starts() == 2
    assert life.retry_at is None


@pytest.mark.parametrize("state", [S.DISCONNECTED, S.ERROR, S.CONNECTING, S.CONNECTED])
def test_retry_at_only_while_reconnecting(state: State) -> None:
    life = life_in(state)
    life.ladder.attempt, life.ladder.at = 3, 50.0
    assert life.retry_at is None
    life.state = S.RECONNECTING
    assert life.retry_at == 50.0


def test_refused_logs_why_it_stops(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="wsclient"):
        life_in(S.CONNECTED).refused("forbidden", 4403)
        life_in(S.CONNECTING).refused("not signed in")
    assert "server refused the connection (4403 forbidden): not retrying" in caplog.text
    assert "the token provider says signed out: waiting for setAuth or connect" in caplog.text


@pytest.mark.parametrize("state", [S.DISCONNECTED, S.ERROR, S.CONNECTING])
def test_no_retry_time_outside_reconnecting(state: State) -> None:
    life = life_in(state)
    life.ladder.attempt, life.ladder.at = 3, 50.0
    health = life.health(None, Outbox(10), 0, authenticator())
    assert (health.attempt, health.next_retry_at) == (0, None)


def test_health_carries_close_error_rtt_queue_offline_duplicates() -> None:
    life = life_in(S.CONNECTED)
    life.closed(4403, "forbidden")
    life.refused("forbidden")
    life.measured(0.125)
    life.offline = True
    box = Outbox(1)
    box.add(Outbound("a", 1, "send", "{}", tagged=True))
    box.add(Outbound("b", 2, "send", "{}", tagged=True))  # drops "a": one overflow
    health = life.health(None, box, 3, authenticator())
    assert health.state is State.ERROR
    assert (health.last_close_code, health.last_close_reason, health.error) == (
        4403,
        "forbidden",
        "forbidden",
    )
    assert (health.rtt, health.rtt_samples) == (0.125, 1)
    assert (health.queue_depth, health.queue_overflow) == (1, 1)
    assert (health.offline, health.duplicates) == (True, 3)


def test_health_protocol_only_on_a_usable_link() -> None:
    life = life_in(S.CONNECTED)
    auth, box = authenticator(), Outbox(10)
    up = link(0.0)
    up.protocol = 2
    assert life.health(up, box, 0, auth).protocol == 2
    opening = link(0.0, usable=False)
    opening.protocol = 2
    assert life.health(opening, box, 0, auth).protocol == 0
    assert life.health(None, box, 0, auth).protocol == 0


def test_health_auth_fields() -> None:
    """auth status and last error come from the authenticator; the refresh time only while a
    refresh is scheduled (not while it is fetching)."""
    life = life_in(S.CONNECTED)
    auth, box = authenticator(enabled=True), Outbox(10)
    auth.error = "provider threw"
    up = link(0.0)
    assert life.health(up, box, 0, auth).auth == "signing_in"
    assert life.health(up, box, 0, auth).last_error == "provider threw"
    assert life.health(up, box, 0, auth).auth_refresh_at is None
    up.refresh = Refresh(42.0)
    assert life.health(up, box, 0, auth).auth_refresh_at == 42.0
    up.refresh.fire(RefreshEvent.DUE, 42.0)
    assert life.health(up, box, 0, auth).auth_refresh_at is None
    assert life.health(None, box, 0, authenticator()).auth == "none"
