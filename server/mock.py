"""`MockServer`: the reference protocol, the fault levers, authentication and the demo loop,
composed; one table of levers for tests.

Everything here runs on the server's event loop; `server.thread.ServerThread` runs it in a
thread of its own and calls the same levers from any thread. A lever is any component method
marked `@lever` (`server.levers`); `MockServer.<name>` finds it, so in-loop code writes
`server.drop()` just as a test writes `srv.drop()`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .auth import DEFAULT_TOKEN_LIFETIME, Auth
from .connections import Connections
from .demo import DemoLoop
from .faults import Faults
from .levers import collect_levers, lever
from .protocol import ReferenceProtocol
from .records import Snapshot
from .streams import DEFAULT_HISTORY_AGE, DEFAULT_HISTORY_SIZE, HistoryLimits


class MockServer:
    """Mock backend speaking the wire protocol, with controls for fault injection."""

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
        auth: bool = False,
        token_lifetime: float = DEFAULT_TOKEN_LIFETIME,
        hello_before_auth: bool = False,
    ) -> None:
        """`clock` times the stream history and the ack dedup window (inject one in tests).

        `dedup_window` defaults to `history_age` and may not be shorter: a request retried
        after the longest outage the history covers must still be recognised.
        """
        window = history_age if dedup_window is None else dedup_window
        if window < history_age:
            raise ValueError("dedup_window must cover at least history_age")
        self.conns = Connections()
        self.faults = Faults(self.conns, resume=lambda conn: self.protocol.greet(conn))
        self.auth = Auth(
            self.conns,
            self.faults,
            enabled=auth,
            token_lifetime=token_lifetime,
            hello_before_auth=hello_before_auth,
        )
        self.protocol = ReferenceProtocol(
            self.conns,
            self.faults,
            self.auth,
            v1=v1,
            heartbeat=heartbeat,
            history=HistoryLimits(history_size, history_age),
            dedup_window=window,
            clock=clock,
        )
        self.demo = DemoLoop(self.protocol, enabled=demo, seed=seed)
        #: Every lever by name: this object's own and its components'.
        self.levers: dict[str, Callable[..., Any]] = collect_levers(
            self, self.faults, self.auth, self.protocol, self.demo
        )

    def __getattr__(self, name: str) -> Callable[..., Any]:
        # Only reached for names the instance does not have: the components' levers.
        levers: dict[str, Callable[..., Any]] = self.__dict__.get("levers", {})
        if name in levers:
            return levers[name]
        raise AttributeError(f"MockServer has no attribute or lever {name!r}")

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self.__dict__.get("levers", {})})

    # ------------------------------------------------------------------ the app's hooks

    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        return await self.protocol.handle_ws(request)

    async def handle_token(self, request: web.Request) -> web.Response:
        return await self.auth.handle_token(request)

    async def startup(self, app: web.Application | None = None) -> None:
        """on_startup hook: start the server-wide demo generator."""
        self.demo.start()

    async def shutdown(self, app: web.Application | None = None) -> None:
        """on_shutdown hook: close sockets so runner cleanup never waits on idle clients."""
        self.demo.stop()
        self.faults.reset()  # answers hung token requests
        await asyncio.gather(
            *(c.close("shutdown", 1001, "server shutdown") for c in self.conns.open())
        )

    # ------------------------------------------------------------------ levers of the whole

    def modes(self) -> dict[str, Any]:
        return {
            **self.protocol.modes(),
            "demo": self.demo.enabled,
            **self.faults.modes(time.monotonic()),
            **self.auth.modes(),
        }

    @lever
    def snapshot(self) -> Snapshot:
        """Everything recorded since the last reset, frozen."""
        return self.conns.snapshot(self.modes())

    @lever
    def reset(self) -> None:
        """Stop every mode, abort all connections, forget all history (streams, acks and
        tokens too); the constructor's settings again."""
        self.conns.forget()
        self.faults.reset()
        self.auth.reset()
        self.protocol.reset()
        self.demo.reset()

    async def wait_for(
        self,
        predicate: Callable[[Snapshot], bool],
        timeout: float = 5.0,
        interval: float = 0.01,
    ) -> Snapshot:
        """Poll snapshots until `predicate` holds; raise WaitTimeout with the last snapshot."""
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
