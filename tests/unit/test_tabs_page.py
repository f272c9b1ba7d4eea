"""What a tab's page shows and keeps when it shares (docs/protocol.md, "Sharing"): the shared
connection's health, role and tab count; duplicates the server sent; outbox entries taken over
while connected; the ``?share=`` switch."""

from __future__ import annotations

import json

import pytest
from test_tabs_world import World

from wsclient.config import options_from_query, share_from_query
from wsclient.core import State
from wsclient.outbound import Outbound


def test_every_tab_shows_the_shared_connections_state_and_its_role() -> None:
    """A follower shows the leader's connection (status, protocol) with its own role and count."""
    world = World()
    a, b = world.open_tabs("a", "b")
    shown = [t.share.view(t.core.health()) for t in (a, b)]
    assert [(h.role, h.tabs, h.state, h.protocol) for h in shown] == [
        ("leader", 2, State.CONNECTED, 2),
        ("follower", 2, State.CONNECTED, 2),
    ]


def test_a_dropped_connection_shows_as_reconnecting_in_every_tab() -> None:
    """The shared socket drops: every tab shows reconnecting with the wire's close code."""
    world = World()
    a, b = world.open_tabs("a", "b")
    world.server.kill(1012)
    world.run()
    for tab in (a, b):
        health = tab.share.view(tab.core.health())
        assert (health.state, health.last_close_code) == (State.RECONNECTING, 1012)


def test_a_disconnected_tab_shows_disconnected_and_alone() -> None:
    """disconnect() in a follower: it shows its own disconnected state, alone."""
    world = World()
    _, b = world.open_tabs("a", "b")
    b.disconnect()
    health = b.share.view(b.core.health())
    assert (health.state, health.role, health.tabs) == (State.DISCONNECTED, "alone", 1)


def test_an_offset_the_server_sends_twice_is_counted_in_the_tab() -> None:
    """A duplicate from the server reaches the tab (health.duplicates counts it); a replay asked
    for another tab does not."""
    world = World()
    a, b = world.open_tabs("a", "b")
    a.subscribe("alpha")
    world.server.emit("alpha")
    world.advance(0.0)
    b.subscribe("alpha")  # its replay/snapshot must not reach a
    world.advance(0.0)
    assert a.core.health().duplicates == 0
    conn = next(iter(world.server.conns.values()))
    world.server.to(conn, [world.server.history["alpha"][-1]])
    world.advance(0.0)
    assert a.core.health().duplicates == 1


def test_entries_taken_over_while_connected_are_sent_at_once() -> None:
    """Restoring stored entries on a ready connection writes them (not only queues them)."""
    world = World()
    (a,) = world.open_tabs("a")
    entry = Outbound("gone-1", 1, "send", json.dumps({"type": "note"}), tagged=True)
    a.core.restore([entry], world.time)
    a.driver.settle()
    world.advance(0.0)
    assert [m.get("id") for m in world.server.applied] == ["gone-1"]


@pytest.mark.parametrize(
    ("value", "shared"), [("0", False), ("false", False), ("off", False), ("1", True), ("", True)]
)
def test_the_share_parameter_turns_sharing_on_or_off(value: str, shared: bool) -> None:
    assert share_from_query({"share": value}, not shared) is shared
    assert options_from_query({"share": value}).share is shared


def test_without_the_share_parameter_the_default_applies() -> None:
    assert share_from_query({}, True) is True and share_from_query({}, False) is False
