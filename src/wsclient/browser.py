"""The browser adapter: the one module that crosses the Pyodide FFI with Python callables.

It drives the sans-I/O ``core.Connection`` with what the browser reports (socket events, one
timer, ``online``/``offline``, ``visibilitychange``, ``pageshow``) and performs the actions the
core asks for.

Proxy ownership (see PLATFORM.md for what leaks): every ``create_proxy`` in the package happens
here, through ``_Proxies``, and each is destroyed when its owner is done with it:

- per socket: three handlers (open, batch of frames, close), destroyed the moment the core lets
  the socket go (closed by the peer, or by us: we never wait for a dead link's closing handshake);
- per client: the timer callback and the four window listeners, destroyed by
  ``BrowserClient.close``;
- per UI helper (``Ticker``, ``FrameScheduler``, ``listen``): destroyed by their ``close``/disposer.

Hot path: frames are collected by a few lines of JavaScript and handed to Python in batches (one FFI
call per batch, not per frame), on a ``MessageChannel`` hop. Under load many frames share one
crossing; at low rates each frame arrives alone after one extra task hop (microseconds).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import js  # type: ignore[import-not-found]
from pyodide.ffi import (  # type: ignore[import-not-found]
    JsProxy,
    create_once_callable,
    create_proxy,
    jsnull,
    to_js,
)

from .core import CloseSocket, Connection, Health, OpenSocket, SendText
from .messages import Pong, to_wire
from .stores import Readable

if TYPE_CHECKING:
    from .app import Client

T = TypeVar("T")

log = logging.getLogger("wsclient")

#: The page's document, for the DOM components in ``ui.py``.
document: Any = js.document


def element_by_id(element_id: str) -> Any | None:
    """The element with that id, or None (Pyodide gives JS ``null`` as a ``JsNull``, not None)."""
    element = js.document.getElementById(element_id)
    return None if element is None or element == jsnull else element


def page_url() -> str:
    """The page's address (the client reads ``?ws=`` and its options from it)."""
    return str(js.window.location.href)


# Collects frames into arrays and delivers them in one call; reports a constructor failure
# (e.g. an unsupported URL) as a close, so the core sees one kind of failure. Adopts the socket
# that static/early.js opened during boot when it is for the same URL: its open, its buffered
# frames and its close (if any) are replayed in that order, in a microtask, i.e. asynchronously
# like real socket events but before any other task.
_SOCKET_SHIM = r"""
return function openSocket(url, onOpen, onBatch, onClose) {
  const early = window.__wsclientEarly;
  window.__wsclientEarly = undefined;
  const sameUrl = (a, b) => {
    try { return new URL(a).href === new URL(b).href; } catch (_) { return false; }
  };
  let ws;
  if (early && sameUrl(early.url, url)) {
    ws = early.ws;
  } else {
    if (early) early.ws.close(1000);
    try {
      ws = new WebSocket(url);
    } catch (err) {
      const t = setTimeout(() => onClose(1006, String((err && err.message) || err)), 0);
      return { send() {}, close() {}, detach() { clearTimeout(t); } };
    }
  }
  ws.binaryType = "arraybuffer";
  // A batch whose frames are all text without U+001E (which valid JSON never holds unescaped)
  // crosses as one string that Python splits: one string conversion instead of one per frame.
  let buf = [];
  let joinable = true;
  let scheduled = false;
  const channel = new MessageChannel();
  // Time-sliced delivery: a task hands Python about SLICE_MS of frames (learned from how long
  // the last batches took per frame, between MIN_BATCH and MAX_BATCH), so under a flood clicks
  // and animation frames never wait long behind a batch.
  const SLICE_MS = 8;
  const MIN_BATCH = 16;
  const MAX_BATCH = 512;
  let msPerFrame = SLICE_MS / 256;
  const flush = (all) => {
    scheduled = false;
    while (buf.length) {
      const limit = Math.max(MIN_BATCH, Math.min(MAX_BATCH, Math.floor(SLICE_MS / msPerFrame)));
      const b = buf.length > limit ? buf.splice(0, limit) : buf;
      const joined = joinable;
      if (b === buf) { buf = []; joinable = true; }
      const started = performance.now();
      onBatch(joined ? b.join("\x1e") : b);
      msPerFrame = 0.7 * msPerFrame + (0.3 * (performance.now() - started)) / b.length;
      if (!all) break;
    }
    if (buf.length && !scheduled) schedule();
  };
  // A MessageChannel hop is the quickest way to run after the frames queued so far, but under a
  // flood it can starve timers; so at least every YIELD_MS the next batch waits in the timer queue
  // instead, behind whatever timers are already due.
  const YIELD_MS = 20;
  let lastYield = performance.now();
  const schedule = () => {
    scheduled = true;
    if (performance.now() - lastYield < YIELD_MS) {
      channel.port2.postMessage(0);
    } else {
      setTimeout(() => { lastYield = performance.now(); flush(false); }, 0);
    }
  };
  channel.port1.onmessage = () => flush(false);
  ws.onopen = () => onOpen();
  ws.onmessage = (e) => {
    const d = e.data;
    if (typeof d === "string") {
      if (joinable && d.includes("\x1e")) joinable = false;
      buf.push(d);
    } else {
      joinable = false;
      buf.push(d.byteLength);
    }
    if (!scheduled) schedule();
  };
  ws.onclose = (e) => { flush(true); onClose(e.code, e.reason); };
  if (ws === early?.ws && (early.opened || early.closed)) {
    for (const frame of early.frames) {
      if (typeof frame !== "string" || frame.includes("\x1e")) joinable = false;
      buf.push(frame);
    }
    scheduled = true;  // no flush before the replayed open
    queueMicrotask(() => {
      if (early.opened) onOpen();
      flush(Boolean(early.closed));
      if (early.closed) onClose(early.closed.code, early.closed.reason);
    });
  }
  return {
    send(text) { ws.send(text); },
    close(code, reason) {
      try { ws.close(code, reason); } catch (err) { ws.close(); }
    },
    detach() {
      ws.onopen = ws.onmessage = ws.onclose = null;
      channel.port1.onmessage = null;
      channel.port1.close();
      buf = [];
      joinable = true;
      if (ws.readyState < 2) ws.close(1000);
    },
  };
};
"""


