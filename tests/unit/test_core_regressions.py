"""The seed's bugs (STORY-009's WebSocketClient), each replayed against the core."""

from __future__ import annotations

from test_core_harness import FakeBrowser, connected, opens, sent

from wsclient.core import State
from wsclient.options import Options


def test_seed_disconnect_does_not_reconnect() -> None:
    """Seed: disconnect()'s own close event scheduled a reconnect. Here nothing reopens."""
    b = connected()
    b.disconnect()
    b.core.socket_closed(1, 1000, "", b.now)  # the close event of the socket we closed
    assert opens(b.advance(3600)) == []
    assert b.core.state is State.DISCONNECTED


def test_seed_subscribe_while_down_is_not_sent_twice() -> None:
    """Seed: subscribe() while down queued a subscribe and the reconnect sent another."""
    b = connected()
    b.closed(1006)
    b.subscribe("p1")
    b.until_deadline()
    assert sent(b.opened()) == [{"type": "subscribe", "project_id": "p1"}]


def test_seed_backoff_has_jitter() -> None:
    """Seed: every client waited exactly 1, 2, 4 s. Here two random sources give two delays."""
    delays = []
    for draw in (0.1, 0.9):
        b = FakeBrowser(random=lambda draw=draw: draw)
        b.connect()
        b.closed(1006)
        delays.append(b.core.next_deadline)
    assert delays[0] != delays[1]


def test_seed_open_then_drop_does_not_reset_the_backoff() -> None:
    """Seed: a connection that opened and dropped at once reset the backoff (a tight 1 s loop).
    Here the windows keep growing."""
    b = FakeBrowser(random=lambda: 1.0)
    b.connect()
    delays = []
    for _ in range(6):
        b.opened()
        b.advance(0.1)
        b.closed(1006)
        deadline = b.core.next_deadline
        assert deadline is not None
        delays.append(round(deadline - b.now, 6))
        b.until_deadline()
    assert delays == [1, 2, 4, 8, 16, 30]


def test_seed_dead_link_is_noticed() -> None:
    """Seed: resetHeartbeat() was empty, so a silent link stayed "connected" forever."""
    b = connected(Options())
    b.advance(10)
    assert b.core.state is not State.CONNECTED
    assert b.core.health().last_close_reason == "heartbeat timeout"
