"""The connection core's heartbeat: a dead link is noticed, a live one is left alone."""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Callable

import pytest
from test_core_harness import FakeBrowser, assert_actions, connected, sent

from wsclient.actions import CloseSocket, OpenSocket, SendText
from wsclient.core import State
from wsclient.link import RTT_SAMPLE_INTERVAL
from wsclient.options import Options


def test_ping_after_ping_interval_of_silence() -> None:
    """After ping_interval with no inbound frame the core sends a ping with an id."""
    b = connected(Options(ping_interval=3))
    assert b.advance(2.9) == []
    assert_actions(b.advance(0.1), [SendText(1, '{"type": "ping", "id": "2"}')])


def test_any_frame_postpones_the_ping() -> None:
    """Inbound frames prove the link alive: no heartbeat ping while they keep coming, only a
    round-trip sample every RTT_SAMPLE_INTERVAL, which sets no deadline."""
    b = connected()
    start = len(b.history)
    for _ in range(20):
        b.advance(4)
        b.frame()
    pings = [(t, a) for t, a in b.history[start:] if isinstance(a, SendText)]
    assert [t for t, _ in pings] == [RTT_SAMPLE_INTERVAL, 2 * RTT_SAMPLE_INTERVAL]
    assert all('"type": "ping"' in a.text for _, a in pings)
    assert b.core.state is State.CONNECTED


def test_no_frame_within_pong_timeout_closes_and_reconnects() -> None:
    """An unanswered ping closes the socket with 4000 "heartbeat timeout" and reconnects."""
    b = connected(Options(ping_interval=5, pong_timeout=2))
    b.advance(5)
    assert b.advance(1.9) == []
    assert_actions(b.advance(0.1), [CloseSocket(1, 4000, "heartbeat timeout")])
    assert b.core.state is State.RECONNECTING
    assert b.core.health().last_close_reason == "heartbeat timeout"
    assert_actions(b.until_deadline(), [OpenSocket(2)])


def test_any_frame_answers_the_ping() -> None:
    """A server that never sends pong is fine: any frame after the ping keeps the link, and the
    next ping waits for ping_interval of silence after that frame."""
    b = connected()
    b.advance(5)
    b.advance(3)
    b.frame()
    assert b.advance(4.9) == []
    assert b.core.state is State.CONNECTED
    assert [m["type"] for m in sent(b.advance(0.1))] == ["ping"]


def test_silent_link_is_detected_within_10_seconds_with_defaults() -> None:
    """With the defaults, a link that falls silent is closed less than 10 s after its last frame."""
    b = connected()
    b.advance(3)
    b.frame()
    last_frame = b.now
    while b.core.state is State.CONNECTED:
        b.until_deadline()
    assert b.now - last_frame <= 10


def test_pong_echoing_the_ping_id_records_the_round_trip_time() -> None:
    """A pong with our ping's id gives the RTT; another id does not."""
    b = connected()
    b.advance(5)
    b.advance(0.25)
    b.pong("999")
    assert b.core.health().rtt is None
    b.pong("2")
    assert b.core.health().rtt == pytest.approx(0.25)


def test_every_round_trip_is_counted_even_when_it_equals_the_last() -> None:
    """Health changes with each sample (rtt_samples), so a UI drawing samples sees two equal
    round trips as two points."""
    b = connected()
    b.advance(5)
    b.advance(0.25)
    b.pong("2")
    first = b.core.health()
    b.advance(5)
    b.advance(0.25)
    b.pong("3")
    second = b.core.health()
    assert second.rtt == first.rtt == pytest.approx(0.25)
    assert (first.rtt_samples, second.rtt_samples) == (1, 2)
    assert second != first


def test_each_open_measures_the_round_trip_at_once() -> None:
    """The open ends with a ping, so the RTT is known before any heartbeat ping is needed."""
    b = FakeBrowser()
    b.connect()
    b.advance(0.5)
    b.opened()  # the harness checks the trailing ping (id "1")
    b.advance(0.04)
    b.pong("1")
    assert b.core.health().rtt == pytest.approx(0.04)
    assert b.core.next_deadline == pytest.approx(0.54 + 5.0)  # no pong deadline was armed


