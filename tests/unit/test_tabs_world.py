"""A browser with several tabs in one process, for the tab-sharing tests. No tests here.

``World`` is the browser: one event loop (``tasks``: channel deliveries, lock grants and socket
events are asynchronous, as in a page), one clock shared by every timer, Web Locks with their
queues, a ``BroadcastChannel`` (each post reaches every *other* live tab, as a JSON copy), the
term in ``localStorage``, and a v2 server that follows docs/protocol.md (history and replay,
snapshots, acks with dedup). Each `Tab` runs the real ``Session`` + ``Driver`` of a page through
``tabs.SharedTab``; a ``Recorder`` keeps what its page heard.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from typing import Any

from fakes import FakePort, Recorder

from wsclient.actions import OpenSocket
from wsclient.client import Client
from wsclient.core import Session, State
from wsclient.driver import Driver
from wsclient.messages import ProjectEvent, ProjectSnapshot
from wsclient.options import Options
from wsclient.tabs import Role, SharedTab
from wsclient.tabs_hub import Hub, Posted, WirePort

LEADER_LOCK = "wsclient:ws://server/ws"
HELLO = '{"type": "hello", "protocol": 2}'
#: A token provider as the tests give it (sync: it answers at once).
Provider = Callable[[dict[str, object]], object]

OPTIONS = Options(ping_interval=5.0, pong_timeout=4.0, backoff_initial=1.0, backoff_after_drop=10.0)


class World:
    def __init__(self, options: Options = OPTIONS) -> None:
        self.options = options
        self.time = 0.0
        self.tasks: deque[tuple[Tab | None, Callable[[], None]]] = deque()
        self.timers: list[Timer] = []
        self.server = Server(self)
        self.locks = Locks(self)
        self.tabs: dict[str, Tab] = {}
        self.stored_term = 0
        self.posts: list[Posted] = []

    def soon(self, tab: Tab | None, fn: Callable[[], None]) -> None:
        """Run ``fn`` after the current task (not at all if ``tab`` has closed by then)."""
        self.tasks.append((tab, fn))

    def run(self) -> None:
        for _ in range(100_000):
            if not self.tasks:
                return
            tab, fn = self.tasks.popleft()
            if tab is None or tab.alive:
                fn()
        raise AssertionError("the event loop never went idle")

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass: every timer due fires in order, each task runs."""
        target = self.time + seconds
        self.run()
        while True:
            due = [t for t in self.timers if t.at is not None and t.at <= target and t.live()]
            if not due:
                break
            timer = min(due, key=lambda t: t.at or 0.0)
            self.time = max(self.time, timer.at or 0.0)
            timer.at = None
            timer.fire()
            self.run()
        self.time = target
        self.run()

    def tab(self, tab_id: str, *, shared: bool = True, provider: Provider | None = None) -> Tab:
        tab = Tab(self, tab_id, provider)
        self.tabs[tab_id] = tab
        tab.start(shared)
        return tab

    def page(self, tab_id: str, *, provider: Provider | None = None) -> Tab:
        """A tab whose page runs the public ``Client`` (as ``app.start`` builds it) and has
        called ``connect()``; its listeners' messages are in ``tab.page``."""
        tab = Tab(self, tab_id, provider, client=True)
        self.tabs[tab_id] = tab
        tab.client_connect()
        return tab

    def open_tabs(self, *ids: str) -> list[Tab]:
        """Tabs opened one after the other, each connected."""
        tabs = []
        for tab_id in ids:
            tab = self.tab(tab_id)
            tab.driver.connect()
            self.run()
            tabs.append(tab)
        self.advance(0.0)
        return tabs

    def leader(self) -> Tab:
        leaders = [t for t in self.tabs.values() if t.alive and t.share.role is Role.LEADER]
        assert len(leaders) == 1, [t.tab_id for t in leaders]
        return leaders[0]


class Timer:
    def __init__(self, owner: Tab, fire: Callable[[], None]) -> None:
        self.owner = owner
        self.at: float | None = None
        self.fire = fire

    def live(self) -> bool:
        return self.owner.alive

    def set(self, now: float, delay: float | None) -> None:
        assert delay is None or delay >= 0, f"timer armed {delay} s in the past"
        self.at = None if delay is None else now + delay


