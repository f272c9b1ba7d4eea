"""The connection core's outbound side: the queue while down, and reference-counted
subscriptions."""

from __future__ import annotations

import json
import logging

import pytest
from test_core_harness import FakeBrowser, assert_actions, connected, sent

from wsclient.actions import SendText
from wsclient.options import Options
from wsclient.outbound import Outbound, Outbox


def sub(project_id: str) -> dict[str, str]:
    return {"type": "subscribe", "project_id": project_id}


def unsub(project_id: str) -> dict[str, str]:
    return {"type": "unsubscribe", "project_id": project_id}


# -- the queue ------------------------------------------------------------------------------


def test_send_while_connected_goes_out_at_once() -> None:
    """send() on an open connection sends the text on the current socket."""
    b = connected()
    assert_actions(b.send('{"a": 1}'), [SendText(1, '{"a": 1}')])


@pytest.mark.parametrize("when", ["disconnected", "connecting", "reconnecting", "error"])
def test_send_while_not_connected_is_queued(when: str) -> None:
    """send() in any other state queues the text and sends nothing."""
    b = FakeBrowser()
    if when != "disconnected":
        b.connect()
    if when == "reconnecting":
        b.closed(1006)
    if when == "error":
        b.closed(4401)
    assert b.send("m") == []
    assert b.core.health().queue_depth == 1


def test_queue_is_flushed_in_order_on_open() -> None:
    """On open the queued texts go out oldest first and the queue is empty."""
    b = FakeBrowser()
    b.connect()
    for text in ("m1", "m2", "m3"):
        b.send(text)
    assert_actions(b.opened(), [SendText(1, "m1"), SendText(1, "m2"), SendText(1, "m3")])
    assert b.core.health().queue_depth == 0


def test_queued_messages_are_sent_exactly_once_across_reconnects() -> None:
    """A text flushed on one connection is not sent again on the next."""
    b = FakeBrowser()
    b.connect()
    b.send("m1")
    b.opened()
    b.closed(1006)
    b.send("m2")
    b.until_deadline()
    b.opened()
    pings = [text for texts in b.sent.values() for text in texts if '"ping"' in text]
    assert {k: [t for t in v if t not in pings] for k, v in b.sent.items()} == {
        1: ["m1"],
        2: ["m2"],
    }


def test_full_queue_drops_the_oldest_and_counts_it() -> None:
    """Beyond max_queue the oldest texts are dropped and counted in queue_overflow."""
    b = FakeBrowser(Options(max_queue=3))
    for n in range(5):
        b.send(f"m{n}")
    health = b.core.health()
    assert (health.queue_depth, health.queue_overflow) == (3, 2)
    b.connect()
    assert [a.text for a in b.opened() if isinstance(a, SendText)] == ["m2", "m3", "m4"]


def test_overflow_is_logged_once_per_episode(caplog: pytest.LogCaptureFixture) -> None:
    """A flood logs one warning until the queue is drained, then one again."""
    queue = Outbox(2)

    def push(n: int) -> None:
        queue.add(Outbound(f"m{n}", n, "send", "{}", tagged=True))

    with caplog.at_level(logging.WARNING, logger="wsclient"):
        for n in range(10):
            push(n)
        for entry in queue:
            queue.remove(entry.id)
        for n in range(10, 13):
            push(n)
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]
    assert queue.overflow == 9


# -- subscriptions --------------------------------------------------------------------------


def test_first_subscriber_subscribes_on_the_wire() -> None:
    """subscribe() while connected sends one subscribe message; a second subscriber none."""
    b = connected()
    assert sent(b.subscribe("p1")) == [sub("p1")]
    assert b.subscribe("p1") == []


def test_subscriptions_are_reference_counted() -> None:
    """Two subscribers, one leaves: still subscribed; the last leaves: unsubscribe is sent."""
    b = connected()
    b.subscribe("p1")
    b.subscribe("p1")
    assert b.unsubscribe("p1") == []
    assert sent(b.unsubscribe("p1")) == [unsub("p1")]


def test_every_active_project_is_subscribed_once_on_reconnect_before_the_flush() -> None:
    """On each open: one subscribe per active project, then the queued texts."""
    b = connected()
    b.subscribe("p1")
    b.subscribe("p2")
    b.subscribe("p2")
    b.closed(1006)
    b.send('{"type": "hello"}')
    b.until_deadline()
    assert sent(b.opened()) == [sub("p1"), sub("p2"), {"type": "hello"}]


def test_subscribe_while_down_is_sent_once_on_open() -> None:
    """A subscribe while down produces exactly one subscribe message, on the next open."""
    b = FakeBrowser()
    b.connect()
    b.closed(1006)
    assert b.subscribe("p1") == []
    b.until_deadline()
    assert sent(b.opened()) == [sub("p1")]


def test_subscribe_while_connecting_is_sent_once_on_open() -> None:
    """A subscribe while the socket is pending is sent once, when it opens."""
    b = FakeBrowser()
    b.connect()
    b.subscribe("p1")
    assert sent(b.opened()) == [sub("p1")]


def test_unsubscribe_while_down_sends_nothing_later() -> None:
    """A project left while down is neither resubscribed nor sent a stale unsubscribe."""
    b = connected()
    b.subscribe("p1")
    b.closed(1006)
    assert b.unsubscribe("p1") == []
    b.until_deadline()
    assert b.opened() == []


def test_subscribe_and_unsubscribe_while_down_send_nothing() -> None:
    """Joining and leaving while down leaves no trace on the wire."""
    b = FakeBrowser()
    b.subscribe("p1")
    b.unsubscribe("p1")
    b.connect()
    assert b.opened() == []


def test_unsubscribe_without_subscriber_is_harmless(caplog: pytest.LogCaptureFixture) -> None:
    """An unmatched unsubscribe sends nothing, keeps other subscriptions, and warns."""
    b = connected()
    b.subscribe("p1")
    with caplog.at_level(logging.WARNING, logger="wsclient"):
        assert b.unsubscribe("p2") == []
    assert "p2" in caplog.text
    b.closed(1006)
    b.until_deadline()
    assert sent(b.opened()) == [sub("p1")]


def test_the_outbox_is_bounded_by_bytes_too() -> None:
    """Past max_queue_bytes the oldest sends make room; memory stays bounded by bytes."""
    b = FakeBrowser(Options(max_queue_bytes=110))
    for n in range(5):
        b.send(json.dumps({"type": "m", "n": n, "pad": "x" * 20}))  # 52 bytes each
    health = b.core.health()
    assert (health.queue_depth, health.queue_overflow) == (2, 3)
    b.connect()
    assert [json.loads(a.text)["n"] for a in b.opened() if isinstance(a, SendText)] == [3, 4]


def test_a_message_larger_than_the_byte_bound_is_refused_saying_which_option() -> None:
    """One message over max_queue_bytes raises before anything is queued."""
    b = FakeBrowser(Options(max_queue_bytes=10))
    with pytest.raises(ValueError, match="max_queue_bytes"):
        b.send('{"type": "too big for ten bytes"}')
    assert b.core.health().queue_depth == 0
