"""Tabs of one browser share one connection: one socket, per-tab routing, sends and requests,
handover without loss (docs/protocol.md, "Sharing one connection between the tabs")."""

from __future__ import annotations

import json

from test_tabs_world import World, assert_in_step

from wsclient.core import State
from wsclient.tabs import Role
from wsclient.tabs_hub import frames_text, read_frames


def test_three_tabs_hold_one_socket() -> None:
    """Three connected tabs: one socket to the server, one leader, every tab connected. (The
    first tab led alone on its own socket until the second came: then the hub's took over.)"""
    world = World()
    a, b, c = world.open_tabs("a", "b", "c")
    assert len(world.server.conns) == 1 and world.server.accepted == 2
    assert a.sockets() == [("tab", 1), ("wire", 1)]
    assert [t.share.role for t in (a, b, c)] == [Role.LEADER, Role.FOLLOWER, Role.FOLLOWER]
    assert [t.state for t in (a, b, c)] == [State.CONNECTED] * 3
    assert [t.share.tabs for t in (a, b, c)] == [3, 3, 3]
    assert all(t.core.health().protocol == 2 for t in (a, b, c))


def test_the_page_hears_when_its_role_or_tab_count_changes() -> None:
    """on_change fires when the tab count changes (and when the shared connection does)."""
    world = World()
    (a,) = world.open_tabs("a")
    seen: list[tuple[str, int]] = []
    a.share.on_change = lambda: seen.append((a.share.role.value, a.share.tabs))
    world.open_tabs("b")
    assert seen[-1] == ("leader", 2)
    seen.clear()
    world.open_tabs("c")
    assert seen == [("leader", 3)]


def test_a_tab_alone_opens_its_own_socket() -> None:
    """Sharing off: each tab connects alone."""
    world = World()
    for name in ("a", "b"):
        tab = world.tab(name, shared=False)
        tab.driver.connect()
    world.advance(0.0)
    assert world.server.accepted == 2
    assert all(
        t.share.role is Role.ALONE and t.state is State.CONNECTED for t in world.tabs.values()
    )


def test_each_tab_gets_its_own_projects_and_every_message_without_one() -> None:
    """A tab receives the events of the projects it subscribed, plus project-less messages."""
    world = World()
    a, b, c = world.open_tabs("a", "b", "c")
    a.subscribe("alpha")
    b.subscribe("beta")
    world.advance(0.0)
    for _ in range(3):
        world.server.emit("alpha")
        world.server.emit("beta")
    world.server.broadcast({"type": "notice", "text": "maintenance at noon"})
    world.advance(0.0)
    assert a.applied("beta") == [] and b.applied("alpha") == []
    assert_in_step(a, "alpha", 3)
    assert_in_step(b, "beta", 3)
    assert c.applied("alpha") == c.applied("beta") == []
    assert all(t.types().count("notice") == 1 for t in (a, b, c))


def test_a_message_of_a_project_no_tab_holds_reaches_every_tab() -> None:
    """A project message nobody subscribed to (a server that pushes unasked) reaches every tab,
    as it reaches a tab alone; one of a held project still goes only to its holders."""
    world = World()
    a, b = world.open_tabs("a", "b")
    a.subscribe("alpha")
    world.advance(0.0)
    world.server.broadcast({"type": "project.updated", "project_id": "p1", "data": {}})
    world.server.broadcast({"type": "chat.message", "project_id": "p2", "text": "hi"})
    world.server.broadcast({"type": "chat.message", "project_id": "alpha", "text": "hi"})
    world.advance(0.0)
    assert a.types().count("project.updated") == b.types().count("project.updated") == 1
    assert [t.types().count("chat.message") for t in (a, b)] == [2, 1]


def test_the_wire_sees_subscribe_once_and_unsubscribe_after_the_last_tab() -> None:
    """Ref-counted across tabs: a later tab's subscribe gets the current state; unsubscribe goes
    out only when the last tab lets go."""
    world = World()
    a, b = world.open_tabs("a", "b")
    a.subscribe("alpha")
    world.advance(0.0)
    world.server.emit("alpha")
    world.server.emit("alpha")
    world.advance(0.0)
    b.subscribe("alpha")
    world.advance(0.0)
    world.server.emit("alpha")
    world.advance(0.0)
    assert_in_step(a, "alpha", 3)
    assert_in_step(b, "alpha", 3)
    assert b.applied("alpha")[0] == ("snapshot", 2)
    assert a.core.health().duplicates == b.core.health().duplicates == 0
    unsubscribes = lambda: [m for m in world.server.received if m["type"] == "unsubscribe"]  # noqa: E731
    a.unsubscribe("alpha")
    assert unsubscribes() == []
    b.unsubscribe("alpha")
    assert unsubscribes() == [{"type": "unsubscribe", "project_id": "alpha"}]