class WorldPort(FakePort):
    """A tab's page port on the world's clock; ``driver.Port`` for the tab's own driver."""

    def __init__(self, world: World, tab: Tab) -> None:
        super().__init__(world.time)
        self.world = world
        self.tab = tab
        self.driver: Driver | None = None
        self.timer = Timer(tab, lambda: self.bound.timer_fired())
        world.timers.append(self.timer)

    @property
    def bound(self) -> Driver:
        assert self.driver is not None
        return self.driver

    def bind(self, driver: Driver) -> WorldPort:
        self.driver = driver
        return self

    def now(self) -> float:
        self.time = self.world.time
        return self.world.time

    def set_timer(self, delay: float | None) -> None:
        self.timer.set(self.world.time, delay)


class SocketPort(WorldPort):
    """The real socket of a leader's wire driver: it talks to the world's server."""

    def open_socket(self, socket_id: int) -> None:
        super().open_socket(socket_id)
        self.world.soon(self.tab, lambda: self.world.server.accept(self, socket_id))

    def send(self, socket_id: int, text: str) -> bool:
        if not super().send(socket_id, text):
            return False
        conn = self.world.server.conns.get((id(self), socket_id))
        if conn is not None:
            self.world.soon(None, lambda: self.world.server.receive(conn, text))
        return True

    def close_socket(self, socket_id: int, code: int, reason: str) -> int:
        self.world.server.conns.pop((id(self), socket_id), None)
        return super().close_socket(socket_id, code, reason)


class Platform:
    """``tabs.TabsPlatform`` of one tab in the world."""

    def __init__(self, world: World, tab: Tab) -> None:
        self.world = world
        self.tab = tab
        self.timer = Timer(tab, lambda: tab.share.timer_fired())
        world.timers.append(self.timer)
        self._woken = False

    def now(self) -> float:
        return self.world.time

    def request_lock(self) -> None:
        self.world.locks.request(LEADER_LOCK, self.tab)

    def release_lock(self) -> None:
        self.world.locks.release(LEADER_LOCK, self.tab)

    def post(self, message: Posted) -> None:
        if isinstance(message, str):  # the leader's frames, as one text
            self.world.posts.append(message)
            for other in self.world.tabs.values():
                if other is not self.tab and other.alive:
                    self.world.soon(other, lambda o=other: o.share.message(message))
            return
        text = json.dumps(message)  # a structured clone: the receivers get copies
        self.world.posts.append(json.loads(text))
        for other in self.world.tabs.values():
            if other is not self.tab and other.alive:
                self.world.soon(other, lambda o=other: o.share.message(json.loads(text)))

    def store_term(self, term: int) -> None:
        self.world.stored_term = term

    def set_timer(self, delay: float | None) -> None:
        self.timer.set(self.world.time, delay)

    def wake(self) -> None:
        if not self._woken:
            self._woken = True
            self.world.soon(self.tab, self._drain)

    def _drain(self) -> None:
        self._woken = False
        self.tab.share.drain()


