"""The driver: one timer at the core's deadline, actions carried out in order, stale sockets
ignored, health published only when it changed."""

from __future__ import annotations

import json

from test_core_harness import FakeBrowser, assert_actions, connected

from wsclient.actions import CloseSocket, OpenSocket, SendText
from wsclient.options import Options


class CountingBrowser(FakeBrowser):
    """Counts how often the driver touches the timer."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.timer_calls: list[float | None] = []
        set_timer = self.port.set_timer

        def counting(delay: float | None) -> None:
            self.timer_calls.append(delay)
            set_timer(delay)

        self.port.set_timer = counting  # type: ignore[method-assign]


def test_the_timer_is_armed_for_the_cores_deadline() -> None:
    """After connect the one timer fires at the connect timeout."""
    b = FakeBrowser(Options(connect_timeout=3.0))
    b.connect()
    assert b.port.timer_at == 3.0 == b.core.next_deadline


def test_the_timer_is_rearmed_only_when_the_deadline_moves() -> None:
    """Sends and frames on an open link do not touch the timer; opening the socket does."""
    b = CountingBrowser()
    b.connect()
    b.opened()
    calls = len(b.timer_calls)
    for n in range(50):
        b.send(json.dumps({"type": "app", "n": n}))
        b.frame()
    assert len(b.timer_calls) == calls


def test_disconnect_cancels_the_timer() -> None:
    """With no deadline the timer is cancelled, not left to fire for nothing."""
    b = CountingBrowser()
    b.connect()
    b.disconnect()
    assert b.timer_calls[-1] is None
    assert b.port.timer_at is None


def test_a_timer_that_fires_early_is_armed_again() -> None:
    """A timer the browser runs before the deadline changes nothing and is re-armed."""
    b = FakeBrowser(Options(connect_timeout=3.0))
    b.connect()
    b.port.time = 2.5
    b.driver.timer_fired()
    assert b.port.take() == []
    assert b.port.timer_at == 3.0


def test_frames_from_a_socket_let_go_are_ignored() -> None:
    """After the driver closed a socket, its late frames and close reach nobody."""
    b = connected(Options(pong_timeout=1.0))
    old = b.socket
    b.advance(5.0)  # ping
    assert_actions(b.advance(1.0)[:1], [CloseSocket(old, 4000, "heartbeat timeout")])
    texts = len(b.texts)
    b.driver.frames(old, ['{"type": "late"}'])
    b.driver.socket_closed(old, 1006, "")
    assert len(b.texts) == texts
    assert b.core.state.value == "reconnecting"


def test_health_is_published_only_when_it_changed() -> None:
    """Frames and repeated inputs that change nothing publish no new health."""
    b = connected()
    published = len(b.healths)
    for _ in range(20):
        b.frame()
        b.online()
    assert len(b.healths) == published
    b.send('{"type": "x"}')  # sent at once: queue depth unchanged
    assert len(b.healths) == published
    b.closed(1006)
    assert b.healths[-1].state.value == "reconnecting"


def test_a_pong_in_a_batch_gives_the_round_trip() -> None:
    """The open's ping is answered inside a batch of frames: RTT is measured and published."""
    b = FakeBrowser()
    b.connect()
    b.port.open.add(b.socket)
    b.driver.socket_opened(b.socket)
    (ping,) = [json.loads(a.text) for a in b.port.take() if isinstance(a, SendText)]
    b.port.time += 0.25
    b.driver.frames(b.socket, ['{"type": "x"}', json.dumps({"type": "pong", "id": ping["id"]})])
    assert b.healths[-1].rtt == 0.25


def test_close_disconnects_and_disposes_the_port() -> None:
    """Closing the driver closes the socket with 1000 and frees the port."""
    b = connected()
    socket_id = b.socket
    b.driver.close()
    assert_actions(b.port.take(), [CloseSocket(socket_id, 1000, "client disconnect")])
    assert b.port.disposed
    assert b.port.timer_at is None


def test_every_open_is_followed_by_its_events_only() -> None:
    """A retry opens a new socket id; the old one's open event is ignored."""
    b = FakeBrowser(random=lambda: 0.0)
    b.connect()
    first = b.socket
    b.closed(1006)
    assert_actions(b.advance(0.0), [OpenSocket(first + 1)])
    b.driver.socket_opened(first)
    assert b.core.state.value == "reconnecting"
