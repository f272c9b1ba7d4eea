"""A fake browser for the connection core: one fake clock, one timer, fake sockets. No tests here.

``FakeBrowser`` does what the real adapter does -- arms one timer for ``next_deadline``, carries out
the actions in order, feeds socket events back with the socket's id -- and checks on every step
that at most one socket is alive and nothing is sent on a socket that is not open.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from wsclient.core import Action, CloseSocket, Connection, OpenSocket, Options, SendText


class FakeBrowser:
    def __init__(
        self,
        options: Options | None = None,
        *,
        random: Callable[[], float] = lambda: 0.5,
        now: float = 0.0,
    ) -> None:
        self.core = Connection(options, random=random)
        self.now = now
        self.alive: set[int] = set()  # sockets created and not closed
        self.open: set[int] = set()  # of those, the ones that opened
        self.sent: dict[int, list[str]] = {}  # socket -> texts sent on it
        self.history: list[tuple[float, Action]] = []

    # -- carrying out actions ------------------------------------------------------------

    def pump(self) -> list[Action]:
        """Carry out the core's pending actions, checking the socket invariants."""
        actions = self.core.take_actions()
        for action in actions:
            self.history.append((self.now, action))
            if isinstance(action, OpenSocket):
                assert not self.alive, f"opened socket {action.socket_id} while {self.alive} alive"
                self.alive.add(action.socket_id)
                self.sent[action.socket_id] = []
            elif isinstance(action, SendText):
                assert action.socket_id in self.open, f"sent on socket {action.socket_id}: not open"
                self.sent[action.socket_id].append(action.text)
            else:
                assert action.socket_id in self.alive, f"closed dead socket {action.socket_id}"
                self._gone(action.socket_id)
        return actions

    def _gone(self, socket_id: int) -> None:
        self.alive.discard(socket_id)
        self.open.discard(socket_id)

    # -- the clock -------------------------------------------------------------------------

    def advance(self, seconds: float) -> list[Action]:
        """Let ``seconds`` pass, firing the one timer whenever it is due."""
        target = self.now + seconds
        actions: list[Action] = []
        while (deadline := self.core.next_deadline) is not None and deadline <= target:
            self.now = max(self.now, deadline)
            self.core.tick(self.now)
            actions += self.pump()
        self.now = target
        return actions

    # -- inputs ----------------------------------------------------------------------------

    @property
    def socket(self) -> int:
        socket_id = self.core.socket_id
        assert socket_id is not None, "no current socket"
        return socket_id

    def connect(self) -> list[Action]:
        self.core.connect(self.now)
        return self.pump()

    def disconnect(self) -> list[Action]:
        self.core.disconnect(self.now)
        return self.pump()

    def opened(self) -> list[Action]:
        """Open the pending socket; returns its actions *without* the trailing RTT ping, which
        every open must end with (checked here, so each test need not repeat it)."""
        socket_id = self.socket
        self.open.add(socket_id)
        self.core.socket_opened(socket_id, self.now)
        actions = self.pump()
        last = actions[-1] if actions else None
        assert isinstance(last, SendText) and json.loads(last.text)["type"] == "ping", actions
        return actions[:-1]

    def closed(self, code: int = 1006, reason: str = "") -> list[Action]:
        socket_id = self.socket
        self._gone(socket_id)
        self.core.socket_closed(socket_id, code, reason, self.now)
        return self.pump()

    def error(self) -> list[Action]:
        self.core.socket_error(self.socket, self.now)
        return self.pump()

    def frame(self) -> None:
        self.core.frame_received(self.socket, self.now)

    def pong(self, ping_id: str | None) -> None:
        self.core.frame_received(self.socket, self.now)
        self.core.pong_received(self.socket, ping_id, self.now)

    def send(self, text: str) -> list[Action]:
        self.core.send(text, self.now)
        return self.pump()

    def subscribe(self, project_id: str) -> list[Action]:
        self.core.subscribe(project_id, self.now)
        return self.pump()

    def unsubscribe(self, project_id: str) -> list[Action]:
        self.core.unsubscribe(project_id, self.now)
        return self.pump()

    def offline(self) -> list[Action]:
        self.core.went_offline(self.now)
        return self.pump()

    def online(self) -> list[Action]:
        self.core.went_online(self.now)
        return self.pump()

    def hidden(self) -> list[Action]:
        self.core.page_hidden(self.now)
        return self.pump()

    def visible(self) -> list[Action]:
        self.core.page_visible(self.now)
        return self.pump()

    # -- scenarios -------------------------------------------------------------------------

    def connected(self) -> FakeBrowser:
        """Connect and open the first socket; drop the resulting actions."""
        self.connect()
        self.opened()
        return self

    def until_deadline(self) -> list[Action]:
        """Let time pass up to the core's next deadline and fire it."""
        deadline = self.core.next_deadline
        assert deadline is not None, "no deadline"
        return self.advance(deadline - self.now)

    def fail_attempt(self) -> list[Action]:
        """Refuse the pending socket, then wait for the next attempt to open."""
        self.closed(1006)
        return self.until_deadline()


def connected(options: Options | None = None, **kwargs: Any) -> FakeBrowser:
    return FakeBrowser(options, **kwargs).connected()


def assert_actions(actual: Sequence[Action], expected: Sequence[Action]) -> None:
    assert list(actual) == list(expected)


def sent(actions: Sequence[Action]) -> list[dict[str, Any]]:
    """The JSON objects sent by ``actions``."""
    return [json.loads(a.text) for a in actions if isinstance(a, SendText)]


def closes(actions: Sequence[Action]) -> list[CloseSocket]:
    return [a for a in actions if isinstance(a, CloseSocket)]


def opens(actions: Sequence[Action]) -> list[OpenSocket]:
    return [a for a in actions if isinstance(a, OpenSocket)]
