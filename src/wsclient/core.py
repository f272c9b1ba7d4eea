"""The connection core: a reconnecting WebSocket client as a sans-I/O state machine.

Theory of operation
-------------------
``Session`` owns every decision of the client (when to open a socket, what to send on it, when
it is dead, how long to wait before the next attempt) and performs no I/O and reads no clock. The
adapter (``browser.py``) feeds it *inputs* -- method calls carrying ``now``, a float of seconds from
any monotonic origin -- and carries out the *actions* it drains with ``take_actions()``:

- ``OpenSocket(id)``: create a WebSocket and report its events with that id;
- ``SendText(id, text)``: send ``text`` on that socket;
- ``CloseSocket(id, code, reason)``: close it and forget it (its later events are stale).

Besides actions the core exposes one ``next_deadline``: the adapter keeps exactly one timer and
calls ``tick(now)`` when it fires. Events from any socket other than the current one are ignored,
so at most one socket is ever alive: the core always closes (or hears the close of) the current
socket before it asks for another.

States and transitions
~~~~~~~~~~~~~~~~~~~~~~
Every state change goes through ``_TRANSITIONS`` below; an event the table does not allow in the
current state raises ``InvalidTransition`` naming both. In words:

===============  ===========================================================================
DISCONNECTED     Initial state, and after ``disconnect()``. No socket, no timer. ``connect()``
                 opens a socket (CONNECTING).
CONNECTING       The first attempt after ``connect()``. Opened -> CONNECTED; failed or timed
                 out -> RECONNECTING (attempt 1).
CONNECTED        Open socket. Subscribes every active project, then flushes the queue. A
                 close, error or heartbeat timeout -> RECONNECTING.
RECONNECTING     Waiting for retry ``attempt`` (or, while offline, for the browser to come back
                 online), or that attempt's socket is pending.
ERROR            The server refused us for good (close 1008 or 4400-4499); the reason is kept.
                 No retries until ``connect()``.
===============  ===========================================================================

``disconnect()`` closes with 1000 from any state and nothing reopens a socket until ``connect()``.
The core's own closes use ``CLOSE_NORMAL`` (1000, for ``disconnect()``) and ``CLOSE_LINK_FAILED``
(4000, application range, with the reason "heartbeat timeout", "connect timeout" or "socket error"):
browsers only let a page close with 1000 or 3000-4999, and 4000 stays clear of the 4400-4499 range
that means "do not retry".

Timing rules (defaults in ``Options``):

- *Backoff*: see ``backoff.py``. A failure on our side starts the ladder at ``backoff_initial``;
  the far side dropping a connection that had been up for ``min_uptime`` starts it at
  ``backoff_after_drop`` (the herd protection). A connection that dies before ``min_uptime`` does
  not reset the ladder, and a socket that does not open within ``connect_timeout`` is a failure.
- *Heartbeat*: any inbound frame proves the link alive. After ``ping_interval`` of inbound silence
  the core sends ``{"type": "ping", "id": "<n>"}``; no frame within ``pong_timeout`` closes the
  socket and reconnects (a silent link is found within 9 s with the defaults). Coming back online
  or visible sends the same ping as a *probe* with the shorter ``probe_timeout`` (2.5 s).
- *Offline*: while the browser is offline no attempt is made; going online retries at once.

``frame_received`` is the hot path: it only records the time, so it is O(1), allocates nothing and
never moves ``next_deadline``; the heartbeat is evaluated lazily when the deadline fires.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import random as _random
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Final, Literal, TypeAlias

from .backoff import reconnect_delay
from .messages import (
    Ack,
    FileEvent,
    Hello,
    Message,
    Pong,
    ProcessEvent,
    ProjectEvent,
    ProjectSnapshot,
    Subscribed,
)
from .options import Options
from .outbound import Outbound, Outbox, QueueFull
from .records import Record, record

logger = logging.getLogger("wsclient")

#: While traffic keeps the link alive no heartbeat ping is needed; one ping this often (seconds)
#: still measures the round trip, so the UI's RTT stays current.
RTT_SAMPLE_INTERVAL: Final = 30.0

#: Close code of ``disconnect()``.
CLOSE_NORMAL: Final = 1000
#: Close code when the core gives up on a socket (heartbeat/connect timeout, socket error).
CLOSE_LINK_FAILED: Final = 4000


def is_fatal_close(code: int) -> bool:
    """Whether a close code means "stop retrying": 1008 (policy) and 4400-4499 (e.g. 4401)."""
    return code == 1008 or 4400 <= code <= 4499


class State(str, Enum):  # noqa: UP042 - the contract says str+Enum; str() must stay the value
    """Connection state; the value is the string the UI and ``data-status`` use."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


class InvalidTransition(RuntimeError):
    """An input that makes no sense in the current state (a bug in the caller, not the network)."""

    def __init__(self, state: State, event: str) -> None:
        super().__init__(f"{event} is not allowed in state {state.value!r}")
        self.state = state
        self.event = event


class _Event(Enum):
    CONNECT = "connect"  # connect() while down
    RETRY = "retry"  # the retry timer fired, the browser came online, or connect() while waiting
    OPENED = "socket_opened"
    LOST = "connection lost"  # close, error or timeout that is worth retrying
    REJECTED = "connection rejected"  # close 1008 / 4400-4499
    DISCONNECT = "disconnect"


