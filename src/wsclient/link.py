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

import itertools
import json
import logging
from collections.abc import Iterator
from enum import Enum
from typing import Final

from .actions import Action, CloseSocket, SendText
from .options import Options
from .outbound import WireLog

#: While traffic keeps the link alive no heartbeat ping is needed; one ping this often (seconds)
#: still measures the round trip, so the UI's RTT stays current.
RTT_SAMPLE_INTERVAL: Final = 30.0

logger = logging.getLogger("wsclient")


class RefreshPhase(Enum):
    SCHEDULED = "scheduled"  # deadline: ``at``
    FETCHING = "fetching"  # the provider is asked: deadline ``since`` + connect_timeout
    SENT = "sent"  # the new token is out: deadline ``since`` + pong_timeout


class RefreshEvent(Enum):
    DUE = "refresh due"
    TOKEN = "token received"
    AUTH_OK = "auth.ok"
    FAILED = "refresh failed"


_R = RefreshPhase
_RE = RefreshEvent
#: phase -> {event: next phase}; anything else is a bug (``ValueError`` names both).
_REFRESH: Final[dict[RefreshPhase, dict[RefreshEvent, RefreshPhase]]] = {
    _R.SCHEDULED: {_RE.DUE: _R.FETCHING},
    _R.FETCHING: {_RE.TOKEN: _R.SENT, _RE.FAILED: _R.SCHEDULED},
    _R.SENT: {_RE.AUTH_OK: _R.SCHEDULED, _RE.FAILED: _R.SCHEDULED},
}


class Refresh:
    """One open socket's token refresh (see the module docstring)."""

    __slots__ = ("at", "failures", "phase", "request_id", "since")

    def __init__(self, at: float) -> None:
        self.phase = RefreshPhase.SCHEDULED
        self.at = at  # when the next refresh starts
        self.since = at  # when the current step began
        self.failures = 0  # failed refreshes in a row (the backoff ladder's step)
        self.request_id = 0  # the token request in flight

    def fire(self, event: RefreshEvent, now: float) -> None:
        target = _REFRESH[self.phase].get(event)
        if target is None:
            raise ValueError(
                f"token refresh: {event.value} is not allowed while {self.phase.value}"
            )
        self.phase = target
        self.since = now

    def deadline(self, connect_timeout: float, answer_timeout: float) -> float:
        if self.phase is RefreshPhase.SCHEDULED:
            return self.at
        if self.phase is RefreshPhase.FETCHING:
            return self.since + connect_timeout
        return self.since + answer_timeout


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


class Due(Enum):
    """What a link's deadline found (``Link.due``); the session acts on all but NOTHING."""

    NOTHING = "nothing (a ping may have gone out)"
    TOKEN_TIMEOUT = "the token provider did not answer"
    CONNECT_TIMEOUT = "connect timeout"
    AUTH_TIMEOUT = "auth timeout"
    REFRESH = "token refresh step due"
    V1 = "silence: the server speaks v1"
    DEAD = "heartbeat timeout"


class LinkError(RuntimeError):
    """An input that makes no sense in the link's phase (a bug in the caller)."""