def test_online_while_connected_sends_a_probe_with_a_short_deadline() -> None:
    """Coming back online pings at once and gives up after probe_timeout (<= 3 s)."""
    b = connected(Options(probe_timeout=2.5))
    b.advance(1)
    b.frame()
    assert [m["type"] for m in sent(b.online())] == ["ping"]
    assert b.core.next_deadline == pytest.approx(b.now + 2.5)
    assert_actions(b.advance(2.5), [CloseSocket(1, 4000, "heartbeat timeout")])


def test_answered_probe_keeps_the_connection() -> None:
    """A frame after the probe keeps the link; the heartbeat then resumes as usual."""
    b = connected()
    b.online()
    b.advance(1)
    b.frame()
    assert b.advance(2) == []
    assert b.core.state is State.CONNECTED


def test_visible_after_hidden_sends_a_probe() -> None:
    """Becoming visible after being hidden (the laptop may have slept) probes the link."""
    b = connected()
    b.hidden()
    b.advance(1)
    b.frame()
    assert [m["type"] for m in sent(b.visible())] == ["ping"]
    assert b.core.next_deadline == pytest.approx(b.now + Options().probe_timeout)


def test_visible_without_hidden_sends_nothing() -> None:
    """A visible event with no hidden before it is not a wake-up."""
    b = connected()
    assert b.visible() == []


def test_probe_never_extends_a_pending_pings_deadline() -> None:
    """A probe while a ping is unanswered keeps the earlier of the two deadlines."""
    b = connected(Options(ping_interval=5, pong_timeout=4, probe_timeout=3))
    b.advance(5)  # ping; its deadline is t=9
    b.advance(3)
    b.online()
    assert b.core.next_deadline == 9


def test_a_deadline_that_moves_earlier_re_arms_the_timer() -> None:
    """The open brings the deadline forward from the connect timeout (to the protocol's
    decision after ``pong_timeout`` of silence): the driver's one timer follows it."""
    b = FakeBrowser()
    b.connect()
    assert b.port.timer_at == Options().connect_timeout
    b.advance(0.5)
    b.opened()  # then the server's first frame moves the deadline later: the timer stays
    assert b.port.timer_at == 0.5 + Options().pong_timeout
    assert b.core.next_deadline == 0.5 + Options().ping_interval


def test_frames_never_move_the_deadline_earlier_nor_re_arm_the_timer() -> None:
    """Traffic only pushes the heartbeat on: the deadline moves later, never earlier, and the
    driver keeps its timer (one early wake per ping interval, not a re-arm per frame batch)."""
    b = connected()
    for step in (1.0, 4.5, 0.5, 3.0, 0.25, 0.25):
        b.advance(step)
        before, armed = b.core.next_deadline, b.port.timer_at
        assert before is not None and armed is not None and armed <= before
        b.frame()
        after = b.core.next_deadline
        assert after is not None and after >= before
        assert b.port.timer_at == armed


def _peak_allocation(handler: Callable[[int, float], None]) -> int:
    """Bytes tracemalloc sees allocated at the peak of 10,000 calls of ``handler(1, 1.0)``."""
    handler(1, 1.0)
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in itertools.repeat(None, 10_000):
            handler(1, 1.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start


def test_frame_received_allocates_nothing() -> None:
    """10,000 frames allocate no more than calling a function that does nothing."""
    core = connected().core

    def nothing(socket_id: int, now: float) -> None:
        pass

    def allocating(socket_id: int, now: float) -> None:
        core.last = [now]  # type: ignore[attr-defined]

    assert _peak_allocation(allocating) > _peak_allocation(nothing)  # the probe can fail
    assert _peak_allocation(core.frame_received) <= _peak_allocation(nothing)


def test_frames_on_a_stale_socket_do_not_count() -> None:
    """Frames from a socket the core gave up on do not keep the new one alive."""
    b = connected(Options(ping_interval=5, pong_timeout=4))
    b.error()
    b.until_deadline()
    b.opened()
    for _ in range(5):
        b.advance(2)
        b.core.frame_received(1, b.now)
    assert b.core.state is State.RECONNECTING