def test_a_followers_send_and_request_reach_the_server_once_and_settle_in_its_tab() -> None:
    """send()/request() from a follower: applied once, acknowledged in the tab that made them."""
    world = World()
    a, b = world.open_tabs("a", "b")
    b.driver.send_text(json.dumps({"type": "chat", "text": "hi"}))
    request_id = b.driver.request(json.dumps({"type": "save", "doc": 1}), "save", 5.0)
    world.advance(0.0)
    assert [m["type"] for m in world.server.applied] == ["chat", "save"]
    assert [s.id for s in b.page.settles] == [request_id]
    assert b.page.settles[0].ok and b.page.settles[0].data == {"type": "save"}
    assert a.page.settles == []
    assert b.core.health().queue_depth == 0


def test_pings_of_a_tab_are_answered_by_the_leader() -> None:
    """A follower's heartbeat is answered without a ping on the wire for it."""
    world = World()
    _a, b = world.open_tabs("a", "b")
    pings = sum(m["type"] == "ping" for m in world.server.received)
    world.advance(20.0)
    assert b.state is State.CONNECTED and b.core.health().rtt is not None
    wire_pings = sum(m["type"] == "ping" for m in world.server.received) - pings
    assert wire_pings <= 4  # the wire core's own heartbeat, not one per tab


def test_leader_closing_under_traffic_hands_over_without_loss() -> None:
    """The leader tab closes while events flow: another tab leads at once, subscribes each
    project once, from the lowest position any tab holds, and every tab ends equal to the
    server, with no event applied twice."""
    world = World()
    a, b, c = world.open_tabs("a", "b", "c")
    for tab in (a, b, c):
        tab.subscribe("alpha")
    c.subscribe("beta")
    world.advance(0.0)
    for _ in range(5):
        world.server.emit("alpha")
        world.server.emit("beta")
    world.advance(0.0)
    c.disconnect()  # c keeps its positions (5) while b goes on to 8
    for _ in range(3):
        world.server.emit("alpha")
    world.advance(0.0)
    sent = len(world.server.received)
    world.server.emit("alpha")  # on its way when the leader goes
    c.share.start(True)  # c comes back just as the leader closes
    c.driver.connect()
    a.close()
    for _ in range(3):
        world.server.emit("alpha")  # nobody listens: the new leader recovers them
        world.server.emit("beta")
    world.advance(0.0)
    assert world.leader() is b
    assert len(world.server.conns) == 1
    assert b.state is c.state is State.CONNECTED
    world.server.emit("alpha")
    world.advance(0.0)
    for tab in (b, c):
        assert_in_step(tab, "alpha", 13)
        assert tab.core.health().duplicates == 0
    assert_in_step(c, "beta", 8)
    # b took the lead alone (c had left) and shared it once c asked: the wire subscribes each
    # project once, from the lowest position any tab holds.
    (wire,) = world.server.conns.values()
    after = [m for m in wire.received if m["type"] == "subscribe"]
    assert world.server.received[sent:]
    assert sorted(json.dumps(m, sort_keys=True) for m in after) == [
        json.dumps({"project_id": p, "since": {"epoch": "e1", "offset": 5}, "type": "subscribe"})
        for p in ("alpha", "beta")
    ]
    assert [t.share.tabs for t in (b, c)] == [2, 2]


def test_handover_waits_for_no_backoff() -> None:
    """The new leader's socket opens right after the old leader leaves: no retry delay."""
    world = World()
    a, b = world.open_tabs("a", "b")
    opened_before = world.server.accepted
    a.close()
    world.run()
    assert world.server.accepted == opened_before + 1
    assert b.state is State.CONNECTED and b.share.role is Role.LEADER


def test_a_crashed_leader_is_replaced_and_nothing_is_lost() -> None:
    """The leader's tab crashes (no goodbye): the lock passes, the tabs reconnect at once."""
    world = World()
    a, b, c = world.open_tabs("a", "b", "c")
    b.subscribe("alpha")
    c.subscribe("alpha")
    world.advance(0.0)
    world.server.emit("alpha")
    world.advance(0.0)
    a.close(graceful=False)
    world.server.emit("alpha")
    world.advance(0.0)
    world.server.emit("alpha")
    world.advance(0.0)
    assert world.leader() in (b, c)
    for tab in (b, c):
        assert tab.state is State.CONNECTED
        assert_in_step(tab, "alpha", 3)


