"""One socket's life: its phases, the auth handshake, the heartbeat, the round trip, the protocol.

Theory of operation
-------------------
A `Link` is made when an attempt starts and dropped with its socket, so that no per-socket field
can outlive it (h11's rule: what lives and dies together is one object). Its phase changes only
through ``_PHASES``; each phase has exactly one deadline (``deadline``):

==============  ======================================================  ========================
phase           meaning                                                 deadline
==============  ======================================================  ========================
TOKEN           the token provider is asked; no socket yet (v3 only)    start + connect_timeout
OPENING         the socket is created, not open yet                     start + connect_timeout
AUTHENTICATING  open, the auth frame sent, waiting for ``auth.ok``      open + connect_timeout
OPEN            usable, heard from lately                               last_rx + ping_interval
AWAITING_PONG   a ping (or probe) is out                                its pong deadline
==============  ======================================================  ========================

Usable (OPEN/AWAITING_PONG) is what the session calls connected. The protocol (``protocol``:
2 for a v2 server that greeted with ``hello``, else 1) is decided by the first frame other than
``auth.ok``, or by ``pong_timeout`` of silence after the link became usable; until then only
subscribes and pings go out. ``heard`` is the hot path: it records the time only, and the
heartbeat is evaluated lazily at the deadline.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Final

from .auth import Refresh
from .options import Options
from .outbound import WireLog

#: While traffic keeps the link alive no heartbeat ping is needed; one ping this often (seconds)
#: still measures the round trip, so the UI's RTT stays current.
RTT_SAMPLE_INTERVAL: Final = 30.0


class Phase(Enum):
    TOKEN = "awaiting token"
    OPENING = "opening"
    AUTHENTICATING = "authenticating"
    OPEN = "open"
    AWAITING_PONG = "awaiting pong"


class LinkEvent(Enum):
    TOKEN = "token received"
    OPENED = "socket opened"
    OPENED_AUTH = "socket opened (auth frame sent)"
    AUTH_OK = "auth.ok"
    PING = "ping sent"
    ANSWERED = "frame heard after the ping"


_P = Phase
_L = LinkEvent
#: phase -> {event: next phase}; anything else is a bug in the caller (``LinkError``).
_PHASES: Final[dict[Phase, dict[LinkEvent, Phase]]] = {
    _P.TOKEN: {_L.TOKEN: _P.OPENING},
    _P.OPENING: {_L.OPENED: _P.OPEN, _L.OPENED_AUTH: _P.AUTHENTICATING},
    _P.AUTHENTICATING: {_L.AUTH_OK: _P.OPEN},
    _P.OPEN: {_L.PING: _P.AWAITING_PONG},
    _P.AWAITING_PONG: {_L.PING: _P.AWAITING_PONG, _L.ANSWERED: _P.OPEN},
}

USABLE: Final = frozenset({_P.OPEN, _P.AWAITING_PONG})


class LinkError(RuntimeError):
    """An input that makes no sense in the link's phase (a bug in the caller)."""


class Link:
    """Everything about one socket (see the module docstring)."""

    __slots__ = (
        "id",
        "last_rx",
        "log",
        "opened_at",
        "phase",
        "ping_id",
        "ping_sent_at",
        "pong_deadline",
        "probing",
        "protocol",
        "refresh",
        "rx_since_ping",
        "started_at",
        "subscribed",
        "token",
        "token_request",
        "writable",
    )

    def __init__(self, socket_id: int, now: float, *, token_request: int = 0) -> None:
        self.id = socket_id
        self.phase = _P.TOKEN if token_request else _P.OPENING
        self.token_request = token_request  # the GetToken this attempt waits for (v3)
        self.token: str | None = None  # held from the provider's answer until the auth frame
        self.started_at = now  # when the current pre-open step began
        self.opened_at = now  # when the link became usable
        self.last_rx = now  # frame_received only touches last_rx and rx_since_ping
        self.rx_since_ping = True
        self.pong_deadline = 0.0  # meaningful in AWAITING_PONG
        self.probing = False  # the unanswered ping is a probe (we suspect our own link)
        self.ping_id: str | None = None  # id of the last ping whose pong can give an RTT
        self.ping_sent_at = 0.0
        self.subscribed: set[str] = set()  # projects subscribed on this socket
        self.protocol = 0  # 0 until the first frame says: 2 if it is a hello, else 1
        self.writable = True  # False once the socket refused a write (it is closing)
        self.log = WireLog()
        self.refresh: Refresh | None = None

    def fire(self, event: LinkEvent) -> None:
        target = _PHASES[self.phase].get(event)
        if target is None:
            raise LinkError(
                f"socket {self.id}: {event.value} is not allowed while {self.phase.value}"
            )
        self.phase = target

    @property
    def usable(self) -> bool:
        return self.phase in USABLE

    @property
    def ready(self) -> bool:
        """Usable, the protocol known and the socket still writable: the outbox may go out."""
        return self.protocol != 0 and self.writable and self.phase in USABLE

    def deadline(self, options: Options) -> float:
        phase = self.phase
        if phase is _P.TOKEN or phase is _P.OPENING:
            return self.started_at + options.connect_timeout
        if phase is _P.AUTHENTICATING:
            return self.opened_at + options.connect_timeout
        if phase is _P.AWAITING_PONG:
            deadline = self.pong_deadline
        else:
            deadline = min(
                self.last_rx + options.ping_interval, self.ping_sent_at + RTT_SAMPLE_INTERVAL
            )
        if self.protocol == 0:  # a server that says nothing at all is taken for v1
            deadline = min(deadline, self.opened_at + options.pong_timeout)
        if self.refresh is not None:
            deadline = min(
                deadline, self.refresh.deadline(options.connect_timeout, options.pong_timeout)
            )
        return deadline

    def became_usable(self, now: float) -> None:
        self.opened_at = now
        self.last_rx = now

    def measure(self, now: float, count: int) -> str:
        """A ping whose pong gives the round trip (no deadline of its own)."""
        self.ping_id = str(count)
        self.ping_sent_at = now
        return json.dumps({"type": "ping", "id": self.ping_id})

    def ping(self, now: float, timeout: float, count: int) -> str:
        """A heartbeat ping: some frame must arrive within ``timeout``."""
        text = self.measure(now, count)
        self.rx_since_ping = False
        self.fire(_L.PING)
        self.pong_deadline = now + timeout
        return text

    def probe(self, now: float, timeout: float, count: int) -> str:
        """Ping now and expect a frame within ``timeout`` (never later than a pending ping's)."""
        pending = self.phase is _P.AWAITING_PONG and not self.rx_since_ping
        previous = self.pong_deadline
        text = self.ping(now, timeout, count)
        if pending:
            self.pong_deadline = min(previous, self.pong_deadline)
        self.probing = True
        return text

    def pong(self, ping_id: str | None, now: float) -> float | None:
        """A pong: the round trip if it answers the ping being timed."""
        if self.ping_id is None or ping_id != self.ping_id:
            return None
        self.ping_id = None
        return now - self.ping_sent_at

    def answered(self) -> bool:
        """At the pong deadline: True if a frame came since the ping (back to OPEN)."""
        if not self.rx_since_ping:
            return False
        self.fire(_L.ANSWERED)
        self.probing = False
        return True

    @property
    def suspected(self) -> bool:
        """A probe went unanswered: the trouble is probably on our side of the network."""
        return self.probing and not self.rx_since_ping
