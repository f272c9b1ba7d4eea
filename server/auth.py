"""Authentication (protocol v3): short-lived tokens and the endpoint that issues them.

`POST /auth/token` (same origin as the page and `/ws`) answers `{"token": str, "expires_in":
seconds}`; the page's token provider calls it and sends the token as the first frame on `/ws`
(the handshake itself is in `server.protocol`). Tokens are random, kept in memory only (a
restart forgets them all) and valid for `token_lifetime` seconds from issue. The server never
logs a token, only `token_digest(token)`.

`TokenStore` does no I/O and reads no clock: callers pass `now` (time.monotonic()).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from .connections import Connections
from .faults import Faults
from .levers import lever

log = logging.getLogger("server.auth")

#: Seconds a token stays valid unless the server is told otherwise (`--token-lifetime`).
DEFAULT_TOKEN_LIFETIME: Final = 60.0
#: Where the token provider of the demo page asks for a token.
TOKEN_PATH: Final = "/auth/token"
#: Close reasons of the v3 rules (all with code 4401).
AUTH_REQUIRED: Final = "auth required"
INVALID_TOKEN: Final = "invalid token"
TOKEN_EXPIRED: Final = "token expired"
#: Tokens listed by `tokens_issued()` (older ones are forgotten from that list only).
_ISSUED_KEPT: Final = 10_000


def token_digest(token: str) -> str:
    """The only form of a token the server logs: 8 hex digits of its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class TokenCheck:
    """A token's verdict: valid until `expires_at`, or the 4401 close reason saying why not."""

    expires_at: float | None
    problem: str | None  # None, INVALID_TOKEN or TOKEN_EXPIRED


class TokenStore:
    """The tokens issued since the last start or `forget()`, with their expiry times."""

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}
        self.issued: deque[str] = deque(maxlen=_ISSUED_KEPT)

    def issue(self, now: float, lifetime: float) -> str:
        self._prune(now, lifetime)
        token = secrets.token_urlsafe(24)
        self._expiry[token] = now + lifetime
        self.issued.append(token)
        return token

    def check(self, token: object, now: float) -> TokenCheck:
        expires_at = self._expiry.get(token) if isinstance(token, str) else None
        if expires_at is None:
            return TokenCheck(None, INVALID_TOKEN)
        if now >= expires_at:
            return TokenCheck(None, TOKEN_EXPIRED)
        return TokenCheck(expires_at, None)

    def forget(self) -> int:
        """Forget every token (as a restart does); returns how many were still valid."""
        now = time.monotonic()
        valid = sum(1 for t in self._expiry.values() if t > now)
        self._expiry.clear()
        self.issued.clear()
        return valid

    def _prune(self, now: float, lifetime: float) -> None:
        # Expired tokens are kept a while so a late one is told "token expired", not "invalid".
        horizon = now - max(lifetime, 3600.0)
        for token in [t for t, expires in self._expiry.items() if expires < horizon]:
            del self._expiry[token]


class Auth:
    """Whether the server asks for authentication, its token lifetime, and the token endpoint."""

    def __init__(
        self,
        conns: Connections,
        faults: Faults,
        *,
        enabled: bool = False,
        token_lifetime: float = DEFAULT_TOKEN_LIFETIME,
        hello_before_auth: bool = False,
    ) -> None:
        _check_lifetime(token_lifetime)
        self._conns = conns
        self._faults = faults
        self._initial = (enabled, token_lifetime, hello_before_auth)
        self.store = TokenStore()
        self.reset()

    def reset(self) -> None:
        """The constructor's settings again; every token forgotten."""
        self.enabled, self.token_lifetime, self.hello_before_auth = self._initial
        self.store.forget()

    def modes(self) -> dict[str, object]:
        return {
            "auth": self.enabled,
            "token_lifetime": self.token_lifetime,
            "hello_before_auth": self.hello_before_auth,
        }

    async def handle_token(self, request: web.Request) -> web.Response:
        """`POST /auth/token`: a new token and its lifetime, unless a test lever says otherwise."""
        headers = {"Cache-Control": "no-store"}
        if not self.enabled:
            return web.json_response(
                {"error": "authentication is off on this server; start it with --auth"},
                status=404,
                headers=headers,
            )
        fault = self._faults.take_token_fault()
        if fault == "fail":
            self._conns.record_token_request("failed")
            return web.json_response(
                {"error": "token endpoint failing (test lever); retry later"},
                status=503,
                headers=headers,
            )
        if fault == "hang":
            self._conns.record_token_request("hung")
            if not await self._faults.token_released():
                return web.json_response(
                    {"error": "the server was reset while this request hung; ask again"},
                    status=503,
                    headers=headers,
                )
        else:
            self._conns.record_token_request("issued")
        lifetime = self.token_lifetime
        token = self.store.issue(time.monotonic(), lifetime)
        log.info("issued token %s for %g s", token_digest(token), lifetime)
        return web.json_response({"token": token, "expires_in": lifetime}, headers=headers)

    # ------------------------------------------------------------------ levers

    @lever
    def set_auth(self, on: bool) -> None:
        """Ask for authentication (v3) on connections opened from now on (open ones keep
        theirs); the token endpoint answers 404 while off."""
        self.enabled = on

    @lever
    def set_token_lifetime(self, seconds: float) -> None:
        """Tokens issued from now on are valid for `seconds` (fractions allowed)."""
        _check_lifetime(seconds)
        self.token_lifetime = seconds

    @lever
    def set_hello_before_auth(self, on: bool) -> None:
        """v2 `hello` right after the upgrade (True) or after `auth.ok` (False, the default),
        for connections opened from now on."""
        self.hello_before_auth = on

    @lever
    def issue_token(self, lifetime: float | None = None) -> str:
        """A valid token, as the endpoint would issue (`lifetime` defaults to the server's)."""
        lifetime = self.token_lifetime if lifetime is None else lifetime
        _check_lifetime(lifetime)
        return self.store.issue(time.monotonic(), lifetime)

    @lever
    def forget_tokens(self) -> int:
        """Forget every token, as a restart would: auth frames (first or refresh) carrying one
        are refused with 4401 "invalid token". Open connections stay open until their token's
        time runs out. Returns how many tokens were still valid."""
        return self.store.forget()

    @lever
    def tokens_issued(self) -> list[str]:
        """Every token issued since the last reset or `forget_tokens()`, oldest first."""
        return list(self.store.issued)


def _check_lifetime(seconds: float) -> None:
    if not seconds > 0:
        raise ValueError(f"a token lifetime must be a positive number of seconds, not {seconds!r}")
