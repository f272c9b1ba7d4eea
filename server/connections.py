"""Live connections and what the server records about them (the test-facing snapshots).

A `Connection` holds everything about one socket that lives and dies with it: its outbox and
writer, subscriptions, authentication, and the record of frames in and out. `Connections` keeps
every connection since the last reset plus the server-wide records (upgrade attempts, acks
written, token requests) and turns them into the frozen `Snapshot` tests read. Everything here
runs on the server's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .records import (
    Attempt,
    AttemptOutcome,
    ConnectionInfo,
    Frame,
    SentAck,
    Snapshot,
    TokenOutcome,
    TokenRequest,
)


def iso_now() -> str:
    """Current time as ISO-8601 UTC with milliseconds and a `Z` suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps(msg: dict[str, Any]) -> str:
    return json.dumps(msg, separators=(",", ":"))


def abort(transport: asyncio.Transport) -> None:
    """Close the TCP connection with a reset, never a close frame."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            # SO_LINGER 0 turns close() into an RST, the harshest "network died" a peer can see.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


@dataclass(eq=False)
class Connection:
    """Live, mutable state of one socket (only touched on the server loop)."""

    id: int
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    opened_at: float
    opened_wall: str
    remote: str | None
    query: str
    v2: bool  # fixed at accept time: set_v1() applies to new connections
    auth_required: bool  # likewise for set_auth()
    hello_before_auth: bool  # and set_hello_before_auth()
    subscriptions: dict[str, None] = field(default_factory=dict)  # insertion-ordered set
    frames: list[Frame] = field(default_factory=list)
    closed_at: float | None = None
    close_code: int | None = None
    close_reason: str | None = None
    closed_by: str | None = None
    sent: int = 0
    sent_bytes: int = 0
    silent: bool = False
    greeted: bool = False  # hello sent (held back while silent, or until auth.ok)
    authenticated: bool = False  # auth.ok sent (always False when auth is not required)
    auth_pending: bool = False  # an auth frame is being answered (auth.ok may be delayed)
    auth_expires_at: float | None = None  # time.monotonic() when its token runs out
    auth_expiry: asyncio.TimerHandle | None = None
    tokens: list[str] = field(default_factory=list)  # every token received, in order
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    outbox: deque[str] = field(default_factory=deque)
    outbox_ready: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def admitted(self) -> bool:
        """May take part in the protocol: authenticated, or no authentication asked for."""
        return self.authenticated or not self.auth_required

    def mark_closed(self, by: str, code: int | None, reason: str | None = None) -> None:
        # First writer wins: drop()/close() know better than the handler's generic cleanup.
        if self.closed_at is not None:
            return
        self.closed_at = time.monotonic()
        self.closed_by = by
        self.close_code = code
        self.close_reason = reason
        if self.auth_expiry is not None:
            self.auth_expiry.cancel()

    def post_text(self, text: str) -> bool:
        """Queue `text` for the writer; dropped (False) while silent or closed, as a stalled
        server would."""
        if self.silent or not self.is_open:
            return False
        self.outbox.append(text)
        self.outbox_ready.set()
        return True

    def post(self, msg: dict[str, Any]) -> bool:
        return self.post_text(dumps(msg))

    def count_sent(self, frames: int, size: int) -> None:
        self.sent += frames
        self.sent_bytes += size

    async def write_loop(self) -> None:
        """The one writer of protocol frames: they reach the socket in the order posted."""
        while True:
            await self.outbox_ready.wait()
            self.outbox_ready.clear()
            while self.outbox:
                text = self.outbox.popleft()
                if self.silent or not self.is_open or self.ws.closed:
                    continue
                try:
                    await self.ws.send_str(text)
                except (ConnectionError, RuntimeError):
                    # The peer vanished between the check and the write; the handler records
                    # the close.
                    self.outbox.clear()
                    return
                self.count_sent(1, len(text.encode()))

    async def close(self, by: str, code: int, reason: str) -> None:
        """Record the close, then send the close frame (a vanished peer is not an error)."""
        self.mark_closed(by, code, reason)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(code=code, message=reason.encode())

    def info(self) -> ConnectionInfo:
        return ConnectionInfo(
            id=self.id,
            opened_at=self.opened_at,
            opened_wall=self.opened_wall,
            closed_at=self.closed_at,
            close_code=self.close_code,
            close_reason=self.close_reason,
            closed_by=self.closed_by,
            remote=self.remote,
            query=self.query,
            subscriptions=tuple(self.subscriptions),
            frames=tuple(self.frames),
            sent=self.sent,
            silent=self.silent,
            protocol=2 if self.v2 else 1,
            sent_bytes=self.sent_bytes,
            auth_required=self.auth_required,
            authenticated=self.authenticated,
            auth_expires_at=self.auth_expires_at,
            tokens=tuple(self.tokens),
        )


class Connections:
    """Every connection since the last reset, and the server-wide records."""

    def __init__(self) -> None:
        self.all: list[Connection] = []
        self.attempts: list[Attempt] = []
        self.acks_sent: list[SentAck] = []
        self.token_requests: list[TokenRequest] = []
        self._next_id = 1

    def add(self, **fields: Any) -> Connection:
        conn = Connection(id=self._next_id, **fields)
        self._next_id += 1
        self.all.append(conn)
        return conn

    def open(self) -> list[Connection]:
        return [c for c in self.all if c.is_open]

    def targets(self, connection: int | None) -> list[Connection]:
        """Open, non-silent connections addressed by a control (None = all)."""
        return [c for c in self.open() if not c.silent and connection in (None, c.id)]

    def record_attempt(
        self, t: float, outcome: AttemptOutcome, conn_id: int | None, remote: str | None
    ) -> None:
        self.attempts.append(Attempt(t=t, outcome=outcome, connection_id=conn_id, remote=remote))

    def record_token_request(self, outcome: TokenOutcome) -> None:
        self.token_requests.append(TokenRequest(t=time.monotonic(), outcome=outcome))

    def snapshot(self, modes: dict[str, Any]) -> Snapshot:
        return Snapshot(
            now=time.monotonic(),
            connections=tuple(c.info() for c in self.all),
            attempts=tuple(self.attempts),
            modes=modes,
            token_requests=tuple(self.token_requests),
        )

    def forget(self) -> None:
        """Abort every open connection and forget every record."""
        for c in self.open():
            c.mark_closed("reset", 1006)
            if c.transport is not None:
                abort(c.transport)
        self.all.clear()
        self.attempts.clear()
        self.acks_sent.clear()
        self.token_requests.clear()
