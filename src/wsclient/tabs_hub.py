"""The leader's half of tab sharing: one real connection that serves every tab's virtual link.

Theory of operation
-------------------
Every tab, the leader's own included, runs its own ``core.Session`` as if it were alone; its
"socket" is a *virtual link* to the `Hub` (``tabs.py``: ``TabPort``). The hub sits between those
links and the real connection, which is driven by a plain ``Session`` of its own (the *wire
core*: backoff, heartbeat, ``hello``, auth; no subscriptions, no outbox) through the usual
``driver.Driver``. The hub is that driver's ``Receiver``, so every frame is parsed once, by the
leader, and forwarded to the tabs as the text that arrived (never re-encoded).

So the core's rules (ordering, dedup by offset, bounds, acks, recovery) are not written twice:
the hub only decides *who gets what* and *what the wire needs to see once*.

- **Links.** A tab asks to ``open`` a link; the hub answers ``opened`` when the wire is usable
  and its protocol known, replaying the ``hello`` it got, so each tab's core decides v1/v2 as it
  would on a socket. When the wire is lost every open link is closed with the wire's close code
  (1001 "leader gone" when the leader itself closed it), and the tabs' cores reconnect as usual.
  When the wire is usable again the hub posts ``up``: tabs waiting for a retry retry at once.
- **Subscriptions** are per link and ref-counted across links: the wire sees ``subscribe`` when
  the first tab needs a project, a later tab's subscribe too on v2 (so that it gets the current
  state or its replay), and ``unsubscribe`` only when the last tab lets go or closes.
- **Routing.** Events of a project go to the tabs subscribed to it, each at most once per
  offset: a tab's *mark* is the highest offset routed to it (its ``since`` when it subscribes),
  so a replay asked for one tab never reaches another. A ``subscribed`` reply goes to the tabs
  whose subscribe it answers (replies come in the order of the subscribes), a snapshot to the
  tabs whose reply announced one; an ``ack`` to the tab that owns its id (``<tab>-<n>``);
  frames without a project to every open link. ``hello``, ``pong`` and ``auth.ok`` of the wire
  are never forwarded; a tab's ``ping`` is answered by the hub itself.
- **Gathering.** On each new wire connection the links open at once, and each tab's core sends
  its subscribes (with ``since`` = its own position) followed by its RTT ping. The hub holds
  those subscribes until every tab it expects has pinged, or for at most half of
  ``pong_timeout`` (the tabs' own wait for a ``subscribed`` reply is ``pong_timeout``), then
  writes one subscribe per project with ``since`` = the lowest offset any tab holds, or without
  ``since`` when some tab holds no position or epochs differ. A tab that subscribes later is
  subscribed on its own.

The hub never reads a clock: ``now`` comes from the wire driver's port, and its one deadline
(the end of a gathering) is ``next_deadline``, fired through ``tick``.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Protocol

from .actions import Settle
from .core import Health, State, is_fatal_close
from .driver import Driver, Port
from .messages import Drop, GenericMessage, Message, parse
from .options import Options
from .outbound import Outbound
from .streams import SyncStatus

logger = logging.getLogger("wsclient")

#: Close code and reason of a virtual link whose leader went away (or closed its connection).
CLOSE_LEADER_GONE: Final = 1001
LEADER_GONE: Final = "leader gone"

#: A channel message: a JSON-compatible dict (it crosses ``BroadcastChannel`` as is).
ChannelMessage = dict[str, Any]
#: What goes on the channel: a message (a plain object), or the leader's frames as one text
#: (`frames_text`: no object to convert on either side, per batch).
Posted = ChannelMessage | str
#: Joins the text frames of a batch for a follower, as the page's transport joins them for its
#: own driver. The hub forwards only frames that parsed, and the strict JSON scanner refuses a
#: raw control character, so no forwarded frame holds one.
SEPARATOR: Final = "\x1e"


class Downstream(Protocol):
    """What the hub tells the leader's own tab about its link (the other tabs hear it through
    channel messages of the same meaning: ``opened``, ``frames``, ``closed``)."""

    def link_opened(self, link: int, hello: str | None) -> None: ...

    def link_frames(self, link: int, texts: list[str]) -> None: ...

    def link_closed(self, link: int, code: int, reason: str) -> None: ...


class _Sub:
    """One link's subscription to one project."""

    __slots__ = ("mark", "state")

    def __init__(self, state: str, mark: int | None) -> None:
        #: waiting: its subscribe is out, no reply routed yet; snapshot: a snapshot for it
        #: follows; live: events above ``mark`` are routed to it.
        self.state = state
        self.mark = mark  # the highest offset routed to this tab (or its ``since``)