class Locks:
    """Web Locks: one holder per name, the others queued; a grant is reported as a task."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.holders: dict[str, Tab] = {}
        self.queues: dict[str, list[Tab]] = {}

    def request(self, name: str, tab: Tab) -> None:
        if name in self.holders:
            self.queues.setdefault(name, []).append(tab)
        else:
            self._grant(name, tab)

    def release(self, name: str, tab: Tab) -> None:
        queue = self.queues.get(name, [])
        if tab in queue:
            queue.remove(tab)
        if self.holders.get(name) is tab:
            del self.holders[name]
            if queue:
                self._grant(name, queue.pop(0))

    def _grant(self, name: str, tab: Tab) -> None:
        self.holders[name] = tab
        world = self.world
        world.soon(tab, lambda: tab.share.lock_granted(world.stored_term))


class Conn:
    def __init__(self, port: SocketPort, socket_id: int) -> None:
        self.port = port
        self.socket_id = socket_id
        self.subs: set[str] = set()
        self.received: list[dict[str, Any]] = []  # every frame on this connection, in order


class Server:
    """A v2 server as docs/protocol.md describes it (one epoch, full history)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.epoch = "e1"
        self.history: dict[str, list[str]] = {}
        self.conns: dict[tuple[int, int], Conn] = {}
        self.accepted = 0
        self.received: list[dict[str, Any]] = []  # every frame, in order
        self.tokens: list[str] = []  # the tokens presented (auth frames)
        self.applied: list[dict[str, Any]] = []  # application messages, each applied once
        self._answered: set[str] = set()

    def top(self, project_id: str) -> int:
        return len(self.history.get(project_id, []))

    def accept(self, port: SocketPort, socket_id: int) -> None:
        if socket_id not in port.alive:
            return
        self.accepted += 1
        conn = Conn(port, socket_id)
        self.conns[(id(port), socket_id)] = conn
        port.open.add(socket_id)
        port.bound.socket_opened(socket_id)
        self.to(conn, [HELLO])

    def to(self, conn: Conn, texts: list[str]) -> None:
        key = (id(conn.port), conn.socket_id)

        def deliver() -> None:
            if self.conns.get(key) is conn:
                conn.port.bound.frames(conn.socket_id, texts)

        self.world.soon(conn.port.tab, deliver)

    def receive(self, conn: Conn, text: str) -> None:
        if self.conns.get((id(conn.port), conn.socket_id)) is not conn:
            return
        obj = json.loads(text)
        self.received.append(obj)
        conn.received.append(obj)
        kind = obj.get("type")
        if kind == "auth":
            self.tokens.append(obj["token"])
            self.to(conn, [json.dumps({"type": "auth.ok"})])
        elif kind == "subscribe":
            conn.subs.add(obj["project_id"])
            self.to(conn, self._reply(obj["project_id"], obj.get("since")))
        elif kind == "unsubscribe":
            conn.subs.discard(obj["project_id"])
        elif kind == "ping":
            self.to(conn, [json.dumps({"type": "pong", "id": obj.get("id")})])
        else:
            id_ = obj.get("id")
            if id_ not in self._answered:
                self.applied.append(obj)
                if isinstance(id_, str):
                    self._answered.add(id_)
            if isinstance(id_, str):
                ack = {"type": "ack", "id": id_, "ok": True, "data": {"type": kind}}
                self.to(conn, [json.dumps(ack)])

    def _reply(self, project_id: str, since: Any) -> list[str]:
        top = self.top(project_id)
        if isinstance(since, dict) and since.get("epoch") == self.epoch and since["offset"] <= top:
            replay = self.history.get(project_id, [])[since["offset"] :]
            return [self._subscribed(project_id, top, True), *replay]
        snapshot = {
            "type": "project.snapshot",
            "project_id": project_id,
            "offset": top,
            "data": {"n": top} if top else None,
            "files": [],
            "processes": [],
        }
        return [self._subscribed(project_id, top, False), json.dumps(snapshot)]

    def _subscribed(self, project_id: str, top: int, recovered: bool) -> str:
        return json.dumps(
            {
                "type": "subscribed",
                "project_id": project_id,
                "epoch": self.epoch,
                "offset": top,
                "recovered": recovered,
            }
        )

    def emit(self, project_id: str) -> None:
        """One more event of ``project_id``, to every connection subscribed to it."""
        history = self.history.setdefault(project_id, [])
        offset = len(history) + 1
        text = json.dumps(
            {
                "type": "project.updated",
                "project_id": project_id,
                "data": {"n": offset},
                "offset": offset,
            }
        )
        history.append(text)
        for conn in list(self.conns.values()):
            if project_id in conn.subs:
                self.to(conn, [text])

    def broadcast(self, message: dict[str, Any]) -> None:
        for conn in list(self.conns.values()):
            self.to(conn, [json.dumps(message)])

    def kill(self, code: int = 1012) -> None:
        """Every connection closes (a server restart)."""
        for key, conn in list(self.conns.items()):
            del self.conns[key]
            conn.port.gone(conn.socket_id)
            self.world.soon(
                conn.port.tab,
                lambda c=conn: c.port.bound.socket_closed(c.socket_id, code, "restarting"),
            )

    def subscribes(self, project_id: str) -> list[dict[str, Any]]:
        return [
            m
            for m in self.received
            if m.get("type") == "subscribe" and m.get("project_id") == project_id
        ]


