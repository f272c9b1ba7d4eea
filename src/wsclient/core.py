"""The connection core: a reconnecting WebSocket client as a sans-I/O state machine.

Theory of operation
-------------------
``Session`` decides and never acts: it performs no I/O and reads no clock. The driver
(``driver.py``) feeds it *inputs* -- method calls carrying ``now``, a float of seconds from any
monotonic origin -- and carries out the *actions* (``actions.py``) it drains with
``take_actions()``: ask the token provider, open a socket, send a text frame, close, settle a
request, store or forget an outbox entry, tell the page to resync a project. Besides actions the
core exposes one ``next_deadline``, derived from its parts on each read: the driver keeps exactly
one timer, no later than it, and calls ``tick(now)`` when it fires.

The session is a thin owner of five concerns, each an object with its own table, and routes
each input to the ones it concerns:

- the ``Lifecycle`` (``lifecycle.py``): the five states the page sees, the retry ladder of
  ``backoff.py``, the last close and error, offline and hidden, the round trip; ``Health``;
- the current ``Link`` (``link.py``): one socket's phases, auth handshake, heartbeat and
  protocol version; at most one is alive, and events of any other socket are ignored;
- the ``Delivery`` of the outbox (``delivery.py``): ids, bounds, writes, acks, timeouts;
- the project ``Streams`` (``streams.py``): positions, recovery, sync status;
- the ``Authenticator`` (``auth.py``): tokens, their refresh, and the ``4401`` rule.

It sees inbound messages only through their ``role`` and a few protocol fields
(``envelope.py``): project ids and offsets, never the app's domain types.

Timing rules (defaults in ``options.py``): each pre-connection step (token, open, ``auth.ok``)
has ``connect_timeout``. After ``ping_interval`` of inbound silence a ping goes out; no frame
within ``pong_timeout`` closes the dead link (4000 "heartbeat timeout"). Coming back online or
visible retries at once, or probes an open link with ``probe_timeout``; offline is only shown
(retries go on: ``navigator.onLine`` lies on some systems).

``frame_received`` is the hot path: it only records the time (O(1), allocates nothing; it may
move ``next_deadline`` later, never earlier); the heartbeat is evaluated lazily when the
deadline fires, so steady traffic costs one early wake per ``ping_interval``, not a re-arm.
"""

from __future__ import annotations

import logging
import math
import random as _random
from collections.abc import Callable
from typing import cast

from .actions import Action
from .auth import NOT_SIGNED_IN, Authenticator, Outcome
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
from .lifecycle import (
    CLOSE_LINK_FAILED,
    CLOSE_NORMAL,
    Event,
    Health,
    InvalidTransition,
    Lifecycle,
    State,
    is_fatal_close,
)
from .link import Due, Link, Sockets
from .options import Options
from .outbound import Outbound
from .streams import Streams

__all__ = ["Health", "InvalidTransition", "Session", "State", "is_fatal_close"]

logger = logging.getLogger("wsclient")


