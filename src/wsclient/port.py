"""The socket port: the one module that creates FFI proxies (a JS function made from a Python
callable), and the driver's ``Port`` in the page.

``BrowserPort`` opens WebSockets through ``static/wsclient.js`` (which batches frames so that one
FFI call carries many), keeps the one timer, reports ``online``/``offline``,
``visibilitychange`` and ``pageshow`` to the driver, and keeps the outbox in ``localStorage``.

Proxy ownership (Pyodide keeps a JS function made from a Python callable alive until it is
destroyed, and nothing else frees it): every ``create_proxy`` and ``create_once_callable`` in the
package happens here, through ``Proxies`` and ``once``, and each proxy is destroyed when its owner
is done with it:

- per socket: three handlers (open, batch of frames, close), destroyed the moment the driver lets
  the socket go (closed by the peer, or by us: we never wait for a dead link's closing handshake);
- per port: the timer callback and the four window listeners, destroyed by ``dispose``;
- per DOM helper (``dom.Ticker``, ``dom.FrameScheduler``, ``dom.listen``): destroyed by their
  ``close``/remover;
- the page bridge's functions (``bridge.py``) live as long as the page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

import js  # type: ignore[import-not-found]
from pyodide.ffi import (  # type: ignore[import-not-found]
    JsProxy,
    create_once_callable,
    create_proxy,
    jsnull,
    to_js,
)

from .durable import DurableOutbox
from .outbound import Outbound

if TYPE_CHECKING:
    from .driver import Driver, TokenProvider


def js_module() -> Any:
    """static/wsclient.js, which pyscript.toml registers as ``wsclient_js``."""
    try:
        from pyscript.js_modules import wsclient_js  # type: ignore[import-not-found]
    except ImportError:
        raise RuntimeError(
            "static/wsclient.js is not loaded: add it to pyscript.toml as\n"
            '[js_modules.main]\n"/static/wsclient.js" = "wsclient_js"\n'
            "(from the wheel: serve the wsclient/wsclient.js it holds and name that file)"
        ) from None
    return wsclient_js


class Proxies:
    """Creates and destroys FFI proxies, and counts the live ones (tests read the count)."""

    live = 0

    @classmethod
    def create(cls, fn: Callable[..., Any]) -> JsProxy:
        cls.live += 1
        return create_proxy(fn)

    @classmethod
    def destroy(cls, proxies: Iterable[JsProxy]) -> None:
        for proxy in proxies:
            proxy.destroy()
            cls.live -= 1


def once(fn: Callable[..., Any]) -> JsProxy:
    """A JS function that calls ``fn`` once, then frees itself (handed to JS as a return value,
    e.g. an unsubscriber)."""
    return create_once_callable(fn)


def live_proxy_count() -> int:
    """How many proxies this package created and has not destroyed yet."""
    return Proxies.live


class _Socket:
    """One browser WebSocket (its handle from static/wsclient.js) and its handler proxies."""

    __slots__ = ("handle", "proxies")

    def __init__(self, handle: JsProxy, proxies: list[JsProxy]) -> None:
        self.handle = handle
        self.proxies = proxies

    def release(self) -> None:
        self.handle.detach()
        Proxies.destroy(self.proxies)
        self.proxies = []


class BrowserPort:
    """The driver's port in the page: WebSockets, one ``setTimeout`` and window events."""

    def __init__(
        self, url: str, driver: Driver, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.url = url
        self._driver = driver
        self._clock = clock
        self._open_socket = js_module().openSocket
        self._outbox = _durable_outbox(url)
        self._sockets: dict[int, _Socket] = {}
        self._timer_handle: Any = None
        self._tasks: set[asyncio.Future[None]] = set()  # token answers under way
        self._on_timer = Proxies.create(self._timer_fired)
        self._window_listeners = [
            ("online", Proxies.create(lambda _e: driver.went_online())),
            ("offline", Proxies.create(lambda _e: driver.went_offline())),
            ("visibilitychange", Proxies.create(self._on_visibility)),
            ("pageshow", Proxies.create(self._on_pageshow)),
        ]
        for kind, proxy in self._window_listeners:
            js.window.addEventListener(kind, proxy)

    # --- driver.Port -------------------------------------------------------------------------

    def now(self) -> float:
        return self._clock()

    def open_socket(self, socket_id: int) -> None:
        driver = self._driver
        on_open = Proxies.create(lambda: driver.socket_opened(socket_id))
        on_batch = Proxies.create(lambda batch: driver.frames(socket_id, _frames(batch)))
        on_close = Proxies.create(
            lambda code, reason, unsent: self._closed(socket_id, code, reason, unsent)
        )
        # Frames over max_frame_size are dropped in JS, before they are copied into Wasm memory.
        limit = driver.core.options.max_frame_size
        handle = self._open_socket(self.url, on_open, on_batch, on_close, limit)
        self._sockets[socket_id] = _Socket(handle, [on_open, on_batch, on_close])

    def send(self, socket_id: int, text: str) -> bool:
        return bool(self._sockets[socket_id].handle.send(text))

    def close_socket(self, socket_id: int, code: int, reason: str) -> int:
        sock = self._sockets.pop(socket_id, None)
        if sock is None:
            return 0
        unsent = int(sock.handle.close(code, reason))
        sock.release()
        return unsent

    def set_timer(self, delay: float | None) -> None:
        if self._timer_handle is not None:
            js.clearTimeout(self._timer_handle)
            self._timer_handle = None
        if delay is not None:
            # Browsers fire a timeout over 2**31 - 1 ms at once; the core re-arms a long wait.
            self._timer_handle = js.setTimeout(self._on_timer, min(delay * 1000.0, 2**31 - 1))

    def save(self, entry: Outbound) -> None:
        self._outbox.save(entry, self._clock())

    def forget(self, id: str) -> None:
        self._outbox.forget(id)

    def load(self) -> list[Outbound]:
        return self._outbox.load(self._clock())

    def run_async(self, awaitable: Awaitable[object], done: Callable[[bool, object], None]) -> None:
        """Run ``awaitable`` (a coroutine, or a JS Promise) on Pyodide's event loop."""

        async def run() -> None:
            try:
                value = await awaitable
            except Exception as exc:
                done(False, f"token provider failed: {exc}")
                return
            done(True, value)

        self._tasks.add(task := asyncio.ensure_future(run()))
        task.add_done_callback(self._tasks.discard)

    def dispose(self) -> None:
        for sock in self._sockets.values():
            sock.release()
        self._sockets.clear()
        self.set_timer(None)
        for kind, proxy in self._window_listeners:
            js.window.removeEventListener(kind, proxy)
        Proxies.destroy([proxy for _, proxy in self._window_listeners])
        self._window_listeners = []
        Proxies.destroy([self._on_timer])

    # --- plumbing ---------------------------------------------------------------------------

    def _closed(self, socket_id: int, code: int, reason: str, unsent: int) -> None:
        sock = self._sockets.pop(socket_id, None)
        if sock is not None:
            sock.release()
        self._driver.socket_closed(socket_id, int(code), str(reason), int(unsent or 0))

    def _timer_fired(self) -> None:
        self._timer_handle = None
        self._driver.timer_fired()

    def _on_visibility(self, _event: Any) -> None:
        if js.document.visibilityState == "visible":
            self._driver.page_visible()
        else:
            self._driver.page_hidden()

    def _on_pageshow(self, event: Any) -> None:
        if getattr(event, "persisted", False):  # restored from the back/forward cache
            self._driver.page_visible()


def _durable_outbox(url: str) -> DurableOutbox:
    """The outbox's storage: ``localStorage``, or memory only where touching it throws."""
    try:
        storage = js.window.localStorage
    except Exception as exc:  # a SecurityError where storage is blocked
        return DurableOutbox(url, None, js.Date.now, why=str(exc))
    return DurableOutbox(url, storage, js.Date.now)


def _frames(batch: Any) -> str | Iterable[str | int]:
    """A batch from static/wsclient.js: text-only batches arrive as one string, the frames
    joined with U+001E (the driver reads it as such); others as an array of strings and binary
    frame sizes."""
    if type(batch) is str:
        return batch
    return cast(list[str | int], batch.to_py())


def js_token_provider(fn: Any) -> TokenProvider:
    """A JavaScript token provider as the driver calls it: ``{reason, attempt}`` goes in as a
    plain JS object; a Promise comes back as an awaitable; JS ``null``/``undefined`` is None."""

    def provider(ctx: dict[str, object]) -> object:
        result = fn(to_js(ctx, dict_converter=js.Object.fromEntries))
        if getattr(result, "then", None) is not None:  # a Promise (or thenable)

            async def settled() -> object:
                return _from_js(await result)

            return settled()
        return _from_js(result)

    return provider


def page_token_provider() -> TokenProvider | None:
    """``window.wsclientAuth``, read once when the client starts (a function, or nothing)."""
    fn = getattr(js.window, "wsclientAuth", None)
    if fn is None or fn is jsnull or getattr(fn, "typeof", None) != "function":
        return None
    return js_token_provider(fn)


def _from_js(value: object) -> object:
    return None if value is jsnull else value