class _Link:
    __slots__ = ("id", "open", "subs", "tab")

    def __init__(self, tab: str, link_id: int) -> None:
        self.tab = tab
        self.id = link_id
        self.open = False
        self.subs: dict[str, _Sub] = {}


class Hub:
    """The real connection shared by the tabs (see the module docstring).

    ``post(message)`` sends a channel message to the other tabs (it is tagged with ``term``
    here); ``local`` is the leader's own tab, reached without the channel.
    """

    def __init__(
        self,
        options: Options,
        term: int,
        post: Callable[[Posted], None],
        local_tab: str,
        local: Downstream,
    ) -> None:
        self._options = options
        self.term = term
        self._post_raw = post
        self._local_tab = local_tab
        self._local = local
        self._wire: Driver | None = None
        self._links: dict[str, _Link] = {}
        self._socket: int | None = None  # the wire socket the links are open on
        self._protocol = 0
        self._hello: str | None = None
        self._on_wire: set[str] = set()  # projects subscribed on the current wire socket
        self._replies: dict[str, deque[list[str]]] = {}  # project -> tabs per subscribe out
        self._aliases: dict[str, str] = {}  # id prefix -> tab (entries adopted from gone tabs)
        self._gather: dict[str, dict[str, Any]] | None = None  # project -> {tab: since}
        self._gather_until: float | None = None
        self._expected: set[str] = set()  # tabs whose subscribes the gathering waits for
        self._answered: set[str] = set()
        self._remembered: set[str] = set()  # tabs whose links the last wire loss closed
        self._batch: list[tuple[str, list[str] | None]] = []
        self._last_count = 0
        #: project -> the top offset of the last recovered reply on this wire socket: an event at
        #: or below it that a tab already has is a replay asked for another tab (not sent to it);
        #: above it, the server sent that offset twice (sent, so that the tab counts it).
        self._replayed: dict[str, int] = {}
        #: Told of every health of the wire (the page shows the shared connection's state).
        self.on_wire_health: Callable[[Health], None] | None = None
        self._shut = False

    def attach(self, wire: Driver) -> None:
        """The driver of the real connection (made with this hub as its receiver)."""
        self._wire = wire

    @property
    def wire(self) -> Driver:
        if self._wire is None:
            raise RuntimeError("Hub.attach(wire driver) must be called before the hub is used")
        return self._wire

    @property
    def tabs(self) -> int:
        """Tabs sharing the connection: the leader and every tab with a link."""
        return len({self._local_tab, *self._links})

    @property
    def ready(self) -> bool:
        return self._socket is not None

    @property
    def next_deadline(self) -> float | None:
        return self._gather_until

    # --- inputs from the tabs ------------------------------------------------------------------

    def open(self, tab: str, link_id: int) -> None:
        """``tab`` asks for a virtual link; it is opened when the wire is usable."""
        old = self._links.get(tab)
        if old is not None:
            self._release(old)
        link = _Link(tab, link_id)
        self._links[tab] = link
        self._answered.discard(tab)
        if self.ready:
            if self._gather is not None:
                self._expected.add(tab)
            self._open(link)
        self._count_changed()

    def send(self, tab: str, link_id: int, text: str) -> None:
        """A text frame the tab's core wrote on its link."""
        link = self._links.get(tab)
        if link is None or link.id != link_id or not link.open:
            logger.debug("a frame from tab %s on link %d it no longer has: ignored", tab, link_id)
            return
        if text.startswith('{"type": "'):
            obj = json.loads(text)
            kind = obj.get("type")
            if kind == "ping":
                self._to_tab(link, [json.dumps({"type": "pong", "id": obj.get("id")})])
                self._pinged(tab)
                return
            if kind == "subscribe" and isinstance(obj.get("project_id"), str):
                self._subscribe(link, obj["project_id"], obj.get("since"), text)
                return
            if kind == "unsubscribe" and isinstance(obj.get("project_id"), str):
                self._unsubscribe(link, obj["project_id"])
                return
        elif text.startswith('{"id":"'):
            prefix = text[7 : text.find('"', 7)].rpartition("-")[0]
            if prefix and prefix != tab:
                self._aliases[prefix] = tab  # an entry this tab adopted from a gone tab
        self._write(text)

    def close(self, tab: str, link_id: int) -> None:
        """The tab's core closed its link (disconnect, heartbeat timeout)."""
        link = self._links.get(tab)
        if link is not None and link.id == link_id:
            self._release(link)
            self._count_changed()

    def tab_gone(self, tab: str) -> None:
        """The tab closed (or stepped out): release everything it held."""
        link = self._links.get(tab)
        if link is not None:
            self._release(link)
        self._remembered.discard(tab)
        for prefix in [p for p, owner in self._aliases.items() if owner == tab]:
            del self._aliases[prefix]
        self._count_changed()

    def tick(self, now: float) -> None:
        if self._gather_until is not None and self._gather_until <= now:
            self._flush_gather()

    def shut(self) -> None:
        """The leader steps down or closes: every link closes with 1001 "leader gone"."""
        for link in list(self._links.values()):
            self._close_link(link, CLOSE_LEADER_GONE, LEADER_GONE)
        self._links.clear()
        self._socket = None
        self._shut = True  # the wire's last healths (it closes next) tell the tabs nothing

    # --- driver.Receiver of the wire ------------------------------------------------------------

    def parse(self, text: str) -> Message | None:
        """Parse a wire frame and route it at once, in arrival order. (The wire core holds no
        streams, so it would withhold every snapshot; it still hears each frame for the link's
        liveness, ``hello`` and round trip.)"""
        message = parse(text, self._options.max_frame_size)
        if isinstance(message, Drop):
            return None
        self._route(message, text)
        return message

    def parse_joined(self, batch: str) -> list[Message | None]:
        return [self.parse(text) for text in batch.split(SEPARATOR)]

    def dispatch(self, message: Message) -> None:
        pass  # routed when parsed

    def on_binary(self, size: int) -> None:
        pass

    def on_too_large(self, length: int) -> None:
        pass

    def on_batch_end(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        local = self._local_tab
        mine = [text for text, tabs in batch if tabs is None or local in tabs]
        link = self._links.get(local)
        if mine and link is not None and link.open:
            self._local.link_frames(link.id, mine)
        links = {t: lk.id for t, lk in self._links.items() if lk.open and t != local}
        if not links:
            return
        to: dict[str, str] = {}
        if all(tabs is None for _, tabs in batch):  # the usual batch: every tab gets it all
            joined = SEPARATOR.join(text for text, _ in batch)
            to = dict.fromkeys(links, joined)
        else:
            for tab in links:
                texts = [text for text, tabs in batch if tabs is None or tab in tabs]
                if texts:
                    to[tab] = SEPARATOR.join(texts)
        if to:
            self._post_raw(frames_text(self.term, links, to))

    def on_health(self, health: Health) -> None:
        if self._wire is None or self._shut:
            return  # the wire driver's first health, before ``attach``; or after ``shut``
        if self.on_wire_health is not None:
            self.on_wire_health(health)
        usable = health.state is State.CONNECTED and health.protocol != 0
        socket = self._wire.core.socket_id
        if usable and socket != self._socket:
            self._wire_up(socket, health.protocol)
        elif not usable and self._socket is not None:
            self._wire_down(health)

    def on_sync(self, statuses: dict[str, SyncStatus]) -> None:
        pass

    def on_settled(self, settle: Settle) -> None:
        pass

    def on_resync(self, project_id: str) -> None:
        pass

    # --- the wire -----------------------------------------------------------------------------

    def _wire_up(self, socket: int | None, protocol: int) -> None:
        self._socket = socket
        self._protocol = protocol
        self._on_wire.clear()
        self._replies.clear()
        self._replayed.clear()
        now = self.wire.port.now()
        self._gather = {}
        self._gather_until = now + self._options.pong_timeout / 2
        self._expected = set(self._links) | self._remembered
        self._answered = set()
        self._remembered = set()
        logger.info("shared connection usable: opening %d tab link(s)", len(self._links))
        self.post({"k": "up"})
        for link in list(self._links.values()):
            if not link.open:
                self._open(link)
        self._check_gathered()

    def _wire_down(self, health: Health) -> None:
        code = health.last_close_code
        reason = health.last_close_reason
        if code is None or code == 1000:
            code, reason = CLOSE_LEADER_GONE, LEADER_GONE
        elif is_fatal_close(code) and health.state is not State.ERROR:
            # The wire retries (a first 4401 asks the provider again): the tabs must too. Only
            # the leader's core knows the auth rules; the tabs' cores have no provider.
            code, reason = CLOSE_LEADER_GONE, reason or LEADER_GONE
        elif not is_fatal_close(code) and not reason:
            reason = "the shared connection was lost"
        self._socket = None
        self._hello = None
        self._gather = None
        self._gather_until = None
        for link in list(self._links.values()):
            if link.open:
                self._remembered.add(link.tab)
                self._close_link(link, code, reason)
                del self._links[link.tab]
        self._count_changed()

    def _write(self, text: str) -> None:
        socket = self._socket
        if socket is not None and not self.wire.port.send(socket, text):
            logger.debug("the shared connection refused a write: it is closing")

    # --- links ----------------------------------------------------------------------------------

    def _open(self, link: _Link) -> None:
        link.open = True
        hello = self._hello if self._protocol == 2 else None
        if link.tab == self._local_tab:
            self._local.link_opened(link.id, hello)
        else:
            self.post({"k": "opened", "to": link.tab, "link": link.id, "hello": hello})

    def _close_link(self, link: _Link, code: int, reason: str) -> None:
        if link.tab == self._local_tab:
            self._local.link_closed(link.id, code, reason)
        else:
            self.post(
                {"k": "closed", "to": link.tab, "link": link.id, "code": code, "reason": reason}
            )

    def _release(self, link: _Link) -> None:
        """Forget ``link``: unsubscribe on the wire what only it held."""
        self._links.pop(link.tab, None)
        for project_id in list(link.subs):
            self._unsubscribe(link, project_id)
        self._pinged(link.tab)  # a gathering no longer waits for it
        self._expected.discard(link.tab)

    def _to_tab(self, link: _Link, texts: list[str]) -> None:
        if link.tab == self._local_tab:
            self._local.link_frames(link.id, texts)
        else:
            joined = SEPARATOR.join(texts)
            self._post_raw(frames_text(self.term, {link.tab: link.id}, {link.tab: joined}))

    def post(self, message: ChannelMessage) -> None:
        """Post ``message`` to the other tabs, tagged with this hub's term."""
        message["t"] = self.term
        self._post_raw(message)

    def _count_changed(self) -> None:
        count = self.tabs
        if count != self._last_count:
            self._last_count = count
            self.post({"k": "tabs", "count": count})

    # --- subscriptions --------------------------------------------------------------------------

    def _holders(self, project_id: str) -> list[_Link]:
        return [link for link in self._links.values() if project_id in link.subs]

    def _subscribe(self, link: _Link, project_id: str, since: Any, text: str) -> None:
        mark = since.get("offset") if isinstance(since, dict) else None
        state = "live" if self._protocol == 1 else "waiting"
        link.subs[project_id] = _Sub(state, mark if isinstance(mark, int) else None)
        if self._gather is not None:
            self._gather.setdefault(project_id, {})[link.tab] = since
            return
        if self._protocol == 1 and project_id in self._on_wire:
            return  # v1 has no state to give a later tab
        self._on_wire.add(project_id)
        self._replies.setdefault(project_id, deque()).append([link.tab])
        self._write(text)

    def _unsubscribe(self, link: _Link, project_id: str) -> None:
        link.subs.pop(project_id, None)
        if self._gather is not None:
            waiting = self._gather.get(project_id)
            if waiting is not None:
                waiting.pop(link.tab, None)
                if not waiting:
                    del self._gather[project_id]
        if project_id in self._on_wire and not self._holders(project_id):
            self._on_wire.discard(project_id)
            self._write(json.dumps({"type": "unsubscribe", "project_id": project_id}))

    def _pinged(self, tab: str) -> None:
        if self._gather is not None:
            self._answered.add(tab)
            self._check_gathered()

    def _check_gathered(self) -> None:
        if self._gather is not None and self._expected <= self._answered:
            self._flush_gather()

    def _flush_gather(self) -> None:
        gather, self._gather, self._gather_until = self._gather, None, None
        if not gather:
            return
        for project_id, sinces in gather.items():
            message: dict[str, Any] = {"type": "subscribe", "project_id": project_id}
            positions = [s for s in sinces.values() if isinstance(s, dict)]
            epochs = {p.get("epoch") for p in positions}
            offsets = [o for p in positions if isinstance(o := p.get("offset"), int)]
            if (
                self._protocol == 2
                and len(positions) == len(sinces)
                and len(epochs) == 1
                and len(offsets) == len(positions)
            ):
                message["since"] = {"epoch": epochs.pop(), "offset": min(offsets)}
            self._on_wire.add(project_id)
            self._replies.setdefault(project_id, deque()).append(list(sinces))
            self._write(json.dumps(message))

    # --- routing --------------------------------------------------------------------------------

    def _route(self, message: Message, text: str) -> None:
        role = message.role
        if role == "event":
            project_id: str = message.project_id  # type: ignore[union-attr]
            offset: int | None = message.offset  # type: ignore[union-attr]
            holders = self._holders(project_id)
            if not holders:
                self._out(text, None)  # no tab holds it: every tab gets it, as one alone would
                return
            tabs = []
            for link in holders:
                sub = link.subs[project_id]
                if offset is None:
                    tabs.append(link.tab)
                elif sub.state != "live":
                    continue
                elif sub.mark is None or offset > sub.mark:
                    sub.mark = offset
                    tabs.append(link.tab)
                elif offset > self._replayed.get(project_id, -1):
                    tabs.append(link.tab)  # the server sent it twice: the tab counts it
            self._out(text, tabs)
        elif role == "":
            project = _project_of(message)
            holders = [] if project is None else self._holders(project)
            self._out(text, [lk.tab for lk in holders] if holders else None)
        elif role == "subscribed":
            self._route_reply(message, text)
        elif role == "snapshot":
            snapshot_of: str = message.project_id  # type: ignore[union-attr]
            tabs = []
            for link in self._holders(snapshot_of):
                sub = link.subs[snapshot_of]
                if sub.state == "snapshot":
                    sub.state = "live"
                    sub.mark = message.offset  # type: ignore[union-attr]
                    tabs.append(link.tab)
            self._out(text, tabs)
        elif role == "ack":
            prefix = str(message.id).rpartition("-")[0]  # type: ignore[union-attr]
            owner = self._aliases.get(prefix, prefix)
            if owner in self._links:
                self._out(text, [owner])
        elif role == "hello":
            self._hello = text
        # pong and auth.ok belong to the wire's own core

    def _route_reply(self, message: Message, text: str) -> None:
        project_id: str = message.project_id  # type: ignore[union-attr]
        recovered: bool = message.recovered  # type: ignore[union-attr]
        if recovered:
            top: int = message.offset  # type: ignore[union-attr,assignment]
            self._replayed[project_id] = max(top, self._replayed.get(project_id, -1))
        queue = self._replies.get(project_id)
        group = queue.popleft() if queue else []
        tabs = []
        for tab in group:
            link = self._links.get(tab)
            sub = link.subs.get(project_id) if link is not None else None
            if sub is not None and sub.state == "waiting":
                sub.state = "live" if recovered else "snapshot"
                tabs.append(tab)
        self._out(text, tabs)

    def _out(self, text: str, tabs: list[str] | None) -> None:
        if tabs is None or tabs:
            self._batch.append((text, tabs))


def _project_of(message: Message) -> str | None:
    if isinstance(message, GenericMessage):
        project = message.fields.get("project_id")
        return project if isinstance(project, str) else None
    project = getattr(message, "project_id", None)
    return project if isinstance(project, str) else None


class WirePort:
    """The real socket's port for the hub's wire core: the page's port with its durable storage
    switched off (the outbox belongs to the tabs' own cores)."""

    def __init__(self, base: Port) -> None:
        self._base = base

    def now(self) -> float:
        return self._base.now()

    def open_socket(self, socket_id: int) -> None:
        self._base.open_socket(socket_id)

    def send(self, socket_id: int, text: str) -> bool:
        return self._base.send(socket_id, text)

    def close_socket(self, socket_id: int, code: int, reason: str) -> int:
        return self._base.close_socket(socket_id, code, reason)

    def set_timer(self, delay: float | None) -> None:
        self._base.set_timer(delay)

    def save(self, entry: Outbound) -> None:
        pass

    def forget(self, id: str) -> None:
        pass

    def load(self) -> list[Outbound]:
        return []

    def run_async(self, awaitable: Any, done: Callable[[bool, object], None]) -> None:
        self._base.run_async(awaitable, done)

    def dispose(self) -> None:
        self._base.dispose()


def frames_text(term: int, links: dict[str, int], to: dict[str, str]) -> str:
    """The leader's ``frames`` message as one text: a JSON header (``t``; ``links``: {tab:
    link}; ``at``: {tab: [start, end]} of that tab's frames in the body), a newline, the body
    (each distinct run of frames once: every tab receives the whole text, so tabs given the
    same frames share one span)."""
    at: dict[str, list[int]] = {}
    spans: dict[str, list[int]] = {}
    start = 0
    for tab, joined in to.items():
        span = spans.get(joined)
        if span is None:
            span = spans[joined] = [start, start + len(joined)]
            start += len(joined)
        at[tab] = span
    header = json.dumps({"t": term, "links": {t: links[t] for t in to}, "at": at})
    return header + "\n" + "".join(spans)


def read_frames(text: str, tab: str) -> tuple[object, int, str] | None:
    """(term, link, ``tab``'s frames joined) of a `frames_text`; None if none is for ``tab``
    (or the text is not one)."""
    header, _, body = text.partition("\n")
    try:
        head = json.loads(header)
        link = head["links"][tab]
        start, end = head["at"][tab]
    except (ValueError, KeyError, TypeError):
        return None
    if not (isinstance(link, int) and isinstance(start, int) and isinstance(end, int)):
        return None
    return head.get("t"), link, body[start:end]
