"""The one loop that drives the connection core: the same code in the page, the tests and the
reconnect-storm simulation.

Theory of operation
-------------------
``core.Session`` decides and never acts; a platform acts and never decides. ``Driver`` sits
between them and is the only code that:

- reads the clock (``port.now()``) and passes ``now`` into every core input;
- carries out the core's actions in the order given: sockets (open, send, close) on the
  ``Port``, durable storage of the outbox (``Persist``/``Forget``) on the ``Port``, and what the
  page must hear (``Settle``, ``Resync``) on the ``Receiver``;
- tells the core what the platform refused: a write on a socket that is no longer OPEN, and the
  bytes a socket the core closed still had buffered;
- keeps exactly one timer, armed for the core's ``next_deadline`` (re-armed only when the
  deadline moved earlier, cancelled when there is none) and calls ``core.tick`` when it fires:
  a deadline that moved later (traffic pushes the heartbeat on) costs one early wake, not a
  re-arm per frame batch;
- ignores events from sockets it has already let go (a close it asked for, a socket replaced);
- publishes health and sync status to the ``Receiver`` only when they changed.

After any input the driver *settles*: actions, timer, health, in that order. Callers never touch
the core directly; if a test does, it must call ``settle()`` afterwards.

Frames arrive in batches (``frames(socket_id, batch)``): the core hears "the link is alive" once
per batch; each text frame is parsed by the receiver, shown to the core (which may hold it back:
a duplicate, or an event past a gap) and dispatched to the page; the receiver's ``on_batch_end``
follows, so the stores publish once per batch.

The platform implements ``Port``: ``browser.BrowserPort`` in the page, ``tests/unit/fakes.py``
in the tests and a scheduled event queue in ``bench/reconnect_storm.py``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from .actions import (
    Action,
    CloseSocket,
    Forget,
    GetToken,
    OpenSocket,
    Persist,
    SendText,
    Settle,
)
from .core import Health, Session
from .messages import Message
from .outbound import Outbound
from .streams import SyncStatus

#: A token provider: called with ``{"reason": ..., "attempt": ...}``, it returns the token, None
#: or "" (signed out), or an awaitable of one of those (docs/protocol.md, "Authentication").
TokenProvider = Callable[[dict[str, object]], object]


class Port(Protocol):
    """What the driver needs from a platform. Each method returns at once; socket events come
    back later through the driver's ``socket_opened``/``frames``/``socket_closed``."""

    def now(self) -> float:
        """Seconds from any monotonic origin."""
        ...

    def open_socket(self, socket_id: int) -> None:
        """Create a WebSocket and report its events with ``socket_id``."""
        ...

    def send(self, socket_id: int, text: str) -> bool:
        """Send one text frame; False if the socket is not OPEN (nothing was written)."""
        ...

    def close_socket(self, socket_id: int, code: int, reason: str) -> int:
        """Close the socket and report nothing more about it; return its ``bufferedAmount``."""
        ...

    def set_timer(self, delay: float | None) -> None:
        """Replace the one timer: call ``Driver.timer_fired`` after ``delay`` seconds (None:
        cancel it)."""
        ...

    def save(self, entry: Outbound) -> None:
        """Keep an outbox entry in durable storage (a failure only loses durability)."""
        ...

    def forget(self, id: str) -> None:
        """Remove an outbox entry from durable storage."""
        ...

    def load(self) -> list[Outbound]:
        """The outbox entries a previous page left, oldest first."""
        ...

    def run_async(self, awaitable: Awaitable[object], done: Callable[[bool, object], None]) -> None:
        """Run ``awaitable`` to its end, then call ``done(True, result)`` or ``done(False,
        error text)``."""
        ...

    def dispose(self) -> None:
        """Free what the port holds (listeners, handles); it reports nothing afterwards."""
        ...


class NoStorage:
    """The storage half of a ``Port`` for platforms that keep nothing across a reload."""

    def save(self, entry: Outbound) -> None:
        pass

    def forget(self, id: str) -> None:
        pass

    def load(self) -> list[Outbound]:
        return []


