"""Recovery end to end in CPython: the page's own client (core, driver, router) against the
reference server's stream logic, with random drops, lost frames, duplicates, restarts and
trimmed histories. Whatever happens, once the link is back and quiet the page's stores equal the
server's state and every event reached the listeners at most once (hypothesis)."""

from __future__ import annotations

import itertools
import json
from typing import Any

from fakes import FakePort
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.streams import HistoryLimits, Streams
from wsclient.app import Client
from wsclient.driver import Driver
from wsclient.messages import FileEvent, ProcessEvent, ProjectEvent
from wsclient.options import Options
from wsclient.stores import get

PROJECT = "p"
PATHS = ("a.txt", "b.png", "c.mov")
PROCESSES = ("x", "y")


def events() -> st.SearchStrategy[dict[str, Any]]:
    file = st.sampled_from(PATHS).map(
        lambda p: {"name": p, "path": p, "size": len(p), "asset_type": p[-3:]}
    )
    progress = st.none() | st.floats(0, 1).map(lambda x: round(x, 2))
    message = st.none() | st.sampled_from(["Rendering", "Encoding"])

    def process(type_: str) -> st.SearchStrategy[dict[str, Any]]:
        return st.builds(
            lambda pid, pr, msg: {
                "type": type_,
                "process_id": pid,
                **({} if pr is None else {"progress": pr}),
                **({} if msg is None else {"message": msg}),
            },
            st.sampled_from(PROCESSES),
            progress,
            message,
        )

    return st.one_of(
        st.builds(lambda n: {"type": "project.updated", "data": {"n": n}}, st.integers(0, 9)),
        st.just({"type": "project.deleted"}),
        file.map(lambda f: {"type": "file.uploaded", "file": f}),
        file.map(lambda f: {"type": "file.deleted", "file": f}),
        process("process.started"),
        process("process.progress"),
        process("process.completed"),
    )


steps = st.lists(
    st.one_of(
        st.tuples(st.just("event"), events(), st.sampled_from(["ok", "ok", "ok", "lost", "twice"])),
        st.tuples(st.sampled_from(["drop", "restart", "trim", "reconnect"])),
    ),
    max_size=50,
)


class World:
    """One page (the real ``Client`` on a ``FakePort``) and one v2 server (``server.streams``)."""

    def __init__(self) -> None:
        epochs = (f"e{n}" for n in itertools.count())
        self.streams = Streams(HistoryLimits(size=5, age=1e9), epochs=lambda: next(epochs))
        self.port = FakePort()
        self.client = Client("ws://x.test/ws", Options(), port=self._port, id_prefix="t")
        self.seen: list[tuple[str, int]] = []  # (epoch, offset) of each event a listener got
        self.client.on("*", self._record)
        self.subscribed_on: set[int] = set()  # sockets on which the server has the project
        self.read = 0  # client frames of the current socket the server has read
        self.client.subscribe(PROJECT)
        self.client.connect()
        self.open()

    def _port(self, _url: str, driver: Driver) -> FakePort:
        self.driver = driver
        return self.port

    def _record(self, message: Any) -> None:
        if isinstance(message, ProjectEvent | FileEvent | ProcessEvent) and message.offset:
            self.seen.append((self.streams.get(PROJECT).epoch, message.offset))
        elif message.type == "project.snapshot":
            self.seen.append(("snapshot", message.offset))

    @property
    def socket(self) -> int | None:
        return self.client.core.socket_id

    def to_client(self, *frames: dict[str, Any]) -> None:
        socket_id = self.socket
        assert socket_id is not None and socket_id in self.port.open
        self.driver.frames(socket_id, [json.dumps(f) for f in frames])

    def open(self) -> None:
        socket_id = self.socket
        assert socket_id is not None
        self.port.open.add(socket_id)
        self.read = 0
        self.driver.socket_opened(socket_id)
        self.to_client({"type": "hello", "protocol": 2})
        self.serve()

    def serve(self) -> None:
        """The server reads what the client sent on the open socket and answers subscribes."""
        socket_id = self.socket
        if socket_id is None or socket_id not in self.port.open:
            return
        texts = self.port.sent[socket_id]
        while self.read < len(texts):
            message = json.loads(texts[self.read])
            self.read += 1
            if message.get("type") == "subscribe":
                self.subscribed_on.add(socket_id)
                self.answer_subscribe(message.get("since"))

    def answer_subscribe(self, since: dict[str, Any] | None) -> None:
        stream = self.streams.get(PROJECT)
        replay = None if since is None else stream.replay(since["epoch"], since["offset"], 0.0)
        reply = {
            "type": "subscribed",
            "project_id": PROJECT,
            "epoch": stream.epoch,
            "offset": stream.top,
            "recovered": replay is not None,
        }
        if replay is None:
            self.to_client(reply, stream.snapshot())
        else:
            self.to_client(reply, *(entry.event for entry in replay))

    def live(self) -> bool:
        socket_id = self.socket
        return socket_id is not None and socket_id in self.subscribed_on

    def step(self, step: tuple[Any, ...]) -> None:
        name = step[0]
        if name == "event":
            entry = self.streams.get(PROJECT).append({**step[1], "project_id": PROJECT}, 0.0)
            if self.live() and step[2] != "lost":
                self.to_client(entry.event)
                if step[2] == "twice":
                    self.to_client(entry.event)
        elif name == "drop" and self.socket is not None and self.socket in self.port.open:
            socket_id = self.socket
            self.port.gone(socket_id)
            self.driver.socket_closed(socket_id, 1006, "")
        elif name == "restart":
            self.streams.restart(PROJECT)
            if self.socket is not None:
                self.subscribed_on.discard(self.socket)
                self.step(("drop",))
        elif name == "trim":
            self.streams.get(PROJECT).trim(0)
        elif name == "reconnect" and self.socket is None:
            self.client.connect()
            self.open()
        self.serve()

    def settle(self) -> None:
        """Bring the link back, let one more event show any gap a lost frame left (a live
        stream always moves on), and let every answer arrive."""
        if self.socket is None:
            self.client.connect()
            self.open()
        self.step(("event", {"type": "project.updated", "data": {"n": "last"}}, "ok"))
        self.serve()

    def page_state(self) -> dict[str, Any]:
        files = get(self.client.files).get(PROJECT, {})
        processes = {
            pid: {"status": p.status, "progress": p.progress, "message": p.message}
            for pid, p in get(self.client.processes).get(PROJECT, {}).items()
        }
        return {
            "data": get(self.client.projects).get(PROJECT),
            "files": {
                path: {"name": f.name, "path": f.path, "size": f.size, "asset_type": f.asset_type}
                for path, f in files.items()
            },
            "processes": processes,
        }


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(steps=steps)
def test_stores_end_equal_to_the_server_whatever_the_network_did(
    steps: list[tuple[Any, ...]],
) -> None:
    """Drops, lost and repeated frames, restarts and short histories: once the link is back the
    page holds exactly the server's state, and no event reached the listeners twice."""
    world = World()
    for step in steps:
        world.step(step)
    world.settle()
    assert world.page_state() == world.streams.state(PROJECT)
    events = [s for s in world.seen if s[0] != "snapshot"]
    assert len(events) == len(set(events)), "an event reached the listeners twice"
    assert get(world.client.sync)[PROJECT] in ("live", "reset")
