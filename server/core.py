"""The WebSocket endpoint and its fault-injection controls.

`MockServer` owns all live state. Every method here must run on the server's event loop;
`server.thread.ServerThread` is the thread-safe front. The protocol (docs/protocol.md) is v2 by
default: `hello` first, numbered project streams (`server.streams`), acknowledged requests
(`server.acks`); `v1=True` speaks v1 exactly (none of those frames).

Frames the protocol produces go through one outbox per connection, drained by one writer task, so
they reach the socket in the order they were made (a replay is never overtaken by a live event).
The raw controls (send, burst, flood) bypass it on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import WSMsgType, web

from .acks import AckLedger, AckPolicy, request_id
from .demo import DemoProject, iso_now
from .records import Applied, Attempt, AttemptOutcome, ConnectionInfo, Frame, SentAck, Snapshot
from .streams import (
    DEFAULT_HISTORY_AGE,
    DEFAULT_HISTORY_SIZE,
    HistoryLimits,
    Streams,
)

# Frames from the client may be large (the client's own tests send big payloads); 64 MiB is far
# above anything legitimate while still bounding memory.
MAX_CLIENT_MSG = 64 * 1024 * 1024
# Raw burst writes stop adding to the socket buffer above this and wait for it to drain, so a
# flood to a slow reader cannot eat all memory.
_HIGH_WATER = 4 * 1024 * 1024
_LOW_WATER = 1 * 1024 * 1024
_CHUNK = 256 * 1024

RefuseMode = Literal["503", "abort"]

#: The version announced in `hello`.
PROTOCOL_VERSION = 2
#: Demo mode: one event per subscribed project every 0.2-0.45 s, i.e. ~3/s.
_DEMO_PERIOD = (0.2, 0.45)


def encode_frame(payload: str | bytes) -> bytes:
    """Encode one unmasked, unfragmented server->client frame (RFC 6455 section 5.2).

    Used by burst(): pre-encoding once and writing many copies straight to the transport is
    an order of magnitude faster than one send_str() coroutine per frame.
    """
    if isinstance(payload, str):
        data, opcode = payload.encode(), 0x1
    else:
        data, opcode = payload, 0x2
    n = len(data)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + data


def generated_text(size: int, type_: str = "test.large") -> str:
    """A JSON message of exactly `size` bytes (ASCII), or plain filler if `size` is too small."""
    skeleton = json.dumps({"type": type_, "timestamp": iso_now(), "padding": ""})
    if size < len(skeleton):
        return "x" * size
    return skeleton[:-2] + "x" * (size - len(skeleton)) + '"}'


def generated_binary(size: int) -> bytes:
    pattern = bytes(range(256))
    return (pattern * (size // 256 + 1))[:size]


@dataclass(eq=False)
class _Conn:
    """Live, mutable state of one connection (only touched on the server loop)."""

    id: int
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    opened_at: float
    opened_wall: str
    remote: str | None
    query: str
    v2: bool  # fixed at accept time: set_v1() applies to new connections
    subscriptions: dict[str, None] = field(default_factory=dict)  # insertion-ordered set
    frames: list[Frame] = field(default_factory=list)
    closed_at: float | None = None
    close_code: int | None = None
    close_reason: str | None = None
    closed_by: str | None = None
    sent: int = 0
    silent: bool = False
    greeted: bool = False  # hello sent (held back while the connection is silent)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    outbox: deque[str] = field(default_factory=deque)
    outbox_ready: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def mark_closed(self, by: str, code: int | None, reason: str | None = None) -> None:
        # First writer wins: drop()/close() know better than the handler's generic cleanup.
        if self.closed_at is not None:
            return
        self.closed_at = time.monotonic()
        self.closed_by = by
        self.close_code = code
        self.close_reason = reason

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
        )


class MockServer:
    """Mock backend speaking the wire protocol, with controls for fault injection.

    All coroutine methods and plain methods must be called on the loop that serves the app.
    """

    def __init__(
        self,
        *,
        demo: bool = False,
        heartbeat: float = 3.0,
        seed: int | None = None,
        v1: bool = False,
        history_size: int = DEFAULT_HISTORY_SIZE,
        history_age: float = DEFAULT_HISTORY_AGE,
        dedup_window: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        """`clock` times the stream history and the ack dedup window (inject one in tests).

        `dedup_window` defaults to `history_age` and may not be shorter: a request retried
        after the longest outage the history covers must still be recognised.
        """
        window = history_age if dedup_window is None else dedup_window
        if window < history_age:
            raise ValueError("dedup_window must cover at least history_age")
        self._initial_v1 = v1
        self.v1 = v1
        self._clock = clock
        self.streams = Streams(HistoryLimits(history_size, history_age))
        self.acks = AckLedger(window)
        self._ack_policy: AckPolicy | None = None
        self._acks_sent: list[SentAck] = []
        self._demo_projects: dict[str, DemoProject] = {}
        self._demo_task: asyncio.Task[None] | None = None
        self._initial_demo = demo
        self._initial_heartbeat = heartbeat
        self.demo_enabled = demo
        self.heartbeat_interval = heartbeat
        self._rng = random.Random(seed)
        self._conns: list[_Conn] = []
        self._attempts: list[Attempt] = []
        self._next_id = 1
        self._silent = False
        self._refuse_until: float | None = None  # monotonic deadline; inf = until turned off
        self._refuse_left: int | None = None  # refuse only this many more attempts
        self._refuse_mode: RefuseMode = "503"
        self._flap = False
        self._flap_left: int | None = None
        self._flap_code: int | None = 1001
        self._flap_reason = "flap"
        self._hb_changed: asyncio.Event | None = None

    # ------------------------------------------------------------------ plumbing

    def _hb_event(self) -> asyncio.Event:
        # Created lazily so the object can be constructed off-loop (e.g. by ServerThread).
        if self._hb_changed is None:
            self._hb_changed = asyncio.Event()
        return self._hb_changed

    def _open(self) -> list[_Conn]:
        return [c for c in self._conns if c.is_open]

    def _targets(self, connection: int | None) -> list[_Conn]:
        """Open, non-silent connections addressed by a control (None = all)."""
        return [
            c for c in self._open() if not c.silent and (connection is None or c.id == connection)
        ]

    def modes(self) -> dict[str, Any]:
        now = time.monotonic()
        refusing = self._refusing(now)
        return {
            "protocol": 1 if self.v1 else PROTOCOL_VERSION,
            "demo": self.demo_enabled,
            "heartbeat": self.heartbeat_interval,
            "silent": self._silent,
            "refusing": refusing,
            "refuse_mode": self._refuse_mode,
            # None when not refusing or refusing until turned off (inf is not valid JSON).
            "refuse_seconds_left": (
                max(0.0, self._refuse_until - now)
                if refusing
                and self._refuse_until is not None
                and self._refuse_until != float("inf")
                else None
            ),
            "refuse_left": self._refuse_left,
            "flap": self._flap,
            "flap_left": self._flap_left,
        }

    def snapshot(self) -> Snapshot:
        return Snapshot(
            now=time.monotonic(),
            connections=tuple(c.info() for c in self._conns),
            attempts=tuple(self._attempts),
            modes=self.modes(),
        )

    def _record_attempt(
        self, t: float, outcome: AttemptOutcome, conn_id: int | None, remote: str | None
    ) -> None:
        self._attempts.append(Attempt(t=t, outcome=outcome, connection_id=conn_id, remote=remote))

    def _refusing(self, now: float) -> bool:
        if self._refuse_until is None or now >= self._refuse_until:
            return False
        return self._refuse_left is None or self._refuse_left > 0

    def _post_text(self, conn: _Conn, text: str) -> bool:
        """Queue `text` for `conn`; dropped (False) while silent or closed, as a stalled server."""
        if conn.silent or not conn.is_open:
            return False
        conn.outbox.append(text)
        conn.outbox_ready.set()
        return True

    def _post(self, conn: _Conn, msg: dict[str, Any]) -> bool:
        return self._post_text(conn, _dumps(msg))

    async def _write_loop(self, conn: _Conn) -> None:
        while True:
            await conn.outbox_ready.wait()
            conn.outbox_ready.clear()
            while conn.outbox:
                text = conn.outbox.popleft()
                if conn.silent or not conn.is_open or conn.ws.closed:
                    continue
                try:
                    await conn.ws.send_str(text)
                except (ConnectionError, RuntimeError):
                    # The peer vanished between the check and the write; the handler records
                    # the close.
                    conn.outbox.clear()
                    return
                conn.sent += 1

    def _greet(self, conn: _Conn) -> None:
        if conn.v2 and not conn.greeted:
            hello = {"type": "hello", "protocol": PROTOCOL_VERSION, "timestamp": iso_now()}
            conn.greeted = self._post(conn, hello)

    # ------------------------------------------------------------------ the /ws endpoint

    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        now = time.monotonic()
        remote = request.remote
        if self._refusing(now):
            if self._refuse_left is not None:
                self._refuse_left -= 1
            self._record_attempt(now, "refused", None, remote)
            if self._refuse_mode == "abort" and request.transport is not None:
                # No HTTP response at all: the browser sees the handshake fail outright.
                _abort(request.transport)
            return web.Response(status=503, text="refused by mock server\n")

        ws = web.WebSocketResponse(
            compress=False,  # per-message deflate costs CPU on both ends and hides frame sizes
            max_msg_size=MAX_CLIENT_MSG,
            autoclose=True,
            autoping=True,
            heartbeat=None,  # the app-level system.heartbeat is what the protocol specifies
        )
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="expected a WebSocket upgrade\n")
        await ws.prepare(request)

        conn = _Conn(
            id=self._next_id,
            ws=ws,
            transport=request.transport,
            opened_at=now,
            opened_wall=iso_now(),
            remote=remote,
            query=request.query_string,
            v2=not self.v1,
        )
        self._next_id += 1
        self._conns.append(conn)

        if self._flap:
            if self._flap_left is not None:
                self._flap_left -= 1
                if self._flap_left <= 0:
                    self._flap = False
                    self._flap_left = None
            self._record_attempt(now, "flapped", conn.id, remote)
            if self._flap_code is None:
                conn.mark_closed("flap", 1006)
                if conn.transport is not None:
                    _abort(conn.transport)
            else:
                conn.mark_closed("flap", self._flap_code, self._flap_reason)
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.close(code=self._flap_code, message=self._flap_reason.encode())
            return ws

        self._record_attempt(now, "accepted", conn.id, remote)
        if self._silent:
            self._go_silent(conn)
        conn.tasks.append(asyncio.create_task(self._write_loop(conn)))
        self._greet(conn)
        conn.tasks.append(asyncio.create_task(self._heartbeat_loop(conn)))
        try:
            await self._read_loop(conn)
        finally:
            for task in conn.tasks:
                task.cancel()
            code = ws.close_code
            conn.mark_closed("client", code if code is not None else 1006)
        return ws

    async def _read_loop(self, conn: _Conn) -> None:
        try:
            async for msg in conn.ws:
                t = time.monotonic()
                if msg.type == WSMsgType.TEXT:
                    text: str = msg.data
                    conn.frames.append(Frame(t, "text", text, len(text.encode())))
                    self._on_text(conn, text)
                elif msg.type == WSMsgType.BINARY:
                    size = len(msg.data)
                    conn.frames.append(Frame(t, "binary", f"<binary {size} bytes>", size))
                elif msg.type == WSMsgType.ERROR:
                    # e.g. a frame above max_msg_size: aiohttp already closed with 1009.
                    break
        except (ConnectionError, asyncio.CancelledError):
            # A dropped or aborted peer must not take the server down with it.
            pass

    def _on_text(self, conn: _Conn, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            return  # recorded already; bad input is the client's problem, not a crash
        if not isinstance(msg, dict):
            return
        type_ = msg.get("type")
        project = msg.get("project_id")
        if type_ == "subscribe" and isinstance(project, str | int):
            key = str(project)
            conn.subscriptions.setdefault(key, None)
            if conn.v2:
                self._answer_subscribe(conn, key, msg.get("since"))
        elif type_ == "unsubscribe" and isinstance(project, str | int):
            conn.subscriptions.pop(str(project), None)
        elif type_ == "ping":
            pong: dict[str, Any] = {"type": "pong", "timestamp": iso_now()}
            if "id" in msg:
                pong["id"] = msg["id"]
            self._post(conn, pong)
        elif conn.v2 and (msg_id := request_id(msg)) is not None:
            self._acknowledge(conn, msg_id, msg)

    def _answer_subscribe(self, conn: _Conn, project_id: str, since: Any) -> None:
        """`subscribed`, then the missed events (recovered) or a snapshot."""
        stream = self.streams.get(project_id)
        position = _parse_since(since)
        replay = None if position is None else stream.replay(*position, self._clock())
        self._post(
            conn,
            {
                "type": "subscribed",
                "timestamp": iso_now(),
                "project_id": project_id,
                "epoch": stream.epoch,
                "offset": stream.top,
                "recovered": replay is not None,
            },
        )
        if replay is None:
            self._post(conn, {**stream.snapshot(), "timestamp": iso_now()})
            return
        for entry in replay:
            self._post(conn, entry.event)

    def _acknowledge(self, conn: _Conn, msg_id: str, msg: dict[str, Any]) -> None:
        now = self._clock()
        ack, repeat = self.acks.answer(msg_id, msg, now, self._ack_policy)
        if ack is None:
            return
        ack["timestamp"] = iso_now()
        if self._post(conn, ack):
            self._acks_sent.append(SentAck(now, conn.id, ack, repeat))

    async def _heartbeat_loop(self, conn: _Conn) -> None:
        while True:
            interval = self.heartbeat_interval
            changed = self._hb_event()
            if interval <= 0:
                await changed.wait()
                continue
            try:
                # Waking on a change restarts the period so a new interval applies at once.
                await asyncio.wait_for(changed.wait(), interval)
                continue
            except TimeoutError:
                pass
            self._post(
                conn,
                {"type": "system.heartbeat", "timestamp": iso_now(), "interval": interval},
            )

    async def _demo_loop(self) -> None:
        # Server-wide: each project with a subscriber gets one event per tick, whoever listens.
        low, high = _DEMO_PERIOD
        while True:
            await asyncio.sleep(low + self._rng.random() * (high - low))
            if self.demo_enabled:
                for project_id in self._subscribed_projects():
                    self._append(self._demo_project(project_id).next_event())

    def _subscribed_projects(self) -> list[str]:
        projects: dict[str, None] = {}
        for c in self._open():
            projects.update(c.subscriptions)
        return list(projects)

    def _demo_project(self, project_id: str) -> DemoProject:
        project = self._demo_projects.get(project_id)
        if project is None:
            project = DemoProject(project_id, random.Random(self._rng.random()))
            self._demo_projects[project_id] = project
        return project

    def _append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Put one project event through its stream and out to that project's subscribers."""
        project_id = event["project_id"]
        entry = self.streams.get(project_id).append(event, self._clock())
        v2_text = _dumps(entry.event)
        v1_text: str | None = None
        for c in self._open():
            if project_id not in c.subscriptions:
                continue
            if c.v2:
                self._post_text(c, v2_text)
            else:
                v1_text = v1_text or _dumps(event)
                self._post_text(c, v1_text)
        return dict(entry.event)

    async def startup(self, app: web.Application | None = None) -> None:
        """on_startup hook: start the server-wide demo generator."""
        self._demo_task = asyncio.create_task(self._demo_loop())

    def _go_silent(self, conn: _Conn) -> None:
        conn.silent = True
        if conn.transport is not None:
            with contextlib.suppress(RuntimeError, AttributeError):
                conn.transport.pause_reading()

    # ------------------------------------------------------------------ controls

    def drop(self) -> int:
        """Abort every open connection: no close frame, TCP reset. Returns how many."""
        conns = self._open()
        for c in conns:
            c.mark_closed("drop", 1006)
            if c.transport is not None:
                _abort(c.transport)
        return len(conns)

    async def close(self, code: int = 1000, reason: str = "") -> int:
        """Close every open connection with a close frame carrying `code` and `reason`."""
        if not _sendable_close_code(code):
            # 1005/1006/1015 are reserved for local reporting; a peer must fail on them (RFC 6455
            # 7.4.1), which would test the client's protocol checks rather than its close handling.
            raise ValueError(f"close code {code} may not be sent in a close frame")
        raw = reason.encode()
        if len(raw) > 123:
            raise ValueError("close reason must be at most 123 bytes of UTF-8")
        conns = self._open()
        for c in conns:
            c.mark_closed("server", code, reason)

        async def one(c: _Conn) -> None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await c.ws.close(code=code, message=raw)

        await asyncio.gather(*(one(c) for c in conns))
        return len(conns)

    def silence(self, on: bool = True) -> int:
        """Stop reading and writing on current and future connections (TCP stays open)."""
        self._silent = on
        conns = self._open()
        for c in conns:
            if on:
                self._go_silent(c)
            else:
                c.silent = False
                self._greet(c)  # before reading resumes: hello stays the first frame
                if c.transport is not None:
                    with contextlib.suppress(RuntimeError, AttributeError):
                        c.transport.resume_reading()
        return len(conns)

    def refuse(
        self,
        on: bool = True,
        seconds: float | None = None,
        count: int | None = None,
        mode: RefuseMode = "503",
    ) -> None:
        """Refuse new connections: for `seconds`, for the next `count` attempts, or until off."""
        if mode not in ("503", "abort"):
            raise ValueError("mode must be '503' or 'abort'")
        if not on:
            self._refuse_until = None
            self._refuse_left = None
            return
        self._refuse_mode = mode
        self._refuse_until = float("inf") if seconds is None else time.monotonic() + seconds
        self._refuse_left = count

    def flap(
        self,
        on: bool = True,
        code: int | None = 1001,
        reason: str = "flap",
        count: int | None = None,
    ) -> None:
        """Accept each new connection and close it right after the handshake.

        `code=None` aborts the TCP connection instead (client sees 1006). `count` limits it to
        the next N connections.
        """
        if code is not None and not _sendable_close_code(code):
            raise ValueError(f"close code {code} may not be sent in a close frame")
        self._flap = on
        self._flap_code = code
        self._flap_reason = reason
        self._flap_left = count if on else None

    async def send(
        self,
        text: str | None = None,
        binary: bytes | None = None,
        size: int | None = None,
        as_binary: bool = False,
        repeat: int = 1,
        connection: int | None = None,
        payload_type: str = "test.large",
    ) -> int:
        """Send raw frames through aiohttp's writer. Returns frames written in total.

        Exactly one of `text`, `binary`, `size` (generated: JSON text of exactly `size` bytes,
        or `size` bytes of binary with `as_binary`).
        """
        given = sum(x is not None for x in (text, binary, size))
        if given != 1:
            raise ValueError("give exactly one of text, binary, size")
        payload: str | bytes
        if text is not None:
            payload = text
        elif binary is not None:
            payload = binary
        else:
            assert size is not None
            payload = generated_binary(size) if as_binary else generated_text(size, payload_type)
        total = 0
        for c in self._targets(connection):
            for _ in range(repeat):
                if c.silent or not c.is_open or c.ws.closed:
                    break
                try:
                    if isinstance(payload, str):
                        await c.ws.send_str(payload)
                    else:
                        await c.ws.send_bytes(payload)
                except (ConnectionError, RuntimeError):
                    break
                c.sent += 1
                total += 1
        return total

    async def burst(
        self, frames: Sequence[str | bytes], connection: int | None = None, count: int = 1
    ) -> int:
        """Write `frames` (repeated `count` times) to every target as fast as the socket takes.

        Frames are pre-encoded and written straight to the transport in large chunks; only the
        socket buffer's high-water mark throttles it. Returns frames written in total.
        """
        block = b"".join(encode_frame(f) for f in frames)
        if not block or count <= 0:
            return 0
        per_chunk = max(1, _CHUNK // len(block))
        n_frames = len(frames)
        targets = self._targets(connection)

        async def one(c: _Conn) -> int:
            transport = c.transport
            if transport is None:
                return 0
            chunk = block * per_chunk
            left = count
            written = 0
            while left > 0 and c.is_open and not c.silent and not transport.is_closing():
                k = min(per_chunk, left)
                transport.write(chunk if k == per_chunk else block * k)
                left -= k
                written += k * n_frames
                c.sent += k * n_frames
                if transport.get_write_buffer_size() > _HIGH_WATER:
                    await _wait_drained(transport)
                else:
                    await asyncio.sleep(0)  # let reads/heartbeats/other controls run
            return written

        results = await asyncio.gather(*(one(c) for c in targets))
        return sum(results)

    async def flood(
        self,
        text: str,
        count: int,
        rate: float | None = None,
        connection: int | None = None,
    ) -> int:
        """Send `count` copies of `text`; as fast as possible, or paced at `rate` frames/s.

        Pacing tops up in small batches every few ms against the ideal schedule, so the average
        rate is exact even though the loop's sleep granularity is coarse.
        """
        if rate is None or rate <= 0:
            return await self.burst([text], connection=connection, count=count)
        start = time.monotonic()
        done = 0
        while done < count:
            due = min(count, int((time.monotonic() - start) * rate) + 1)
            if due > done:
                await self.burst([text], connection=connection, count=due - done)
                done = due
            await asyncio.sleep(
                min(0.005, max(0.0, (done - (time.monotonic() - start) * rate) / rate))
            )
        return done

    def set_demo(self, on: bool) -> None:
        self.demo_enabled = on

    def set_heartbeat(self, seconds: float) -> None:
        """Change the heartbeat interval now; <= 0 disables heartbeats."""
        self.heartbeat_interval = seconds
        old = self._hb_event()
        self._hb_changed = asyncio.Event()
        old.set()

    # ------------------------------------------------------------------ v2 streams and acks

    def set_v1(self, on: bool) -> None:
        """Speak v1 (no hello, offsets, subscribed, snapshots or acks) on connections opened
        from now on; open connections keep the version they started with."""
        self.v1 = on

    def emit(self, project_id: str, type: str, **fields: Any) -> dict[str, Any]:
        """Make one project event: numbered, applied to the state, kept, sent to subscribers.

        `fields` are the event's own (`data`, `file`, `process_id`, `progress`, `message`...);
        raises ValueError if the state could not apply it. Returns the event as sent (v2).
        """
        if "offset" in fields or "project_id" in fields:
            raise ValueError("offset and project_id are the stream's to set")
        event = {"type": type, "timestamp": iso_now(), "project_id": project_id, **fields}
        return self._append(event)

    def emit_many(self, project_id: str, n: int) -> list[dict[str, Any]]:
        """`n` events of the demo's mix (files, processes, project updates) for `project_id`."""
        generator = self._demo_project(project_id)
        return [self._append(generator.next_event()) for _ in range(n)]

    def project_state(self, project_id: str) -> dict[str, Any]:
        """{"data": dict | None, "files": {path: file}, "processes": {id: {status, progress,
        message}}}: the state the server's own events built."""
        return self.streams.state(project_id)

    def position(self, project_id: str) -> tuple[str, int]:
        """(epoch, offset of the last event) of a project's stream (started if new)."""
        stream = self.streams.get(project_id)
        return stream.epoch, stream.top

    def history(self, project_id: str) -> list[dict[str, Any]]:
        """The events a `since` can still recover, oldest first (age limit applied now)."""
        stream = self.streams.get(project_id)
        stream.expire(self._clock())
        return [dict(e.event) for e in stream.history]

    def new_epoch(self, project_id: str | None = None, reset_offset: bool = False) -> None:
        """Lose the history of one project (None: all) under a new epoch, as a restart would.

        The state stays, so later snapshots still describe the project; offsets carry on unless
        `reset_offset` (then the next event is offset 1 again).
        """
        self.streams.restart(project_id, reset_offset)

    def trim_history(self, project_id: str, keep: int = 0) -> None:
        """Keep only the newest `keep` events, so an older `since` cannot be recovered."""
        self.streams.get(project_id).trim(keep)

    def ack_policy(self, policy: AckPolicy | None) -> None:
        """policy(message) -> None (ok), an error text (ok: false) or HOLD (no ack); None restores
        the default (accept everything). Runs on the server loop, once per new id."""
        self._ack_policy = policy

    def applied(self) -> list[Applied]:
        """Every request applied (accepted), in order: (id, message, t)."""
        return list(self.acks.applied)

    def acks_sent(self) -> list[SentAck]:
        """Every ack written, in order, with its connection and whether it was a repeat."""
        return list(self._acks_sent)

    # ------------------------------------------------------------------ reset, shutdown, waiting

    def reset(self) -> None:
        """Stop every mode, abort all connections, forget all history (streams and acks too)."""
        for c in self._open():
            c.mark_closed("reset", 1006)
            if c.transport is not None:
                _abort(c.transport)
        self._conns.clear()
        self._attempts.clear()
        self._silent = False
        self.refuse(False)
        self.flap(False)
        self.demo_enabled = self._initial_demo
        if self.heartbeat_interval != self._initial_heartbeat:
            self.set_heartbeat(self._initial_heartbeat)
        self.v1 = self._initial_v1
        self.streams.clear()
        self.acks.clear()
        self._ack_policy = None
        self._acks_sent.clear()
        self._demo_projects.clear()

    async def shutdown(self, app: web.Application | None = None) -> None:
        """on_shutdown hook: abort sockets so runner cleanup never waits on idle clients."""
        if self._demo_task is not None:
            self._demo_task.cancel()
        for c in self._open():
            c.mark_closed("shutdown", 1001)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await c.ws.close(code=1001, message=b"server shutdown")

    async def wait_for(
        self,
        predicate: Callable[[Snapshot], bool],
        timeout: float = 5.0,
        interval: float = 0.01,
    ) -> Snapshot:
        """Poll snapshots until `predicate` holds; raise TimeoutError with the last snapshot."""
        deadline = time.monotonic() + timeout
        while True:
            snap = self.snapshot()
            if predicate(snap):
                return snap
            if time.monotonic() >= deadline:
                raise WaitTimeout(snap)
            await asyncio.sleep(interval)


class WaitTimeout(TimeoutError):
    """wait_for() gave up; `.snapshot` holds the last state seen, for the failure message."""

    def __init__(self, snapshot: Snapshot) -> None:
        opened = len(snapshot.connections)
        super().__init__(
            f"condition not met: {opened} connections, {len(snapshot.attempts)} attempts"
        )
        self.snapshot = snapshot


def _dumps(msg: dict[str, Any]) -> str:
    return json.dumps(msg, separators=(",", ":"))


def _parse_since(since: Any) -> tuple[str, int] | None:
    """`since` as (epoch, offset), or None when absent or malformed (answered by a snapshot)."""
    if not isinstance(since, dict):
        return None
    epoch, offset = since.get("epoch"), since.get("offset")
    if isinstance(epoch, str) and isinstance(offset, int) and not isinstance(offset, bool):
        return epoch, offset
    return None


def _sendable_close_code(code: int) -> bool:
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def _abort(transport: asyncio.Transport) -> None:
    """Close the TCP connection with a reset, never a close frame."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            # SO_LINGER 0 turns close() into an RST, the harshest "network died" a peer can see.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _wait_drained(transport: asyncio.WriteTransport) -> None:
    # Polling keeps us on public transport API (aiohttp's drain helper is private).
    while transport.get_write_buffer_size() > _LOW_WATER and not transport.is_closing():
        await asyncio.sleep(0.001)
