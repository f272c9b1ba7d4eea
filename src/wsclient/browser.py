"""The browser adapter: the one module that crosses the Pyodide FFI with Python callables.

``BrowserPort`` is the ``driver.Port`` of the page: it opens WebSockets through
``static/wsclient.js`` (which batches frames so that one FFI call carries many), keeps the one
timer and reports ``online``/``offline``, ``visibilitychange`` and ``pageshow`` to the driver.

Proxy ownership (Pyodide keeps a JS function made from a Python callable alive until it is
destroyed, and nothing else frees it): every ``create_proxy`` in the package happens here, through
``_Proxies``, and each is destroyed when its owner is done with it:

- per socket: three handlers (open, batch of frames, close), destroyed the moment the driver lets
  the socket go (closed by the peer, or by us: we never wait for a dead link's closing handshake);
- per port: the timer callback and the four window listeners, destroyed by ``dispose``;
- per UI helper (``Ticker``, ``FrameScheduler``, ``listen``): destroyed by their ``close``/remover.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

import js  # type: ignore[import-not-found]
from pyodide.ffi import (  # type: ignore[import-not-found]
    JsProxy,
    create_once_callable,
    create_proxy,
    jsnull,
)

from .core import Health
from .durable import DurableOutbox
from .messages import to_wire
from .outbound import Outbound
from .records import Record
from .stores import Readable, callback_errors, get, report_callback_error, subscriber_count

if TYPE_CHECKING:
    from .app import Client
    from .driver import Driver

log = logging.getLogger("wsclient")

#: The page's document, for the DOM components in ``ui.py``.
document: Any = js.document


def _js_module() -> Any:
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


def element_by_id(element_id: str) -> Any | None:
    """The element with that id, or None (Pyodide gives JS ``null`` as a ``JsNull``, not None)."""
    element = js.document.getElementById(element_id)
    return None if element is None or element == jsnull else element


class ConsoleHandler(logging.Handler):
    """Log records to the browser console, each at its own console level."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if record.levelno >= logging.ERROR:
                js.console.error(text)
            elif record.levelno >= logging.WARNING:
                js.console.warn(text)
            elif record.levelno >= logging.INFO:
                js.console.info(text)
            else:
                js.console.debug(text)
        except Exception:
            self.handleError(record)


def log_to_console(level: int) -> None:
    """Send the ``wsclient`` loggers' records at ``level`` and above to the console."""
    logger = logging.getLogger("wsclient")
    for handler in [h for h in logger.handlers if isinstance(h, ConsoleHandler)]:
        logger.removeHandler(handler)
    handler = ConsoleHandler()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def online() -> bool:
    """What ``navigator.onLine`` says (it can be wrong: the client only shows it)."""
    return bool(js.navigator.onLine)


def page_url() -> str:
    """The page's address (the client reads ``?ws=`` and its options from it)."""
    return str(js.window.location.href)


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


class _Socket:
    """One browser WebSocket (its handle from static/wsclient.js) and its handler proxies."""

    __slots__ = ("handle", "proxies")

    def __init__(self, handle: JsProxy, proxies: list[JsProxy]) -> None:
        self.handle = handle
        self.proxies = proxies

    def release(self) -> None:
        self.handle.detach()
        _Proxies.destroy(self.proxies)
        self.proxies = []


