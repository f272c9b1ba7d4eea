"""The connection's lifecycle as the page sees it: the five states (a table), the retry ladder,
the last close and error, what the browser says (offline, hidden), the round trip, and the
`Health` snapshot of it all. ``core.Session`` owns one and tells it what happened; it decides
nothing about sockets.

States
~~~~~~
===============  ===========================================================================
DISCONNECTED     Initial state, and after ``disconnect()``. No socket, no timer.
CONNECTING       The first attempt after ``connect()``: token (v3), socket, ``auth.ok``.
CONNECTED        The link is usable (authenticated, when a token provider is set).
RECONNECTING     Waiting for retry ``attempt``, or that attempt is under way.
ERROR            Refused for good (close 1008 or 4400-4499, a second 4401 in a row) or signed
                 out; the reason is kept. No retries until ``connect()`` (or ``set_auth`` when
                 the wait is because of auth).
===============  ===========================================================================

The ladder (``backoff.Ladder``): a failure on our side starts it at ``backoff_initial``; the far
side dropping a connection that had been up for ``min_uptime`` starts it at
``backoff_after_drop`` (the herd protection); a shorter connection does not reset it. Offline
is only recorded and shown: ``navigator.onLine`` lies on some systems, so retries go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import Enum
from typing import Final, Literal, TypeAlias

from .auth import Authenticator, AuthStatus
from .backoff import Ladder
from .link import Link, RefreshPhase
from .options import Options
from .outbound import Outbox
from .records import Record, record

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


class Event(Enum):
    CONNECT = "connect"  # connect() while down
    RETRY = "retry"  # the retry timer fired, the browser came online, or connect() while waiting
    OPENED = "socket_opened"
    LOST = "connection lost"  # close, error or timeout that is worth retrying
    REJECTED = "connection rejected"  # close 1008 / 4400-4499
    DISCONNECT = "disconnect"


_S = State
_E = Event
#: The only place the state changes: state -> {event: next state}.
_TRANSITIONS: Final[dict[State, dict[Event, State]]] = {
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


class Lifecycle:
    """The page-visible side of the connection; ``state`` changes only through `fire`."""

    def __init__(self, options: Options, random: Callable[[], float]) -> None:
        self.state = State.DISCONNECTED
        self.min_uptime = options.min_uptime
        self.ladder = Ladder(
            random,
            initial=options.backoff_initial,
            factor=options.backoff_factor,
            cap=options.backoff_max,
            after_drop=options.backoff_after_drop,
        )
        self.last_close_code: int | None = None
        self.last_close_reason = ""
        self.error: str | None = None
        self.rtt: float | None = None
        self.rtt_samples = 0
        self.offline = False
        self.hidden = False

    def fire(self, event: Event) -> None:
        target = _TRANSITIONS[self.state].get(event)
        if target is None:
            raise InvalidTransition(self.state, event.value)
        if target is not self.state:
            logger.info("connection %s -> %s (%s)", self.state.value, target.value, event.value)
        self.state = target

    def start(self) -> bool:
        """``connect()``: from DISCONNECTED or ERROR, a fresh start (True); else nothing."""
        if self.state not in (State.DISCONNECTED, State.ERROR):
            return False
        self.fire(Event.CONNECT)
        self.error = None
        self.ladder.reset()
        return True

    def stop(self) -> bool:
        """``disconnect()``: False when already disconnected."""
        if self.state is State.DISCONNECTED:
            return False
        self.fire(Event.DISCONNECT)
        self.ladder.reset()
        return True

    def attempt_starts(self) -> int:
        """An attempt starts now: its number (0 for the first after ``connect()``)."""
        self.ladder.at = None
        return self.ladder.attempt if self.state is State.RECONNECTING else 0

    @property
    def retry_at(self) -> float | None:
        """When the next attempt is due, while one is scheduled."""
        return self.ladder.at if self.state is State.RECONNECTING else None

    def closed(self, code: int, reason: str) -> None:
        self.last_close_code = code
        self.last_close_reason = reason

    def refused(self, error: str, code: int | None = None) -> None:
        """Refused for good by a close with ``code``, or signed out (no code): ERROR, with
        ``error`` kept; no retries."""
        self.fire(Event.REJECTED)
        self.error = error
        self.ladder.reset()
        if code is None:
            logger.warning("the token provider says signed out: waiting for setAuth or connect")
        else:
            logger.warning("server refused the connection (%d %s): not retrying", code, error)

    def failed(self, attempt: Link, now: float, *, far_side: bool) -> None:
        """A failed attempt or a lost connection: RECONNECTING, with the next attempt number."""
        established = attempt.usable and now - attempt.opened_at >= self.min_uptime
        suspected_here = self.offline or attempt.suspected
        self.fire(Event.LOST)
        self.ladder.failed(established=established, dropped_by_peer=far_side and not suspected_here)

    def lost(self, attempt: Link, now: float, *, far_side: bool) -> None:
        """`failed`, then the next attempt is scheduled on the ladder."""
        self.failed(attempt, now, far_side=far_side)
        delay = self.ladder.schedule(now)
        logger.info("reconnect attempt %d in %.3f s", self.ladder.attempt, delay)

    def measured(self, rtt: float | None) -> None:
        if rtt is not None:
            self.rtt = rtt
            self.rtt_samples += 1

    def shown(self) -> bool:
        """The page is visible: whether it had been hidden (then the network is worth a try)."""
        was_hidden, self.hidden = self.hidden, False
        return was_hidden

    def health(
        self, link: Link | None, outbox: Outbox, duplicates: int, auth: Authenticator
    ) -> Health:
        """The snapshot the page shows, with the current ``link``, the outbox and auth."""
        state = self.state
        refresh = link.refresh if link is not None else None
        return Health(
            state=state,
            attempt=self.ladder.attempt if state is State.RECONNECTING else 0,
            next_retry_at=self.retry_at if link is None else None,
            last_close_code=self.last_close_code,
            last_close_reason=self.last_close_reason,
            error=self.error,
            rtt=self.rtt,
            queue_depth=len(outbox),
            queue_overflow=outbox.overflow,
            offline=self.offline,
            protocol=link.protocol if link is not None and link.usable else 0,
            duplicates=duplicates,
            rtt_samples=self.rtt_samples,
            last_error=auth.error,
            auth=auth.memory.status,
            auth_refresh_at=(
                refresh.at
                if refresh is not None and refresh.phase is RefreshPhase.SCHEDULED
                else None
            ),
        )
