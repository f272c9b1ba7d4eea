"""Protocol v2 in the core: the first frame decides the protocol, the outbox keeps what is not
acknowledged, requests settle exactly once, project streams recover (docs/protocol.md)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fakes import FakePort
from test_core_harness import HELLO, FakeBrowser, connected

from wsclient.actions import Settle
from wsclient.options import Options
from wsclient.outbound import QueueFull

PING = '{"type": "ping"'


def wire(b: FakeBrowser, socket_id: int | None = None) -> list[dict[str, Any]]:
    """The JSON objects sent on a socket (the current one by default), pings left out."""
    texts = b.sent[b.socket if socket_id is None else socket_id]
    return [json.loads(t) for t in texts if not t.startswith(PING)]


def app_sent(b: FakeBrowser) -> list[dict[str, Any]]:
    """Every application message sent on any socket, in order (subscribes and pings left out)."""
    out = []
    for texts in b.sent.values():
        for text in texts:
            message = json.loads(text)
            if message["type"] not in ("ping", "subscribe", "unsubscribe"):
                out.append(message)
    return out


def ack(id_: str, ok: bool = True, **fields: Any) -> str:
    return json.dumps({"type": "ack", "id": id_, "ok": ok, **fields})


def event(project: str, offset: int, path: str = "a.txt") -> str:
    file = {"name": path, "path": path, "size": 1, "asset_type": "doc"}
    return json.dumps(
        {"type": "file.uploaded", "project_id": project, "file": file, "offset": offset}
    )


def subscribed(project: str, offset: int, recovered: bool, epoch: str = "e1") -> str:
    return json.dumps(
        {
            "type": "subscribed",
            "project_id": project,
            "epoch": epoch,
            "offset": offset,
            "recovered": recovered,
        }
    )


def snapshot(project: str, offset: int) -> str:
    return json.dumps(
        {
            "type": "project.snapshot",
            "project_id": project,
            "offset": offset,
            "data": {"name": project},
            "files": [],
            "processes": [],
        }
    )


def reconnect(b: FakeBrowser, protocol: int = 2) -> None:
    b.closed(1006)
    b.until_deadline()
    b.opened(protocol)


# -- which protocol ---------------------------------------------------------------------------


def test_nothing_but_subscribes_and_pings_before_the_first_frame() -> None:
    """The outbox waits for the server's first frame; subscribes and the ping go out at once."""
    b = FakeBrowser()
    b.subscribe("p")
    b.send('{"type": "note"}')
    b.connect()
    b.opened(protocol=0)
    assert [m["type"] for m in wire(b)] == ["subscribe"]
    b.frame(HELLO)
    assert [m["type"] for m in wire(b)] == ["subscribe", "note"]


def test_a_hello_makes_sends_carry_ids() -> None:
    """On a v2 connection a send goes out with an ``id`` as its first member."""
    b = connected(protocol=2)
    b.send('{"type": "note", "n": 1}')
    (sent,) = wire(b)
    assert sent == {"id": "t-1", "type": "note", "n": 1}
    assert b.core.health().protocol == 2


def test_a_server_silent_for_the_pong_timeout_is_taken_for_v1() -> None:
    """No first frame within pong_timeout: the queue goes out as v1 (plain, no ids)."""
    b = FakeBrowser(Options(pong_timeout=2.0))
    b.send('{"type": "note"}')
    b.connect()
    b.opened(protocol=0)
    assert wire(b) == []
    b.advance(2.0)
    assert wire(b) == [{"type": "note"}]
    assert b.core.health().protocol == 1


# -- sends on v2: kept until acknowledged ---------------------------------------------------------


