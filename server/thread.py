"""Run the mock server in a background thread with its own loop, controlled from any thread.

    with ServerThread() as srv:
        page.goto(srv.url)
        srv.wait_for_connections(1)
        srv.drop()

Every lever of `MockServer` (`srv.drop()`, `srv.emit(...)`, `srv.reject_auth(...)`: the list is
in `server/__init__.py`) is called through `call()`, which runs it on the server loop and
returns its result, so tests (on the main thread, e.g. under Playwright's sync API) never touch
server state directly. The waits (`wait_for...`) poll from the calling thread.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

from .app import create_app, start
from .levers import DEFAULT, lever_timeout
from .mock import MockServer, WaitTimeout
from .records import Applied, ConnectionInfo, Frame, Snapshot

T = TypeVar("T")


class ServerThread:
    """The app on 127.0.0.1:<free port> in a daemon thread, plus thread-safe levers."""

    def __init__(
        self,
        *,
        root: Path | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        call_timeout: float = 30.0,
        **options: Any,
    ) -> None:
        """`options` are MockServer's (demo, heartbeat, v1, history_size, history_age,
        dedup_window, clock, auth, token_lifetime, hello_before_auth); `clock` is called on
        the server thread."""
        self.server = MockServer(**options)
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

    @property
    def token_url(self) -> str:
        """http://127.0.0.1:<port>/auth/token - where a token provider POSTs for a token."""
        return f"http://{self._host}:{self.port}/auth/token"

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

    # ------------------------------------------------------------------ calling onto the loop

    def call(
        self,
        fn: Callable[..., T | Awaitable[T]],
        *args: Any,
        timeout: float | None = DEFAULT,
        **kwargs: Any,
    ) -> T:
        """Run `fn(*args, **kwargs)` on the server loop (awaited if it is a coroutine function)
        and return its result; waits at most `timeout` s (the thread's `call_timeout` unless
        given; None = no limit)."""
        if self._loop is None:
            raise RuntimeError("ServerThread not started: call start() or use it in a with block")

        async def run() -> T:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                return await result  # type: ignore[no-any-return]
            return result  # type: ignore[return-value]

        fut = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return fut.result(self._call_timeout if timeout == DEFAULT else timeout)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        """`srv.<lever>(...)`: the MockServer lever of that name, run on the server loop."""
        if name.startswith("_") or "server" not in self.__dict__:
            raise AttributeError(name)
        fn = self.server.levers.get(name)
        if fn is None:
            raise AttributeError(
                f"ServerThread has no attribute or lever {name!r}; levers: "
                + ", ".join(sorted(self.server.levers))
            )
        return functools.partial(self.call, fn, timeout=lever_timeout(fn))

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self.server.levers})

    # ------------------------------------------------------------------ waiting and inspection

    def connections(self) -> list[ConnectionInfo]:
        return list(self.snapshot().connections)

    def wait_for_applied(self, count: int, timeout: float = 5.0) -> list[Applied]:
        """Wait until at least `count` requests were applied; returns them all."""
        deadline = time.monotonic() + timeout
        while True:
            applied: list[Applied] = self.applied()
            if len(applied) >= count:
                return applied
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(applied)} of {count} requests applied")
            time.sleep(0.01)

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
            snap: Snapshot = self.snapshot()
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