class Receiver(Protocol):
    """What the driver tells the page (``app.Client`` implements it)."""

    def parse(self, text: str) -> Message | None:
        """The message in a text frame, or None if it was dropped (and counted)."""
        ...

    def parse_joined(self, batch: str) -> list[Message | None]:
        """``parse`` of each frame of a batch joined with U+001E, in order."""
        ...

    def dispatch(self, message: Message) -> None:
        """Deliver a message: domain stores and listeners."""
        ...

    def on_binary(self, size: int) -> None:
        """A binary frame of ``size`` bytes arrived (the protocol has none)."""
        ...

    def on_too_large(self, length: int) -> None:
        """The page dropped a text frame of ``length`` characters unread: it was over
        ``Options.max_frame_size`` (checked in JS, before the text is copied into Wasm memory)."""
        ...

    def on_batch_end(self) -> None:
        """A batch of frames is through: publish the stores once."""
        ...

    def on_health(self, health: Health) -> None: ...

    def on_sync(self, statuses: dict[str, SyncStatus]) -> None: ...

    def on_settled(self, settle: Settle) -> None:
        """A request is over (acknowledged, refused or timed out)."""
        ...

    def on_resync(self, project_id: str) -> None:
        """Events of the project may be missing and cannot be recovered: reload it."""
        ...


