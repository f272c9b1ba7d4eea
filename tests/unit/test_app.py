"""The page's Client: commands, stores and configuration errors, with a fake transport."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import pytest

from wsclient import get
from wsclient.app import Client, client_from_page
from wsclient.core import CloseSocket, Connection, Health, OpenSocket, SendText
from wsclient.events import ConnectionState


class FakeTransport:
    """Carries out the core's actions at once, like browser.BrowserClient but without a browser."""

    instances: ClassVar[list[FakeTransport]] = []

    def __init__(
        self,
        url: str,
        core: Connection,
        *,
        on_text: Callable[[str], object],
        on_binary: Callable[[int], None],
        on_batch_end: Callable[[], None],
        on_health: Callable[[Health], None],
        clock: Callable[[], float],
    ) -> None:
        self.url = url
        self.core = core
        self.on_text = on_text
        self.on_health = on_health
        self.clock = clock
        self.socket: int | None = None
        self.sent: list[str] = []
        FakeTransport.instances.append(self)

    def _perform(self) -> None:
        for action in self.core.take_actions():
            if isinstance(action, OpenSocket):
                self.socket = action.socket_id
            elif isinstance(action, SendText):
                self.sent.append(action.text)
            elif isinstance(action, CloseSocket):
                self.socket = None
        self.on_health(self.core.health())

    def connect(self) -> None:
        self.core.connect(self.clock())
        self._perform()

    def disconnect(self) -> None:
        self.core.disconnect(self.clock())
        self._perform()

    def send_text(self, text: str) -> None:
        self.core.send(text, self.clock())
        self._perform()

    def subscribe(self, project_id: str) -> None:
        self.core.subscribe(project_id, self.clock())
        self._perform()

    def unsubscribe(self, project_id: str) -> None:
        self.core.unsubscribe(project_id, self.clock())
        self._perform()

    def close(self) -> None:
        self.disconnect()

    # what the browser would report
    def opened(self) -> None:
        assert self.socket is not None
        self.core.socket_opened(self.socket, self.clock())
        self._perform()

    def closed(self, code: int, reason: str = "") -> None:
        assert self.socket is not None
        self.core.socket_closed(self.socket, code, reason, self.clock())
        self._perform()


def make_client() -> tuple[Client, FakeTransport]:
    client = Client("ws://x.test/ws", clock=lambda: 0.0, transport=FakeTransport)
    return client, FakeTransport.instances[-1]


def test_state_store_follows_the_connection() -> None:
    """state holds {status, reconnect_attempts, error}; is_connected flips with it."""
    client, transport = make_client()
    assert get(client.state) == ConnectionState("disconnected", 0, None)
    client.connect()
    assert get(client.state).status == "connecting"
    transport.opened()
    assert get(client.state) == ConnectionState("connected", 0, None)
    assert get(client.is_connected) is True
    transport.closed(1006)
    assert get(client.state) == ConnectionState("reconnecting", 1, None)
    assert get(client.is_connected) is False


def test_rejection_shows_the_reason() -> None:
    """A 4401 close puts the reason in the state's error."""
    client, transport = make_client()
    client.connect()
    transport.opened()
    transport.closed(4401, "token expired")
    assert get(client.state) == ConnectionState("error", 0, "token expired")


def test_subscriptions_store_is_reference_counted() -> None:
    """Two subscribes and one unsubscribe leave the project subscribed."""
    client, _ = make_client()
    client.subscribe("alpha")
    client.subscribe("alpha")
    client.subscribe("beta")
    client.unsubscribe("alpha")
    assert get(client.subscriptions) == ("alpha", "beta")
    client.unsubscribe("alpha")
    assert get(client.subscriptions) == ("beta",)


@pytest.mark.parametrize("bad", ["", "   ", 5, None])
def test_bad_project_id_is_refused(bad: object) -> None:
    """A project id must be a non-empty string; nothing is subscribed otherwise."""
    client, _ = make_client()
    with pytest.raises(ValueError, match="project id"):
        client.subscribe(bad)  # type: ignore[arg-type]
    assert get(client.subscriptions) == ()


def test_unsubscribe_without_subscribe_says_so() -> None:
    """Unsubscribing from a project never subscribed raises, naming it."""
    client, _ = make_client()
    with pytest.raises(ValueError, match="'ghost'"):
        client.unsubscribe("ghost")


def test_unserializable_send_raises_and_queues_nothing() -> None:
    """A value JSON cannot hold is refused before anything is queued."""
    client, _ = make_client()
    with pytest.raises((TypeError, ValueError)):
        client.send({"when": {1, 2}})
    assert get(client.health).queue_depth == 0
    client.send({"ok": True})
    assert get(client.health).queue_depth == 1


def test_queued_send_goes_out_on_open() -> None:
    """A message sent while down is delivered once the socket opens."""
    client, transport = make_client()
    client.send({"type": "note", "n": 1})
    client.connect()
    transport.opened()
    assert '{"type":"note","n":1}' in transport.sent


def test_bad_url_from_the_page_is_an_error_state_not_an_exception() -> None:
    """?ws=ftp://… gives an error state naming the problem; sends still queue."""
    client = client_from_page("http://a.test/?ws=ftp://b.test/ws", transport=FakeTransport)
    state = get(client.state)
    assert state.status == "error"
    assert state.error is not None and "invalid WebSocket URL" in state.error
    client.connect()  # nothing to connect to: stays in the error
    client.send({"kept": 1})
    assert get(client.state).status == "error"
    assert get(client.health).queue_depth == 1


def test_page_options_reach_the_core() -> None:
    """Millisecond options in the page URL configure the connection."""
    client = client_from_page(
        "http://a.test/?ping_interval=1500&backoff_max=2000", transport=FakeTransport
    )
    assert client.core.options.ping_interval == 1.5
    assert client.core.options.backoff_max == 2.0
    assert client.url == "ws://a.test/ws"
