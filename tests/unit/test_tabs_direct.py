"""A leader tab alone uses the real socket itself; the first other tab moves the connection to
the hub without losing anything (tabs.py, "A leader alone uses the real socket directly")."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import pytest
from test_tabs_world import SocketPort, World, assert_in_step

from wsclient.actions import CloseSocket
from wsclient.config import options_from_query
from wsclient.core import State
from wsclient.options import Options
from wsclient.stores import get
from wsclient.tabs import CLOSE_SHARING, SHARING, Role


def provider_log() -> tuple[list[dict[str, object]], object]:
    calls: list[dict[str, object]] = []

    def provider(context: dict[str, object]) -> str:
        calls.append(dict(context))
        return f"token-{len(calls)}"

    return calls, provider


def test_a_lone_tab_leads_on_its_own_socket_with_one_core() -> None:
    """One tab: it leads, its own core opened the one socket (no hub, no wire core), and each
    frame reached its page once."""
    world = World()
    (a,) = world.open_tabs("a")
    a.subscribe("alpha")
    world.server.emit("alpha")
    world.advance(0.0)
    assert a.share.role is Role.LEADER and a.share.direct and a.share.hub is None
    assert a.sockets() == [("tab", 1)] and len(world.server.conns) == 1
    assert a.state is State.CONNECTED
    view = a.share.view(a.core.health())
    assert (view.role, view.tabs, view.state, view.protocol) == ("leader", 1, State.CONNECTED, 2)
    types = [json.loads(t)["type"] for t in a.page.texts]
    assert types == ["hello", "pong", "subscribed", "project.snapshot", "project.updated"]
    assert_in_step(a, "alpha", 1)


def test_a_lone_leaders_own_core_calls_the_provider_and_a_followers_never_does() -> None:
    """With a token provider, the page connects once the tab's role is known: a lone leader's
    first attempt asks its provider (attempt 0) in the tab's own core; a follower asks none."""
    world = World()
    calls_a, provider_a = provider_log()
    a = world.page("a", provider=provider_a)  # type: ignore[arg-type]
    world.advance(0.0)
    assert calls_a == [{"reason": "connect", "attempt": 0}]
    assert world.server.tokens == ["token-1"]
    assert a.sockets() == [("tab", 1)] and a.share.hub is None
    assert a.client is not None
    health = get(a.client.health)
    assert (health.state, health.auth, health.role) == (State.CONNECTED, "signed_in", "leader")
    calls_b, provider_b = provider_log()
    b = world.page("b", provider=provider_b)  # type: ignore[arg-type]
    world.advance(0.0)
    assert b.share.role is Role.FOLLOWER and b.state is State.CONNECTED
    assert calls_b == []
    # a moved to the hub: its wire core asked a's provider for its own token
    assert calls_a == [{"reason": "connect", "attempt": 0}] * 2
    assert world.server.tokens == ["token-1", "token-2"] and len(world.server.conns) == 1
    assert a.core.health().auth == "none"  # the tab's own core no longer authenticates
    assert get(a.client.health).auth == "signed_in"  # the page shows the shared connection's


def test_a_page_waiting_for_its_role_shows_connecting() -> None:
    """connect() with a provider waits for the role (a lock grant away); meanwhile the page
    says connecting, not disconnected."""
    world = World()
    _, provider = provider_log()
    tab = world.page("a", provider=provider)  # type: ignore[arg-type]
    assert tab.client is not None
    tab.client.disconnect()
    world.advance(0.0)
    assert get(tab.client.health).state is State.DISCONNECTED
    tab.client.connect()  # the lock grant is a task away
    assert tab.share.placing and get(tab.client.health).state is State.CONNECTING
    world.advance(0.0)
    assert get(tab.client.health).state is State.CONNECTED and tab.share.direct


def test_a_second_tab_moves_the_connection_to_the_hub_and_nothing_is_lost() -> None:
    """While a's send and request are unacknowledged and events flow, b opens: a's socket
    closes with 1001 "sharing with another tab", a relinks through the hub at once (no backoff),
    the wire resubscribes from a's offset, the send and the request are applied once and the
    request settles in a; a's stores end equal to the server's."""
    world = World()
    (a,) = world.open_tabs("a")
    a.subscribe("alpha")
    for _ in range(3):
        world.server.emit("alpha")
    world.advance(0.0)
    a.driver.send_text(json.dumps({"type": "chat", "text": "hi"}))
    request_id = a.driver.request(json.dumps({"type": "save", "doc": 1}), "save", 5.0)
    b = world.tab("b")  # its "who" reaches a before the acks do
    world.server.emit("alpha")  # on its way when a's socket closes
    b.driver.connect()
    world.run()  # no time passes: no backoff wait anywhere
    assert CloseSocket(1, CLOSE_SHARING, SHARING) in [act for _, act in a.port.history]
    assert a.share.hub is not None and not a.share.direct
    assert a.state is b.state is State.CONNECTED and len(world.server.conns) == 1
    (wire,) = world.server.conns.values()
    subscribes = [m for m in wire.received if m["type"] == "subscribe"]
    assert subscribes == [
        {"type": "subscribe", "project_id": "alpha", "since": {"epoch": "e1", "offset": 3}}
    ]
    world.server.emit("alpha")
    world.advance(0.0)
    assert sorted(m["type"] for m in world.server.applied) == ["chat", "save"]
    assert [s.id for s in a.page.settles] == [request_id] and a.page.settles[0].ok
    assert a.core.health().queue_depth == 0 and a.core.health().duplicates == 0
    assert_in_step(a, "alpha", 5)
    assert [t.share.tabs for t in (a, b)] == [2, 2]