class BrowserPort:
    """The driver's port in the page: WebSockets, one ``setTimeout`` and window events."""

    def __init__(
        self, url: str, driver: Driver, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.url = url
        self._driver = driver
        self._clock = clock
        self._open_socket = _js_module().openSocket
        self._outbox = _durable_outbox(url)
        self._sockets: dict[int, _Socket] = {}
        self._timer_handle: Any = None
        self._on_timer = _Proxies.create(self._timer_fired)
        self._window_listeners = [
            ("online", _Proxies.create(lambda _e: driver.went_online())),
            ("offline", _Proxies.create(lambda _e: driver.went_offline())),
            ("visibilitychange", _Proxies.create(self._on_visibility)),
            ("pageshow", _Proxies.create(self._on_pageshow)),
        ]
        for kind, proxy in self._window_listeners:
            js.window.addEventListener(kind, proxy)

    # --- driver.Port -------------------------------------------------------------------------

    def now(self) -> float:
        return self._clock()

    def open_socket(self, socket_id: int) -> None:
        driver = self._driver
        on_open = _Proxies.create(lambda: driver.socket_opened(socket_id))
        on_batch = _Proxies.create(lambda batch: driver.frames(socket_id, _frames(batch)))
        on_close = _Proxies.create(
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

    def dispose(self) -> None:
        for sock in self._sockets.values():
            sock.release()
        self._sockets.clear()
        self.set_timer(None)
        for kind, proxy in self._window_listeners:
            js.window.removeEventListener(kind, proxy)
        _Proxies.destroy([proxy for _, proxy in self._window_listeners])
        self._window_listeners = []
        _Proxies.destroy([self._on_timer])

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


# --- the page's JS API (docs/protocol.md) ----------------------------------------------------


def _health_to_page(health: Health) -> dict[str, Any]:
    return {
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
        "protocol": health.protocol,
        "duplicates": health.duplicates,
        "rttSamples": health.rtt_samples,
    }


class JavaScriptError(Exception):
    """What a page callback (a JS listener or store subscriber) threw: its ``name: message``, with
    its JS stack as a note, so the one log line of its first error points at the JS code."""


def _finite(value: object) -> object:
    """``value`` with each infinite float replaced by an integer JSON numeral that JS's
    ``JSON.parse`` reads as the same infinity (a numeral too large for a double, e.g. ``1e400``
    in a frame, parses as ``inf`` in Python and as ``Infinity`` in JS); NaN cannot come from a
    frame (``parse`` drops it), so it becomes null, as ``JSON.stringify`` writes it."""
    if isinstance(value, float):
        if value != value:
            return None
        if value in (math.inf, -math.inf):
            return _JS_INFINITY if value > 0 else -_JS_INFINITY
        return value
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


#: A numeral that JS's JSON.parse reads as Infinity (anything above ~1.8e308 does).
_JS_INFINITY: int = 10**400


def json_for_js(value: object) -> str:
    """JSON text of ``value`` that JS's ``JSON.parse`` reads as the value the frame held: exact
    for everything but integers above 2**53, which JS reads as the nearest Number (what it does
    with the frame itself), and infinities, written as numerals JS reads as ``Infinity``."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:  # an infinity (the rare path: only numerals over ~1.8e308 make one)
        return json.dumps(_finite(value), allow_nan=False)


def _record_fields(value: Record) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__record_fields__}


def _nested_records(value: Mapping[str, Mapping[str, Record]]) -> dict[str, dict[str, Any]]:
    """``files``/``processes`` for JS: project -> key -> the record's fields as an object."""
    return {
        project: {key: _record_fields(item) for key, item in items.items()}
        for project, items in value.items()
    }


def expose_client(client: Client, mount_status: Callable[[Any], Callable[[], None]]) -> None:
    """Publish ``window.wsclient`` (the page API of docs/protocol.md), then dispatch
    ``wsclient:ready``. The API itself is JavaScript (``createClient`` in static/wsclient.js);
    this builds the bridge it calls, which speaks JSON text and plain strings only: values reach
    JS as ``json_for_js`` text that JS turns into values with ``JSON.parse``, and messages come
    from JS as ``JSON.stringify`` text that is sent as it is.

    JS callbacks arrive wrapped so that they never throw (``guarded`` in static/wsclient.js
    reports what they threw through ``countError``). ``mount_status(element)`` mounts the status
    component and returns its unmount function.
    """
    stores: dict[str, tuple[Readable[Any], Callable[[Any], object]]] = {
        "state": (client.state, lambda state: state.to_page()),
        "messages": (client.messages, lambda window: [to_wire(m) for m in window]),
        "health": (client.health, _health_to_page),
        "sync": (client.sync, dict),
        "projects": (client.projects, dict),
        "files": (client.files, _nested_records),
        "processes": (client.processes, _nested_records),
    }

    def given(fn: Any) -> Any | None:
        """A JS callback argument, or None for JS undefined/null."""
        return None if fn is None or fn is jsnull else fn

    def subscribe(name: str, run: Any, invalidate: Any) -> JsProxy:
        store, convert = stores[name]
        invalidate = given(invalidate)
        unsubscribe = store.subscribe(
            lambda value: run(json_for_js(convert(value))),
            (lambda: invalidate()) if invalidate is not None else None,
        )
        return create_once_callable(unsubscribe)

    def on(type_: str, listener: Any) -> JsProxy:
        off = client.on(type_, lambda message: listener(json_for_js(to_wire(message))))
        return create_once_callable(off)

    def watch(request_id: str, settle: Any) -> bool:
        """Settle the JS promise when request ``request_id`` is over (at once if it is); False
        if the page has no such request."""
        try:
            client.watch(
                request_id,
                lambda ok, data, error: settle(ok, json_for_js(data) if ok else None, error),
            )
        except KeyError:
            return False
        return True

    def unsubscribe_project(project_id: str) -> bool:
        if project_id not in client.core.subscriptions:
            return False
        client.unsubscribe(project_id)
        return True

    def count_error(where: str, text: str, stack: str, key: int) -> None:
        exc = JavaScriptError(text)
        if stack:
            exc.add_note(stack)
        report_callback_error(where, exc, ("js", int(key)))

    def callback_errors_now() -> str:
        errors = get(callback_errors)
        return json.dumps({"count": errors.count, "last": errors.last})

    def wasm_bytes() -> int:
        """The size of Pyodide's WebAssembly memory (it only grows: the most ever held)."""
        import pyodide_js  # type: ignore[import-not-found]

        return int(pyodide_js._module.HEAPU8.buffer.byteLength)

    bridge: dict[str, Callable[..., Any]] = {
        "send": client.send_text,
        "request": client.request_text,
        "watch": watch,
        "pending": lambda: json_for_js(client.pending()),
        "subscribe_project": client.subscribe,
        "unsubscribe_project": unsubscribe_project,
        "on": on,
        "subscribe": subscribe,
        "connect": client.connect,
        "disconnect": client.disconnect,
        "mountStatus": lambda element: create_once_callable(mount_status(element)),
        "countError": count_error,
        "callbackErrors": callback_errors_now,
        "liveProxies": live_proxy_count,
        "wasmBytes": wasm_bytes,
        "maxQueueBytes": lambda: client.core.options.max_queue_bytes,
        "subscriberCount": lambda name: subscriber_count(stores[name][0]),
    }
    py = js.Object.new()
    for name, fn in bridge.items():
        setattr(py, name, _Proxies.create(fn))
    js.window.wsclient = _js_module().createClient(py)
    js.window.dispatchEvent(js.CustomEvent.new("wsclient:ready"))
