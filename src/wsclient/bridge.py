"""The page bridge: ``window.wsclient`` (the page API of docs/protocol.md) over the Client's
public API. The API itself is JavaScript (``createClient`` in static/api.js); this module
builds the small bridge it calls, which speaks JSON text and plain strings only.

Each rule the page API applies has its home here, on the Python side, and crosses as data: the
limits (``limits()``), the store names (``storeNames()``), the nesting check (Python measures
server frames with the same ``too_deep``) and the words for a message over the byte bound
(``tooLarge(size)``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsProxy, jsnull  # type: ignore[import-not-found]

from .client import DEFAULT_REQUEST_TIMEOUT, ArgumentError
from .core import Health
from .messages import MAX_DEPTH, to_wire, too_deep
from .outbound import too_large
from .port import MAX_TIMER_MS, Proxies, js_module, js_token_provider, live_proxy_count, once
from .records import Record
from .stores import Readable, callback_errors, get, report_callback_error, subscriber_count

if TYPE_CHECKING:
    from .client import Client

_T = TypeVar("_T")


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
        "lastError": health.last_error,
        "auth": health.auth,
        "authRefreshAt": health.auth_refresh_at,
        "role": health.role,
        "tabs": health.tabs,
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


def _flat(text: str) -> str:
    """``text`` if it nests no deeper than ``MAX_DEPTH``; else a TypeError (JS throws it as one)."""
    if len(text) > MAX_DEPTH and too_deep(text):
        raise TypeError(f"expected arrays and objects nested at most {MAX_DEPTH} levels deep")
    return text


def _js_argument(check: Callable[[], _T]) -> _T:
    """``check()``, with the client's `ArgumentError` raised as a TypeError (JS throws it as
    one, as the web platform does for a bad argument)."""
    try:
        return check()
    except ArgumentError as exc:
        raise TypeError(str(exc)) from None


def _js_number(value: float) -> str:
    """``value`` as JavaScript prints it: ``NaN``, ``Infinity``, ``5`` (not ``5.0``)."""
    if math.isnan(value) or math.isinf(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if float(value).is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(float(value))


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
    ``wsclient:ready``. The API itself is JavaScript (``createClient`` in static/api.js);
    this builds the bridge it calls, which speaks JSON text and plain strings only: values reach
    JS as ``json_for_js`` text that JS turns into values with ``JSON.parse``, and messages come
    from JS as ``JSON.stringify`` text that is sent as it is.

    JS callbacks arrive wrapped so that they never throw (``guarded`` in static/api.js
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
        return once(unsubscribe)

    def on(type_: str, listener: Any) -> JsProxy:
        off = client.on(type_, lambda message: listener(json_for_js(to_wire(message))))
        return once(off)

    def watch(request_id: str, settle: Any) -> str | None:
        """Settle the JS promise when request ``request_id`` is over (at once if it is); what
        is wrong if the page has no such request."""
        try:
            client.watch(
                request_id,
                lambda ok, data, error: settle(ok, json_for_js(data) if ok else None, error),
            )
        except KeyError as exc:
            return str(exc.args[0])
        return None

    def request(text: str, timeout_ms: float | None) -> str:
        """``wsclient.request``: the client's rules, with the timeout in milliseconds."""
        timeout = DEFAULT_REQUEST_TIMEOUT
        if timeout_ms is not None:
            if not 1 <= timeout_ms <= MAX_TIMER_MS:  # NaN too
                raise TypeError(
                    f"expected a timeout from 1 to {MAX_TIMER_MS} milliseconds, "
                    f"got {_js_number(timeout_ms)}"
                )
            timeout = timeout_ms / 1000
        return _js_argument(lambda: client.request_text(_flat(text), timeout))

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

    limits = {
        "maxDepth": MAX_DEPTH,
        "maxQueueBytes": client.options.max_queue_bytes,
    }
    bridge: dict[str, Callable[..., Any]] = {
        "limits": lambda: json.dumps(limits),
        "storeNames": lambda: json.dumps(list(stores)),
        "tooLarge": lambda size: too_large(int(size), client.options.max_queue_bytes),
        "send": lambda text: client.send_text(_flat(text)),
        "request": request,
        "watch": watch,
        "pending": lambda: json_for_js(client.pending()),
        "subscribe_project": lambda project_id: _js_argument(lambda: client.subscribe(project_id)),
        "unsubscribe_project": lambda id_: _js_argument(lambda: client.unsubscribe(id_)),
        "on": on,
        "subscribe": subscribe,
        "connect": client.connect,
        "disconnect": client.disconnect,
        "setAuth": lambda fn: client.set_auth(None if given(fn) is None else js_token_provider(fn)),
        "mountStatus": lambda element: once(mount_status(element)),
        "countError": count_error,
        "callbackErrors": callback_errors_now,
        "liveProxies": live_proxy_count,
        "wasmBytes": wasm_bytes,
        "subscriberCount": lambda name: subscriber_count(stores[name][0]),
    }
    py = js.Object.new()
    for name, fn in bridge.items():
        setattr(py, name, Proxies.create(fn))
    js.window.wsclient = js_module().createClient(py)
    js.window.dispatchEvent(js.CustomEvent.new("wsclient:ready"))