def test_a_v2_send_is_kept_until_acked_and_resent_with_the_same_id() -> None:
    """Unacknowledged sends go out again, once, after the reconnect's subscribes."""
    b = connected(protocol=2)
    b.subscribe("p")
    b.send('{"type": "a"}')
    b.send('{"type": "b"}')
    b.frame(ack("t-1"))
    assert b.core.health().queue_depth == 1
    reconnect(b)
    assert [m["type"] for m in wire(b)] == ["subscribe", "b"]
    assert wire(b)[1]["id"] == "t-2"
    b.frame(ack("t-2"))
    b.frame(ack("t-2"))  # a repeated ack changes nothing
    assert b.core.health().queue_depth == 0


def test_a_send_the_socket_refuses_is_delivered_on_the_next_connection() -> None:
    """A socket in CLOSING refuses the write: the message is kept, not lost (v1 too)."""
    b = connected(protocol=1)
    b.port.closing.add(b.socket)
    b.send('{"type": "late"}')
    assert wire(b) == []
    b.send('{"type": "later"}')
    reconnect(b, protocol=1)
    assert [m["type"] for m in wire(b)] == ["late", "later"]


def test_v1_sends_still_buffered_at_close_go_back_to_the_head_of_the_queue() -> None:
    """``bufferedAmount`` at close: the messages whose last byte had not left are sent again,
    in order, before the ones queued later."""
    b = connected(protocol=1)
    texts = [json.dumps({"type": "m", "n": n}) for n in range(5)]
    for text in texts:
        b.send(text)
    unsent = len(texts[3]) + len(texts[4]) - 1  # the last byte of m3 had not left
    b.closed(1006, unsent=unsent)
    b.send('{"type": "after"}')
    b.until_deadline()
    b.opened(protocol=1)
    assert wire(b) == [{"type": "m", "n": 3}, {"type": "m", "n": 4}, {"type": "after"}]


def test_v1_sends_buffered_when_the_core_closes_the_socket_come_back_too() -> None:
    """The heartbeat gives up on a link: what the closed socket still buffered is kept; the
    ping written after the send is buffered too, and is not taken for the send."""
    b = connected(Options(pong_timeout=1.0), protocol=1)
    b.send('{"type": "m"}')
    ping = len(json.dumps({"type": "ping", "id": "2"}))
    b.port.buffered[b.socket] = ping  # the ping only: the send had left
    b.advance(6.0)  # ping at 5 s, no answer by 6 s: the core closes the socket
    assert b.core.health().queue_depth == 0
    b.until_deadline()
    b.opened(protocol=1)
    assert wire(b) == []
    b.send('{"type": "m"}')
    b.port.buffered[b.socket] = ping + 3  # the send's last 3 bytes had not left
    b.advance(6.0)
    assert b.core.health().queue_depth == 1
    b.until_deadline()
    b.opened(protocol=1)
    assert wire(b) == [{"type": "m"}]


def test_a_full_outbox_drops_the_oldest_send_and_counts_it() -> None:
    """Sends and requests count together; the oldest send makes room."""
    b = FakeBrowser(Options(max_queue=2))
    b.core.request('{"type": "r"}', "r", 5.0, b.now)
    b.send('{"type": "s1"}')
    b.send('{"type": "s2"}')
    health = b.core.health()
    assert (health.queue_depth, health.queue_overflow) == (2, 1)
    assert [id_ for id_, _ in b.core.delivery.pending_requests()] == ["t-1"]


def test_a_request_that_finds_only_requests_is_refused_at_once() -> None:
    """Requests are never dropped to make room: the new one is rejected, saying why."""
    b = FakeBrowser(Options(max_queue=1))
    b.core.request('{"type": "r"}', "r", 5.0, b.now)
    b.core.request('{"type": "r2"}', "r2", 5.0, b.now)
    b.pump()
    (settle,) = b.page.settles
    assert settle.id == "t-2" and not settle.ok
    assert settle.error is not None and "max_queue" in settle.error