class Link:
    """Everything about one socket (see the module docstring)."""

    __slots__ = (
        "_actions",
        "_pings",
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

    def __init__(
        self,
        socket_id: int,
        now: float,
        actions: list[Action],
        pings: Iterator[int],
    ) -> None:
        self._actions = actions  # shared with the session: what this link sends goes there
        self._pings = pings  # ping ids, shared by every link of the session
        self.id = socket_id
        self.phase = _P.TOKEN  # without a token provider it moves on at once
        self.token_request = 0  # the GetToken this attempt waits for (v3)
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

    def send(self, text: str) -> None:
        """Write a control frame (auth, subscribe, ping...) on this socket."""
        self.log.wrote(len(text.encode()))
        self._actions.append(SendText(self.id, text))

    def measure(self, now: float) -> None:
        """Send a ping whose pong gives the round trip (no deadline of its own): on becoming
        usable, so the UI has an RTT even when traffic means no heartbeat ping is ever needed."""
        self.ping_id = str(next(self._pings))
        self.ping_sent_at = now
        self.send(json.dumps({"type": "ping", "id": self.ping_id}))

    def ping(self, now: float, timeout: float) -> None:
        """A heartbeat ping: some frame must arrive within ``timeout``."""
        self.measure(now)
        self.rx_since_ping = False
        self.fire(_L.PING)
        self.pong_deadline = now + timeout

    def probe(self, now: float, timeout: float) -> None:
        """Ping now and expect a frame within ``timeout`` (never later than a pending ping's)."""
        pending = self.phase is _P.AWAITING_PONG and not self.rx_since_ping
        previous = self.pong_deadline
        self.ping(now, timeout)
        if pending:
            self.pong_deadline = min(previous, self.pong_deadline)
        self.probing = True

    def due(self, now: float, options: Options) -> Due:
        """The deadline fired: say what is due; pings (heartbeat, round-trip sample) go out here.
        Call again until it says NOTHING: each call handles one thing."""
        phase = self.phase
        if phase is _P.TOKEN or phase is _P.OPENING:
            if self.started_at + options.connect_timeout > now:
                return Due.NOTHING
            return Due.TOKEN_TIMEOUT if phase is _P.TOKEN else Due.CONNECT_TIMEOUT
        if phase is _P.AUTHENTICATING:
            return (
                Due.AUTH_TIMEOUT if self.opened_at + options.connect_timeout <= now else Due.NOTHING
            )
        refresh = self.refresh
        if (
            refresh is not None
            and refresh.deadline(options.connect_timeout, options.pong_timeout) <= now
        ):
            return Due.REFRESH
        if self.protocol == 0 and self.opened_at + options.pong_timeout <= now:
            return Due.V1
        if self.phase is _P.AWAITING_PONG:
            if self.pong_deadline > now:
                return Due.NOTHING
            if not self.rx_since_ping:
                return Due.DEAD
            self.fire(_L.ANSWERED)
            self.probing = False
        if self.last_rx + options.ping_interval <= now:  # as ``deadline`` adds it
            self.ping(now, options.pong_timeout)
        elif self.ping_sent_at + RTT_SAMPLE_INTERVAL <= now:
            self.measure(now)  # traffic proves the link alive; this only times it
        return Due.NOTHING

    def pong(self, ping_id: str | None, now: float) -> float | None:
        """A pong: the round trip if it answers the ping being timed."""
        if self.ping_id is None or ping_id != self.ping_id:
            return None
        self.ping_id = None
        return now - self.ping_sent_at

    @property
    def suspected(self) -> bool:
        """A probe went unanswered: the trouble is probably on our side of the network."""
        return self.probing and not self.rx_since_ping


class Sockets:
    """Which socket is the session's: the current attempt's `Link` (at most one is alive; events
    of any other socket are stale), and the last one let go, whose late write failures and
    unsent bytes still count. Socket ids start at 1 and never repeat; so do ping ids."""

    __slots__ = ("_actions", "_last_id", "_pings", "current", "dropped")

    def __init__(self, actions: list[Action]) -> None:
        self._actions = actions  # shared with the session and every link
        self._last_id = 0
        self._pings = itertools.count(1)
        self.current: Link | None = None  # the attempt under way: token, socket or open link
        self.dropped: Link | None = None

    @property
    def socket_id(self) -> int | None:
        """The current socket (pending or open), if any."""
        link = self.current
        return link.id if link is not None and link.phase is not _P.TOKEN else None

    def start(self, now: float) -> Link:
        """A new attempt's link, in phase TOKEN."""
        self._last_id += 1
        self.current = link = Link(self._last_id, now, self._actions, self._pings)
        return link

    def get(self, socket_id: int, event: str) -> Link | None:
        """The current link if ``socket_id`` is its socket; None for a stale socket."""
        link = self.current
        if link is not None and link.id == socket_id and link.phase is not _P.TOKEN:
            return link
        if not 1 <= socket_id <= self._last_id:
            raise LinkError(f"{event} for socket {socket_id}, never opened")
        logger.debug("%s from stale socket %d ignored", event, socket_id)
        return None

    def find(self, socket_id: int) -> Link | None:
        """The current or the last dropped link with that socket."""
        for link in (self.current, self.dropped):
            if link is not None and link.id == socket_id:
                return link
        return None

    def close(self, code: int, reason: str) -> bool:
        """Close the current socket: False (and the attempt dropped) when it has none yet."""
        link = self.current
        assert link is not None, "no attempt to close"
        if link.phase is _P.TOKEN:
            self.current = None
            return False
        self._actions.append(CloseSocket(link.id, code, reason))
        return True

    def drop(self) -> Link:
        """Let the current attempt go; its socket, if it had one, is the dropped one now."""
        link = self.current
        assert link is not None, "no attempt to drop"
        self.current = None
        if link.phase is not _P.TOKEN:
            self.dropped = link
        return link
