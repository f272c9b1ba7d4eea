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
- per ``BrowserTabs`` (tab sharing, ``static/tabs.js``): its timer and drain callbacks and the
  five hooks ``createTabs`` calls, destroyed by ``close``;
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
from .tabs_outbox import Adoption, owner

if TYPE_CHECKING:
    from .driver import Driver, TokenProvider
    from .tabs import SharedTab
    from .tabs_hub import Posted


#: The longest delay ``setTimeout`` keeps (browsers fire a longer one at once): the timer is
#: re-armed for long waits, and it bounds the page API's request timeouts.
MAX_TIMER_MS: int = 2**31 - 1


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


class _Timer:
    """One re-armable ``setTimeout`` and the proxy it calls (destroyed by ``close``)."""

    __slots__ = ("_fn", "_handle", "_proxy")

    def __init__(self, fn: Callable[[], None]) -> None:
        self._fn = fn
        self._handle: Any = None
        self._proxy = Proxies.create(self._fired)

    def set(self, delay: float | None) -> None:
        """Replace the pending call (None: cancel it). Browsers fire a delay over
        ``MAX_TIMER_MS`` at once, so a longer wait is cut there (the caller re-arms)."""
        if self._handle is not None:
            js.clearTimeout(self._handle)
            self._handle = None
        if delay is not None:
            self._handle = js.setTimeout(self._proxy, min(delay * 1000.0, MAX_TIMER_MS))

    def close(self) -> None:
        self.set(None)
        Proxies.destroy([self._proxy])

    def _fired(self) -> None:
        self._handle = None
        self._fn()