def test_sends_coming_back_at_close_never_push_a_request_out_of_the_outbox() -> None:
    """v2, max_queue 3: a request is pending while four untagged sends (not kept until acked)
    are written; the close says all four were unsent. The bound drops the oldest *sends*
    (counted, forgotten in storage); the request stays pending, stored, and times out as
    promised."""
    b = connected(Options(max_queue=3), protocol=2)
    id_ = b.driver.request('{"type": "r"}', "r", 30.0)
    texts = [json.dumps([n]) for n in range(4)]
    for text in texts:
        b.send(text)
    b.closed(1006, unsent=sum(len(t) for t in texts))
    assert [i for i, _ in b.core.delivery.pending_requests()] == [id_]
    assert id_ in b.port.stored
    health = b.core.health()
    assert (health.queue_depth, health.queue_overflow) == (3, 2)
    assert sorted(e.text for e in b.port.stored.values() if e.kind == "send") == texts[2:]
    b.advance(31.0)
    assert b.page.settles == [Settle(id_, False, None, "request r timed out after 30000 ms")]
    assert id_ not in b.port.stored


def test_a_request_meets_a_v1_server_with_a_clear_rejection_not_a_timeout() -> None:
    """v1 has no acks: a queued request is rejected when the server turns out to be v1, a new
    one at once; neither is written (so neither is applied once per reconnect)."""
    b = FakeBrowser()
    b.connect()
    queued = b.driver.request('{"type": "save"}', "save", 30.0)
    b.opened(protocol=1)
    fresh = b.driver.request('{"type": "load"}', "load", 30.0)
    assert [m.get("type") for m in wire(b)] == []
    assert [(s.id, s.ok) for s in b.page.settles] == [(queued, False), (fresh, False)]
    assert "request save refused: the server speaks protocol v1" in (b.page.settles[0].error or "")
    assert b.port.stored == {} and b.core.health().queue_depth == 0


def test_sends_coming_back_at_close_respect_max_queue_bytes() -> None:
    """What bufferedAmount brings back is bounded by bytes as well as count."""
    text = json.dumps({"type": "m", "pad": "x" * 80})
    size = len(text)
    b = connected(Options(max_queue=100, max_queue_bytes=3 * size), protocol=1)
    for _ in range(5):
        b.send(text)
    b.closed(1006, unsent=5 * size)
    health = b.core.health()
    assert health.queue_depth == 3
    assert health.queue_overflow == 2  # two trimmed off the written list, buffered: lost
    assert sum(entry.size for entry in b.port.stored.values()) <= 3 * size


def test_an_untagged_v2_send_goes_once_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A message with its own "id" (or not an object) cannot carry a delivery id: it is written
    as it is, not kept; the page is warned once that it is not delivered exactly once."""
    b = connected(protocol=2)
    with caplog.at_level(logging.WARNING, logger="wsclient"):
        b.driver.send_text('{"id": "mine", "type": "m"}', tagged=False)  # as Client.send does
        b.send("[1, 2]")
    assert wire(b) == [{"id": "mine", "type": "m"}, [1, 2]]
    assert b.core.health().queue_depth == 0
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "delivery id" in warning and "without" in warning


def test_a_send_into_an_outbox_full_of_requests_raises_saying_what_to_do() -> None:
    """Requests are never dropped for a send: the send is refused with a clear error and
    nothing is queued."""
    b = FakeBrowser(Options(max_queue=1))
    b.core.request('{"type": "r"}', "r", 5.0, b.now)
    with pytest.raises(QueueFull, match=r"full of unacknowledged requests.*raise the limits"):
        b.send('{"type": "s"}')
    assert b.core.health().queue_depth == 1


# -- requests -----------------------------------------------------------------------------------


def test_a_request_resolves_with_the_acks_data() -> None:
    """``ok: true`` settles once with ``data``."""
    b = connected(protocol=2)
    id_ = b.driver.request('{"type": "save"}', "save", 5.0)
    b.frame(ack(id_, data={"saved": 1}))
    b.frame(ack(id_, data={"saved": 1}))
    assert b.page.settles == [Settle(id_, True, {"saved": 1}, None)]


def test_a_refused_request_carries_the_servers_text() -> None:
    """``ok: false`` settles with the server's error."""
    b = connected(protocol=2)
    id_ = b.driver.request('{"type": "save"}', "save", 5.0)
    b.frame(ack(id_, ok=False, error="no such project"))
    assert b.page.settles == [Settle(id_, False, None, "no such project")]


