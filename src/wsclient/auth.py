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
import logging
import math
from collections.abc import Callable
from typing import Final, Literal, TypeAlias

from .actions import Action, GetToken, OpenSocket, TokenReason
from .link import Due, Link, LinkEvent, Phase, Refresh, RefreshEvent, RefreshPhase
from .options import Options

logger = logging.getLogger("wsclient")

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

    def restart(self) -> None:
        """``connect()`` from a stop: no longer waiting, no streak."""
        self.waiting = False
        self.socket_ended_otherwise()

    def set_enabled(self, enabled: bool) -> bool:
        """A provider was set or removed; True when the client waits because of auth (a new
        attempt should start at once)."""
        self.enabled = enabled
        if not enabled:
            self.status = "none"
        return self.waiting

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


#: What a token answer (or a refresh deadline) means for the session.
Outcome: TypeAlias = Literal["none", "signed_out", "failed"]


class Authenticator:
    """Asks for tokens, presents them, and keeps each open socket's token fresh.

    It emits ``GetToken``, ``OpenSocket`` and the auth frames itself (on the actions list it
    shares with the session) and tells the session only what changes the connection: a
    connect attempt that got no token (``failed``, the text in ``error``) or a provider that
    says signed out (``signed_out``).
    """

    def __init__(
        self,
        enabled: bool,
        actions: list[Action],
        random: Callable[[], float],
        retry_delay: Callable[[int], float],
    ) -> None:
        self.memory = Auth(enabled)
        self._actions = actions
        self._random = random
        self._retry_delay = retry_delay  # the backoff ladder from its first step
        self._requests = 0
        self.error: str | None = None  # the last failure's text (never the token)

    @property
    def enabled(self) -> bool:
        return self.memory.enabled

    def begin(self, link: Link, attempt: int) -> None:
        """A new attempt: ask for a token (v3), or open the socket at once."""
        if not self.memory.enabled:
            link.fire(LinkEvent.TOKEN)  # none needed
            self._actions.append(OpenSocket(link.id))
            return
        self._requests += 1
        link.token_request = self._requests
        self.memory.attempt_started()
        self._actions.append(GetToken(self._requests, self.memory.reason, attempt))

    def answered(self, link: Link | None, request_id: int, token: object, now: float) -> Outcome:
        """The provider answered request ``request_id``."""
        if link is None:
            return "none"
        try:
            checked = check_token(token)
        except TypeError as exc:
            return self.failed(link, request_id, str(exc), now)
        if link.phase is Phase.TOKEN and link.token_request == request_id:
            if checked is None:
                return "signed_out"
            link.token = checked
            link.fire(LinkEvent.TOKEN)
            link.started_at = now
            self._actions.append(OpenSocket(link.id))
        elif _refreshing(link, request_id):
            if checked is None:
                return "signed_out"
            link.send(auth_frame(checked))
            _refresh(link).fire(RefreshEvent.TOKEN, now)
        return "none"

    def failed(self, link: Link | None, request_id: int, error: str, now: float) -> Outcome:
        """The provider threw, rejected, answered a non-string or did not answer in time."""
        if link is None:
            return "none"
        if link.phase is Phase.TOKEN and link.token_request == request_id:
            self.error = error
            return "failed"
        if _refreshing(link, request_id):
            self._refresh_failed(link, error, now)
        return "none"

    def closed(self, code: int, before_auth_ok: bool) -> Literal["retry", "refused"] | None:
        """The current socket closed with ``code``. After a ``4401`` with a provider set:
        "retry" at once with a fresh token, or "refused" (the second in a row before
        ``auth.ok``). None for any other close (the ``4401`` streak is over)."""
        memory = self.memory
        if code != CLOSE_UNAUTHORIZED or not memory.enabled:
            memory.socket_ended_otherwise()
            return None
        if memory.refused(before_auth_ok):
            logger.info("the server refused the token (4401): retrying with a fresh one")
            return "retry"
        return "refused"

    def opened(self, link: Link, now: float) -> bool:
        """The socket opened: present the token. False when there is none (usable at once)."""
        if link.token is None:
            link.fire(LinkEvent.OPENED)
            return False
        token, link.token = link.token, None
        link.fire(LinkEvent.OPENED_AUTH)
        link.opened_at = now
        link.send(auth_frame(token))
        return True

    def auth_ok(self, link: Link, expires_in: float | None, now: float) -> bool:
        """``auth.ok``: True when it makes the link usable (the answer to the first frame)."""
        refresh = link.refresh
        if link.phase is Phase.AUTHENTICATING:
            link.fire(LinkEvent.AUTH_OK)
            self.memory.signed_in()
            self._schedule(link, expires_in, now)
            return True
        if refresh is not None and refresh.phase is RefreshPhase.SENT:
            refresh.fire(RefreshEvent.AUTH_OK, now)
            refresh.failures = 0
            self._schedule(link, expires_in, now)
        return False

    def due(self, link: Link, due: Due, options: Options, now: float) -> Outcome:
        """``link``'s token deadline fired: the token for its socket is late (a failed attempt),
        or its refresh is due."""
        if due is Due.TOKEN_TIMEOUT:
            ms = round(options.connect_timeout * 1000)
            self.error = f"the token provider did not answer within {ms} ms"
            return "failed"
        self.refresh_due(link, options.connect_timeout, options.pong_timeout, now)
        return "none"

    def refresh_due(
        self, link: Link, connect_timeout: float, answer_timeout: float, now: float
    ) -> None:
        """The link's refresh deadline fired: start a refresh, or fail the one under way."""
        refresh = _refresh(link)
        if refresh.phase is RefreshPhase.SCHEDULED:
            self._requests += 1
            refresh.request_id = self._requests
            refresh.fire(RefreshEvent.DUE, now)
            self._actions.append(GetToken(self._requests, "refresh", 0))
        elif refresh.phase is RefreshPhase.FETCHING:
            ms = round(connect_timeout * 1000)
            self._refresh_failed(link, f"the token provider did not answer within {ms} ms", now)
        else:
            ms = round(answer_timeout * 1000)
            self._refresh_failed(link, f"no auth.ok within {ms} ms of a token refresh", now)

    def _schedule(self, link: Link, expires_in: float | None, now: float) -> None:
        """Between 50 % and 90 % of ``expires_in`` from now (no refresh without one)."""
        if expires_in is None or not 0 < expires_in < math.inf:
            link.refresh = None
            return
        at = now + expires_in * (0.5 + 0.4 * self._random())
        if link.refresh is None:
            link.refresh = Refresh(at)
        else:
            link.refresh.at = at

    def _refresh_failed(self, link: Link, error: str, now: float) -> None:
        """Try again after a delay from the start of the backoff ladder, then further up."""
        refresh = _refresh(link)
        refresh.fire(RefreshEvent.FAILED, now)
        refresh.failures += 1
        refresh.at = now + self._retry_delay(refresh.failures)
        self.error = error
        logger.warning("token refresh failed (%s): retrying", error)


def _refresh(link: Link) -> Refresh:
    assert link.refresh is not None
    return link.refresh


def _refreshing(link: Link, request_id: int) -> bool:
    refresh = link.refresh
    return (
        refresh is not None
        and refresh.phase is RefreshPhase.FETCHING
        and refresh.request_id == request_id
    )