class Session:
    """The reconnecting connection to one server, over as many sockets as it takes (see the
    module docstring for how to drive it). Read its parts, ``streams`` (subscriptions, sync
    status, positions) and ``delivery`` (the outbox, pending requests); drive it only through
    its inputs."""

    def __init__(
        self,
        options: Options | None = None,
        *,
        random: Callable[[], float] | None = None,
        id_prefix: str | None = None,
        auth: bool = False,
    ) -> None:
        self.options = options = options if options is not None else Options()
        random = random if random is not None else _random.random
        self._actions: list[Action] = []
        self._now = -math.inf
        self._sockets = Sockets(self._actions)
        self._life = life = Lifecycle(options, random)
        prefix = id_prefix or f"{int(random() * 2**52):013x}"
        self.delivery = Delivery(options.max_queue, options.max_queue_bytes, prefix, self._actions)
        self.streams = Streams(options.pong_timeout, self._actions)
        self._auth = Authenticator(
            auth,
            self._actions,
            random,
            lambda attempt: life.ladder.delay(attempt, options.backoff_initial),
        )

    # -- outputs ---------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._life.state

    @property
    def next_deadline(self) -> float | None:
        """The time the driver must call ``tick()`` by, or None. Frames only move it later;
        a timer armed earlier is harmless (``tick`` before a deadline does nothing), so re-arm
        when it moved earlier."""
        link = self._sockets.current
        deadline = link.deadline(self.options) if link is not None else self._life.retry_at
        for other in (self.streams.reply_deadline, self.delivery.next_deadline()):
            if other is not None and (deadline is None or other < deadline):
                deadline = other
        return deadline

    @property
    def socket_id(self) -> int | None:
        """The current socket (pending or open), if any."""
        return self._sockets.socket_id

    def health(self) -> Health:
        return self._life.health(
            self._sockets.current, self.delivery.outbox, self.streams.duplicates, self._auth
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
        if self._life.start():
            self._auth.memory.restart()
            self._start_attempt(now)
        elif self._waiting():
            self._retry(now)

    def disconnect(self, now: float) -> None:
        """Close with 1000 and stay DISCONNECTED until ``connect()``. Harmless when already so.
        The outbox is kept: it goes out on the next ``connect()``."""
        self._advance(now)
        if self._life.stop() and self._sockets.current is not None:
            self._close_current(CLOSE_NORMAL, "client disconnect")

    def set_auth(self, enabled: bool, now: float) -> None:
        """A token provider was set (``enabled``) or removed. It does not touch an open
        connection; a client waiting because of auth starts a new attempt at once."""
        self._advance(now)
        if self._auth.memory.set_enabled(enabled) and self._life.state is State.ERROR:
            self.connect(now)

    def send(self, text: str, now: float, *, tagged: bool = True) -> str:
        """Deliver ``text`` now or on the next connection; see ``Delivery.send``."""
        self._advance(now)
        return self.delivery.send(text, tagged, self._sockets.current)

    def request(self, text: str, type_: str, timeout: float, now: float) -> str:
        """Send ``text`` and expect an ``ack`` within ``timeout`` s; see ``Delivery.request``."""
        self._advance(now)
        request_id = self.delivery.request(text, type_, timeout, now, self._sockets.current)
        return request_id

    def restore(self, entries: list[Outbound], now: float) -> None:
        """Take over what a previous page (or a gone tab) left; see ``Delivery.restore``."""
        self._advance(now)
        self.delivery.restore(entries, now, self._sockets.current)

    def subscribe(self, project_id: str, now: float) -> None:
        """One more local subscriber of ``project_id``; the first one subscribes on the wire."""
        self._advance(now)
        self.streams.subscribe(project_id, self._open_link(), now)

    def unsubscribe(self, project_id: str, now: float) -> None:
        """One local subscriber fewer; the last one leaving unsubscribes on the wire and forgets
        the project's position. Harmless, with a warning, without a subscriber."""
        self._advance(now)
        if not self.streams.unsubscribe(project_id, self._open_link()):
            logger.warning("unsubscribe(%r) without a matching subscribe: ignored", project_id)

    def network_changed(self, online: bool, now: float) -> None:
        """What the browser says of the network. Offline is only shown (retries go on); back
        online retries at once if waiting, or probes the open link."""
        self._advance(now)
        self._life.offline = not online
        if online:
            self._wake(now)

    def visibility_changed(self, visible: bool, now: float) -> None:
        """The page was hidden (it may sleep; its timers may be throttled) or shown again: then
        retry at once if waiting (as Phoenix does), or probe the open link."""
        self._advance(now)
        if not visible:
            self._life.hidden = True
        elif self._life.shown():
            self._wake(now)

    # -- inputs: the token provider ------------------------------------------------------------

    def token_received(self, request_id: int, token: object, now: float) -> None:
        """The provider answered ``GetToken(request_id)``: a token, or None/"" (signed out).
        Anything else is a failed attempt; an answer to an older request is ignored."""
        self._advance(now)
        self._token_outcome(self._auth.answered(self._sockets.current, request_id, token, now), now)

    def token_failed(self, request_id: int, error: str, now: float) -> None:
        """The provider threw, rejected or answered something that is not a token: a failed
        attempt (``error`` is shown in ``health.last_error``; it must not hold the token)."""
        self._advance(now)
        self._token_outcome(self._auth.failed(self._sockets.current, request_id, error, now), now)

    # -- inputs: the socket and the timer ----------------------------------------------------

    def socket_opened(self, socket_id: int, now: float) -> None:
        """The socket opened: present the token if there is one, else the link is usable."""
        self._advance(now)
        link = self._sockets.get(socket_id, "socket_opened")
        if link is not None and not self._auth.opened(link, now):  # the link's table checks
            self._usable(link, now)

    def frame_received(self, socket_id: int, now: float) -> None:
        """Any inbound frame (valid or not): the link is alive. The hot path: O(1), no alloc."""
        link = self._sockets.current
        if link is not None and link.id == socket_id:
            link.last_rx = now
            link.rx_since_ping = True

    def received(self, socket_id: int, message: Inbound, now: float) -> bool:
        """A parsed message from socket ``socket_id`` (after ``frame_received``). Returns whether
        to deliver it to the page: False for a stale socket, a duplicate, or an event past a gap
        (the resubscribe brings it back in order). It never moves time."""
        link = self._sockets.current
        if link is None or link.id != socket_id:
            return False
        role = message.role
        if link.protocol == 0 and role != "auth_ok":
            self._first_frame(link, role == "hello" and cast(HelloFrame, message).protocol >= 2)
        if role == "event":
            item: StreamItem = message  # type: ignore[assignment]  # per event: no call
            verdict = self.streams.event(item.project_id, item.offset, link.protocol == 2)
            if verdict == "gap":
                self.streams.subscribe_on(link, item.project_id, now)
            return verdict == "deliver"
        if role == "":
            return True
        if role == "pong":
            self._life.measured(link.pong(cast(PongFrame, message).id, now))
        elif role == "ack":
            ack = cast(AckFrame, message)
            self.delivery.acked(ack.id, ack.ok, ack.data, ack.error)
        elif role == "subscribed":
            self.streams.reply(link, cast(SubscribedFrame, message), now)
        elif role == "snapshot":
            item = cast(StreamItem, message)
            return self.streams.snapshot(item.project_id, item.offset)
        elif role == "auth_ok" and self._auth.auth_ok(
            link, cast(AuthOkFrame, message).expires_in, now
        ):
            self._usable(link, now)
        return True

    def write_failed(
        self, socket_id: int, outbound_id: str | None, now: float, *, size: int = 0
    ) -> None:
        """The socket refused a ``SendText`` of ``size`` UTF-8 bytes (it is closing): nothing more
        is written on it; what it carried is kept for the next connection."""
        self._advance(now)
        link = self._sockets.find(socket_id)
        if link is not None:
            gone = link is not self._sockets.current
            self.delivery.write_failed(link, outbound_id, size, gone=gone)

    def socket_closed(
        self, socket_id: int, code: int, reason: str, now: float, *, unsent: int = 0
    ) -> None:
        """The socket closed (the browser's close event); ``unsent``: its ``bufferedAmount``."""
        self._advance(now)
        link = self._sockets.get(socket_id, "socket_closed")
        if link is None:
            return
        before_auth_ok = not link.usable
        self._drop_link(unsent)
        self._life.closed(code, reason)
        verdict = self._auth.closed(code, before_auth_ok)
        if verdict == "retry":  # a fresh token, at once
            self._life.failed(link, now, far_side=True)
            self._start_attempt(now)
        elif verdict == "refused" or is_fatal_close(code):
            self._life.refused(reason or f"closed with code {code}", code)
        else:
            self._life.lost(link, now, far_side=True)

    def unsent(self, socket_id: int, unsent: int, now: float) -> None:
        """A socket the core closed itself still held ``unsent`` bytes (``bufferedAmount``):
        the fire-and-forget sends among them go back to the outbox."""
        self._advance(now)
        link = self._sockets.dropped
        if link is not None and link.id == socket_id:
            self.delivery.link_gone(link, unsent)

    def socket_error(self, socket_id: int, now: float) -> None:
        """The browser's error event: the socket is given up (a close event after it is stale)."""
        self._advance(now)
        link = self._sockets.get(socket_id, "socket_error")
        if link is not None:
            self._give_up(link, "socket error", now, far_side=True)

    def tick(self, now: float) -> None:
        """Time has passed: handle every deadline due by ``now``. Harmless before the deadline."""
        self._advance(now)
        while (deadline := self.next_deadline) is not None and deadline <= now:
            self._on_deadline(now)

    # -- internals -----------------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        if not now >= self._now:
            raise ValueError(f"time went backwards or is not a number: {now!r} < {self._now!r}")
        self._now = now

    def _waiting(self) -> bool:
        """Waiting for a retry (no attempt under way)."""
        return self._life.state is State.RECONNECTING and self._sockets.current is None

    def _open_link(self) -> Link | None:
        """The link while CONNECTED (it is usable then)."""
        return self._sockets.current if self._life.state is State.CONNECTED else None

    def _wake(self, now: float) -> None:
        """Something suggests the network is usable again: retry now if waiting, else probe."""
        link = self._open_link()
        if self._waiting():
            self._retry(now)
        elif link is not None:
            link.probe(now, self.options.probe_timeout)

    def _retry(self, now: float) -> None:
        self._life.fire(Event.RETRY)
        self._start_attempt(now)

    def _start_attempt(self, now: float) -> None:
        """A new attempt: ask for a token first when a provider is set, else open a socket."""
        self._auth.begin(self._sockets.start(now), self._life.attempt_starts())

    def _usable(self, link: Link, now: float) -> None:
        """Open (and authenticated): CONNECTED. Subscribe every project, time the round trip;
        the outbox waits for the protocol."""
        self._life.fire(Event.OPENED)
        link.became_usable(now)
        self.streams.link_usable(link, now)
        link.measure(now)
        if link.protocol:
            self._decided(link)

    def _first_frame(self, link: Link, v2: bool) -> None:
        """The first frame other than ``auth.ok`` (or silence) tells the protocol."""
        link.protocol = 2 if v2 else 1
        logger.info("the server speaks protocol %d", link.protocol)
        if link.usable:
            self._decided(link)

    def _decided(self, link: Link) -> None:
        """The protocol is known on a usable link: on v1, recovering projects are stale; then
        the outbox goes out."""
        self.streams.protocol_known(link.protocol)
        self.delivery.flush(link)

    def _token_outcome(self, outcome: Outcome, now: float) -> None:
        if outcome == "failed" and self._sockets.current is not None:  # no token, no socket
            logger.warning("token provider failed: %s", self._auth.error)
            self._life.lost(self._sockets.drop(), now, far_side=False)
        elif outcome == "signed_out":
            self._close_current(CLOSE_NORMAL, NOT_SIGNED_IN)
            self._auth.memory.signed_out()
            self._life.refused(NOT_SIGNED_IN)

    def _give_up(self, link: Link, reason: str, now: float, *, far_side: bool) -> None:
        """The core closes the current socket itself (4000) and plans the next attempt."""
        self._close_current(CLOSE_LINK_FAILED, reason)
        self._auth.memory.socket_ended_otherwise()
        self._life.lost(link, now, far_side=far_side)

    def _close_current(self, code: int, reason: str) -> None:
        """Close the current socket (no socket yet: its token, when it comes, is stale)."""
        if self._sockets.close(code, reason):
            self._drop_link(0)
            self._life.closed(code, reason)

    def _drop_link(self, unsent: int) -> None:
        """The socket is gone: what it could not send goes back to the outbox, in order."""
        self.delivery.link_gone(self._sockets.drop(), unsent)
        self.streams.socket_gone()

    def _on_deadline(self, now: float) -> None:
        self.delivery.expire(now)
        self.streams.expire(now)
        link = self._sockets.current
        if link is None:
            at = self._life.retry_at
            if at is not None and at <= now:
                self._retry(now)
            return
        due = link.due(now, self.options)
        if due is Due.TOKEN_TIMEOUT or due is Due.REFRESH:
            self._token_outcome(self._auth.due(link, due, self.options, now), now)
        elif due is Due.V1:
            self._first_frame(link, False)
        elif due is not Due.NOTHING:  # connect, auth or heartbeat timeout
            if due is Due.DEAD:
                logger.warning("no frame within the pong timeout: closing the dead link")
            self._give_up(link, due.value, now, far_side=False)