_S = State
_E = _Event
#: The only place the state changes: state -> {event: next state}.
_TRANSITIONS: Final[dict[State, dict[_Event, State]]] = {
    _S.DISCONNECTED: {_E.CONNECT: _S.CONNECTING},
    _S.CONNECTING: {
        _E.OPENED: _S.CONNECTED,
        _E.LOST: _S.RECONNECTING,
        _E.REJECTED: _S.ERROR,
        _E.DISCONNECT: _S.DISCONNECTED,
    },
    _S.CONNECTED: {
        _E.LOST: _S.RECONNECTING,
        _E.REJECTED: _S.ERROR,
        _E.DISCONNECT: _S.DISCONNECTED,
    },
    _S.RECONNECTING: {
        _E.RETRY: _S.RECONNECTING,
        _E.OPENED: _S.CONNECTED,
        _E.LOST: _S.RECONNECTING,
        _E.REJECTED: _S.ERROR,
        _E.DISCONNECT: _S.DISCONNECTED,
    },
    _S.ERROR: {_E.CONNECT: _S.CONNECTING, _E.DISCONNECT: _S.DISCONNECTED},
}


@record
class OpenSocket(Record):
    """Open a WebSocket and report its events under ``socket_id``."""

    socket_id: int


@record
class SendText(Record):
    """Send ``text`` as one text frame on socket ``socket_id``. ``outbound_id`` names the outbox
    entry it carries, if any: report a write the socket refused with ``write_failed``."""

    socket_id: int
    text: str
    outbound_id: str | None = None


@record
class CloseSocket(Record):
    """Close socket ``socket_id`` with ``code``/``reason``; its later events no longer matter.
    Report what it still had buffered with ``unsent``."""

    socket_id: int
    code: int
    reason: str


@record
class Settle(Record):
    """A request is over: acknowledged (``ok`` with ``data``), refused or timed out (``error``)."""

    id: str
    ok: bool
    data: object = None
    error: str | None = None


@record
class Resync(Record):
    """Events of ``project_id`` may have been missed and cannot be recovered: reload it."""

    project_id: str


@record
class Persist(Record):
    """Keep ``entry`` in durable storage (it survives a reload until ``Forget``)."""

    entry: Outbound


@record
class Forget(Record):
    """Remove the outbox entry ``id`` from durable storage."""

    id: str


Action = OpenSocket | SendText | CloseSocket | Settle | Resync | Persist | Forget

#: Sync status of a subscribed project (docs/protocol.md, "Project streams").
SyncStatus: TypeAlias = Literal["live", "recovering", "reset", "stale"]


@record
class Health(Record):
    """A snapshot for the status UI."""

    state: State
    attempt: int  # reconnect attempt being waited for or made (0 when connected / never failed)
    next_retry_at: float | None  # when the next attempt opens (None if none is scheduled)
    last_close_code: int | None
    last_close_reason: str
    error: str | None  # set in ERROR state (close reason or description)
    rtt: float | None  # seconds, from the last pong echoing our ping id
    queue_depth: int  # messages in the outbox (queued, or sent and not yet acknowledged)
    queue_overflow: int  # sends dropped (oldest first) because the outbox was full
    offline: bool = False  # the browser says it is offline (shown; retries go on)
    protocol: int = 0  # of the open connection: 2 (recovery, acks), 1, or 0 (not known yet)
    duplicates: int = 0  # stream events dropped because their offset was already applied
    rtt_samples: int = 0  # how many round trips were measured (a new one may equal the last)


class _Phase(Enum):
    """Where one socket is in its life; each phase has exactly one deadline."""

    OPENING = "opening"  # created, not open yet: deadline = started_at + connect_timeout
    OPEN = "open"  # open and heard from lately: deadline = last_rx + ping_interval
    AWAITING_PONG = "awaiting pong"  # a ping (or probe) is out: deadline = pong_deadline


class _Link:
    """Everything about one socket, made when it is opened and dropped with it, so that no field
    can outlive its socket (h11's rule: what lives and dies together is one object)."""

    __slots__ = (
        "failed",
        "id",
        "last_rx",
        "opened_at",
        "phase",
        "ping_id",
        "ping_sent_at",
        "pong_deadline",
        "probing",
        "protocol",
        "rx_since_ping",
        "sent_bytes",
        "started_at",
        "subscribed",
        "trimmed",
        "writable",
        "written",
        "written_bytes",
    )

    def __init__(self, socket_id: int, now: float) -> None:
        self.id = socket_id
        self.phase = _Phase.OPENING
        self.started_at = now
        self.opened_at = now
        # Heartbeat. frame_received only touches last_rx and rx_since_ping.
        self.last_rx = now
        self.rx_since_ping = True
        self.pong_deadline = 0.0  # meaningful in AWAITING_PONG
        self.probing = False  # the unanswered ping is a probe (we suspect our own link)
        self.ping_id: str | None = None  # id of the last ping whose pong can give an RTT
        self.ping_sent_at = 0.0
        self.subscribed: set[str] = set()  # projects subscribed on this socket
        # 0 until the first frame says: 2 if it is a hello, else 1. The outbox waits for it.
        self.protocol = 0
        self.writable = True  # False once the socket refused a write (it is closing)
        # bufferedAmount at close says how many of the last bytes written never left: every
        # frame written counts in ``sent_bytes`` (UTF-8), and each fire-and-forget send is kept
        # in ``written`` with the byte count at its end, so control frames and retained
        # messages in the buffer are never taken for a send.
        self.sent_bytes = 0
        self.written: list[tuple[int, Outbound]] = []  # (sent_bytes at its end, the send)
        self.written_bytes = 0  # the sends' UTF-8 size (written is bounded like the outbox)
        # Where the newest sends trimmed off ``written`` ended: if bufferedAmount at close
        # reaches into them they were lost, and are counted as overflow.
        self.trimmed: deque[int] = deque(maxlen=64)
        self.failed: list[Outbound] = []  # fire-and-forget sends the socket refused

    def deadline(self, options: Options) -> float:
        if self.phase is _Phase.OPENING:
            return self.started_at + options.connect_timeout
        if self.phase is _Phase.AWAITING_PONG:
            deadline = self.pong_deadline
        else:
            deadline = min(
                self.last_rx + options.ping_interval, self.ping_sent_at + RTT_SAMPLE_INTERVAL
            )
        if self.protocol == 0:  # a server that says nothing at all is taken for v1
            return min(deadline, self.opened_at + options.pong_timeout)
        return deadline