class Tab:
    """One tab: its ``SharedTab``, its own ``Session`` + ``Driver``, and what its page heard."""

    def __init__(
        self, world: World, tab_id: str, provider: Provider | None = None, *, client: bool = False
    ) -> None:
        self.world = world
        self.tab_id = tab_id
        self.alive = True
        self.platform = Platform(world, self)
        self.share = SharedTab(tab_id, self.platform, world.options, self._make_wire)
        self.page = Recorder()
        self.port = SocketPort(world, self)  # the tab's own sockets: alone or leading alone
        self.wire_ports: list[SocketPort] = [self.port]
        self.client: Client | None = None
        if client:
            self.client = Client(
                "ws://server/ws",
                world.options,
                port=lambda _url, driver: self.port.bind(driver),
                auth=provider,
                share=self.share,
                id_prefix=tab_id,
            )
            self.client.on("*", self.page.dispatch)
            self.core = self.client.core
            self.driver = self.client.driver
        else:
            self.share.provider = provider  # as Client does: only a leader calls it
            self.core = Session(world.options, random=lambda: 0.5, id_prefix=tab_id)
            self.driver = Driver(self.core, self.share.port(self.port.bind), self.page)

    def client_connect(self) -> None:
        assert self.client is not None
        self.client.connect()
        self.world.run()

    def _make_wire(self, hub: Hub) -> Driver:
        port = SocketPort(self.world, self)
        self.wire_ports.append(port)
        provider = self.share.provider
        core = Session(self.world.options, random=lambda: 0.5, auth=provider is not None)
        return Driver(core, lambda driver: WirePort(port.bind(driver)), hub, provider=provider)

    def sockets(self) -> list[tuple[str, int]]:
        """("tab" | "wire", socket id) of every real socket this tab opened, in order."""
        return [
            ("tab" if port is self.port else "wire", action.socket_id)
            for port in self.wire_ports
            for _, action in port.history
            if isinstance(action, OpenSocket)
        ]

    def start(self, shared: bool = True) -> None:
        self.share.start(shared)
        self.world.run()

    @property
    def state(self) -> State:
        return self.core.state

    def subscribe(self, project_id: str) -> None:
        self.driver.subscribe(project_id)
        self.world.run()

    def unsubscribe(self, project_id: str) -> None:
        self.driver.unsubscribe(project_id)
        self.world.run()

    def disconnect(self) -> None:
        """``disconnect()`` in this tab: its core closes, and the tab steps out of sharing."""
        self.driver.disconnect()
        self.share.stop()
        self.world.run()

    def connect(self) -> None:
        self.share.start(True)
        self.driver.connect()
        self.world.run()

    def close(self, *, graceful: bool = True) -> None:
        """The tab closes (``pagehide``): it steps out first unless it crashes. The browser then
        releases its locks and its sockets."""
        if graceful:
            self.share.stop()
            self.driver.close()
        self.alive = False
        self.world.locks.release(LEADER_LOCK, self)
        for port in self.wire_ports:
            for socket_id in list(port.alive):
                port.gone(socket_id)
                self.world.server.conns.pop((id(port), socket_id), None)
        self.world.run()

    # -- what the page saw --------------------------------------------------------------------

    def applied(self, project_id: str) -> list[tuple[str, int | None]]:
        """("snapshot" | "event", offset) of each stream item the page applied, in order."""
        items: list[tuple[str, int | None]] = []
        for message in self.page.delivered:
            if isinstance(message, ProjectSnapshot) and message.project_id == project_id:
                items.append(("snapshot", message.offset))
            elif isinstance(message, ProjectEvent) and message.project_id == project_id:
                items.append(("event", message.offset))
        return items

    def types(self) -> list[str]:
        return [m.type for m in self.page.delivered]


def assert_in_step(tab: Tab, project_id: str, top: int) -> None:
    """The tab applied ``project_id``'s stream from its first snapshot to ``top``: each event
    is the one after the last item applied (none twice, none missing)."""
    items = tab.applied(project_id)
    assert items and items[0][0] == "snapshot", (tab.tab_id, items)
    position = items[0][1] or 0
    for kind, offset in items[1:]:
        assert offset is not None
        if kind == "event":
            assert offset == position + 1, (tab.tab_id, project_id, items)
        else:
            assert offset >= position, (tab.tab_id, project_id, items)
        position = offset
    assert position == top, (tab.tab_id, project_id, position, top)
