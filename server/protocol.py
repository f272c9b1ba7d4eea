"""The reference protocol at `/ws` (docs/protocol.md): v1, v2 and v3 authentication.

Theory of operation: an upgrade is accepted unless a fault refuses it; each connection gets one
writer (its outbox, so frames leave in the order made: a replay is never overtaken by a live
event) and one reader. v2 (the default) greets with `hello`, answers subscribes from the
project streams (`server.streams`: `subscribed`, then the replay or a snapshot) and
acknowledges requests once per id (`server.acks`); v1 does none of that.

v3 (when the server asks for authentication, `--auth`): the client's first frame must be
`{"type": "auth", "token": ...}`. A valid token is answered `{"type": "auth.ok",
"expires_in": <seconds the token has left>}`; until then the server sends nothing but, if so
configured, `hello` (no heartbeats), and any other first frame closes the connection with 4401
"auth required". An unknown token closes with 4401 "invalid token", an expired one with 4401
"token expired". Another `auth` frame on an authenticated connection is a refresh, answered
the same way (a new `expires_in`, or the close). A connection whose token runs out without a
refresh is closed with 4401 "token expired". v1/v2 behave as without auth once `auth.ok` is
sent; `hello` comes after it unless `hello_before_auth`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from .acks import AckLedger, AckPolicy, request_id
from .auth import AUTH_REQUIRED, TOKEN_EXPIRED, Auth, token_digest
from .connections import Connection, Connections, abort, dumps, iso_now
from .faults import Faults
from .levers import lever
from .records import Applied, Frame, SentAck
from .streams import HistoryLimits, Streams

log = logging.getLogger("server.protocol")

#: The version announced in `hello`.
PROTOCOL_VERSION = 2
# Frames from the client may be large (the client's own tests send big payloads); 64 MiB is far
# above anything legitimate while still bounding memory.
MAX_CLIENT_MSG = 64 * 1024 * 1024


class ReferenceProtocol:
    """The `/ws` endpoint: accepts, reads, answers; settings and stream levers for tests."""

    def __init__(
        self,
        conns: Connections,
        faults: Faults,
        auth: Auth,
        *,
        v1: bool,
        heartbeat: float,
        history: HistoryLimits,
        dedup_window: float,
        clock: Callable[[], float],
    ) -> None:
        """`clock` times the stream history and the ack dedup window (tokens use real time)."""
        self._conns = conns
        self._faults = faults
        self._auth = auth
        self._clock = clock
        self._initial = (v1, heartbeat)
        self.v1 = v1
        self.heartbeat_interval = heartbeat
        self.streams = Streams(history)
        self.acks = AckLedger(dedup_window)
        self._ack_policy: AckPolicy | None = None
        self._hb_changed: asyncio.Event | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def reset(self) -> None:
        """The constructor's settings; history, acks and the ack policy forgotten."""
        v1, heartbeat = self._initial
        self.v1 = v1
        if self.heartbeat_interval != heartbeat:
            self.set_heartbeat(heartbeat)
        self.streams.clear()
        self.acks.clear()
        self._ack_policy = None

    def modes(self) -> dict[str, Any]:
        return {
            "protocol": 1 if self.v1 else PROTOCOL_VERSION,
            "heartbeat": self.heartbeat_interval,
        }

    # ------------------------------------------------------------------ accepting

    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        now = time.monotonic()
        remote = request.remote
        refusal = self._faults.take_refusal(now)
        if refusal is not None:
            self._conns.record_attempt(now, "refused", None, remote)
            if refusal == "abort" and request.transport is not None:
                # No HTTP response at all: the browser sees the handshake fail outright.
                abort(request.transport)
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

        conn = self._conns.add(
            ws=ws,
            transport=request.transport,
            opened_at=now,
            opened_wall=iso_now(),
            remote=remote,
            query=request.query_string,
            v2=not self.v1,
            auth_required=self._auth.enabled,
            hello_before_auth=self._auth.hello_before_auth,
        )
        flap = self._faults.take_flap()
        if flap is not None:
            self._conns.record_attempt(now, "flapped", conn.id, remote)
            code, reason = flap
            if code is None:
                conn.mark_closed("flap", 1006)
                if conn.transport is not None:
                    abort(conn.transport)
            else:
                await conn.close("flap", code, reason)
            return ws

        self._conns.record_attempt(now, "accepted", conn.id, remote)
        if self._faults.silent:
            self._faults.go_silent(conn)
        conn.tasks.append(asyncio.create_task(conn.write_loop()))
        self.greet(conn)
        if not conn.auth_required:
            conn.tasks.append(asyncio.create_task(self._heartbeat_loop(conn)))
        try:
            await self._read_loop(conn)
        finally:
            for task in conn.tasks:
                task.cancel()
            code = ws.close_code
            conn.mark_closed("client", code if code is not None else 1006)
        return ws

    def greet(self, conn: Connection) -> None:
        """Send v2's `hello` unless sent, or held back (silent; before auth.ok)."""
        if not conn.v2 or conn.greeted or not (conn.admitted or conn.hello_before_auth):
            return
        hello = {"type": "hello", "protocol": PROTOCOL_VERSION, "timestamp": iso_now()}
        conn.greeted = conn.post(hello)

    # ------------------------------------------------------------------ reading

    async def _read_loop(self, conn: Connection) -> None:
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
                    if not conn.admitted:
                        self._close_soon(conn, 4401, AUTH_REQUIRED)
                elif msg.type == WSMsgType.ERROR:
                    # e.g. a frame above max_msg_size: aiohttp already closed with 1009.
                    break
        except (ConnectionError, asyncio.CancelledError):
            # A dropped or aborted peer must not take the server down with it.
            pass

    def _on_text(self, conn: Connection, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            msg = None  # recorded already; bad input is the client's problem, not a crash
        if conn.auth_required and _is_auth(msg):
            self._on_auth(conn, msg)
            return
        if not conn.admitted:
            self._close_soon(conn, 4401, AUTH_REQUIRED)
            return
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
            conn.post(pong)
        elif conn.v2 and (msg_id := request_id(msg)) is not None:
            self._acknowledge(conn, msg_id, msg)

    # ------------------------------------------------------------------ v3: authentication

    def _on_auth(self, conn: Connection, msg: dict[str, Any]) -> None:
        token = msg.get("token")
        conn.tokens.append(token if isinstance(token, str) else repr(token))
        if not conn.authenticated and conn.auth_pending:
            # Only one auth frame may wait for its auth.ok.
            self._close_soon(conn, 4401, AUTH_REQUIRED)
            return
        rejection = self._faults.take_auth_rejection()
        delay = self._faults.auth_delay
        if delay <= 0:
            self._answer_auth(conn, token, rejection)
            return
        conn.auth_pending = True

        async def later() -> None:
            await asyncio.sleep(delay)
            self._answer_auth(conn, token, rejection)

        conn.tasks.append(asyncio.create_task(later()))

    def _answer_auth(
        self, conn: Connection, token: object, rejection: tuple[int, str] | None
    ) -> None:
        """Answer one auth frame (first or refresh): auth.ok, or close 4401/4403."""
        if not conn.is_open:
            return
        now = time.monotonic()
        check = self._auth.store.check(token, now)
        digest = token_digest(token) if isinstance(token, str) else "not a string"
        if rejection is not None or check.problem is not None:
            code, reason = rejection if rejection is not None else (4401, str(check.problem))
            log.info("connection %d: token %s refused (%d %s)", conn.id, digest, code, reason)
            self._close_soon(conn, code, reason)
            return
        assert check.expires_at is not None
        first = not conn.authenticated
        conn.authenticated, conn.auth_pending = True, False
        conn.auth_expires_at = check.expires_at
        expires_in = round(check.expires_at - now, 3)
        if conn.auth_expiry is not None:
            conn.auth_expiry.cancel()
        conn.auth_expiry = asyncio.get_running_loop().call_later(
            check.expires_at - now, self._close_soon, conn, 4401, TOKEN_EXPIRED
        )
        log.info("connection %d: token %s accepted for %g s", conn.id, digest, expires_in)
        conn.post({"type": "auth.ok", "expires_in": expires_in, "timestamp": iso_now()})
        if first:
            self.greet(conn)
            conn.tasks.append(asyncio.create_task(self._heartbeat_loop(conn)))

    def _close_soon(self, conn: Connection, code: int, reason: str) -> None:
        """Close from the server's side in a task of its own (not cancelled with the
        connection's tasks, so the close frame always goes out)."""
        if not conn.is_open:
            return
        task = asyncio.get_running_loop().create_task(conn.close("server", code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # ------------------------------------------------------------------ v2: streams and acks

    def _answer_subscribe(self, conn: Connection, project_id: str, since: Any) -> None:
        """`subscribed`, then the missed events (recovered) or a snapshot."""
        stream = self.streams.get(project_id)
        position = _parse_since(since)
        replay = None if position is None else stream.replay(*position, self._clock())
        conn.post(
            {
                "type": "subscribed",
                "timestamp": iso_now(),
                "project_id": project_id,
                "epoch": stream.epoch,
                "offset": stream.top,
                "recovered": replay is not None,
            }
        )
        if replay is None:
            conn.post({**stream.snapshot(), "timestamp": iso_now()})
            return
        for entry in replay:
            conn.post(entry.event)

    def _acknowledge(self, conn: Connection, msg_id: str, msg: dict[str, Any]) -> None:
        now = self._clock()
        ack, repeat = self.acks.answer(msg_id, msg, now, self._ack_policy)
        if ack is None:
            return
        ack["timestamp"] = iso_now()
        if conn.post(ack):
            self._conns.acks_sent.append(SentAck(now, conn.id, ack, repeat))

    def publish(self, event: dict[str, Any]) -> dict[str, Any]:
        """Put one project event through its stream and out to that project's subscribers;
        returns it as v2 sends it (with its offset)."""
        project_id = event["project_id"]
        entry = self.streams.get(project_id).append(event, self._clock())
        v2_text = dumps(entry.event)
        v1_text: str | None = None
        for c in self._conns.open():
            if project_id not in c.subscriptions:
                continue
            if c.v2:
                c.post_text(v2_text)
            else:
                v1_text = v1_text or dumps(event)
                c.post_text(v1_text)
        return dict(entry.event)

    def subscribed_projects(self) -> list[str]:
        """Projects with at least one subscriber on an open connection."""
        projects: dict[str, None] = {}
        for c in self._conns.open():
            projects.update(c.subscriptions)
        return list(projects)

    # ------------------------------------------------------------------ heartbeat

    def _hb_event(self) -> asyncio.Event:
        # Created lazily so the object can be constructed off-loop (e.g. by ServerThread).
        if self._hb_changed is None:
            self._hb_changed = asyncio.Event()
        return self._hb_changed

    async def _heartbeat_loop(self, conn: Connection) -> None:
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
            conn.post({"type": "system.heartbeat", "timestamp": iso_now(), "interval": interval})

    # ------------------------------------------------------------------ levers

    @lever
    def set_heartbeat(self, seconds: float) -> None:
        """Change the heartbeat interval now; <= 0 disables heartbeats."""
        self.heartbeat_interval = seconds
        old = self._hb_event()
        self._hb_changed = asyncio.Event()
        old.set()

    @lever
    def set_v1(self, on: bool) -> None:
        """Speak v1 (no hello, offsets, subscribed, snapshots or acks) on connections opened
        from now on; open connections keep the version they started with."""
        self.v1 = on

    @lever
    def emit(self, project_id: str, type: str, **fields: Any) -> dict[str, Any]:
        """Make one project event: numbered, applied to the state, kept, sent to subscribers.

        `fields` are the event's own (`data`, `file`, `process_id`, `progress`, `message`...);
        raises ValueError if the state could not apply it. Returns the event as sent (v2).
        """
        if "offset" in fields or "project_id" in fields:
            raise ValueError("offset and project_id are the stream's to set")
        return self.publish(
            {"type": type, "timestamp": iso_now(), "project_id": project_id, **fields}
        )

    @lever
    def project_state(self, project_id: str) -> dict[str, Any]:
        """{"data": dict | None, "files": {path: file}, "processes": {id: {status, progress,
        message}}}: the state the server's own events built."""
        return self.streams.state(project_id)

    @lever
    def position(self, project_id: str) -> tuple[str, int]:
        """(epoch, offset of the last event) of a project's stream (started if new)."""
        stream = self.streams.get(project_id)
        return stream.epoch, stream.top

    @lever
    def history(self, project_id: str) -> list[dict[str, Any]]:
        """The events a `since` can still recover, oldest first (age limit applied now)."""
        stream = self.streams.get(project_id)
        stream.expire(self._clock())
        return [dict(e.event) for e in stream.history]

    @lever
    def new_epoch(self, project_id: str | None = None, reset_offset: bool = False) -> None:
        """Lose the history of one project (None: all) under a new epoch, as a restart would.

        The state stays, so later snapshots still describe the project; offsets carry on unless
        `reset_offset` (then the next event is offset 1 again).
        """
        self.streams.restart(project_id, reset_offset)

    @lever
    def trim_history(self, project_id: str, keep: int = 0) -> None:
        """Keep only the newest `keep` events, so an older `since` cannot be recovered."""
        self.streams.get(project_id).trim(keep)

    @lever
    def ack_policy(self, policy: AckPolicy | None) -> None:
        """policy(message) -> None (ok), an error text (ok: false) or HOLD (no ack); None restores
        the default (accept everything). Runs on the server loop, once per new id."""
        self._ack_policy = policy

    @lever
    def applied(self) -> list[Applied]:
        """Every request applied (accepted), in order: (id, message, t)."""
        return list(self.acks.applied)

    @lever
    def acks_sent(self) -> list[SentAck]:
        """Every ack written, in order, with its connection and whether it was a repeat."""
        return list(self._conns.acks_sent)


def _is_auth(msg: object) -> bool:
    return isinstance(msg, dict) and msg.get("type") == "auth"


def _parse_since(since: Any) -> tuple[str, int] | None:
    """`since` as (epoch, offset), or None when absent or malformed (answered by a snapshot)."""
    if not isinstance(since, dict):
        return None
    epoch, offset = since.get("epoch"), since.get("offset")
    if isinstance(epoch, str) and isinstance(offset, int) and not isinstance(offset, bool):
        return epoch, offset
    return None