def test_a_request_times_out_naming_its_type_and_timeout() -> None:
    """No ack within the timeout: rejected with "request <type> timed out after <ms> ms"."""
    b = connected(protocol=2)
    id_ = b.driver.request('{"type": "save"}', "save", 0.5)
    b.advance(0.49)
    assert b.page.settles == []
    b.advance(0.01)
    assert b.page.settles == [Settle(id_, False, None, "request save timed out after 500 ms")]
    b.frame(ack(id_))  # too late: nothing more
    assert len(b.page.settles) == 1


def test_a_request_is_retransmitted_after_every_reconnect_until_acked() -> None:
    """Same id each time, after the subscribes, in its place among the queued sends."""
    b = connected(protocol=2)
    b.subscribe("p")
    b.send('{"type": "s1"}')
    id_ = b.driver.request('{"type": "r"}', "r", 60.0)
    b.send('{"type": "s2"}')
    for _ in range(3):
        reconnect(b)
        assert [(m["type"], m.get("id")) for m in wire(b)] == [
            ("subscribe", None),
            ("s1", "t-1"),
            ("r", id_),
            ("s2", "t-3"),
        ]
    b.frame(ack(id_))
    assert b.page.settles == [Settle(id_, True, None, None)]


# -- durable outbox -------------------------------------------------------------------------------


def test_the_durable_outbox_holds_exactly_what_is_unacknowledged() -> None:
    """Persist on queue, forget on ack (v2) or on write (v1 fire-and-forget)."""
    b = connected(protocol=2)
    b.send('{"type": "a"}')
    id_ = b.driver.request('{"type": "r"}', "r", 5.0)
    assert sorted(b.port.stored) == ["t-1", id_]
    b.frame(ack("t-1"))
    b.frame(ack(id_))
    assert b.port.stored == {}


def test_a_reload_sends_what_the_last_page_left_once_in_order() -> None:
    """A new page on the same storage sends the old queue first, then its own."""
    old = FakeBrowser(id_prefix="old")
    for n in range(3):
        old.send(json.dumps({"type": "m", "n": n}))
    old.core.request('{"type": "r"}', "r", 30.0, old.now)
    old.pump()
    page = FakeBrowser(id_prefix="new", port=FakePort())
    page.port.stored = dict(old.port.stored)
    page = FakeBrowser(id_prefix="new", port=page.port)  # loads the storage on start
    page.send('{"type": "fresh"}')
    page.connect()
    page.opened(protocol=2)
    assert [(m["type"], m["id"]) for m in wire(page)] == [
        ("m", "old-1"),
        ("m", "old-2"),
        ("m", "old-3"),
        ("r", "old-4"),
        ("fresh", "new-5"),  # numbered after the four it took over
    ]
    assert [id_ for id_, _ in page.core.delivery.pending_requests()] == ["old-4"]


# -- project streams ------------------------------------------------------------------------------


def first_subscribe(b: FakeBrowser, project: str = "p", top: int = 3) -> None:
    b.subscribe(project)
    b.frame(subscribed(project, top, recovered=False))
    b.frame(snapshot(project, top))


def test_the_first_subscribes_snapshot_leaves_the_project_live() -> None:
    """No position yet: a plain subscribe; the snapshot sets the position; status live."""
    b = connected(protocol=2)
    first_subscribe(b)
    assert wire(b)[-1] == {"type": "subscribe", "project_id": "p"}
    assert b.core.streams.statuses() == {"p": "live"}
    assert b.page.delivered[-1].type == "project.snapshot"