def test_the_leader_stays_on_the_hub_when_the_others_leave() -> None:
    """Tabs come and go (a reload is a leave and a join): the leader keeps the hub."""
    world = World()
    a, b = world.open_tabs("a", "b")
    b.close()
    world.advance(30.0)
    assert a.share.hub is not None and a.share.tabs == 1 and a.state is State.CONNECTED
    assert len(world.server.conns) == 1
    c = world.tab("c")
    c.driver.connect()
    world.advance(0.0)
    assert c.state is State.CONNECTED and world.server.accepted == 2


def test_a_tab_taking_over_from_a_leader_with_other_tabs_starts_the_hub_at_once() -> None:
    """The leader of three tabs closes: the next leader knows the others are coming and opens
    no socket of its own first; a tab taking over from a leader it alone followed leads alone."""
    world = World()
    a, b, c = world.open_tabs("a", "b", "c")
    a.close()
    world.advance(0.0)
    leader = world.leader()
    assert leader.sockets() == [("wire", 1)] and not leader.share.direct
    other = c if leader is b else b
    leader.close()
    world.advance(0.0)
    assert world.leader() is other and other.share.direct
    assert [kind for kind, _ in other.sockets()] == ["tab"] and other.state is State.CONNECTED


def test_sharing_is_on_by_default_and_share_0_turns_it_off() -> None:
    assert Options().share is True
    assert options_from_query({}).share is True
    assert options_from_query({"share": "0"}).share is False


class Answer:
    """A token provider's answer that the test gives when it wants (an awaitable)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.ready = False

    def __await__(self) -> Generator[None, None, str]:
        while not self.ready:
            yield
        return self.token


class Runner:
    """``Port.run_async`` as the page runs it (``BrowserPort``): the awaitable runs to its end,
    then ``done(True, value)``, or ``done(False, text)`` if it raised."""

    def __init__(self) -> None:
        self.running: list[tuple[Coroutine[Any, Any, object], Callable[[bool, object], None]]] = []

    def run_async(self, awaitable: Any, done: Callable[[bool, object], None]) -> None:
        async def run() -> object:
            return await awaitable

        self.running.append((run(), done))

    def step(self) -> None:
        for entry in list(self.running):
            coro, done = entry
            try:
                coro.send(None)
            except StopIteration as stop:
                self.running.remove(entry)
                done(True, stop.value)
            except Exception as exc:
                self.running.remove(entry)
                done(False, f"token provider failed: {exc}")


def test_a_token_asked_for_alone_and_answered_after_the_move_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An async provider is still answering the lone leader's own core when a second tab
    opens: that answer is not used (no auth frame goes through the hub), the tab's core relinks
    at once, and the shared socket authenticates with the wire core's own token."""
    runner = Runner()
    monkeypatch.setattr(SocketPort, "run_async", lambda _self, a, d: runner.run_async(a, d))
    world = World()
    answers: list[Answer] = []

    def provider(context: dict[str, object]) -> Answer:
        answers.append(Answer(f"token-{len(answers) + 1}"))
        return answers[-1]

    a = world.page("a", provider=provider)
    world.advance(0.0)
    runner.step()
    assert len(answers) == 1 and a.share.direct  # the tab's own core waits for token-1
    b = world.tab("b")
    b.driver.connect()
    world.run()
    assert a.share.hub is not None and len(answers) == 2  # the wire core asked for token-2
    answers[0].ready = True
    runner.step()  # token-1 arrives late: that attempt fails; a relinks to the hub at once
    world.run()
    answers[1].ready = True
    runner.step()
    world.advance(0.0)
    assert world.server.tokens == ["token-2"]
    assert a.state is b.state is State.CONNECTED and len(world.server.conns) == 1
    assert a.core.health().auth == "none"
    frames = [m["type"] for conn in world.server.conns.values() for m in conn.received]
    assert frames.count("auth") == 1
