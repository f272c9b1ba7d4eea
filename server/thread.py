"""Run the mock server in a background thread with its own loop, controlled from any thread.

    with ServerThread() as srv:
        page.goto(srv.url)
        srv.wait_for_connections(1)
        srv.drop()

Every control method marshals onto the server loop with run_coroutine_threadsafe, so tests (on
the main thread, e.g. under Playwright's sync API) never touch server state directly.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

from .acks import AckPolicy
from .app import create_app, start
from .core import MockServer, RefuseMode, WaitTimeout
from .records import Applied, ConnectionInfo, Frame, SentAck, Snapshot
from .streams import DEFAULT_HISTORY_AGE, DEFAULT_HISTORY_SIZE

T = TypeVar("T")


class ServerThread:
    """The app on 127.0.0.1:<free port> in a daemon thread, plus thread-safe controls."""

    def __init__(
        self,
        *,
        root: Path | str | None = None,
        demo: bool = False,
        heartbeat: float = 3.0,
        host: str = "127.0.0.1",
        port: int = 0,
        call_timeout: float = 30.0,
        v1: bool = False,
        history_size: int = DEFAULT_HISTORY_SIZE,
        history_age: float = DEFAULT_HISTORY_AGE,
        dedup_window: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` (called on the server thread) times the history and the dedup window."""
        self.server = MockServer(
            demo=demo,
            heartbeat=heartbeat,
            v1=v1,
            history_size=history_size,
            history_age=history_age,
            dedup_window=dedup_window,
            clock=clock,
        )
        self._root = root
        self._host = host
        self._requested_port = port
        self._call_timeout = call_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>/ - the page."""
        return f"http://{self._host}:{self.port}/"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._host}:{self.port}/ws"

    def start(self, timeout: float = 10.0) -> Self:
        self._thread = threading.Thread(target=self._run, name="mock-ws-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("mock server did not start")
        if self._error is not None:
            raise RuntimeError("mock server failed to start") from self._error
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced to start() instead of dying silently
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = create_app(self.server, self._root)
        self._runner, self.port = await start(app, self._host, self._requested_port)
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self._runner.cleanup()

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ marshalling

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("ServerThread not started")
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(self._call_timeout if timeout is None else timeout)

    def _sync(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return self._call(run())

    # ------------------------------------------------------------------ controls

    def drop(self) -> int:
        """Abort all open connections (TCP reset, no close frame -> client sees 1006)."""
        return self._sync(self.server.drop)

    def close(self, code: int = 1000, reason: str = "") -> int:
        """Close all open connections with a close frame (code, reason)."""
        return self._call(self.server.close(code, reason))

    def silence(self, on: bool = True) -> int:
        """Stop reading/writing on current and new connections, keeping TCP open."""
        return self._sync(lambda: self.server.silence(on))

    def refuse(
        self,
        on: bool = True,
        seconds: float | None = None,
        count: int | None = None,
        mode: RefuseMode = "503",
    ) -> None:
        """Refuse upgrades (HTTP 503, or `mode="abort"`: reset before any response)."""
        self._sync(lambda: self.server.refuse(on, seconds, count, mode))

    def flap(
        self,
        on: bool = True,
        code: int | None = 1001,
        reason: str = "flap",
        count: int | None = None,
    ) -> None:
        """Accept new connections and close them right after the handshake."""
        self._sync(lambda: self.server.flap(on, code, reason, count))

    def send(
        self,
        text: str | None = None,
        binary: bytes | None = None,
        size: int | None = None,
        as_binary: bool = False,
        repeat: int = 1,
        connection: int | None = None,
        payload_type: str = "test.large",
    ) -> int:
        """Send raw frames (one of text / binary / generated `size`)."""
        return self._call(
            self.server.send(text, binary, size, as_binary, repeat, connection, payload_type)
        )

    def burst(
        self, frames: list[str | bytes], connection: int | None = None, count: int = 1
    ) -> int:
        """Write `frames` x `count` to all (or one) connection as fast as possible."""
        return self._call(self.server.burst(frames, connection, count))

    def flood(
        self, text: str, count: int, rate: float | None = None, connection: int | None = None
    ) -> int:
        """`count` copies of `text`, unpaced or at `rate` frames/s. Returns when done."""
        return self._call(self.server.flood(text, count, rate, connection), timeout=None)

    def set_demo(self, on: bool) -> None:
        self._sync(lambda: self.server.set_demo(on))

    def set_heartbeat(self, seconds: float) -> None:
        self._sync(lambda: self.server.set_heartbeat(seconds))

    def reset(self) -> None:
        """Stop all modes, abort connections, clear history, streams, acks and the ack policy;
        back to v2 unless created with v1=True."""
        self._sync(self.server.reset)

    # ------------------------------------------------------------------ v2 streams and acks

    def set_v1(self, on: bool) -> None:
        """Speak v1 (True) or v2 on connections opened from now on."""
        self._sync(lambda: self.server.set_v1(on))

    def emit(self, project_id: str, type: str, **fields: Any) -> dict[str, Any]:
        """One project event through its stream; returns it as sent (with its offset)."""
        return self._sync(lambda: self.server.emit(project_id, type, **fields))

    def emit_many(self, project_id: str, n: int) -> list[dict[str, Any]]:
        """`n` events of the demo's mix (files, processes, project updates)."""
        return self._sync(lambda: self.server.emit_many(project_id, n))

    def project_state(self, project_id: str) -> dict[str, Any]:
        """{"data", "files": {path: file}, "processes": {id: {status, progress, message}}}."""
        return self._sync(lambda: self.server.project_state(project_id))

    def position(self, project_id: str) -> tuple[str, int]:
        """(epoch, offset of the last event) of a project's stream."""
        return self._sync(lambda: self.server.position(project_id))

    def history(self, project_id: str) -> list[dict[str, Any]]:
        """The events a `since` can still recover, oldest first."""
        return self._sync(lambda: self.server.history(project_id))

    def new_epoch(self, project_id: str | None = None, reset_offset: bool = False) -> None:
        """Lose the history (of all projects if None) under a new epoch; the state stays."""
        self._sync(lambda: self.server.new_epoch(project_id, reset_offset))

    def trim_history(self, project_id: str, keep: int = 0) -> None:
        """Keep only the newest `keep` events of a project's history."""
        self._sync(lambda: self.server.trim_history(project_id, keep))

    def ack_policy(self, policy: AckPolicy | None) -> None:
        """policy(message) -> None (ok), error text (ok: false) or HOLD; None = accept all.
        The policy runs on the server thread."""
        self._sync(lambda: self.server.ack_policy(policy))

    def applied(self) -> list[Applied]:
        """Every request applied, in order: Applied(id, message, t)."""
        return self._sync(self.server.applied)

    def acks_sent(self) -> list[SentAck]:
        """Every ack written: SentAck(t, connection_id, ack, repeat)."""
        return self._sync(self.server.acks_sent)

    def wait_for_applied(self, count: int, timeout: float = 5.0) -> list[Applied]:
        """Wait until at least `count` requests were applied; returns them all."""
        deadline = time.monotonic() + timeout
        while True:
            applied = self.applied()
            if len(applied) >= count:
                return applied
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(applied)} of {count} requests applied")
            time.sleep(0.01)

    # ------------------------------------------------------------------ inspection

    def snapshot(self) -> Snapshot:
        return self._sync(self.server.snapshot)

    def connections(self) -> list[ConnectionInfo]:
        return list(self.snapshot().connections)

    def wait_for(
        self,
        predicate: Callable[[Snapshot], bool],
        timeout: float = 5.0,
        interval: float = 0.01,
    ) -> Snapshot:
        """Poll until `predicate(snapshot)` is true; raises WaitTimeout (a TimeoutError).

        The predicate runs on the calling thread, so it may use anything the test has. A
        predicate that indexes a connection which has not arrived yet (IndexError) is "not yet".
        """
        deadline = time.monotonic() + timeout
        while True:
            snap = self.snapshot()
            try:
                done = predicate(snap)
            except IndexError:
                done = False
            if done:
                return snap
            if time.monotonic() >= deadline:
                raise WaitTimeout(snap)
            time.sleep(interval)

    def wait_for_connections(self, opened: int, timeout: float = 5.0) -> Snapshot:
        """Wait until at least `opened` connections were accepted since reset()."""
        return self.wait_for(lambda s: len(s.connections) >= opened, timeout)

    def wait_for_open(self, count: int = 1, timeout: float = 5.0) -> Snapshot:
        """Wait until at least `count` connections are open right now."""
        return self.wait_for(lambda s: len(s.open_connections) >= count, timeout)

    def wait_for_attempts(self, count: int, timeout: float = 5.0) -> Snapshot:
        """Wait until at least `count` upgrade attempts (any outcome) arrived."""
        return self.wait_for(lambda s: len(s.attempts) >= count, timeout)

    def wait_for_frame(
        self,
        match: Callable[[Frame], bool] | str,
        timeout: float = 5.0,
        connection: int | None = None,
    ) -> Frame:
        """Wait for a received frame matching `match` (a predicate, or a JSON `type` string)."""
        pred_frame: Callable[[Frame], bool]
        if isinstance(match, str):
            wanted = match

            def by_type(f: Frame) -> bool:
                value = f.json()
                return isinstance(value, dict) and value.get("type") == wanted

            pred_frame = by_type
        else:
            pred_frame = match
        found: list[Frame] = []

        def pred(snap: Snapshot) -> bool:
            for c in snap.connections:
                if connection is not None and c.id != connection:
                    continue
                for f in c.frames:
                    if pred_frame(f):
                        found.append(f)
                        return True
            return False

        self.wait_for(pred, timeout)
        return found[0]
