"""Authentication (protocol v3): what the connection remembers between attempts, and the token
refresh of one open socket.

Theory of operation
-------------------
The page supplies a token provider; the core never calls it (it reads no clock and does no
I/O): it asks for a token with a ``GetToken`` action and hears the answer through
``Session.token_received``/``token_failed``. A token is asked for once per attempt, before the
socket opens, and never cached; it goes out as the socket's first frame
``{"type": "auth", "token": ...}`` and nothing else is sent until ``auth.ok``.

`Auth` is the session's memory across sockets: whether a provider exists, why the next token
is asked for (``connect``, or ``expired`` after a ``4401``), the ``4401`` streak (two sockets in
a row refused with ``4401`` before ``auth.ok`` stop the client) and whether the client waits
*because of auth* (signed out, or stopped by that streak: ``setAuth`` resumes it).

`Refresh` is one open socket's token refresh, a small machine with its own table: scheduled
between 50 % and 90 % of ``expires_in`` after ``auth.ok``, then fetching a token (at most
``connect_timeout``), then waiting for the server's ``auth.ok`` (at most ``pong_timeout``). A
failure schedules the next try on the backoff ladder, from its first step.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Final, Literal, TypeAlias

from .actions import TokenReason

#: What the page sees of authentication (``health.auth``).
AuthStatus: TypeAlias = Literal["none", "signing_in", "signed_in", "signed_out"]

#: The error text when the provider answers "signed out".
NOT_SIGNED_IN: Final = "not signed in"
#: Close code the server uses for an invalid or expired token.
CLOSE_UNAUTHORIZED: Final = 4401


def auth_frame(token: str) -> str:
    """The frame that presents ``token`` (never logged: see ``actions.SendText.__repr__``)."""
    return json.dumps({"type": "auth", "token": token})


def check_token(token: object) -> str | None:
    """A provider's answer: the token, None for "signed out" (``None``/``""``); raises
    ``TypeError`` (a failed attempt) for anything else."""
    if token is None or token == "":
        return None
    if isinstance(token, str):
        return token
    raise TypeError(
        f"the token provider returned {type(token).__name__}, not a string: return the token, "
        "or null when signed out"
    )


class Auth:
    """The session's authentication memory across sockets (see the module docstring)."""

    __slots__ = ("enabled", "reason", "status", "streak", "waiting")

    def __init__(self, enabled: bool = False) -> None:
        self.enabled = enabled
        self.reason: TokenReason = "connect"  # why the next attempt's token is asked for
        self.streak = False  # the last socket was refused with 4401 before auth.ok
        self.waiting = False  # stopped because of auth: setAuth resumes
        self.status: AuthStatus = "signing_in" if enabled else "none"

    def attempt_started(self) -> None:
        if self.enabled:
            self.status = "signing_in"

    def refused(self, before_auth_ok: bool) -> bool:
        """The server closed with 4401. True: retry at once with a fresh token (``expired``);
        False: the second refusal in a row, stop and wait for ``connect()``/``setAuth``."""
        if before_auth_ok and self.streak:
            self.streak = False
            self.waiting = True
            self.status = "signed_out"
            return False
        self.streak = True
        self.reason = "expired"
        return True

    def socket_ended_otherwise(self) -> None:
        """A socket ended some other way (or reached ``auth.ok``): the streak is over."""
        self.streak = False
        self.reason = "connect"

    def signed_out(self) -> None:
        self.waiting = True
        self.status = "signed_out"

    def signed_in(self) -> None:
        self.streak = False
        self.reason = "connect"
        self.status = "signed_in"


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