def test_a_reconnect_resubscribes_with_since_and_a_replay_makes_it_live() -> None:
    """``since`` = the last offset applied; recovering until the replay reaches the top."""
    b = connected(protocol=2)
    first_subscribe(b, top=3)
    b.frame(event("p", 4))
    reconnect(b)
    assert wire(b)[0] == {
        "type": "subscribe",
        "project_id": "p",
        "since": {"epoch": "e1", "offset": 4},
    }
    assert b.core.streams.statuses() == {"p": "recovering"}
    b.frame(subscribed("p", 6, recovered=True))
    b.frame(event("p", 5))
    assert b.core.streams.statuses() == {"p": "recovering"}
    b.frame(event("p", 6))
    assert b.core.streams.statuses() == {"p": "live"}
    offsets = [m.offset for m in b.page.delivered if m.type == "file.uploaded"]  # type: ignore[union-attr]
    assert offsets == [4, 5, 6]


def test_a_snapshot_after_a_reconnect_is_a_reset() -> None:
    """History too short or epoch changed: the snapshot replaces the project; status reset."""
    b = connected(protocol=2)
    first_subscribe(b, top=3)
    reconnect(b)
    b.frame(subscribed("p", 40, recovered=False, epoch="e2"))
    b.frame(event("p", 39))  # before the snapshot: replaced by it, not applied
    b.frame(snapshot("p", 40))
    assert b.core.streams.statuses() == {"p": "reset"}
    reconnect(b)
    assert wire(b)[0]["since"] == {"epoch": "e2", "offset": 40}


def test_duplicates_are_dropped_and_counted() -> None:
    """An offset at or below the last applied is not delivered again."""
    b = connected(protocol=2)
    first_subscribe(b, top=3)
    b.frame(event("p", 4))
    b.frame(event("p", 4))
    b.frame(event("p", 2))
    assert [m.offset for m in b.page.delivered if m.type == "file.uploaded"] == [4]  # type: ignore[union-attr]
    assert b.core.health().duplicates == 2


def test_a_gap_resubscribes_on_the_same_socket_and_holds_events_past_it() -> None:
    """Offset 6 after 4: subscribe with since 4 once; nothing past the gap is applied until the
    replay fills it."""
    b = connected(protocol=2)
    first_subscribe(b, top=4)
    b.frame(event("p", 6))
    b.frame(event("p", 7))
    resubscribes = [m for m in wire(b) if m["type"] == "subscribe" and "since" in m]
    assert resubscribes == [
        {"type": "subscribe", "project_id": "p", "since": {"epoch": "e1", "offset": 4}}
    ]
    assert b.core.streams.statuses() == {"p": "recovering"}
    b.frame(subscribed("p", 7, recovered=True))
    for offset in (5, 6, 7):
        b.frame(event("p", offset))
    assert [m.offset for m in b.page.delivered if m.type == "file.uploaded"] == [5, 6, 7]  # type: ignore[union-attr]
    assert b.core.streams.statuses() == {"p": "live"}


def test_a_v1_server_makes_subscribed_projects_stale_with_one_resync_per_reconnect() -> None:
    """Live until the first reconnect; then stale, and one resync event per reconnect."""
    b = connected(protocol=1)
    b.subscribe("p")
    b.subscribe("q")
    assert b.core.streams.statuses() == {"p": "live", "q": "live"}
    reconnect(b, protocol=1)
    assert b.core.streams.statuses() == {"p": "stale", "q": "stale"}
    assert b.page.resyncs == ["p", "q"]
    reconnect(b, protocol=1)
    assert b.page.resyncs == ["p", "q", "p", "q"]


