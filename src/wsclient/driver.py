"""The one loop that drives the connection core: the same code in the page, the tests and the
reconnect-storm simulation.

Theory of operation
-------------------
``core.Session`` decides and never acts; a platform acts and never decides. ``Driver`` sits
between them and is the only code that:

- reads the clock (``port.now()``) and passes ``now`` into every core input;
- carries out the core's actions on the ``Port`` in the order given (open, send, close);
- keeps exactly one timer, armed for the core's ``next_deadline`` (re-armed only when the
  deadline moved, cancelled when there is none) and calls ``core.tick`` when it fires;
- ignores events from sockets it has already let go (a close it asked for, a socket replaced);
- publishes the connection's health to ``on_health`` only when it changed.

After any input, the driver *settles*: actions, timer, health, in that order. Callers never touch
the core directly; if a test does, it must call ``settle()`` afterwards.

Frames arrive in batches (``frames(socket_id, batch)``): the core hears "the link is alive" once
per batch, each text frame goes to ``on_text`` (which parses it, feeds the listeners and marks the
stores) and ``on_batch_end`` follows, so the stores publish once per batch. A ``Pong`` that
echoes the core's ping gives the round-trip time.

The platform implements ``Port``: ``browser.BrowserPort`` in the page, ``tests/unit/fakes.py``
in the tests and a scheduled event queue in ``bench/reconnect_storm.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from .core import CloseSocket, Health, OpenSocket, SendText, Session
from .messages import Pong


class Port(Protocol):
    """What the driver needs from a platform. Each method returns at once; socket events come
    back later through the driver's ``socket_opened``/``frames``/``socket_closed``."""

    def now(self) -> float:
        """Seconds from any monotonic origin."""
        ...

    def open_socket(self, socket_id: int) -> None:
        """Create a WebSocket and report its events with ``socket_id``."""
        ...

    def send(self, socket_id: int, text: str) -> None:
        """Send one text frame on an open socket."""
        ...

    def close_socket(self, socket_id: int, code: int, reason: str) -> None:
        """Close the socket and report nothing more about it."""
        ...

    def set_timer(self, delay: float | None) -> None:
        """Replace the one timer: call ``Driver.timer_fired`` after ``delay`` seconds (None:
        cancel it)."""
        ...

    def dispose(self) -> None:
        """Free what the port holds (listeners, handles); it reports nothing afterwards."""
        ...


class Driver:
    """Runs a ``core.Session`` on a ``Port`` (see the module docstring)."""

    def __init__(
        self,
        core: Session,
        port: Callable[[Driver], Port],
        *,
        on_text: Callable[[str], object],
        on_binary: Callable[[int], None],
        on_batch_end: Callable[[], None],
        on_health: Callable[[Health], None],
    ) -> None:
        self.core = core
        self._on_text = on_text
        self._on_binary = on_binary
        self._on_batch_end = on_batch_end
        self._on_health = on_health
        self._live: set[int] = set()  # sockets opened and not yet let go
        self._timer_at: float | None = None
        self._last_health: Health | None = None
        self.port = port(self)

    # --- commands from the page ------------------------------------------------------------

    def connect(self) -> None:
        self.core.connect(self.port.now())
        self.settle()

    def disconnect(self) -> None:
        self.core.disconnect(self.port.now())
        self.settle()

    def send_text(self, text: str) -> None:
        self.core.send(text, self.port.now())
        self.settle()

    def subscribe(self, project_id: str) -> None:
        self.core.subscribe(project_id, self.port.now())
        self.settle()

    def unsubscribe(self, project_id: str) -> None:
        self.core.unsubscribe(project_id, self.port.now())
        self.settle()

    # --- what the environment reports ------------------------------------------------------

    def went_online(self) -> None:
        self.core.went_online(self.port.now())
        self.settle()

    def went_offline(self) -> None:
        self.core.went_offline(self.port.now())
        self.settle()

    def page_hidden(self) -> None:
        self.core.page_hidden(self.port.now())
        self.settle()

    def page_visible(self) -> None:
        self.core.page_visible(self.port.now())
        self.settle()

    def timer_fired(self) -> None:
        self._timer_at = None
        self.core.tick(self.port.now())
        self.settle()

    def socket_opened(self, socket_id: int) -> None:
        if socket_id in self._live:
            self.core.socket_opened(socket_id, self.port.now())
            self.settle()

    def socket_closed(self, socket_id: int, code: int, reason: str) -> None:
        if socket_id in self._live:
            self._live.discard(socket_id)
            self.core.socket_closed(socket_id, code, reason, self.port.now())
            self.settle()

    def frames(self, socket_id: int, batch: Iterable[str | int]) -> None:
        """A batch of frames from one socket, in order: text frames as ``str``, binary frames as
        their size in bytes (the protocol has none; they are counted and dropped)."""
        if socket_id not in self._live:
            return
        core = self.core
        now = self.port.now()
        core.frame_received(socket_id, now)
        on_text = self._on_text
        pong = False
        for frame in batch:
            if type(frame) is str:
                message = on_text(frame)
                if type(message) is Pong:
                    core.pong_received(socket_id, message.id, now)
                    pong = True
            else:
                self._on_binary(frame)  # type: ignore[arg-type]
        self._on_batch_end()
        if pong:
            self.settle()

    # --- the loop ----------------------------------------------------------------------------

    def settle(self) -> None:
        """Carry out the core's pending actions, re-arm the one timer if the deadline moved,
        and publish health if it changed. Call after any direct input to the core."""
        port = self.port
        for action in self.core.take_actions():
            if type(action) is SendText:
                if action.socket_id in self._live:
                    port.send(action.socket_id, action.text)
            elif type(action) is OpenSocket:
                self._live.add(action.socket_id)
                port.open_socket(action.socket_id)
            elif type(action) is CloseSocket and action.socket_id in self._live:
                self._live.discard(action.socket_id)
                port.close_socket(action.socket_id, action.code, action.reason)
        deadline = self.core.next_deadline
        if deadline != self._timer_at:
            self._timer_at = deadline
            port.set_timer(None if deadline is None else max(0.0, deadline - port.now()))
        health = self.core.health()
        if health != self._last_health:
            self._last_health = health
            self._on_health(health)

    def close(self) -> None:
        """Disconnect and let the port free what it holds (the page is going away)."""
        self.disconnect()
        self.port.dispose()