def test_unacknowledged_sends_of_a_follower_go_out_again_after_handover() -> None:
    """A send the old leader wrote but the server never acknowledged is applied once."""
    world = World()
    a, b = world.open_tabs("a", "b")
    b.driver.send_text(json.dumps({"type": "chat", "text": "hi"}))
    a.close(graceful=False)  # the send may or may not have reached the server
    world.advance(0.0)
    assert b.state is State.CONNECTED
    assert [m["type"] for m in world.server.applied] == ["chat"]
    assert b.core.health().queue_depth == 0


def test_a_follower_disconnect_takes_only_that_tab_out() -> None:
    """disconnect() in a follower: it stays disconnected, the others stay connected, and its
    projects leave the wire when no other tab holds them."""
    world = World()
    a, b = world.open_tabs("a", "b")
    b.subscribe("beta")
    world.advance(0.0)
    b.disconnect()
    world.advance(30.0)
    assert b.state is State.DISCONNECTED and b.share.role is Role.STOPPED
    assert a.state is State.CONNECTED and a.share.tabs == 1
    assert {"type": "unsubscribe", "project_id": "beta"} in world.server.received
    accepted = world.server.accepted
    b.connect()
    world.advance(0.0)
    assert b.state is State.CONNECTED and world.server.accepted == accepted
    assert a.share.tabs == 2 and len(world.server.conns) == 1


def test_a_leader_disconnect_hands_over() -> None:
    """disconnect() in the leader: that tab is out, another tab leads and the rest reconnect."""
    world = World()
    a, b, c = world.open_tabs("a", "b", "c")
    c.subscribe("gamma")
    world.advance(0.0)
    a.disconnect()
    world.advance(0.0)
    assert a.state is State.DISCONNECTED
    assert world.leader() is b
    assert b.state is c.state is State.CONNECTED
    world.server.emit("gamma")
    world.advance(0.0)
    assert_in_step(c, "gamma", 1)


def test_a_server_restart_makes_one_reconnect_not_one_per_tab() -> None:
    """The shared socket drops: one new socket, one subscribe per project for all tabs."""
    world = World()
    a, b, c = world.open_tabs("a", "b", "c")
    for tab in (a, b, c):
        tab.subscribe("alpha")
    world.advance(0.0)
    world.server.emit("alpha")
    world.advance(0.0)
    accepted = world.server.accepted
    world.server.kill()
    world.run()
    assert {t.state for t in (a, b, c)} == {State.RECONNECTING}
    world.server.emit("alpha")
    world.advance(15.0)
    assert world.server.accepted == accepted + 1
    assert {t.state for t in (a, b, c)} == {State.CONNECTED}
    assert len(world.server.subscribes("alpha")) == 4
    world.server.emit("alpha")
    world.advance(0.0)
    for tab in (a, b, c):
        assert_in_step(tab, "alpha", 3)


def test_a_follower_gets_its_frames_of_a_batch_as_one_joined_text() -> None:
    """The leader forwards a wire batch to each follower as one text, its frames joined with
    U+001E as the page's transport joins a batch, holding that follower's frames only: the
    follower parses it as the leader's own tab does (one parse, no list to convert)."""
    world = World()
    a, b, c = world.open_tabs("a", "b", "c")
    assert a.share.role is Role.LEADER
    b.subscribe("beta")
    c.subscribe("gamma")
    world.advance(0.0)
    conn = next(iter(world.server.conns.values()))
    frames = [
        json.dumps({"type": "notice", "text": "first"}),
        json.dumps({"type": "project.updated", "project_id": "beta", "data": {}}),
        json.dumps({"type": "notice", "text": "last"}),
    ]
    del world.posts[:]
    world.server.to(conn, frames)
    world.advance(0.0)
    forwarded = [p for p in world.posts if isinstance(p, str)]
    assert len(forwarded) == 1  # one text for the whole batch, no object to convert
    term = a.share.roles.term
    assert read_frames(forwarded[0], "b") == (term, b.core.socket_id, "\x1e".join(frames))
    assert read_frames(forwarded[0], "c") == (term, c.core.socket_id, f"{frames[0]}\x1e{frames[2]}")
    assert read_frames(forwarded[0], "a") is None
    assert b.types()[-3:] == ["notice", "project.updated", "notice"]
    assert c.types()[-2:] == ["notice", "notice"] and "project.updated" not in c.types()


def test_tabs_given_the_same_frames_share_one_span_of_the_forwarded_text() -> None:
    """Every follower receives the whole forwarded text, so a batch all of them get is in it
    once, not once per follower."""
    frames = "\x1e".join(['{"type":"notice","n":1}', '{"type":"notice","n":2}'])
    text = frames_text(7, {"b": 1, "c": 2, "d": 3}, {"b": frames, "c": frames, "d": "{}"})
    assert text.count(frames) == 1
    got = [read_frames(text, tab) for tab in "bcd"]
    assert got == [(7, 1, frames), (7, 2, frames), (7, 3, "{}")]
