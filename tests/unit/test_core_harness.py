"""The connection core driven by the real driver on a fake port. No tests here.

``FakeBrowser`` runs ``driver.Driver`` (the loop the page uses) on ``fakes.FakePort``, whose one
timer fires only when the test lets time pass, and which checks on every step that at most one
socket is alive and nothing is sent on a socket that is not open.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from fakes import FakePort, Recorder

from wsclient.actions import Action, CloseSocket, OpenSocket, SendText
from wsclient.core import Health, Session
from wsclient.driver import Driver, TokenProvider
from wsclient.options import Options

HEARTBEAT = '{"type": "system.heartbeat"}'
HELLO = '{"type": "hello", "protocol": 2}'
PING = '{"type": "ping"'


class FakeBrowser:
    """The real ``Driver`` on a ``FakePort``: each input returns the actions it caused."""

    def __init__(
        self,
        options: Options | None = None,
        *,
        random: Callable[[], float] = lambda: 0.5,
        now: float = 0.0,
        id_prefix: str = "t",
        port: FakePort | None = None,
        provider: TokenProvider | None = None,
    ) -> None:
        self.core = Session(options, random=random, id_prefix=id_prefix, auth=provider is not None)
        self.port = port if port is not None else FakePort(now)
        self.page = Recorder()
        self.driver = Driver(self.core, lambda _driver: self.port, self.page, provider=provider)
        self.port.take()

    @property
    def texts(self) -> list[str]:
        return self.page.texts

    @property
    def healths(self) -> list[Health]:
        return self.page.healths

    @property
    def now(self) -> float:
        return self.port.time

    @property
    def alive(self) -> set[int]:
        return self.port.alive

    @property
    def open(self) -> set[int]:
        return self.port.open

    @property
    def sent(self) -> dict[int, list[str]]:
        return self.port.sent

    @property
    def history(self) -> list[tuple[float, Action]]:
        return self.port.history

    def pump(self) -> list[Action]:
        """Settle the driver after a direct input to the core; returns what it did."""
        self.driver.settle()
        return self.port.take()

    # -- the clock -------------------------------------------------------------------------

    def advance(self, seconds: float) -> list[Action]:
        """Let ``seconds`` pass, firing the one timer the driver armed whenever it is due."""
        target = self.port.time + seconds
        while (at := self.port.timer_at) is not None and at <= target:
            self.port.time = max(self.port.time, at)
            self.port.timer_at = None
            self.driver.timer_fired()
        self.port.time = target
        return self.port.take()

    # -- inputs ----------------------------------------------------------------------------

    @property
    def socket(self) -> int:
        socket_id = self.core.socket_id
        assert socket_id is not None, "no current socket"
        return socket_id

    def connect(self) -> list[Action]:
        self.driver.connect()
        return self.port.take()

    def disconnect(self) -> list[Action]:
        self.driver.disconnect()
        return self.port.take()

    def opened(self, protocol: int = 1) -> list[Action]:
        """Open the pending socket and deliver the server's first frame (``protocol`` 2: a
        hello; 1: a heartbeat; 0: none). Returns the actions *without* the RTT ping every open
        sends (checked here, so each test need not repeat it)."""
        socket_id = self.socket
        self.port.open.add(socket_id)
        self.driver.socket_opened(socket_id)
        actions = self.port.take()
        if protocol:
            actions += self.frame(HELLO if protocol == 2 else HEARTBEAT)
        pings = [a for a in actions if isinstance(a, SendText) and a.text.startswith(PING)]
        assert len(pings) == 1, actions
        return [a for a in actions if a is not pings[0]]

    def closed(self, code: int = 1006, reason: str = "", unsent: int = 0) -> list[Action]:
        socket_id = self.socket
        self.port.gone(socket_id)
        self.driver.socket_closed(socket_id, code, reason, unsent)
        return self.port.take()

    def error(self) -> list[Action]:
        self.core.socket_error(self.socket, self.now)
        return self.pump()

    def frame(self, text: str = HEARTBEAT) -> list[Action]:
        self.driver.frames(self.socket, [text])
        return self.port.take()

    def pong(self, ping_id: str | None) -> list[Action]:
        pong = {"type": "pong"} if ping_id is None else {"type": "pong", "id": ping_id}
        return self.frame(json.dumps(pong))

    def send(self, text: str) -> list[Action]:
        self.driver.send_text(text)
        return self.port.take()

    def subscribe(self, project_id: str) -> list[Action]:
        self.driver.subscribe(project_id)
        return self.port.take()

    def unsubscribe(self, project_id: str) -> list[Action]:
        self.driver.unsubscribe(project_id)
        return self.port.take()

    def offline(self) -> list[Action]:
        self.driver.network_changed(False)
        return self.port.take()

    def online(self) -> list[Action]:
        self.driver.network_changed(True)
        return self.port.take()

    def hidden(self) -> list[Action]:
        self.driver.visibility_changed(False)
        return self.port.take()

    def visible(self) -> list[Action]:
        self.driver.visibility_changed(True)
        return self.port.take()

    # -- scenarios -------------------------------------------------------------------------

    def connected(self, protocol: int = 1) -> FakeBrowser:
        """Connect, open the first socket and hear the server's first frame; drop the actions."""
        self.connect()
        self.opened(protocol)
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


def connected(options: Options | None = None, protocol: int = 1, **kwargs: Any) -> FakeBrowser:
    return FakeBrowser(options, **kwargs).connected(protocol)


def assert_actions(actual: Sequence[Action], expected: Sequence[Action]) -> None:
    assert list(actual) == list(expected)


def sent(actions: Sequence[Action]) -> list[dict[str, Any]]:
    """The JSON objects sent by ``actions``."""
    return [json.loads(a.text) for a in actions if isinstance(a, SendText)]


def closes(actions: Sequence[Action]) -> list[CloseSocket]:
    return [a for a in actions if isinstance(a, CloseSocket)]


def opens(actions: Sequence[Action]) -> list[OpenSocket]:
    return [a for a in actions if isinstance(a, OpenSocket)]
