"""A fake platform for ``driver.Driver``: a fake clock, one fake timer and fake sockets.

``FakePort`` implements ``driver.Port`` and records what the driver asked of it as the core's own
action records (``OpenSocket``, ``SendText``, ``CloseSocket``), so tests compare the wire with
``assert_actions``. On every call it checks the socket invariants the real browser would make
visible: at most one socket alive, nothing sent on a socket that is not open, no close of a
socket that is gone, and the timer is armed for a moment that is not in the past.
"""

from __future__ import annotations

from wsclient.core import Action, CloseSocket, OpenSocket, SendText
from wsclient.messages import Message
from wsclient.router import EventRouter


class FakePort:
    def __init__(self, now: float = 0.0) -> None:
        self.time = now
        self.timer_at: float | None = None  # when the one timer fires, if armed
        self.alive: set[int] = set()  # sockets created and not closed
        self.open: set[int] = set()  # of those, the ones that opened
        self.sent: dict[int, list[str]] = {}  # socket -> texts sent on it
        self.history: list[tuple[float, Action]] = []
        self.disposed = False
        self._new: list[Action] = []

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

    def send(self, socket_id: int, text: str) -> None:
        assert socket_id in self.open, f"sent on socket {socket_id}: not open"
        self.sent[socket_id].append(text)
        self._record(SendText(socket_id, text))

    def close_socket(self, socket_id: int, code: int, reason: str) -> None:
        assert socket_id in self.alive, f"closed dead socket {socket_id}"
        self.gone(socket_id)
        self._record(CloseSocket(socket_id, code, reason))

    def set_timer(self, delay: float | None) -> None:
        assert delay is None or delay >= 0, f"timer armed {delay} s in the past"
        self.timer_at = None if delay is None else self.time + delay

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
