"""A fake platform for ``driver.Driver``: a fake clock, one fake timer and fake sockets.

``FakePort`` implements ``driver.Port`` and records what the driver asked of it as the core's own
action records (``OpenSocket``, ``SendText``, ``CloseSocket``), so tests compare the wire with
``assert_actions``. On every call it checks the socket invariants the real browser would make
visible: at most one socket alive, nothing sent on a socket that is not open, no close of a
socket that is gone, and the timer is armed for a moment that is not in the past.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from wsclient.actions import Action, CloseSocket, OpenSocket, SendText, Settle
from wsclient.core import Health
from wsclient.messages import Drop, Message, parse
from wsclient.outbound import Outbound
from wsclient.router import EventRouter
from wsclient.streams import SyncStatus


class FakePort:
    def __init__(self, now: float = 0.0) -> None:
        self.time = now
        self.timer_at: float | None = None  # when the one timer fires, if armed
        self.alive: set[int] = set()  # sockets created and not closed
        self.open: set[int] = set()  # of those, the ones that opened
        self.sent: dict[int, list[str]] = {}  # socket -> texts sent on it
        self.history: list[tuple[float, Action]] = []
        self.disposed = False
        self.closing: set[int] = set()  # sockets that refuse writes (the browser's CLOSING)
        self.buffered: dict[int, int] = {}  # socket -> bufferedAmount reported when we close it
        self.stored: dict[str, Outbound] = {}  # the durable outbox
        self._new: list[Action] = []
        self.pending: list[Callable[[bool, object], None]] = []  # async token answers

    def take(self) -> list[Action]:
        """What the driver did since the last call, in order."""
        actions, self._new = self._new, []
        return actions

    def _record(self, action: Action) -> None:
        self.history.append((self.time, action))
        self._new.append(action)

    # --- driver.Port -------------------------------------------------------------------------

    def now(self) -> float:
        return self.time

    def open_socket(self, socket_id: int) -> None:
        assert not self.alive, f"opened socket {socket_id} while {self.alive} alive"
        self.alive.add(socket_id)
        self.sent[socket_id] = []
        self._record(OpenSocket(socket_id))

    def send(self, socket_id: int, text: str) -> bool:
        if socket_id in self.closing:
            return False  # the browser's socket is CLOSING: nothing is written
        assert socket_id in self.open, f"sent on socket {socket_id}: not open"
        self.sent[socket_id].append(text)
        self._record(SendText(socket_id, text))
        return True

    def close_socket(self, socket_id: int, code: int, reason: str) -> int:
        assert socket_id in self.alive, f"closed dead socket {socket_id}"
        self.gone(socket_id)
        self._record(CloseSocket(socket_id, code, reason))
        return self.buffered.pop(socket_id, 0)

    def set_timer(self, delay: float | None) -> None:
        assert delay is None or delay >= 0, f"timer armed {delay} s in the past"
        self.timer_at = None if delay is None else self.time + delay

    def save(self, entry: Outbound) -> None:
        self.stored[entry.id] = entry

    def forget(self, id: str) -> None:
        self.stored.pop(id, None)

    def load(self) -> list[Outbound]:
        return sorted(self.stored.values(), key=lambda e: e.seq)

    def run_async(self, awaitable: Awaitable[object], done: Callable[[bool, object], None]) -> None:
        """Keep an async token answer pending: the test settles it with ``answer``."""
        close = getattr(awaitable, "close", None)
        if close is not None:
            close()  # a coroutine: the test decides its outcome instead
        self.pending.append(done)

    def answer(self, ok: bool, value: object, index: int = 0) -> None:
        """Settle the ``index``-th pending async token answer."""
        self.pending.pop(index)(ok, value)

    def dispose(self) -> None:
        self.disposed = True

    # --- the fake browser's side -------------------------------------------------------------

    def gone(self, socket_id: int) -> None:
        self.alive.discard(socket_id)
        self.open.discard(socket_id)


def feed(router: EventRouter, text: object) -> Message | None:
    """One frame through the router, stores published (what the driver does per batch)."""
    message = router.handle(text)
    router.publish()
    return message


class Recorder:
    """A ``driver.Receiver`` that keeps everything the driver tells the page."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.delivered: list[Message] = []
        self.healths: list[Health] = []
        self.syncs: list[dict[str, SyncStatus]] = []
        self.settles: list[Settle] = []
        self.resyncs: list[str] = []

    def parse(self, text: str) -> Message | None:
        self.texts.append(text)
        message = parse(text)
        return None if isinstance(message, Drop) else message

    def parse_joined(self, batch: str) -> list[Message | None]:
        return [self.parse(text) for text in batch.split("\x1e")]

    def dispatch(self, message: Message) -> None:
        self.delivered.append(message)

    def on_binary(self, size: int) -> None:
        pass

    def on_too_large(self, length: int) -> None:
        pass

    def on_batch_end(self) -> None:
        pass

    def on_health(self, health: Health) -> None:
        self.healths.append(health)

    def on_sync(self, statuses: dict[str, SyncStatus]) -> None:
        self.syncs.append(statuses)

    def on_settled(self, settle: Settle) -> None:
        self.settles.append(settle)

    def on_resync(self, project_id: str) -> None:
        self.resyncs.append(project_id)
