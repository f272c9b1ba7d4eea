"""The page's Client: commands, stores and configuration errors, with a fake transport."""

from __future__ import annotations

import json

import pytest
from fakes import FakePort

from wsclient import get
from wsclient.app import Client, client_from_page
from wsclient.driver import Driver
from wsclient.router import ConnectionState


class Page:
    """The client on a fake port, with the browser's side of its socket."""

    def __init__(self, href: str = "http://x.test/") -> None:
        self.ports: list[FakePort] = []
        self.client = client_from_page(href, port=self._make_port)

    def _make_port(self, url: str, driver: Driver) -> FakePort:
        port = FakePort()
        self.ports.append(port)
        self.driver = driver
        return port

    @property
    def port(self) -> FakePort:
        return self.ports[-1]

    @property
    def socket(self) -> int:
        socket_id = self.client.core.socket_id
        assert socket_id is not None
        return socket_id

    @property
    def sent(self) -> list[str]:
        return [text for texts in self.port.sent.values() for text in texts]

    def opened(self, first_frame: str | None = '{"type": "system.heartbeat"}') -> None:
        """The socket opens and the server's first frame (a v1 heartbeat by default) arrives."""
        self.port.open.add(self.socket)
        self.driver.socket_opened(self.socket)
        if first_frame is not None:
            self.frames(first_frame)

    def closed(self, code: int, reason: str = "") -> None:
        socket_id = self.socket
        self.port.gone(socket_id)
        self.driver.socket_closed(socket_id, code, reason)

    def frames(self, *texts: str) -> None:
        self.driver.frames(self.socket, list(texts))


def make_client() -> tuple[Client, Page]:
    page = Page()
    return page.client, page


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
    client = Page("http://a.test/?ws=ftp://b.test/ws").client
    state = get(client.state)
    assert state.status == "error"
    assert state.error is not None and "invalid WebSocket URL" in state.error
    client.connect()  # nothing to connect to: stays in the error
    client.send({"kept": 1})
    assert get(client.state).status == "error"
    assert get(client.health).queue_depth == 1


def test_page_options_reach_the_core() -> None:
    """Millisecond options in the page URL configure the connection."""
    client = Page("http://a.test/?ping_interval=1500&backoff_max=2000").client
    assert client.core.options.ping_interval == 1.5
    assert client.core.options.backoff_max == 2.0
    assert client.url == "ws://a.test/ws"


def test_state_subscribers_hear_changes_only() -> None:
    """50 sends while down change the queue depth, not the state: one notification in all."""
    client, _ = make_client()
    seen: list[ConnectionState] = []
    client.state.subscribe(seen.append)
    for n in range(50):
        client.send({"type": "note", "n": n})
    assert seen == [ConnectionState("disconnected", 0, None)]
    client.connect()
    assert [s.status for s in seen] == ["disconnected", "connecting"]


def test_removing_a_listener_twice_is_harmless() -> None:
    """A listener remover called again does nothing (and removes no other listener)."""
    client, page = make_client()
    calls: list[str] = []
    off = client.on("x", lambda m: calls.append("first"))
    client.on("x", lambda m: calls.append("second"))
    off()
    off()
    client.connect()
    page.opened()
    page.frames('{"type": "x"}')
    assert calls == ["second"]


def test_the_frame_limit_is_an_option_and_a_drop_says_how_to_raise_it() -> None:
    """?max_frame_size=: a longer frame is dropped, counted, and its reason names the option."""
    page = Page("http://x.test/?max_frame_size=50")
    page.client.connect()
    page.opened()
    page.frames(json.dumps({"type": "big", "pad": "x" * 60}))
    page.frames(json.dumps({"type": "small"}))
    dropped = get(page.client.dropped)["too_large"]
    assert dropped.count == 1
    assert "max_frame_size" in dropped.last_reason
    assert [m.type for m in get(page.client.messages)][-1] == "small"


def test_frames_the_page_dropped_unread_are_counted_by_kind() -> None:
    """In a batch, a number is a binary frame's size and a negative number an oversized text
    frame's length (dropped in JS): each is counted with a reason, and the text frames around
    them still arrive in order."""
    page = Page("http://x.test/?max_frame_size=50")
    page.client.connect()
    page.opened()
    page.driver.frames(page.socket, ['{"type": "a"}', 12, -2_000_000, '{"type": "b"}'])
    dropped = get(page.client.dropped)
    assert (dropped["binary"].count, dropped["too_large"].count) == (1, 1)
    assert "12 bytes" in dropped["binary"].last_reason
    reason = dropped["too_large"].last_reason
    assert "2000000 characters" in reason and "limit of 50" in reason
    assert "max_frame_size" in reason
    assert [m.type for m in get(page.client.messages)][-2:] == ["a", "b"]


def test_a_joined_batch_reaches_the_stores_like_the_same_frames_one_by_one() -> None:
    """The page hands text-only batches over as one U+001E-joined string: the client delivers
    the same messages, in order, and counts the same drops as for the frames one by one."""
    frames = [
        json.dumps({"type": "x", "n": 1}),
        "not json",
        json.dumps({"type": "x", "n": 2}),
        json.dumps(["an", "array"]),
        json.dumps({"type": "x", "n": 3}),
    ]
    seen: dict[str, list[object]] = {}
    for how in ("joined", "one by one"):
        page = Page()
        got: list[object] = []
        page.client.on("x", lambda m, got=got: got.append(m.fields["n"]))  # type: ignore[union-attr]
        page.client.connect()
        page.opened()
        if how == "joined":
            page.driver.frames(page.socket, "\x1e".join(frames))
        else:
            page.frames(*frames)
        counts = {kind: stats.count for kind, stats in get(page.client.dropped).items()}
        seen[how] = [got, counts, [m.type for m in get(page.client.messages)]]
    assert seen["joined"] == seen["one by one"]
    assert seen["joined"][0] == [1, 2, 3]
    assert seen["joined"][1] == {"not_json": 1, "not_object": 1}


def test_request_resolves_with_the_acks_data_and_fails_with_its_error() -> None:
    """request() is awaitable: ok -> the ack's data; ok:false -> RequestError(server text)."""
    import asyncio

    from wsclient.app import RequestError

    async def scenario() -> tuple[object, str]:
        page = Page()
        page.client.connect()
        page.opened('{"type": "hello", "protocol": 2}')
        saved = page.client.request({"type": "save"}, timeout=5)
        refused = page.client.request({"type": "save"}, timeout=5)
        sent = [json.loads(t) for t in page.sent if '"save"' in t]
        page.frames(json.dumps({"type": "ack", "id": sent[0]["id"], "ok": True, "data": 7}))
        page.frames(
            json.dumps({"type": "ack", "id": sent[1]["id"], "ok": False, "error": "no access"})
        )
        try:
            await refused
        except RequestError as exc:
            return await saved, str(exc)
        raise AssertionError("the refused request resolved")

    assert asyncio.run(scenario()) == (7, "no access")


def test_a_request_that_already_has_an_id_is_refused() -> None:
    """The client sets the id; passing one is an error saying so, and nothing is queued."""
    client, _ = make_client()
    with pytest.raises(ValueError, match="'id'"):
        client.start_request({"type": "save", "id": "mine"})
    assert get(client.health).queue_depth == 0