class _Stream:
    """What the client knows of one subscribed project's stream (protocol v2)."""

    __slots__ = (
        "announced",
        "epoch",
        "first",
        "offset",
        "refetched",
        "reply_due",
        "resubscribing",
        "snapshot_due",
        "status",
        "target",
    )

    def __init__(self) -> None:
        self.epoch: str | None = None
        self.offset: int | None = None  # the last offset applied
        self.status: SyncStatus = "live"
        self.first = True  # no subscribe has been answered yet: its snapshot is not a reset
        self.reply_due: float | None = None  # a subscribe awaits ``subscribed`` until then
        self.target: int | None = None  # a replay runs up to this offset
        self.snapshot_due = False  # ``subscribed`` said a snapshot follows
        self.resubscribing = False  # a gap: a subscribe with ``since`` is out on this socket
        self.announced = False  # a subscribe was sent on some socket
        self.refetched = False  # asked afresh after an unusable replay (once per socket)


class Session:
    """The reconnecting connection to one server, over as many sockets as it takes (see the
    module docstring for how to drive it)."""

    def __init__(
        self,
        options: Options | None = None,
        *,
        random: Callable[[], float] | None = None,
        id_prefix: str | None = None,
    ) -> None:
        self._options = options if options is not None else Options()
        self._random = random if random is not None else _random.random
        self._state = State.DISCONNECTED
        self._actions: list[Action] = []
        self._now = -math.inf
        self._deadline: float | None = None
        self._last_socket_id = 0
        self._link: _Link | None = None  # the current socket, pending or open
        self._pings_sent = 0
        # Retry ladder.
        self._attempt = 0
        self._ladder_start = self._options.backoff_initial
        self._retry_at: float | None = None
        # Environment.
        self._offline = False
        self._hidden = False
        # Outbound: every message until it is acknowledged (v2) or written (v1).
        self._outbox = Outbox(self._options.max_queue, self._options.max_queue_bytes)
        self._id_prefix = id_prefix or f"{int(self._random() * 2**52):013x}"
        self._seq = 0
        self._request_deadlines: list[tuple[float, str]] = []  # a heap
        self._dropped_link: _Link | None = None  # the last socket let go, until ``unsent``
        # Subscriptions and their streams.
        self._subscribers: dict[str, int] = {}  # project -> local subscriber count
        self._streams: dict[str, _Stream] = {}
        self._reply_deadline: float | None = None  # the earliest ``_Stream.reply_due``
        self.sync_version = 0  # bumped whenever a sync status changes
        # Health.
        self._last_close_code: int | None = None
        self._last_close_reason = ""
        self._error: str | None = None
        self._rtt: float | None = None
        self._rtt_samples = 0
        self._duplicates = 0
        self._warned_untagged = False  # the once-per-page warning of an untagged v2 send

    # -- outputs ---------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def options(self) -> Options:
        return self._options

    @property
    def next_deadline(self) -> float | None:
        """The time the driver must call ``tick()`` at, or None. ``frame_received`` never moves
        it; after any other input it may move, so re-arm if it did."""
        return self._deadline

    @property
    def socket_id(self) -> int | None:
        """The current socket (pending or open), if any."""
        return self._link.id if self._link is not None else None

    @property
    def subscriptions(self) -> dict[str, int]:
        """Active projects and their local subscriber counts, in first-subscribed order (a copy)."""
        return dict(self._subscribers)

    def sync(self) -> dict[str, SyncStatus]:
        """Each subscribed project's sync status, in first-subscribed order."""
        return {project: stream.status for project, stream in self._streams.items()}

    def pending_requests(self) -> list[tuple[str, str]]:
        """``(id, message text)`` of every request not settled yet, oldest first."""
        return [(e.id, e.text) for e in self._outbox if e.kind == "request"]

    def health(self) -> Health:
        waiting = self._state is State.RECONNECTING and self._link is None
        link = self._link
        return Health(
            state=self._state,
            attempt=self._attempt if self._state is State.RECONNECTING else 0,
            next_retry_at=self._retry_at if waiting else None,
            last_close_code=self._last_close_code,
            last_close_reason=self._last_close_reason,
            error=self._error,
            rtt=self._rtt,
            queue_depth=len(self._outbox),
            queue_overflow=self._outbox.overflow,
            offline=self._offline,
            protocol=link.protocol if link is not None and link.phase is not _Phase.OPENING else 0,
            duplicates=self._duplicates,
            rtt_samples=self._rtt_samples,
        )

    def take_actions(self) -> list[Action]:
        """Return the pending actions in order and forget them. Carry them out in that order."""
        actions = self._actions
        self._actions = []
        return actions

    # -- inputs: the page --------------------------------------------------------------------

    def connect(self, now: float) -> None:
        """Start connecting. From DISCONNECTED or ERROR: open a socket now. While waiting for a
        retry: retry now. While connecting or connected: nothing."""
        self._advance(now)
        if self._state in (State.DISCONNECTED, State.ERROR):
            self._transition(_Event.CONNECT)
            self._error = None
            self._attempt = 0
            self._ladder_start = self._options.backoff_initial
            self._open_socket(now)
        elif self._waiting():
            self._retry(now)
        self._update_deadline()

    def disconnect(self, now: float) -> None:
        """Close with 1000 and stay DISCONNECTED until ``connect()``. Harmless when already so.
        The outbox is kept: it goes out on the next ``connect()``."""
        self._advance(now)
        if self._state is State.DISCONNECTED:
            return
        self._transition(_Event.DISCONNECT)
        if self._link is not None:
            self._close_current(CLOSE_NORMAL, "client disconnect")
        self._retry_at = None
        self._attempt = 0
        self._update_deadline()

    def send(self, text: str, now: float, *, tagged: bool = True) -> str:
        """Deliver serialized ``text``: written now if the connection is ready, else queued for
        the next one. ``tagged``: ``text`` is a JSON object without an ``id``, so a v2 server
        can acknowledge it (it is then kept and re-sent until it is). Returns its delivery id."""
        self._advance(now)
        entry = self._new_entry("send", text, tagged=tagged)
        self._enqueue(entry)
        return entry.id

    def request(self, text: str, type_: str, timeout: float, now: float) -> str:
        """Send ``text`` (a JSON object without an ``id``) and expect an ``ack`` within
        ``timeout`` seconds. Returns its id; a ``Settle`` action with that id follows, exactly
        once: acknowledged, refused, timed out, or refused at once when the outbox is full of
        requests."""
        self._advance(now)
        if not (isinstance(timeout, int | float) and 0 < timeout < math.inf):
            raise ValueError(f"a request timeout must be a positive number, got {timeout!r}")
        entry = self._new_entry("request", text, tagged=True, type_=type_, timeout=timeout)
        entry.deadline = now + timeout
        if self._enqueue(entry):
            heapq.heappush(self._request_deadlines, (entry.deadline, entry.id))
            self._update_deadline()
        return entry.id

    def restore(self, entries: list[Outbound], now: float) -> None:
        """Take back entries a previous page left in durable storage (before ``connect``), in
        their order. A request keeps its ``deadline`` (on this clock) if it has one."""
        self._advance(now)
        for entry in entries:
            if entry.id in self._outbox:
                continue
            self._seq += 1
            entry.seq = self._seq
            entry.written_on = 0
            if entry.kind == "request" and entry.deadline is None:
                entry.deadline = now + (entry.timeout or 0.0)
            if self._enqueue(entry, persist=False) and entry.deadline is not None:
                heapq.heappush(self._request_deadlines, (entry.deadline, entry.id))
        self._update_deadline()

    def subscribe(self, project_id: str, now: float) -> None:
        """One more local subscriber of ``project_id``; the first one subscribes on the wire."""
        self._advance(now)
        count = self._subscribers.get(project_id, 0)
        self._subscribers[project_id] = count + 1
        if count == 0:
            self._streams[project_id] = _Stream()
            self.sync_version += 1
            if self._state is State.CONNECTED:
                self._send_subscribe(project_id, now)
                self._update_deadline()

    def unsubscribe(self, project_id: str, now: float) -> None:
        """One local subscriber fewer; the last one leaving unsubscribes on the wire (if the
        project was subscribed on this connection) and forgets the project's position.
        Harmless, with a warning, without a subscriber."""
        self._advance(now)
        count = self._subscribers.get(project_id, 0)
        if count == 0:
            logger.warning("unsubscribe(%r) without a matching subscribe: ignored", project_id)
            return
        if count > 1:
            self._subscribers[project_id] = count - 1
            return
        del self._subscribers[project_id]
        del self._streams[project_id]
        self.sync_version += 1
        link = self._link
        if self._state is State.CONNECTED and link is not None and project_id in link.subscribed:
            link.subscribed.discard(project_id)
            self._send(json.dumps({"type": "unsubscribe", "project_id": project_id}))
        self._update_reply_deadline()
        self._update_deadline()

    def went_offline(self, now: float) -> None:
        """The browser says it is offline. Only recorded (and shown): ``navigator.onLine`` lies
        on some systems, so retries go on along the backoff ladder."""
        self._advance(now)
        self._offline = True

    def went_online(self, now: float) -> None:
        """Back online: retry at once if waiting; probe the link if connected."""
        self._advance(now)
        self._offline = False
        self._wake(now)

    def page_hidden(self, now: float) -> None:
        """The page was hidden (it may sleep; its timers may be throttled)."""
        self._advance(now)
        self._hidden = True

    def page_visible(self, now: float) -> None:
        """The page is visible again after being hidden: retry at once if waiting (as Phoenix
        does); probe the link if connected."""
        self._advance(now)
        if self._hidden:
            self._wake(now)
        self._hidden = False

    # -- inputs: the socket and the timer ----------------------------------------------------

    def socket_opened(self, socket_id: int, now: float) -> None:
        """The socket opened: subscribe every active project once (with its position, if any).
        The outbox waits for the first frame, which says whether the server speaks v2."""
        self._advance(now)
        link = self._current(socket_id, "socket_opened")
        if link is None:
            return
        if link.phase is not _Phase.OPENING:
            raise InvalidTransition(self._state, f"socket_opened for open socket {socket_id}")
        self._transition(_Event.OPENED)
        link.phase = _Phase.OPEN
        link.opened_at = now
        link.last_rx = now
        for project_id, stream in self._streams.items():
            if stream.announced:  # subscribed across a reconnect: events may have been missed
                self._set_status(stream, "recovering")
            self._send_subscribe(project_id, now)
        self._measure_rtt(link, now)
        self._update_deadline()

    def frame_received(self, socket_id: int, now: float) -> None:
        """Any inbound frame (valid or not): the link is alive. The hot path: O(1), allocates
        nothing, never moves ``next_deadline``."""
        link = self._link
        if link is not None and link.id == socket_id:
            link.last_rx = now
            link.rx_since_ping = True

    def received(self, socket_id: int, message: Message, now: float) -> bool:
        """A parsed message from socket ``socket_id`` (after ``frame_received``). Returns whether
        to deliver it to the page: False for a stale socket, a duplicate, or an event past a gap
        (the resubscribe brings it back in order). Call ``tick``-free: it never moves time."""
        link = self._link
        if link is None or link.id != socket_id:
            return False
        kind = type(message)
        if link.protocol == 0:
            self._first_frame(link, kind is Hello and message.protocol >= 2, now)  # type: ignore[union-attr]
        if kind is ProjectEvent or kind is FileEvent or kind is ProcessEvent:
            return self._stream_event(message, link, now)  # type: ignore[arg-type]
        if kind is Pong:
            if link.ping_id is not None and message.id == link.ping_id:  # type: ignore[union-attr]
                self._rtt = now - link.ping_sent_at
                self._rtt_samples += 1
                link.ping_id = None
        elif kind is Ack:
            self._acked(message)  # type: ignore[arg-type]
        elif kind is Subscribed:
            self._subscribed(message, now)  # type: ignore[arg-type]
        elif kind is ProjectSnapshot:
            return self._snapshot(message)  # type: ignore[arg-type]
        return True

    def write_failed(
        self, socket_id: int, outbound_id: str | None, now: float, *, size: int = 0
    ) -> None:
        """The socket refused a ``SendText`` of ``size`` UTF-8 bytes (it is no longer OPEN:
        closing). Nothing more is written on it; what it carried is kept for the next
        connection."""
        self._advance(now)
        link = self._link
        if link is None or link.id != socket_id:
            link = (
                self._dropped_link
                if self._dropped_link and self._dropped_link.id == socket_id
                else None
            )
        if link is None:
            return
        link.writable = False
        link.sent_bytes -= size  # never written: not in bufferedAmount either
        for item in link.written[::-1]:
            entry = item[1]
            if entry.id == outbound_id:
                link.written.remove(item)
                link.written_bytes -= entry.size
                link.failed.append(entry)
                break
        else:
            entry_ = self._outbox.get(outbound_id) if outbound_id else None
            if entry_ is not None:
                entry_.written_on = 0
        if link is self._dropped_link:
            self._put_back(link.failed)
            link.failed = []

    def socket_closed(
        self, socket_id: int, code: int, reason: str, now: float, *, unsent: int = 0
    ) -> None:
        """The socket closed (the browser's close event); ``unsent``: its ``bufferedAmount``."""
        self._advance(now)
        link = self._current(socket_id, "socket_closed")
        if link is None:
            return
        self._drop_link(link, unsent)
        self._record_close(code, reason)
        if is_fatal_close(code):
            self._transition(_Event.REJECTED)
            self._error = reason or f"closed with code {code}"
            self._attempt = 0
            self._retry_at = None
            logger.warning("server refused the connection (%d %s): not retrying", code, reason)
        else:
            self._lost(link, now, far_side=True)
        self._update_deadline()

    def unsent(self, socket_id: int, unsent: int, now: float) -> None:
        """A socket the core closed itself still held ``unsent`` bytes (``bufferedAmount``):
        the fire-and-forget sends among them go back to the outbox."""
        self._advance(now)
        link = self._dropped_link
        if link is not None and link.id == socket_id:
            self._put_back(self._unsent(link, unsent))
            link.written = []

    def socket_error(self, socket_id: int, now: float) -> None:
        """The socket failed (the browser's error event); a close event may follow and is then
        ignored."""
        self._advance(now)
        link = self._current(socket_id, "socket_error")
        if link is None:
            return
        self._close_current(CLOSE_LINK_FAILED, "socket error")
        self._lost(link, now, far_side=True)
        self._update_deadline()

    def tick(self, now: float) -> None:
        """Time has passed: handle every deadline due by ``now``. Harmless before the deadline."""
        self._advance(now)
        while self._deadline is not None and self._deadline <= now:
            self._on_deadline(now)
            self._update_deadline()

    # -- internals: the connection -----------------------------------------------------------

    def _advance(self, now: float) -> None:
        if not now >= self._now:
            raise ValueError(f"time went backwards or is not a number: {now!r} < {self._now!r}")
        self._now = now

    def _transition(self, event: _Event) -> None:
        target = _TRANSITIONS[self._state].get(event)
        if target is None:
            raise InvalidTransition(self._state, event.value)
        if target is not self._state:
            logger.info("connection %s -> %s (%s)", self._state.value, target.value, event.value)
        self._state = target

    def _waiting(self) -> bool:
        """Waiting for a retry (no socket)."""
        return self._state is State.RECONNECTING and self._link is None

    def _current(self, socket_id: int, event: str) -> _Link | None:
        """The link for ``socket_id`` if it is the current socket; None for a stale one."""
        link = self._link
        if link is not None and link.id == socket_id:
            return link
        if not 1 <= socket_id <= self._last_socket_id:
            raise InvalidTransition(self._state, f"{event} for socket {socket_id}, never opened")
        logger.debug("%s from stale socket %d ignored", event, socket_id)
        return None

    def _wake(self, now: float) -> None:
        """Something suggests the network is usable again: retry now if waiting, else probe."""
        if self._waiting():
            self._retry(now)
        elif self._state is State.CONNECTED:
            self._probe(now)
        self._update_deadline()

    def _open_socket(self, now: float) -> None:
        self._last_socket_id += 1
        self._link = _Link(self._last_socket_id, now)
        self._retry_at = None
        self._actions.append(OpenSocket(self._last_socket_id))

    def _close_current(self, code: int, reason: str) -> None:
        link = self._link
        assert link is not None
        self._actions.append(CloseSocket(link.id, code, reason))
        self._drop_link(link, 0)
        self._record_close(code, reason)

    def _drop_link(self, link: _Link, unsent: int) -> None:
        """The socket is gone: what it could not send goes back to the outbox, in order."""
        self._link = None
        self._put_back([*self._unsent(link, unsent), *link.failed])
        link.failed = []
        if unsent:
            link.written = []
        self._dropped_link = link
        for stream in self._streams.values():
            stream.reply_due = None
            stream.resubscribing = False
            stream.snapshot_due = False
            stream.refetched = False
            stream.target = None
        self._reply_deadline = None

    def _record_close(self, code: int, reason: str) -> None:
        self._last_close_code = code
        self._last_close_reason = reason

    def _send(self, text: str) -> None:
        link = self._link
        assert link is not None
        link.sent_bytes += len(text.encode())
        self._actions.append(SendText(link.id, text))

    def _measure_rtt(self, link: _Link, now: float) -> str:
        """Send a ping whose pong gives the round trip; return its id. On open it is sent with no
        deadline, so the UI shows an RTT from the start even when the server's own traffic means
        no heartbeat ping is ever needed; a server that never answers just leaves it unknown."""
        self._pings_sent += 1
        link.ping_id = str(self._pings_sent)
        link.ping_sent_at = now
        self._send(json.dumps({"type": "ping", "id": link.ping_id}))
        return link.ping_id

    def _send_ping(self, link: _Link, now: float, timeout: float) -> None:
        """A heartbeat ping: some frame must arrive within ``timeout``."""
        self._measure_rtt(link, now)
        link.rx_since_ping = False
        link.phase = _Phase.AWAITING_PONG
        link.pong_deadline = now + timeout

    def _probe(self, now: float) -> None:
        """Ping now and expect a frame within ``probe_timeout`` (never later than a pending
        ping's deadline)."""
        link = self._link
        assert link is not None
        pending = link.phase is _Phase.AWAITING_PONG and not link.rx_since_ping
        previous = link.pong_deadline
        self._send_ping(link, now, self._options.probe_timeout)
        if pending:
            link.pong_deadline = min(previous, link.pong_deadline)
        link.probing = True

    def _lost(self, link: _Link, now: float, *, far_side: bool) -> None:
        """The current socket is gone (already closed or told to close); plan the next attempt."""
        was_open = link.phase is not _Phase.OPENING
        established = was_open and now - link.opened_at >= self._options.min_uptime
        suspected_here = self._offline or (link.probing and not link.rx_since_ping)
        self._transition(_Event.LOST)
        if established or self._attempt == 0:
            self._attempt = 1
            if established and far_side and not suspected_here:
                self._ladder_start = self._options.backoff_after_drop
            else:
                self._ladder_start = self._options.backoff_initial
        else:
            self._attempt += 1
        options = self._options
        delay = reconnect_delay(
            self._attempt,
            self._random,
            initial=self._ladder_start,
            factor=options.backoff_factor,
            cap=options.backoff_max,
        )
        self._retry_at = now + delay
        logger.info("reconnect attempt %d in %.3f s", self._attempt, delay)

    def _retry(self, now: float) -> None:
        self._transition(_Event.RETRY)
        self._open_socket(now)

    def _update_deadline(self) -> None:
        link = self._link
        if link is not None:
            deadline: float | None = link.deadline(self._options)
        else:
            deadline = self._retry_at if self._state is State.RECONNECTING else None
        for other in (self._reply_deadline, self._next_request_deadline()):
            if other is not None and (deadline is None or other < deadline):
                deadline = other
        self._deadline = deadline

    def _on_deadline(self, now: float) -> None:
        self._expire_requests(now)
        if self._reply_deadline is not None and self._reply_deadline <= now:
            self._replies_overdue(now)
        link = self._link
        if link is None:
            if self._retry_at is not None and self._retry_at <= now and self._waiting():
                self._retry(now)
            return
        if link.phase is _Phase.OPENING:
            if link.started_at + self._options.connect_timeout <= now:
                self._close_current(CLOSE_LINK_FAILED, "connect timeout")
                self._lost(link, now, far_side=False)
            return
        if link.protocol == 0 and link.opened_at + self._options.pong_timeout <= now:
            self._first_frame(link, False, now)
        if link.phase is _Phase.AWAITING_PONG:
            if link.pong_deadline > now:
                return
            if not link.rx_since_ping:
                self._close_current(CLOSE_LINK_FAILED, "heartbeat timeout")
                logger.warning("no frame within the pong timeout: closing the dead link")
                self._lost(link, now, far_side=False)
                return
            link.phase = _Phase.OPEN
            link.probing = False
        if link.last_rx + self._options.ping_interval <= now:  # as deadline() adds it
            self._send_ping(link, now, self._options.pong_timeout)
        elif link.ping_sent_at + RTT_SAMPLE_INTERVAL <= now:
            self._measure_rtt(link, now)  # traffic proves the link alive; this only times it

    # -- internals: the outbox ---------------------------------------------------------------

    def _new_entry(
        self,
        kind: Literal["send", "request"],
        text: str,
        *,
        tagged: bool,
        type_: str | None = None,
        timeout: float | None = None,
    ) -> Outbound:
        size = len(text.encode())
        limit = self._options.max_queue_bytes
        if size > limit:
            raise ValueError(
                f"a message of {size} bytes is larger than max_queue_bytes ({limit}): "
                "send it in parts, or raise max_queue_bytes"
            )
        self._seq += 1
        return Outbound(
            f"{self._id_prefix}-{self._seq}",
            self._seq,
            kind,
            text,
            tagged=tagged and text.startswith("{"),
            type=type_,
            timeout=timeout,
        )

    def _enqueue(self, entry: Outbound, *, persist: bool = True) -> bool:
        """Keep ``entry`` (write it now if the connection is ready); False if it was refused."""
        try:
            dropped = self._outbox.add(entry)
        except QueueFull as exc:
            if entry.kind == "request":
                self._actions.append(Settle(entry.id, False, error=str(exc)))
                return False
            raise
        for old in dropped:
            self._actions.append(Forget(old.id))
        if persist:
            self._actions.append(Persist(entry))
        link = self._link
        if link is not None and link.protocol and link.writable:
            self._write(entry, link)
        return True

    def _write(self, entry: Outbound, link: _Link) -> None:
        """Write ``entry`` on the open ``link``. On v2 it stays until acknowledged; a v1
        fire-and-forget send leaves the outbox (only ``bufferedAmount`` can bring it back)."""
        v2 = link.protocol == 2
        if entry.kind == "request" and not v2:
            self._refuse_request_on_v1(entry)
            return
        entry.written_on = link.id
        wire = entry.wire(v2 or entry.kind == "request")
        link.sent_bytes += entry.size + len(wire) - len(entry.text)  # an id tag is ASCII
        self._actions.append(SendText(link.id, wire, entry.id))
        if v2 and not entry.retained and not self._warned_untagged:
            self._warned_untagged = True
            logger.warning(
                'send(): a message that is not a JSON object, or has an "id" of its own, '
                "cannot carry a delivery id: it is sent once and not kept until acknowledged "
                '(send an object without "id" to have it delivered exactly once)'
            )
        if not (v2 and entry.retained) and entry.kind == "send":
            self._outbox.remove(entry.id)
            self._actions.append(Forget(entry.id))
            link.written.append((link.sent_bytes, entry))
            link.written_bytes += entry.size
            outbox = self._outbox
            while len(link.written) > outbox.limit or link.written_bytes > outbox.max_bytes:
                end, old = link.written.pop(0)
                link.written_bytes -= old.size
                link.trimmed.append(end)

    def _refuse_request_on_v1(self, entry: Outbound) -> None:
        """A v1 server never acknowledges: a request could only time out, and be applied once
        per reconnect meanwhile. It is rejected instead, before it is written."""
        self._outbox.remove(entry.id)
        self._actions.append(Forget(entry.id))
        self._actions.append(
            Settle(
                entry.id,
                False,
                error=f"request {entry.type} refused: the server speaks protocol v1, which does "
                "not acknowledge requests (use send(), or a v2 server)",
            )
        )

    def _flush(self, link: _Link) -> None:
        for entry in self._outbox:
            if entry.written_on != link.id and link.writable:
                self._write(entry, link)

    def _put_back(self, entries: list[Outbound]) -> None:
        """Return unsent entries to the outbox (and storage); what the bounds drop is forgotten."""
        if entries:
            for entry in entries:
                entry.written_on = 0
            dropped = {old.id for old in self._outbox.put_back(entries)}
            for entry in entries:
                if entry.id not in dropped:
                    self._actions.append(Persist(entry))
            returned = {entry.id for entry in entries}
            for id in dropped - returned:
                self._actions.append(Forget(id))

    def _unsent(self, link: _Link, unsent: int) -> list[Outbound]:
        """The fire-and-forget sends of ``link`` whose last byte was still among its ``unsent``
        buffered bytes at close: they never left this machine. Sends trimmed off ``written``
        for the bounds that had not left either are lost, and counted as overflow (as far as
        ``trimmed`` remembers)."""
        if unsent <= 0:
            return []
        left = link.sent_bytes - unsent  # bytes that did leave
        tail: list[Outbound] = []
        for end, entry in reversed(link.written):
            if end <= left:
                break
            tail.append(entry)
        tail.reverse()
        self._outbox.count_overflow(sum(1 for end in link.trimmed if end > left))
        return tail

    def _acked(self, ack: Ack) -> None:
        entry = self._outbox.remove(ack.id)
        if entry is None:
            return  # a repeated ack, or one for another page
        self._actions.append(Forget(entry.id))
        if entry.kind == "request":
            self._actions.append(Settle(entry.id, ack.ok, ack.data, ack.error))

    def _next_request_deadline(self) -> float | None:
        heap = self._request_deadlines
        while heap and heap[0][1] not in self._outbox:
            heapq.heappop(heap)  # settled or dropped already
        return heap[0][0] if heap else None

    def _expire_requests(self, now: float) -> None:
        heap = self._request_deadlines
        while heap and heap[0][0] <= now:
            _, id_ = heapq.heappop(heap)
            entry = self._outbox.remove(id_)
            if entry is not None:
                self._actions.append(Forget(id_))
                ms = round((entry.timeout or 0.0) * 1000)
                self._actions.append(
                    Settle(id_, False, error=f"request {entry.type} timed out after {ms} ms")
                )

    # -- internals: project streams ------------------------------------------------------------

    def _set_status(self, stream: _Stream, status: SyncStatus) -> None:
        if stream.status != status:
            stream.status = status
            self.sync_version += 1

    def _send_subscribe(self, project_id: str, now: float) -> None:
        link = self._link
        assert link is not None
        stream = self._streams[project_id]
        message: dict[str, object] = {"type": "subscribe", "project_id": project_id}
        if stream.epoch is not None and stream.offset is not None:
            message["since"] = {"epoch": stream.epoch, "offset": stream.offset}
        link.subscribed.add(project_id)
        stream.announced = True
        stream.reply_due = now + self._options.pong_timeout
        self._update_reply_deadline()
        self._send(json.dumps(message))

    def _update_reply_deadline(self) -> None:
        dues = [s.reply_due for s in self._streams.values() if s.reply_due is not None]
        self._reply_deadline = min(dues) if dues else None

    def _first_frame(self, link: _Link, v2: bool, now: float) -> None:
        """The first frame (or silence) tells the protocol; then the outbox goes out."""
        link.protocol = 2 if v2 else 1
        logger.info("the server speaks protocol %d", link.protocol)
        if not v2:
            for project_id, stream in self._streams.items():
                stream.reply_due = None
                if stream.status == "recovering":
                    self._set_status(stream, "stale")
                    self._actions.append(Resync(project_id))
            self._reply_deadline = None
        self._flush(link)
        self._update_deadline()

    def _replies_overdue(self, now: float) -> None:
        """A subscribe got no ``subscribed`` in time: the server does not recover streams."""
        for project_id, stream in self._streams.items():
            if stream.reply_due is not None and stream.reply_due <= now:
                stream.reply_due = None
                if stream.status == "recovering":
                    self._set_status(stream, "stale")
                    self._actions.append(Resync(project_id))
        self._update_reply_deadline()

    def _subscribed(self, reply: Subscribed, now: float) -> None:
        stream = self._streams.get(reply.project_id)
        if stream is None:
            return
        stream.reply_due = None
        stream.resubscribing = False
        self._update_reply_deadline()
        if reply.recovered and stream.offset is not None and stream.epoch == reply.epoch:
            stream.target = reply.offset
            self._caught_up(stream)
        elif reply.recovered:
            # A replay from a position this client does not hold (no ``since`` was sent, or it
            # named another epoch): it cannot rebuild the project from it. Ask afresh, which a
            # v2 server answers with a snapshot; if it says "recovered" again, the project is
            # stale (events apply as they come, the app is told to resync).
            logger.warning(
                "project %r: the server replays from a position this client does not hold",
                reply.project_id,
            )
            stream.epoch = stream.offset = None
            if not stream.refetched:
                stream.refetched = True
                stream.snapshot_due = True
                self._send_subscribe(reply.project_id, now)
                return
            stream.offset = reply.offset
            stream.snapshot_due = False
            self._set_status(stream, "stale")
            self._actions.append(Resync(reply.project_id))
        else:
            stream.snapshot_due = True
        stream.epoch = reply.epoch

    def _snapshot(self, snapshot: ProjectSnapshot) -> bool:
        stream = self._streams.get(snapshot.project_id)
        if stream is None:
            return False  # no longer subscribed: nothing to replace
        stream.offset = snapshot.offset
        stream.snapshot_due = False
        stream.target = None
        self._set_status(stream, "live" if stream.first else "reset")
        stream.first = False
        return True

    def _caught_up(self, stream: _Stream) -> None:
        """A replay is through once the stream reaches the offset ``subscribed`` announced."""
        target = stream.target
        if target is not None and stream.offset is not None and stream.offset >= target:
            stream.target = None
            stream.first = False
            if stream.status in ("recovering", "stale"):  # stale: its reply came late
                self._set_status(stream, "live")

    def _stream_event(
        self, event: ProjectEvent | FileEvent | ProcessEvent, link: _Link, now: float
    ) -> bool:
        offset = event.offset
        if offset is None:
            return True
        stream = self._streams.get(event.project_id)
        if stream is None:
            return True  # not tracked: no local subscriber
        if stream.snapshot_due:
            return False  # the snapshot that follows replaces it
        last = stream.offset
        if last is None:
            stream.offset = offset
            return True
        if offset == last + 1:
            stream.offset = offset
            if stream.target is not None:
                self._caught_up(stream)
            return True
        if offset <= last:
            self._duplicates += 1
            return False
        if not stream.resubscribing and link.protocol == 2:
            logger.warning(
                "project %r: offset %d after %d, a gap: resubscribing from %d",
                event.project_id,
                offset,
                last,
                last,
            )
            stream.resubscribing = True
            self._set_status(stream, "recovering")
            self._send_subscribe(event.project_id, now)
            self._update_deadline()
        return False