class BrowserPort:
    """The driver's port in the page: WebSockets, one ``setTimeout`` and window events."""

    def __init__(
        self,
        url: str,
        driver: Driver,
        *,
        clock: Callable[[], float] = time.monotonic,
        owns: Callable[[list[Outbound]], list[Outbound]] | None = None,
    ) -> None:
        """``owns``: which stored outbox entries this tab takes over on load (a tab that shares
        takes its own and those of tabs that are gone: ``tabs_outbox.Adoption.mine``)."""
        self.url = url
        self._driver = driver
        self._clock = clock
        self._owns = owns
        self._open_socket = js_module().openSocket
        self._outbox = _durable_outbox(url)
        self._sockets: dict[int, _Socket] = {}
        self._tasks: set[asyncio.Future[None]] = set()  # token answers under way
        self._timer = _Timer(driver.timer_fired)
        self._window_listeners = [
            ("online", Proxies.create(lambda _e: driver.network_changed(True))),
            ("offline", Proxies.create(lambda _e: driver.network_changed(False))),
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
        self._timer.set(delay)

    def save(self, entry: Outbound) -> None:
        self._outbox.save(entry, self._clock())

    def forget(self, id: str) -> None:
        self._outbox.forget(id)

    def load(self) -> list[Outbound]:
        entries = self.stored()
        return entries if self._owns is None else self._owns(entries)

    def stored(self) -> list[Outbound]:
        """Every outbox entry stored for this URL, whichever tab queued it, oldest first."""
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
        self._timer.close()
        for kind, proxy in self._window_listeners:
            js.window.removeEventListener(kind, proxy)
        Proxies.destroy([proxy for _, proxy in self._window_listeners])
        self._window_listeners = []

    # --- plumbing ---------------------------------------------------------------------------

    def _closed(self, socket_id: int, code: int, reason: str, unsent: int) -> None:
        sock = self._sockets.pop(socket_id, None)
        if sock is not None:
            sock.release()
        self._driver.socket_closed(socket_id, int(code), str(reason), int(unsent or 0))

    def _on_visibility(self, _event: Any) -> None:
        if js.document.visibilityState == "visible":
            self._driver.visibility_changed(True)
        else:
            self._driver.visibility_changed(False)

    def _on_pageshow(self, event: Any) -> None:
        if getattr(event, "persisted", False):  # restored from the back/forward cache
            self._driver.visibility_changed(True)


def sharing_supported() -> bool:
    """The browser has what tab sharing needs (Web Locks and ``BroadcastChannel``)."""
    return bool(js_module().sharingSupported())


class BrowserTabs:
    """``tabs.TabsPlatform`` in the page: ``createTabs`` of static/tabs.js (the leader lock, the
    channel, the term in ``localStorage``, the tabs' liveness locks), one ``setTimeout`` for the
    hub, and a microtask for ``SharedTab.drain``.

    Set ``share`` before the first lock grant or message can arrive (it is reported from the
    next task on). ``on_sleep``/``on_wake``: the page goes into (or out of) the back/forward
    cache or is frozen; ``on_unload``: the page is going away for good; ``on_tab_left``: a tab
    said it leaves (its stored outbox entries may be this tab's to take over now)."""

    def __init__(self, url: str, tab_id: str, *, clock: Callable[[], float] = time.monotonic):
        self.tab_id = tab_id
        self.share: SharedTab | None = None
        self.adoption = Adoption(tab_id)
        self.on_sleep: Callable[[], None] = _nothing
        self.on_wake: Callable[[], None] = _nothing
        self.on_unload: Callable[[], None] = _nothing
        self.on_tab_left: Callable[[], object] = _nothing
        self._clock = clock
        self._drain_scheduled = False
        self._tasks: set[asyncio.Future[None]] = set()
        self._timer = _Timer(self._timer_fired)
        self._on_drain = Proxies.create(self._drain)
        hooks = {
            "granted": Proxies.create(self._granted),
            "message": Proxies.create(self._message),
            "sleep": Proxies.create(lambda: self.on_sleep()),
            "wake": Proxies.create(lambda: self.on_wake()),
            "unload": Proxies.create(lambda: self.on_unload()),
        }
        self._hooks = list(hooks.values())
        self._tabs = js_module().createTabs(
            url, tab_id, to_js(hooks, dict_converter=js.Object.fromEntries)
        )
        self.alive = self._tabs.alive  # a Promise: this tab's liveness lock is held

    # --- tabs.TabsPlatform ------------------------------------------------------------------

    def now(self) -> float:
        return self._clock()

    def request_lock(self) -> None:
        self._tabs.requestLeader()

    def release_lock(self) -> None:
        self._tabs.releaseLeader()

    def post(self, message: Posted) -> None:
        if isinstance(message, str):  # the leader's frames: a string crosses as it is
            self._tabs.post(message)
        else:
            self._tabs.post(to_js(message, dict_converter=js.Object.fromEntries))

    def store_term(self, term: int) -> None:
        self._tabs.storeTerm(term)

    def set_timer(self, delay: float | None) -> None:
        self._timer.set(delay)

    def wake(self) -> None:
        if not self._drain_scheduled:
            self._drain_scheduled = True
            js.queueMicrotask(self._on_drain)

    # --- outbox adoption --------------------------------------------------------------------

    def adopt(
        self, stored: list[Outbound], restore: Callable[[list[Outbound]], None]
    ) -> list[asyncio.Future[None]]:
        """Ask whether the tabs that queued ``stored`` entries are gone; hand each gone tab's
        entries to ``restore`` as soon as its liveness lock is granted to this tab. Returns the
        questions under way."""
        asked: list[asyncio.Future[None]] = []
        for tab in self.adoption.to_probe(entry.id for entry in stored):
            theirs = [entry for entry in stored if owner(entry.id) == tab]
            task = asyncio.ensure_future(self._probe(tab, theirs, restore))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            asked.append(task)
        return asked

    async def _probe(
        self, tab: str, theirs: list[Outbound], restore: Callable[[list[Outbound]], None]
    ) -> None:
        granted = bool(await self._tabs.probeTab(tab))
        if self.adoption.answered(tab, granted):
            restore(theirs)

    def close(self) -> None:
        """Release the locks and the channel, and free the proxies (the page is going away)."""
        self._timer.close()
        self._tabs.close()
        Proxies.destroy([self._on_drain, *self._hooks])
        self._hooks = []

    # --- plumbing ---------------------------------------------------------------------------

    def _granted(self, stored_term: Any) -> None:
        if self.share is not None:
            self.share.lock_granted(int(stored_term))

    def _message(self, data: Any) -> None:
        if type(data) is str:  # the leader's frames (a JS string arrives as a str)
            if self.share is not None:
                self.share.message(data)
            return
        message = data.to_py() if hasattr(data, "to_py") else data
        if self.share is None or not isinstance(message, dict):
            return
        self.share.message(message)
        if message.get("k") in ("gone", "bye"):
            self.on_tab_left()

    def _timer_fired(self) -> None:
        if self.share is not None:
            self.share.timer_fired()

    def _drain(self) -> None:
        self._drain_scheduled = False
        if self.share is not None:
            self.share.drain()


def _nothing() -> None:
    pass


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