class Driver:
    """Runs a ``core.Session`` on a ``Port`` for a ``Receiver`` (see the module docstring)."""

    def __init__(
        self,
        core: Session,
        port: Callable[[Driver], Port],
        receiver: Receiver,
        *,
        provider: TokenProvider | None = None,
    ) -> None:
        self.core = core
        self.provider = provider  # the token provider (set before the core asks for a token)
        self._receiver = receiver
        self._live: set[int] = set()  # sockets opened and not yet let go
        self._timer_at: float | None = None
        self._last_health: Health | None = None
        self._sync_version = -1
        self.port = port(self)
        core.restore(self.port.load(), self.port.now())
        self.settle()

    # --- commands from the page ------------------------------------------------------------

    def connect(self) -> None:
        self.core.connect(self.port.now())
        self.settle()

    def disconnect(self) -> None:
        self.core.disconnect(self.port.now())
        self.settle()

    def send_text(self, text: str, *, tagged: bool = True) -> str:
        id_ = self.core.send(text, self.port.now(), tagged=tagged)
        self.settle()
        return id_

    def request(self, text: str, type_: str, timeout: float) -> str:
        id_ = self.core.request(text, type_, timeout, self.port.now())
        self.settle()
        return id_

    def subscribe(self, project_id: str) -> None:
        self.core.subscribe(project_id, self.port.now())
        self.settle()

    def unsubscribe(self, project_id: str) -> None:
        self.core.unsubscribe(project_id, self.port.now())
        self.settle()

    def set_auth(self, provider: TokenProvider | None) -> None:
        """Replace the token provider from its next call on (None: no auth from then on)."""
        self.provider = provider
        self.core.set_auth(provider is not None, self.port.now())
        self.settle()

    # --- what the environment reports ------------------------------------------------------

    def token_received(self, request_id: int, token: object) -> None:
        self.core.token_received(request_id, token, self.port.now())
        self.settle()

    def token_failed(self, request_id: int, error: str) -> None:
        self.core.token_failed(request_id, error, self.port.now())
        self.settle()

    def network_changed(self, online: bool) -> None:
        self.core.network_changed(online, self.port.now())
        self.settle()

    def visibility_changed(self, visible: bool) -> None:
        self.core.visibility_changed(visible, self.port.now())
        self.settle()

    def timer_fired(self) -> None:
        self._timer_at = None
        self.core.tick(self.port.now())
        self.settle()

    def socket_opened(self, socket_id: int) -> None:
        if socket_id in self._live:
            self.core.socket_opened(socket_id, self.port.now())
            self.settle()

    def socket_closed(self, socket_id: int, code: int, reason: str, unsent: int = 0) -> None:
        """The socket closed; ``unsent``: its ``bufferedAmount`` at that moment."""
        if socket_id in self._live:
            self._live.discard(socket_id)
            self.core.socket_closed(socket_id, code, reason, self.port.now(), unsent=unsent)
            self.settle()

    def frames(self, socket_id: int, batch: str | Iterable[str | int]) -> None:
        """A batch of frames from one socket, in order: text frames as ``str``, binary frames as
        their size in bytes (the protocol has none; they are counted and dropped), text frames
        over ``max_frame_size`` that the page dropped before they crossed into Wasm memory as
        minus their length (counted as "too_large" drops); or one ``str``: text frames joined
        with U+001E (which no valid JSON text holds unescaped)."""
        if socket_id not in self._live:
            return
        core = self.core
        receiver = self._receiver
        dispatch = receiver.dispatch
        received = core.received
        now = self.port.now()
        core.frame_received(socket_id, now)
        if type(batch) is str:
            for message in receiver.parse_joined(batch):
                if message is not None and received(socket_id, message, now):
                    dispatch(message)
        else:
            parse = receiver.parse
            for frame in batch:
                if type(frame) is str:
                    message = parse(frame)
                    if message is not None and received(socket_id, message, now):
                        dispatch(message)
                elif frame >= 0:  # type: ignore[operator]
                    receiver.on_binary(frame)  # type: ignore[arg-type]
                else:  # minus the length of a text frame dropped for its size
                    receiver.on_too_large(-frame)  # type: ignore[operator]
        receiver.on_batch_end()
        self.settle()

    # --- the loop ----------------------------------------------------------------------------

    def settle(self) -> None:
        """Carry out the core's pending actions, re-arm the one timer if the deadline moved,
        and publish health and sync status if they changed. Call after any direct input to the
        core."""
        port = self.port
        core = self.core
        actions = core.take_actions()
        while actions:
            for action in actions:
                self._carry_out(action)
            actions = core.take_actions()  # what the reports to the core above caused
        deadline, armed = core.next_deadline, self._timer_at
        if deadline != armed and (deadline is None or armed is None or deadline < armed):
            self._timer_at = deadline  # a later deadline keeps the timer: its wake re-arms
            port.set_timer(None if deadline is None else max(0.0, deadline - port.now()))
        health = core.health()
        if health != self._last_health:
            self._last_health = health
            self._receiver.on_health(health)
        streams = core.streams
        if streams.version != self._sync_version:
            self._sync_version = streams.version
            self._receiver.on_sync(streams.statuses())

    def _carry_out(self, action: Action) -> None:
        port = self.port
        if isinstance(action, SendText):
            if action.socket_id in self._live and not port.send(action.socket_id, action.text):
                size = len(action.text.encode())
                self.core.write_failed(action.socket_id, action.outbound_id, port.now(), size=size)
        elif isinstance(action, Persist):
            port.save(action.entry)
        elif isinstance(action, Forget):
            port.forget(action.id)
        elif isinstance(action, OpenSocket):
            self._live.add(action.socket_id)
            port.open_socket(action.socket_id)
        elif isinstance(action, CloseSocket):
            if action.socket_id in self._live:
                self._live.discard(action.socket_id)
                unsent = port.close_socket(action.socket_id, action.code, action.reason)
                if unsent:
                    self.core.unsent(action.socket_id, unsent, port.now())
        elif isinstance(action, GetToken):
            self._ask_for_token(action)
        elif isinstance(action, Settle):
            self._receiver.on_settled(action)
        else:
            self._receiver.on_resync(action.project_id)

    def _ask_for_token(self, action: GetToken) -> None:
        """Call the provider; a sync answer goes back to the core at once, an awaitable one when
        it settles (the core ignores it if a newer attempt began meanwhile)."""
        core, port, request_id = self.core, self.port, action.request_id
        provider = self.provider
        if provider is None:
            core.token_failed(request_id, "no token provider is set", port.now())
            return
        try:
            result = provider({"reason": action.reason, "attempt": action.attempt})
        except Exception as exc:  # the provider's own failure: a failed attempt
            core.token_failed(request_id, _error_text(exc), port.now())
            return
        if inspect.isawaitable(result):

            def done(ok: bool, value: object) -> None:
                if ok:
                    self.token_received(request_id, value)
                else:
                    self.token_failed(request_id, str(value))

            port.run_async(result, done)
        else:
            core.token_received(request_id, result, port.now())

    def close(self) -> None:
        """Disconnect and let the port free what it holds (the page is going away)."""
        self.disconnect()
        self.port.dispose()


def _error_text(exc: BaseException) -> str:
    """A provider's failure as the page sees it: its class and message."""
    text = str(exc)
    return f"token provider failed: {type(exc).__name__}{': ' + text if text else ''}"
