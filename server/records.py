"""Immutable snapshots of what the server saw, handed to tests.

The live state is mutated only on the server's event loop; tests (often on another thread) only
ever get these frozen copies, so they can inspect them without locks.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Literal

FrameKind = Literal["text", "binary"]
AttemptOutcome = Literal["accepted", "refused", "flapped"]
#: What the token endpoint did with a request: a token, an error (HTTP 503), or no answer yet.
TokenOutcome = Literal["issued", "failed", "hung"]


@dataclass(frozen=True)
class Frame:
    """One frame received from the client."""

    t: float  # time.monotonic() on arrival (system-wide on Linux, comparable across processes)
    kind: FrameKind
    text: str  # the text itself, or "<binary N bytes>"
    size: int  # payload bytes

    def json(self) -> Any:
        """The frame parsed as JSON, or None if it is binary or not valid JSON."""
        if self.kind != "text":
            return None
        try:
            return json.loads(self.text)
        except ValueError:
            return None


@dataclass(frozen=True)
class ConnectionInfo:
    """One accepted WebSocket connection, in order of opening."""

    id: int
    opened_at: float  # time.monotonic()
    opened_wall: str  # ISO-8601 UTC, for humans
    closed_at: float | None
    close_code: int | None
    close_reason: str | None
    # "client" (client sent a close frame or went away), "server" (close control),
    # "drop", "flap", "reset" or "shutdown"; None while open.
    closed_by: str | None
    remote: str | None
    query: str
    subscriptions: tuple[str, ...]  # current set, in order of subscription
    frames: tuple[Frame, ...] = field(default_factory=tuple)
    sent: int = 0  # frames the server wrote to this connection
    silent: bool = False
    protocol: int = 2  # 1 when accepted in v1 mode
    sent_bytes: int = 0  # UTF-8 bytes of the frames the server wrote (payloads, no headers)
    auth_required: bool = False  # accepted while the server asked for authentication (v3)
    authenticated: bool = False  # auth.ok sent
    auth_expires_at: float | None = None  # time.monotonic() when its current token runs out
    tokens: tuple[str, ...] = ()  # the token of every auth frame received, in order

    @property
    def open(self) -> bool:
        return self.closed_at is None

    @property
    def auth_frames(self) -> int:
        """Auth frames received on this connection (the first one plus refreshes)."""
        return len(self.tokens)

    def messages(self) -> list[dict[str, Any]]:
        """Received text frames that are JSON objects, parsed, in order."""
        out: list[dict[str, Any]] = []
        for frame in self.frames:
            value = frame.json()
            if isinstance(value, dict):
                out.append(value)
        return out

    def messages_of_type(self, type_: str) -> list[dict[str, Any]]:
        return [m for m in self.messages() if m.get("type") == type_]


@dataclass(frozen=True)
class Attempt:
    """One upgrade request to /ws and what the server did with it."""

    t: float  # time.monotonic() when the request arrived
    outcome: AttemptOutcome
    connection_id: int | None  # None for refused attempts
    remote: str | None


@dataclass(frozen=True)
class TokenRequest:
    """One request to the token endpoint (`POST /auth/token`)."""

    t: float  # time.monotonic() when it arrived
    outcome: TokenOutcome


@dataclass(frozen=True)
class Snapshot:
    """Everything recorded since the last reset()."""

    now: float  # time.monotonic() when the snapshot was taken
    connections: tuple[ConnectionInfo, ...]
    attempts: tuple[Attempt, ...]
    modes: dict[str, Any]
    token_requests: tuple[TokenRequest, ...] = ()

    @property
    def open_connections(self) -> list[ConnectionInfo]:
        return [c for c in self.connections if c.open]

    @property
    def sockets_opened(self) -> int:
        """Connections accepted since the last reset (flapped ones included)."""
        return len(self.connections)

    @property
    def sockets_open(self) -> int:
        """Connections open right now."""
        return len(self.open_connections)

    @property
    def frames_sent(self) -> int:
        """Frames the server wrote to all connections."""
        return sum(c.sent for c in self.connections)

    @property
    def bytes_sent(self) -> int:
        """Payload bytes the server wrote to all connections."""
        return sum(c.sent_bytes for c in self.connections)

    @property
    def auth_frames(self) -> int:
        """Auth frames received on all connections."""
        return sum(c.auth_frames for c in self.connections)

    @property
    def tokens_received(self) -> list[str]:
        """The token of every auth frame received, in order of connection, then arrival."""
        return [t for c in self.connections for t in c.tokens]

    def attempt_times(self, outcome: AttemptOutcome | None = None) -> list[float]:
        return [a.t for a in self.attempts if outcome is None or a.outcome == outcome]

    def attempt_gaps(self) -> list[float]:
        """Seconds between consecutive connection attempts (any outcome), as seen by the server."""
        times = self.attempt_times()
        return [b - a for a, b in itertools.pairwise(times)]


@dataclass(frozen=True)
class Applied:
    """A client request the server applied (accepted), once per id."""

    id: str
    message: dict[str, Any]
    t: float  # the server's stream clock (time.monotonic() unless a clock was injected)


@dataclass(frozen=True)
class SentAck:
    """An ack written to a connection."""

    t: float  # the server's stream clock
    connection_id: int
    ack: dict[str, Any]
    repeat: bool  # answers an id that was answered before (not applied again)