class _Proxies:
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


def live_proxy_count() -> int:
    """How many proxies this package created and has not destroyed yet."""
    return _Proxies.live


def to_js_value(value: object) -> Any:
    """A plain JS value (objects, not Maps) for a Python value, as JS callbacks expect."""
    return to_js(value, dict_converter=js.Object.fromEntries)


class _Socket:
    """One browser WebSocket and the three handler proxies that feed its events to the core."""

    __slots__ = ("handle", "proxies")

    def __init__(self, handle: JsProxy, proxies: list[JsProxy]) -> None:
        self.handle = handle
        self.proxies = proxies

    def release(self) -> None:
        self.handle.detach()
        _Proxies.destroy(self.proxies)
        self.proxies = []


class BrowserClient:
    """Runs a ``core.Connection`` against the browser: sockets, the timer and window events.

    ``on_text(text)`` gets every text frame and returns the parsed message, if any (a ``Pong``
    gives a round-trip time); ``on_binary(size)`` gets binary frames (the protocol has
    none: the router drops and counts them); ``on_batch_end()`` follows each batch of frames
    (the router publishes its stores once per batch); ``on_health(health)`` is called whenever
    the connection's health changes.
    """

    def __init__(
        self,
        url: str,
        core: Connection,
        *,
        on_text: Callable[[str], object],
        on_binary: Callable[[int], None],
        on_batch_end: Callable[[], None],
        on_health: Callable[[Health], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.core = core
        self._on_text = on_text
        self._on_binary = on_binary
        self._on_batch_end = on_batch_end
        self._on_health = on_health
        self._clock = clock
        self._open_socket = js.Function.new(_SOCKET_SHIM)()
        self._sockets: dict[int, _Socket] = {}
        self._timer_handle: Any = None
        self._timer_at: float | None = None
        self._on_timer_proxy = _Proxies.create(self._on_timer)
        self._window_listeners = [
            ("online", _Proxies.create(lambda _e: self._input(self.core.went_online))),
            ("offline", _Proxies.create(lambda _e: self._input(self.core.went_offline))),
            ("visibilitychange", _Proxies.create(self._on_visibility)),
            ("pageshow", _Proxies.create(self._on_pageshow)),
        ]
        for kind, proxy in self._window_listeners:
            js.window.addEventListener(kind, proxy)
        self._last_health: Health | None = None
        self._closed = False
        if not js.navigator.onLine:
            self._input(self.core.went_offline)

    # --- commands from the page ------------------------------------------------------------

    def connect(self) -> None:
        self._input(self.core.connect)

    def disconnect(self) -> None:
        self._input(self.core.disconnect)

    def send_text(self, text: str) -> None:
        self.core.send(text, self._clock())
        self._perform()

    def subscribe(self, project_id: str) -> None:
        self.core.subscribe(project_id, self._clock())
        self._perform()

    def unsubscribe(self, project_id: str) -> None:
        self.core.unsubscribe(project_id, self._clock())
        self._perform()

    def close(self) -> None:
        """Disconnect and destroy every proxy this client owns (the page is going away)."""
        if self._closed:
            return
        self._closed = True
        self.core.disconnect(self._clock())
        self._perform()
        for sock in self._sockets.values():
            sock.release()
        self._sockets.clear()
        if self._timer_handle is not None:
            js.clearTimeout(self._timer_handle)
        for kind, proxy in self._window_listeners:
            js.window.removeEventListener(kind, proxy)
        _Proxies.destroy([proxy for _, proxy in self._window_listeners])
        _Proxies.destroy([self._on_timer_proxy])
        self._window_listeners = []

    # --- plumbing ---------------------------------------------------------------------------

    def _input(self, method: Callable[[float], None]) -> None:
        method(self._clock())
        self._perform()

    def _perform(self) -> None:
        """Carry out the core's actions, re-arm the one timer, publish health if it changed."""
        for action in self.core.take_actions():
            if isinstance(action, SendText):
                sock = self._sockets.get(action.socket_id)
                if sock is not None:
                    sock.handle.send(action.text)
            elif isinstance(action, OpenSocket):
                self._open(action.socket_id)
            elif isinstance(action, CloseSocket):
                sock = self._sockets.pop(action.socket_id, None)
                if sock is not None:
                    sock.handle.close(action.code, action.reason)
                    sock.release()
        self._arm_timer()
        health = self.core.health()
        if health != self._last_health:
            self._last_health = health
            self._on_health(health)

    def _open(self, socket_id: int) -> None:
        on_open = _Proxies.create(lambda: self._socket_input(socket_id, self.core.socket_opened))
        on_batch = _Proxies.create(lambda batch: self._on_batch(socket_id, batch))
        on_close = _Proxies.create(
            lambda code, reason: self._on_socket_closed(socket_id, int(code), str(reason))
        )
        handle = self._open_socket(self.url, on_open, on_batch, on_close)
        self._sockets[socket_id] = _Socket(handle, [on_open, on_batch, on_close])

    def _socket_input(self, socket_id: int, method: Callable[[int, float], None]) -> None:
        method(socket_id, self._clock())
        self._perform()

    def _on_socket_closed(self, socket_id: int, code: int, reason: str) -> None:
        sock = self._sockets.pop(socket_id, None)
        if sock is not None:
            sock.release()
        self.core.socket_closed(socket_id, code, reason, self._clock())
        self._perform()

    def _on_batch(self, socket_id: int, batch: Any) -> None:
        if socket_id not in self._sockets:
            return
        # Text-only batches arrive as one string, the frames joined with U+001E by the shim.
        frames: Iterable[str | int] = (
            batch.split("\x1e") if type(batch) is str else cast(list[str | int], batch.to_py())
        )
        now = self._clock()
        core = self.core
        core.frame_received(socket_id, now)
        on_text = self._on_text
        pong = False
        for frame in frames:
            if type(frame) is str:
                message = on_text(frame)
                if type(message) is Pong:
                    core.pong_received(socket_id, message.id, now)
                    pong = True
            else:
                self._on_binary(cast(int, frame))
        self._on_batch_end()
        if pong:
            self._perform()

    def _arm_timer(self) -> None:
        deadline = self.core.next_deadline
        if self._timer_at is not None and deadline is not None and self._timer_at <= deadline:
            return  # the armed timer fires first (or on time); the core re-arms from there
        if self._timer_handle is not None:
            js.clearTimeout(self._timer_handle)
            self._timer_handle = None
            self._timer_at = None
        if deadline is None:
            return
        self._timer_at = deadline
        delay_ms = max(0.0, (deadline - self._clock()) * 1000.0)
        self._timer_handle = js.setTimeout(self._on_timer_proxy, delay_ms)

    def _on_timer(self) -> None:
        self._timer_handle = None
        self._timer_at = None
        self._input(self.core.tick)

    def _on_visibility(self, _event: Any) -> None:
        if js.document.visibilityState == "visible":
            self._input(self.core.page_visible)
        else:
            self._input(self.core.page_hidden)

    def _on_pageshow(self, event: Any) -> None:
        if getattr(event, "persisted", False):  # restored from the back/forward cache
            self._input(self.core.page_visible)


class Ticker:
    """Calls ``fn`` every ``interval_ms`` while started (e.g. a retry countdown)."""

    def __init__(self, fn: Callable[[], None], interval_ms: int) -> None:
        self._proxy = _Proxies.create(fn)
        self._interval_ms = interval_ms
        self._handle: Any = None

    def start(self) -> None:
        if self._handle is None:
            self._handle = js.setInterval(self._proxy, self._interval_ms)

    def stop(self) -> None:
        if self._handle is not None:
            js.clearInterval(self._handle)
            self._handle = None

    def close(self) -> None:
        self.stop()
        if self._proxy is not None:
            _Proxies.destroy([self._proxy])
            self._proxy = None


class FrameScheduler:
    """Runs ``fn`` at most once per animation frame, however often ``request()`` is called."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self._fn = fn
        self._proxy = _Proxies.create(self._run)
        self._handle: Any = None

    def request(self) -> None:
        if self._handle is None:
            self._handle = js.requestAnimationFrame(self._proxy)

    def _run(self, _timestamp: float) -> None:
        self._handle = None
        self._fn()

    def close(self) -> None:
        if self._handle is not None:
            js.cancelAnimationFrame(self._handle)
            self._handle = None
        _Proxies.destroy([self._proxy])


def listen(target: Any, kind: str, handler: Callable[[Any], None]) -> Callable[[], None]:
    """``addEventListener`` with an owned proxy; returns the function that removes and frees it."""
    proxy = _Proxies.create(handler)
    target.addEventListener(kind, proxy)
    removed = False

    def remove() -> None:
        nonlocal removed
        if not removed:
            removed = True
            target.removeEventListener(kind, proxy)
            _Proxies.destroy([proxy])

    return remove


# --- the page's JS API (PROTOCOL.md) -----------------------------------------------------------


def _js_store(store: Readable[T], convert: Callable[[T], Any]) -> Any:
    """A Svelte-contract store for JS: ``subscribe(run, invalidate)`` gets plain JS values."""

    def subscribe(run: Any, invalidate: Any = None) -> JsProxy:
        unsubscribe = store.subscribe(
            lambda value: run(convert(value)),
            (lambda: invalidate()) if invalidate is not None else None,
        )
        return create_once_callable(unsubscribe)

    js_store = js.Object.new()
    js_store.subscribe = _Proxies.create(subscribe)
    return js_store


def _health_to_page(health: Health) -> Any:
    return to_js_value(
        {
            "status": health.state.value,
            "attempt": health.attempt,
            "nextRetryAt": health.next_retry_at,
            "lastCloseCode": health.last_close_code,
            "lastCloseReason": health.last_close_reason,
            "error": health.error,
            "rtt": health.rtt,
            "queueDepth": health.queue_depth,
            "queueOverflow": health.queue_overflow,
            "offline": health.offline,
        }
    )


def _from_js(value: Any) -> object:
    return value.to_py() if isinstance(value, JsProxy) else value


def _js_string(value: object, call: str) -> str:
    if not isinstance(value, str):
        kind = "undefined" if value is None else type(value).__name__
        raise TypeError(f"{call} needs a string, got {kind}")
    return value


def expose_client(client: Client, mount_status: Callable[[Any], Callable[[], None]]) -> None:
    """Publish ``window.wsclient`` (PROTOCOL.md's page API), then dispatch ``wsclient:ready``.

    ``mount_status(element)`` mounts the status component and returns its unmount function.
    """

    def on(type_: object, callback: Any) -> JsProxy:
        name = _js_string(type_, "on(type, callback)")
        if not callable(callback):
            raise TypeError("on(type, callback) needs a function as its callback")
        unsubscribe = client.on(name, lambda message: callback(to_js_value(to_wire(message))))
        return create_once_callable(unsubscribe)

    def mount(element: Any) -> JsProxy:
        return create_once_callable(mount_status(element))

    api = js.Object.new()
    api.send = _Proxies.create(lambda message: client.send(_from_js(message)))
    api.subscribe = _Proxies.create(
        lambda project_id: client.subscribe(_js_string(project_id, "subscribe(projectId)"))
    )
    api.unsubscribe = _Proxies.create(
        lambda project_id: client.unsubscribe(_js_string(project_id, "unsubscribe(projectId)"))
    )
    api.on = _Proxies.create(on)
    api.connect = _Proxies.create(client.connect)
    api.disconnect = _Proxies.create(client.disconnect)
    api.state = _js_store(client.state, lambda state: to_js_value(state.to_page()))
    api.messages = _js_store(
        client.messages, lambda window: to_js_value([to_wire(m) for m in window])
    )
    api.health = _js_store(client.health, _health_to_page)
    api.mountStatus = _Proxies.create(mount)
    api.liveProxies = _Proxies.create(live_proxy_count)
    js.window.wsclient = api
    js.window.dispatchEvent(js.CustomEvent.new("wsclient:ready"))
