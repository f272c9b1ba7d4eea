"""The connection core: a reconnecting WebSocket client as a sans-I/O state machine.

Theory of operation
-------------------
``Session`` decides and never acts: it performs no I/O and reads no clock. The driver
(``driver.py``) feeds it *inputs* -- method calls carrying ``now``, a float of seconds from any
monotonic origin -- and carries out the *actions* (``actions.py``) it drains with
``take_actions()``: ask the token provider, open a socket, send a text frame, close, settle a
request, store or forget an outbox entry, tell the page to resync a project. Besides actions the
core exposes one ``next_deadline``: the driver keeps exactly one timer and calls ``tick(now)``
when it fires.

The session is a thin owner of four concerns, each an object with its own table:

- the connection's state (``_TRANSITIONS`` below: the five states the page sees, the retry
  ladder of ``backoff.py``, the close policy);
- the current ``Link`` (``link.py``): one socket's phases, auth handshake, heartbeat, round trip
  and protocol version; at most one is alive, and events of any other socket are ignored;
- the ``Delivery`` of the outbox (``delivery.py``): ids, bounds, writes, acks, timeouts;
- the project ``Streams`` (``streams.py``): positions, recovery, sync status;
- plus ``Auth`` (``auth.py``): the token provider's answers and the ``4401`` rule.

It sees inbound messages only through their ``role`` and a few protocol fields
(``envelope.py``): project ids and offsets, never the app's domain types.

States
~~~~~~
===============  ===========================================================================
DISCONNECTED     Initial state, and after ``disconnect()``. No socket, no timer.
CONNECTING       The first attempt after ``connect()``: token (v3), socket, ``auth.ok``.
CONNECTED        The link is usable (authenticated, when a token provider is set). Subscribes
                 every active project, then flushes the outbox once the protocol is known.
RECONNECTING     Waiting for retry ``attempt``, or that attempt is under way.
ERROR            Refused for good (close 1008 or 4400-4499, a second 4401 in a row) or signed
                 out; the reason is kept. No retries until ``connect()`` (or ``set_auth`` when
                 the wait is because of auth).
===============  ===========================================================================

Timing rules (defaults in ``options.py``): a failure on our side starts the retry ladder at
``backoff_initial``; the far side dropping a connection that had been up for ``min_uptime``
starts it at ``backoff_after_drop`` (the herd protection); a shorter connection does not reset
the ladder. Each pre-connection step (token, open, ``auth.ok``) has ``connect_timeout``. After
``ping_interval`` of inbound silence a ping goes out; no frame within ``pong_timeout`` closes the
dead link (4000 "heartbeat timeout"). Offline is only recorded and shown: ``navigator.onLine``
lies on some systems, so retries go on; coming back online or visible retries at once, or
probes an open link with ``probe_timeout``.

``frame_received`` is the hot path: it only records the time (O(1), allocates nothing, never
moves ``next_deadline``); the heartbeat is evaluated lazily when the deadline fires.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import random as _random
from collections.abc import Callable
from enum import Enum
from typing import Final, Literal, TypeAlias, cast

from .actions import Action, CloseSocket, Resync
from .auth import CLOSE_UNAUTHORIZED, NOT_SIGNED_IN, Authenticator, AuthStatus, Outcome
from .backoff import Ladder
from .delivery import Delivery
from .envelope import (
    AckFrame,
    AuthOkFrame,
    HelloFrame,
    Inbound,
    PongFrame,
    StreamItem,
    SubscribedFrame,
)
from .link import Due, Link, Phase, RefreshPhase
from .options import Options
from .outbound import Outbound
from .records import Record, record
from .streams import Streams, SyncStatus

logger = logging.getLogger("wsclient")

#: A tab's part in a connection shared by the tabs of a browser (docs/protocol.md, "Sharing").
TabRole: TypeAlias = Literal["leader", "follower", "alone"]

#: Close code of ``disconnect()``.
CLOSE_NORMAL: Final = 1000
#: Close code when the core gives up on a socket (heartbeat/connect/auth timeout, socket error):
#: browsers only let a page close with 1000 or 3000-4999, and 4000 stays clear of 4400-4499.
CLOSE_LINK_FAILED: Final = 4000


def is_fatal_close(code: int) -> bool:
    """Whether a close code means "stop retrying": 1008 (policy) and 4400-4499 (e.g. 4403)."""
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
    last_error: str | None = None  # the last failure's text (a token provider's, say)
    auth: AuthStatus = "none"  # none (no provider), signing_in, signed_in, signed_out
    auth_refresh_at: float | None = None  # when the open connection's token is refreshed
    role: TabRole = "alone"  # this tab's part in a shared connection (set by the tab layer)
    tabs: int = 1  # tabs sharing this tab's connection, itself included


class Session:
    """The reconnecting connection to one server, over as many sockets as it takes (see the
    module docstring for how to drive it)."""

    def __init__(
        self,
        options: Options | None = None,
        *,
        random: Callable[[], float] | None = None,
        id_prefix: str | None = None,
        auth: bool = False,
    ) -> None:
        self._options = options = options if options is not None else Options()
        self._random = random if random is not None else _random.random
        self._state = State.DISCONNECTED
        self._actions: list[Action] = []
        self._now = -math.inf
        self._deadline: float | None = None
        self._last_socket_id = 0
        self._link: Link | None = None  # the current attempt: token, socket, open link
        self._dropped: Link | None = None  # the last socket let go, until ``unsent``
        self._pings = itertools.count(1)  # ping ids, across sockets
        self._ladder = Ladder(
            self._random,
            initial=options.backoff_initial,
            factor=options.backoff_factor,
            cap=options.backoff_max,
            after_drop=options.backoff_after_drop,
        )
        self._offline = False
        self._hidden = False
        prefix = id_prefix or f"{int(self._random() * 2**52):013x}"
        self._delivery = Delivery(options.max_queue, options.max_queue_bytes, prefix, self._actions)
        self._streams = Streams(options.pong_timeout)
        self._auth = Authenticator(
            auth,
            self._actions,
            self._random,
            lambda attempt: self._ladder.delay(attempt, options.backoff_initial),
        )
        self._last_close_code: int | None = None
        self._last_close_reason = ""
        self._error: str | None = None
        self._rtt: float | None = None
        self._rtt_samples = 0

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
        link = self._link
        return link.id if link is not None and link.phase is not Phase.TOKEN else None

    @property
    def subscriptions(self) -> dict[str, int]:
        """Active projects and their local subscriber counts, in first-subscribed order (a copy)."""
        return self._streams.counts()

    @property
    def sync_version(self) -> int:
        """Grows whenever a sync status changes."""
        return self._streams.version

    def sync(self) -> dict[str, SyncStatus]:
        """Each subscribed project's sync status, in first-subscribed order."""
        return self._streams.statuses()

    def positions(self) -> dict[str, tuple[str, int]]:
        """``project -> (epoch, last offset applied)`` where a position is held."""
        return self._streams.positions()

    def pending_requests(self) -> list[tuple[str, str]]:
        """``(id, message text)`` of every request not settled yet, oldest first."""
        return self._delivery.pending_requests()

    def health(self) -> Health:
        link = self._link
        waiting = self._state is State.RECONNECTING and link is None
        refresh = link.refresh if link is not None else None
        outbox = self._delivery.outbox
        return Health(
            state=self._state,
            attempt=self._ladder.attempt if self._state is State.RECONNECTING else 0,
            next_retry_at=self._ladder.at if waiting else None,
            last_close_code=self._last_close_code,
            last_close_reason=self._last_close_reason,
            error=self._error,
            rtt=self._rtt,
            queue_depth=len(outbox),
            queue_overflow=outbox.overflow,
            offline=self._offline,
            protocol=link.protocol if link is not None and link.usable else 0,
            duplicates=self._streams.duplicates,
            rtt_samples=self._rtt_samples,
            last_error=self._auth.error,
            auth=self._auth.memory.status,
            auth_refresh_at=(
                refresh.at
                if refresh is not None and refresh.phase is RefreshPhase.SCHEDULED
                else None
            ),
        )

    def take_actions(self) -> list[Action]:
        """Return the pending actions in order and forget them. Carry them out in that order."""
        actions = self._actions[:]
        self._actions.clear()
        return actions

    # -- inputs: the page --------------------------------------------------------------------

    def connect(self, now: float) -> None:
        """Start connecting. From DISCONNECTED or ERROR: start an attempt now. While waiting for
        a retry: retry now. While connecting or connected: nothing."""
        self._advance(now)
        if self._state in (State.DISCONNECTED, State.ERROR):
            self._transition(_Event.CONNECT)
            self._error = None
            self._ladder.reset()
            self._auth.memory.waiting = False
            self._auth.memory.socket_ended_otherwise()
            self._start_attempt(now)
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
        self._ladder.reset()
        self._update_deadline()

    def set_auth(self, enabled: bool, now: float) -> None:
        """A token provider was set (``enabled``) or removed. It does not touch an open
        connection; a client waiting because of auth starts a new attempt at once."""
        self._advance(now)
        memory = self._auth.memory
        memory.enabled = enabled
        if not enabled:
            memory.status = "none"
        if memory.waiting and self._state is State.ERROR:
            self.connect(now)
        self._update_deadline()

    def send(self, text: str, now: float, *, tagged: bool = True) -> str:
        """Deliver serialized ``text``: written now if the connection is ready, else queued for
        the next one. ``tagged``: ``text`` is a JSON object without an ``id``, so a v2 server
        can acknowledge it (it is then kept and re-sent until it is). Returns its delivery id."""
        self._advance(now)
        entry = self._delivery.new("send", text, tagged=tagged)
        self._delivery.enqueue(entry, self._link)
        return entry.id

    def request(self, text: str, type_: str, timeout: float, now: float) -> str:
        """Send ``text`` (a JSON object without an ``id``) and expect an ``ack`` within
        ``timeout`` seconds. Returns its id; a ``Settle`` action with that id follows, exactly
        once: acknowledged, refused, timed out, or refused at once when the outbox is full of
        requests."""
        self._advance(now)
        if not (isinstance(timeout, int | float) and 0 < timeout < math.inf):
            raise ValueError(f"a request timeout must be a positive number, got {timeout!r}")
        entry = self._delivery.new("request", text, tagged=True, type_=type_, timeout=timeout)
        entry.deadline = now + timeout
        self._delivery.enqueue(entry, self._link)
        self._update_deadline()
        return entry.id

    def restore(self, entries: list[Outbound], now: float) -> None:
        """Take over entries a previous page (or a tab that is gone) left in durable storage,
        in their order: queued, or written at once while the connection is ready. A request
        keeps its ``deadline`` (on this clock) if it has one."""
        self._advance(now)
        self._delivery.restore(entries, now, self._link)
        self._update_deadline()

    def subscribe(self, project_id: str, now: float) -> None:
        """One more local subscriber of ``project_id``; the first one subscribes on the wire."""
        self._advance(now)
        if self._streams.add(project_id) and self._state is State.CONNECTED:
            self._send_subscribe(project_id, now)
            self._update_deadline()

    def unsubscribe(self, project_id: str, now: float) -> None:
        """One local subscriber fewer; the last one leaving unsubscribes on the wire (if the
        project was subscribed on this connection) and forgets the project's position.
        Harmless, with a warning, without a subscriber."""
        self._advance(now)
        last = self._streams.remove(project_id)
        if last is None:
            logger.warning("unsubscribe(%r) without a matching subscribe: ignored", project_id)
            return
        link = self._link
        if last and self._state is State.CONNECTED and link and project_id in link.subscribed:
            link.subscribed.discard(project_id)
            link.send(json.dumps({"type": "unsubscribe", "project_id": project_id}))
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

    # -- inputs: the token provider ------------------------------------------------------------

    def token_received(self, request_id: int, token: object, now: float) -> None:
        """The provider answered ``GetToken(request_id)``: a token, or None/"" (signed out).
        Anything else is a failed attempt; an answer to an older request is ignored."""
        self._advance(now)
        self._token_outcome(self._auth.answered(self._link, request_id, token, now), now)

    def token_failed(self, request_id: int, error: str, now: float) -> None:
        """The provider threw, rejected or answered something that is not a token: a failed
        attempt (``error`` is shown in ``health.last_error``; it must not hold the token)."""
        self._advance(now)
        self._token_outcome(self._auth.failed(self._link, request_id, error, now), now)

    # -- inputs: the socket and the timer ----------------------------------------------------

    def socket_opened(self, socket_id: int, now: float) -> None:
        """The socket opened: present the token if there is one, else the link is usable."""
        self._advance(now)
        link = self._current(socket_id, "socket_opened")
        if link is None:
            return
        if link.phase is not Phase.OPENING:
            raise InvalidTransition(self._state, f"socket_opened for open socket {socket_id}")
        if not self._auth.opened(link, now):
            self._usable(link, now)
        self._update_deadline()

    def frame_received(self, socket_id: int, now: float) -> None:
        """Any inbound frame (valid or not): the link is alive. The hot path: O(1), allocates
        nothing, never moves ``next_deadline``."""
        link = self._link
        if link is not None and link.id == socket_id:
            link.last_rx = now
            link.rx_since_ping = True

    def received(self, socket_id: int, message: Inbound, now: float) -> bool:
        """A parsed message from socket ``socket_id`` (after ``frame_received``). Returns whether
        to deliver it to the page: False for a stale socket, a duplicate, or an event past a gap
        (the resubscribe brings it back in order). It never moves time."""
        link = self._link
        if link is None or link.id != socket_id:
            return False
        role = message.role
        if link.protocol == 0 and role != "auth_ok":
            self._first_frame(link, role == "hello" and cast(HelloFrame, message).protocol >= 2)
        if role == "event":
            item: StreamItem = message  # type: ignore[assignment]  # per event: no call
            verdict = self._streams.event(item.project_id, item.offset, link.protocol == 2)
            if verdict == "gap":
                self._send_subscribe(item.project_id, now)
                self._update_deadline()
            return verdict == "deliver"
        if role == "":
            return True
        if role == "pong":
            rtt = link.pong(cast(PongFrame, message).id, now)
            if rtt is not None:
                self._rtt = rtt
                self._rtt_samples += 1
        elif role == "ack":
            ack = cast(AckFrame, message)
            self._delivery.acked(ack.id, ack.ok, ack.data, ack.error)
        elif role == "subscribed":
            self._subscribed(cast(SubscribedFrame, message), now)
        elif role == "snapshot":
            item = cast(StreamItem, message)
            return self._streams.snapshot(item.project_id, item.offset)
        elif role == "auth_ok":
            if self._auth.auth_ok(link, cast(AuthOkFrame, message).expires_in, now):
                self._usable(link, now)
            self._update_deadline()
        return True

    def write_failed(
        self, socket_id: int, outbound_id: str | None, now: float, *, size: int = 0
    ) -> None:
        """The socket refused a ``SendText`` of ``size`` UTF-8 bytes (it is no longer OPEN:
        closing). Nothing more is written on it; what it carried is kept for the next
        connection."""
        self._advance(now)
        link = self._link if self._link is not None and self._link.id == socket_id else None
        dropped = self._dropped if self._dropped and self._dropped.id == socket_id else None
        link = link or dropped
        if link is None:
            return
        self._delivery.write_failed(link, outbound_id, size)
        if link is dropped:
            self._delivery.put_back(link.log.take_failed())

    def socket_closed(
        self, socket_id: int, code: int, reason: str, now: float, *, unsent: int = 0
    ) -> None:
        """The socket closed (the browser's close event); ``unsent``: its ``bufferedAmount``."""
        self._advance(now)
        link = self._current(socket_id, "socket_closed")
        if link is None:
            return
        before_auth_ok = not link.usable
        self._drop_link(link, unsent)
        self._record_close(code, reason)
        if code == CLOSE_UNAUTHORIZED and self._auth.enabled:
            if self._auth.memory.refused(before_auth_ok):
                logger.info("the server refused the token (4401): retrying with a fresh one")
                self._count_attempt(link, now, far_side=True)
                self._start_attempt(now)
            else:
                self._rejected(code, reason)
        elif is_fatal_close(code):
            self._rejected(code, reason)
        else:
            self._auth.memory.socket_ended_otherwise()
            self._lost(link, now, far_side=True)
        self._update_deadline()

    def unsent(self, socket_id: int, unsent: int, now: float) -> None:
        """A socket the core closed itself still held ``unsent`` bytes (``bufferedAmount``):
        the fire-and-forget sends among them go back to the outbox."""
        self._advance(now)
        link = self._dropped
        if link is not None and link.id == socket_id:
            self._delivery.link_gone(link, unsent)

    def socket_error(self, socket_id: int, now: float) -> None:
        """The socket failed (the browser's error event); a close event may follow and is then
        ignored."""
        self._advance(now)
        link = self._current(socket_id, "socket_error")
        if link is None:
            return
        self._close_current(CLOSE_LINK_FAILED, "socket error")
        self._auth.memory.socket_ended_otherwise()
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
        """Waiting for a retry (no attempt under way)."""
        return self._state is State.RECONNECTING and self._link is None

    def _current(self, socket_id: int, event: str) -> Link | None:
        """The link for ``socket_id`` if it is the current socket; None for a stale one."""
        link = self._link
        if link is not None and link.id == socket_id and link.phase is not Phase.TOKEN:
            return link
        if not 1 <= socket_id <= self._last_socket_id:
            raise InvalidTransition(self._state, f"{event} for socket {socket_id}, never opened")
        logger.debug("%s from stale socket %d ignored", event, socket_id)
        return None

    def _wake(self, now: float) -> None:
        """Something suggests the network is usable again: retry now if waiting, else probe."""
        if self._waiting():
            self._retry(now)
        elif self._state is State.CONNECTED and self._link is not None:
            self._link.probe(now, self._options.probe_timeout)
        self._update_deadline()

    def _start_attempt(self, now: float) -> None:
        """A new attempt: ask for a token first when a provider is set, else open a socket."""
        self._last_socket_id += 1
        self._ladder.at = None
        self._link = Link(self._last_socket_id, now, self._actions, self._pings)
        attempt = self._ladder.attempt if self._state is State.RECONNECTING else 0
        self._auth.begin(self._link, attempt)

    def _usable(self, link: Link, now: float) -> None:
        """Open (and authenticated): CONNECTED. Subscribe every project, time the round trip;
        the outbox waits for the protocol."""
        self._transition(_Event.OPENED)
        link.became_usable(now)
        for project_id in self._streams.reopened():
            self._send_subscribe(project_id, now)
        link.measure(now)
        if link.protocol:
            self._decided(link)

    def _token_outcome(self, outcome: Outcome, now: float) -> None:
        link = self._link
        if outcome == "failed" and link is not None:  # no token, no socket: a failed attempt
            self._link = None
            logger.warning("token provider failed: %s", self._auth.error)
            self._lost(link, now, far_side=False)
        elif outcome == "signed_out":
            self._close_current(CLOSE_NORMAL, NOT_SIGNED_IN)
            self._signed_out()
        self._update_deadline()

    def _signed_out(self) -> None:
        self._transition(_Event.REJECTED)
        self._error = NOT_SIGNED_IN
        self._auth.memory.signed_out()
        self._ladder.reset()
        logger.warning("the token provider says signed out: waiting for setAuth or connect")

    def _rejected(self, code: int, reason: str) -> None:
        self._transition(_Event.REJECTED)
        self._error = reason or f"closed with code {code}"
        self._ladder.reset()
        logger.warning("server refused the connection (%d %s): not retrying", code, reason)

    def _close_current(self, code: int, reason: str) -> None:
        link = self._link
        assert link is not None
        if link.phase is Phase.TOKEN:  # no socket yet: its token, when it comes, is stale
            self._link = None
            return
        self._actions.append(CloseSocket(link.id, code, reason))
        self._drop_link(link, 0)
        self._record_close(code, reason)

    def _drop_link(self, link: Link, unsent: int) -> None:
        """The socket is gone: what it could not send goes back to the outbox, in order."""
        self._link = None
        self._delivery.link_gone(link, unsent)
        self._dropped = link
        self._streams.socket_gone()

    def _record_close(self, code: int, reason: str) -> None:
        self._last_close_code = code
        self._last_close_reason = reason

    def _count_attempt(self, link: Link, now: float, *, far_side: bool) -> None:
        """A failed attempt or a lost connection: RECONNECTING, with the next attempt number."""
        established = link.usable and now - link.opened_at >= self._options.min_uptime
        suspected_here = self._offline or link.suspected
        self._transition(_Event.LOST)
        self._ladder.failed(
            established=established, dropped_by_peer=far_side and not suspected_here
        )

    def _lost(self, link: Link, now: float, *, far_side: bool) -> None:
        """The current attempt is over (its socket closed or told to close): plan the next."""
        self._count_attempt(link, now, far_side=far_side)
        delay = self._ladder.schedule(now)
        logger.info("reconnect attempt %d in %.3f s", self._ladder.attempt, delay)

    def _retry(self, now: float) -> None:
        self._transition(_Event.RETRY)
        self._start_attempt(now)

    def _update_deadline(self) -> None:
        link = self._link
        if link is not None:
            deadline: float | None = link.deadline(self._options)
        else:
            deadline = self._ladder.at if self._state is State.RECONNECTING else None
        for other in (self._streams.reply_deadline, self._delivery.next_deadline()):
            if other is not None and (deadline is None or other < deadline):
                deadline = other
        self._deadline = deadline

    def _on_deadline(self, now: float) -> None:
        self._delivery.expire(now)
        reply_deadline = self._streams.reply_deadline
        if reply_deadline is not None and reply_deadline <= now:
            for project_id in self._streams.replies_overdue(now):
                self._actions.append(Resync(project_id))
        link = self._link
        if link is None:
            at = self._ladder.at
            if at is not None and at <= now and self._waiting():
                self._retry(now)
            return
        options = self._options
        due = link.due(now, options)
        if due is Due.TOKEN_TIMEOUT:
            ms = round(options.connect_timeout * 1000)
            self._auth.error = f"the token provider did not answer within {ms} ms"
            self._token_outcome("failed", now)
        elif due is Due.REFRESH:
            self._auth.refresh_due(link, options.connect_timeout, options.pong_timeout, now)
        elif due is Due.V1:
            self._first_frame(link, False)
        elif due is not Due.NOTHING:  # connect, auth or heartbeat timeout
            if due is Due.DEAD:
                logger.warning("no frame within the pong timeout: closing the dead link")
            self._give_up(link, due.value, now)

    def _give_up(self, link: Link, reason: str, now: float) -> None:
        """The core closes the current socket itself (4000) and plans the next attempt."""
        self._close_current(CLOSE_LINK_FAILED, reason)
        self._auth.memory.socket_ended_otherwise()
        self._lost(link, now, far_side=False)

    # -- internals: protocol and streams -------------------------------------------------------

    def _first_frame(self, link: Link, v2: bool) -> None:
        """The first frame other than ``auth.ok`` (or silence) tells the protocol."""
        link.protocol = 2 if v2 else 1
        logger.info("the server speaks protocol %d", link.protocol)
        if link.usable:
            self._decided(link)

    def _decided(self, link: Link) -> None:
        """The protocol is known on a usable link: on v1, recovering projects are stale; then
        the outbox goes out."""
        if link.protocol == 1:
            for project_id in self._streams.not_recovering():
                self._actions.append(Resync(project_id))
        self._delivery.flush(link)
        self._update_deadline()

    def _send_subscribe(self, project_id: str, now: float) -> None:
        link = self._link
        assert link is not None
        link.subscribed.add(project_id)
        link.send(self._streams.subscribe_text(project_id, now))

    def _subscribed(self, reply: SubscribedFrame, now: float) -> None:
        outcome = self._streams.subscribed(
            reply.project_id, reply.epoch, reply.offset, reply.recovered
        )
        if outcome == "refetch":
            self._send_subscribe(reply.project_id, now)
        elif outcome == "resync":
            self._actions.append(Resync(reply.project_id))