def test_no_subscribed_reply_in_time_makes_the_project_stale() -> None:
    """A server that says hello but never answers subscribes cannot recover: stale + resync."""
    b = connected(Options(pong_timeout=1.0), protocol=2)
    first_subscribe(b)
    reconnect(b)
    b.advance(0.99)
    assert b.core.streams.statuses() == {"p": "recovering"}
    b.advance(0.01)
    assert b.core.streams.statuses() == {"p": "stale"}
    assert b.page.resyncs == ["p"]


def test_a_late_reply_whose_replay_completes_makes_a_stale_project_live_again() -> None:
    """The reply came after the timeout (stale, resync told); the replay it announced still
    completes, and then the project is live: it is no longer out of date."""
    b = connected(Options(pong_timeout=1.0), protocol=2)
    first_subscribe(b, top=3)
    reconnect(b)
    b.advance(1.0)
    assert b.core.streams.statuses() == {"p": "stale"}
    b.frame(subscribed("p", 5, recovered=True))
    b.frame(event("p", 4))
    assert b.core.streams.statuses() == {"p": "stale"}
    b.frame(event("p", 5))
    assert b.core.streams.statuses() == {"p": "live"}


def test_a_replay_from_a_position_the_client_does_not_hold_asks_for_a_snapshot() -> None:
    """A server that says "recovered" to a subscribe without ``since`` cannot be replayed
    from: the client asks afresh (a snapshot follows) instead of dropping events for ever."""
    b = connected(protocol=2)
    b.subscribe("p")
    b.frame(subscribed("p", 7, recovered=True))
    assert wire(b)[-2:] == [{"type": "subscribe", "project_id": "p"}] * 2
    b.frame(subscribed("p", 7, recovered=False))
    b.frame(snapshot("p", 7))
    b.frame(event("p", 8))
    assert b.core.streams.statuses() == {"p": "live"}
    assert [m.type for m in b.page.delivered[-2:]] == ["project.snapshot", "file.uploaded"]


def test_a_server_that_keeps_saying_recovered_leaves_the_project_stale_not_deaf() -> None:
    """Asked afresh, it says "recovered" again: the project is stale (resync told) and its
    events are applied as they come."""
    b = connected(protocol=2)
    b.subscribe("p")
    b.frame(subscribed("p", 7, recovered=True))
    b.frame(subscribed("p", 7, recovered=True))
    assert b.core.streams.statuses() == {"p": "stale"} and b.page.resyncs == ["p"]
    b.frame(event("p", 8))
    assert b.page.delivered[-1].type == "file.uploaded"


def test_the_position_is_forgotten_after_the_last_unsubscribe() -> None:
    """Subscribing again later starts afresh: no ``since``, and the snapshot leaves it live."""
    b = connected(protocol=2)
    first_subscribe(b, top=3)
    b.unsubscribe("p")
    assert b.core.streams.statuses() == {}
    b.subscribe("p")
    assert wire(b)[-1] == {"type": "subscribe", "project_id": "p"}


def test_sync_changes_reach_the_page_only_when_they_happen() -> None:
    """The driver publishes sync status on change, not per frame."""
    b = connected(protocol=2)
    first_subscribe(b, top=3)
    published = len(b.page.syncs)
    for offset in range(4, 50):
        b.frame(event("p", offset))
    assert len(b.page.syncs) == published


def test_sends_and_requests_before_hello_keep_their_order() -> None:
    """A mix queued while down goes out in the order it was handed over."""
    b = FakeBrowser()
    b.send('{"type": "a"}')
    b.core.request('{"type": "b"}', "b", 9.0, b.now)
    b.send("[1, 2]")  # not an object: cannot carry an id, so fire-and-forget even on v2
    b.pump()
    b.connect()
    b.opened(protocol=2)
    texts = [t for t in b.sent[b.socket] if not t.startswith(PING)]
    assert texts == ['{"id":"t-1","type": "a"}', '{"id":"t-2","type": "b"}', "[1, 2]"]
