"""The JS face behaves like JavaScript, and one bad subscriber breaks nothing.

Every test asserts what a JavaScript app on the page sees through ``window.wsclient``: its
values (what ``JSON.parse`` gives), its errors (``TypeError``s naming the method), its wire text
(what ``JSON.stringify`` gives, compared with the frames the server recorded).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from server import ServerThread

# Fast reconnects, and no pings in the recorded frames (they would interleave with the sends).
FAST = {"backoff_initial": 50, "backoff_max": 200, "ping_interval": 600_000}

# Installed after boot: small helpers the tests' page scripts share.
HELPERS_JS = """
() => {
  const ws = window.wsclient;
  window.__t = {
    /** The store's current value (subscribe, read, unsubscribe: the Svelte contract). */
    current(name) {
      let v;
      ws[name].subscribe((x) => { v = x; })();
      return v;
    },
    /** null if f() returns; else what it threw, as plain data. */
    attempt(f) {
      try {
        f();
        return null;
      } catch (e) {
        return {
          type: e instanceof TypeError ? "TypeError" : e instanceof Error ? e.name : typeof e,
          isError: e instanceof Error,
          message: String(e && e.message),
        };
      }
    },
  };
}
"""

# The delivery id a v2 client puts first in a tagged object.
V2_ID = re.compile(r'^\{"id":"[^"]+"(,|(?=\}))')


def _boot(app: Any, server: ServerThread, **query: Any) -> Page:
    """Open the page and wait until the client is connected."""
    page: Page = app(**{**FAST, **query})
    page.evaluate(HELPERS_JS)
    _wait_state(page, "connected")
    return page


def _wait_state(page: Page, status: str) -> None:
    page.wait_for_function(f"() => window.__t.current('state').status === {status!r}")


@pytest.fixture
def console(page: Page) -> list[str]:
    """Every console message of the page, as ``type: text``."""
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    return messages


@pytest.fixture
def v1_server(server: ServerThread) -> Iterator[ServerThread]:
    """The test server speaking v1: the wire text of a send is exactly JSON.stringify's."""
    server.set_v1(True)
    try:
        yield server
    finally:
        server.reset()


def _app_frames(server: ServerThread) -> list[str]:
    """The text frames the client sent, leaving out subscribes and pings."""
    texts: list[str] = []
    for conn in server.snapshot().connections:
        for frame in conn.frames:
            if frame.kind != "text":
                continue
            got = frame.json()
            if isinstance(got, dict) and got.get("type") in ("subscribe", "unsubscribe", "ping"):
                continue
            texts.append(frame.text)
    return texts


def _wait_frames(server: ServerThread, n: int, timeout: float = 10.0) -> list[str]:
    server.wait_for(lambda _snap: len(_app_frames(server)) >= n, timeout=timeout)
    return _app_frames(server)


# --- one bad subscriber breaks nothing ------------------------------------------------------


@pytest.mark.parametrize("store", ["health", "state"])
def test_a_throwing_subscriber_breaks_nothing(
    app: Any, server: ServerThread, page_errors: list[str], console: list[str], store: str
) -> None:
    """A subscriber that throws on every call: state keeps following the true state through
    reconnecting/connected/disconnected, disconnect() does not throw, nothing is uncaught, and
    the error is logged once and counted every time."""
    page = _boot(app, server)
    before = page.evaluate("() => window.wsclient.callbackErrors().count")
    page.evaluate(
        """(store) => {
        const ws = window.wsclient;
        window.thrown = 0;
        ws[store].subscribe((v) => {
            window.thrown += 1;
            throw new Error('bad subscriber ' + v.status + ' (marker-7f3a)');
        });
        window.seen = [];
        ws.state.subscribe((s) => window.seen.push(s.status));
    }""",
        store,
    )
    server.drop()
    page.wait_for_function("() => window.seen.includes('reconnecting')")
    server.wait_for_connections(2)
    _wait_state(page, "connected")
    assert page.evaluate("() => window.__t.attempt(() => window.wsclient.disconnect())") is None
    assert page.evaluate("() => window.__t.current('state')") == {
        "status": "disconnected",
        "reconnectAttempts": 0,
        "error": None,
    }
    seen = page.evaluate("() => window.seen")
    it = iter(seen)
    assert all(s in it for s in ["connected", "reconnecting", "connected", "disconnected"]), seen
    assert seen[-1] == "disconnected"
    assert all(a != b for a, b in itertools.pairwise(seen)), seen  # changes only

    thrown = page.evaluate("() => window.thrown")
    assert thrown >= 4  # at once, reconnecting, connected, disconnected
    errors = page.evaluate("() => window.wsclient.callbackErrors()")
    assert errors["count"] - before == thrown
    assert f"a subscriber of wsclient.{store}" in errors["last"]
    assert "Error: bad subscriber disconnected (marker-7f3a)" in errors["last"]
    assert page_errors == []
    reports = [m for m in console if "marker-7f3a" in m]
    assert len(reports) == 1, reports
    assert reports[0].startswith("error:")
    assert len([m for m in console if f"a subscriber of wsclient.{store} raised" in m]) == 1


def test_a_throwing_listener_and_invalidator_break_nothing(
    app: Any, server: ServerThread, page_errors: list[str]
) -> None:
    """A throwing on() listener does not keep the next listener from its message; a throwing
    invalidate callback does not keep run from its value; a subscriber without an invalidate
    callback costs no error."""
    page = _boot(app, server)
    before = page.evaluate("() => window.wsclient.callbackErrors().count")
    page.evaluate(
        """() => {
        const ws = window.wsclient;
        window.got = [];
        window.runs = [];
        ws.on('chat', () => { throw new TypeError('listener says no'); });
        ws.on('chat', (m) => window.got.push(m.n));
        ws.state.subscribe((s) => window.runs.push(s.status), () => { throw 'not an Error'; });
        ws.health.subscribe(() => {});  // no invalidate: nothing must call one
    }"""
    )
    server.send(text=json.dumps({"type": "chat", "n": 1}))
    server.send(text=json.dumps({"type": "chat", "n": 2}))
    page.wait_for_function("() => window.got.length === 2")
    page.evaluate("() => window.wsclient.disconnect()")
    page.wait_for_function("() => window.runs.at(-1) === 'disconnected'")
    errors = page.evaluate("() => window.wsclient.callbackErrors()")
    assert errors["count"] - before == 3  # two messages, one invalidation
    assert page.evaluate("() => window.got") == [1, 2]
    assert page_errors == []


# --- values arrive as JSON.parse gives them ------------------------------------------------


TYPED_FRAMES = [
    '{"interval":3,"type":"system.heartbeat","timestamp":"2025-01-01T00:00:00Z"}',
    '{"type":"project.updated","project_id":"p","data":{"name":"A"},"meta":{"by":"ann"}}',
    '{"type":"file.uploaded","project_id":"p","file":{"name":"a","path":"/a","size":1,'
    '"asset_type":"image","mime":"image/png"},"extra":[1,{"x":null}]}',
    '{"type":"process.progress","project_id":"p","process_id":"x","progress":0.5,"eta":12}',
]


def test_typed_messages_reach_js_with_every_field_the_server_sent(
    app: Any, server: ServerThread, page_errors: list[str]
) -> None:
    """Messages of the types the client models (heartbeat, project, file, process events)
    reach listeners and the messages store as JSON.parse of the frame: fields the client does
    not model are kept, in the server's order."""
    page = _boot(app, server)
    page.evaluate("() => { window.got = []; window.wsclient.on('*', (m) => window.got.push(m)); }")
    for frame in TYPED_FRAMES:
        server.send(text=frame)
    page.wait_for_function(
        "(n) => window.got.filter((m) => m.project_id === 'p' || m.interval).length === n",
        arg=len(TYPED_FRAMES),
    )
    result = page.evaluate(
        """(frames) => {
        const got = window.got.filter((m) => m.project_id === 'p' || m.interval);
        const stored = window.__t.current('messages');
        return frames.map((frame, i) => {
            const want = JSON.stringify(JSON.parse(frame));
            const inStore = stored.find((m) => JSON.stringify(m) === want) !== undefined;
            return [JSON.stringify(got[i]) === want, inStore, JSON.stringify(got[i])];
        });
    }""",
        TYPED_FRAMES,
    )
    for (same, in_store, text), frame in zip(result, TYPED_FRAMES, strict=True):
        assert same, f"listener got {text}, the frame was {frame}"
        assert in_store, f"the messages store lacks {frame}"
    assert page_errors == []


def test_integers_above_2_53_arrive_as_numbers(
    app: Any, server: ServerThread, page_errors: list[str]
) -> None:
    """A frame's big integers reach listeners and stores as the Numbers JSON.parse makes of the
    frame (rounded), so JSON.stringify(msg) and id + 1 work; a numeral too large for a double is
    Infinity, as JSON.parse reads it."""
    page = _boot(app, server)
    frame = (
        '{"type":"big","id":12345678901234567891,"n":9007199254740993,'
        '"neg":-9007199254740993,"list":[18446744073709551615,2],"huge":1e400,"tiny":-1e400,'
        '"f":0.1,"e":1e-7}'
    )
    page.evaluate(
        "() => { window.got = []; window.wsclient.on('big', (m) => window.got.push(m)); }"
    )
    server.send(text=frame)
    page.wait_for_function("() => window.got.length === 1")
    result = page.evaluate(
        """(frame) => {
        const m = window.got[0];
        const expected = JSON.parse(frame);
        const last = window.__t.current('messages').findLast((x) => x.type === 'big');
        return {
            types: [typeof m.id, typeof m.n, typeof m.neg, typeof m.list[0]],
            same: JSON.stringify(m) === JSON.stringify(expected),
            sameInStore: JSON.stringify(last) === JSON.stringify(expected),
            idPlusOne: m.id + 1 === expected.id + 1,
            n: m.n === 9007199254740992,
            infinities: [m.huge === Infinity, m.tiny === -Infinity],
            stringified: JSON.stringify(m),
        };
    }""",
        frame,
    )
    assert result["types"] == ["number"] * 4
    assert result["same"] and result["sameInStore"], result["stringified"]
    assert result["idPlusOne"] and result["n"]
    assert result["infinities"] == [True, True]
    assert page_errors == []
    assert page.evaluate("() => window.wsclient.callbackErrors().count") == 0


# --- messages go out as JSON.stringify writes them -----------------------------------------

# Each case: a JS expression; its wire text must be JSON.stringify of the same value.
STRINGIFY_CASES = [
    "({a: undefined, b: 1})",
    "new Map([[1, 2]])",
    "({m: new Map([['k', 'v']]), s: new Set([1])})",
    "new Date(Date.UTC(2020, 1, 29, 12, 0, 0, 5))",
    "({when: new Date(0), nested: {toJSON(key) { return {key, x: 1}; }}})",
    "({toJSON() { return {replaced: true}; }})",
    "[undefined, () => 1, Symbol('s'), NaN, -Infinity, -0]",
    "({big: 1e21, small: 1e-7, max: Number.MAX_VALUE, min: Number.MIN_VALUE, neg0: -0})",
    "({text: 'caf\\u00e9 \\ud83d\\ude00 \\u2028 \\x1e \\ud800 end', esc: '\"\\\\\\n'})",
    "({})",
    "[]",
    "'just a string'",
    "42",
    "null",
    "true",
    "Object.assign(Object.create(null), {z: 1, a: 2})",
    "new (class Point { constructor() { this.x = 1; this.y = 2; } })()",
    "[1, , 3]",
    "({type: 'chat', id: 'mine'})",
]


def _sent_like_stringify(page: Page, server: ServerThread, strip_id: bool) -> None:
    expected = page.evaluate(
        """(cases) => cases.map((src) => {
        const value = (0, eval)(src);
        const text = JSON.stringify(value);
        window.wsclient.send(value);
        return text;
    })""",
        STRINGIFY_CASES,
    )
    frames = _wait_frames(server, len(expected))
    if strip_id:
        frames = [V2_ID.sub("{", f) for f in frames]
    assert frames == expected


def test_send_writes_what_json_stringify_writes_v1(
    app: Any, v1_server: ServerThread, page_errors: list[str]
) -> None:
    """undefined members left out, a Map as {}, Dates and toJSON as JSON.stringify does them,
    exactly (a v1 server: the wire text is the text)."""
    page = _boot(app, v1_server)
    _sent_like_stringify(page, v1_server, strip_id=False)
    assert page_errors == []


def test_send_writes_what_json_stringify_writes_v2(
    app: Any, server: ServerThread, page_errors: list[str]
) -> None:
    """The same on a v2 server, once the delivery id the client puts first is taken out."""
    page = _boot(app, server)
    _sent_like_stringify(page, server, strip_id=True)
    assert page_errors == []


# --- errors --------------------------------------------------------------------------------

# (JS call, the error's type, how its message starts)
MISUSE = [
    ("ws.send(undefined)", "TypeError", "wsclient.send(message): expected a value JSON"),
    ("ws.send(() => 1)", "TypeError", "wsclient.send(message): expected a value JSON"),
    ("ws.send(Symbol('s'))", "TypeError", "wsclient.send(message): expected a value JSON"),
    ("ws.send({n: 1n})", "TypeError", "wsclient.send(message): cannot send this value as JSON"),
    ("ws.send(cyclic)", "TypeError", "wsclient.send(message): cannot send this value as JSON"),
    ("ws.send(deep)", "TypeError", "wsclient.send(message): expected arrays"),
    ("ws.send({toJSON() { throw new Error('no') }})", "TypeError", "wsclient.send(message): "),
    ("ws.request(null)", "TypeError", "wsclient.request(message): expected a plain object"),
    ("ws.request([1])", "TypeError", "wsclient.request(message): expected a plain object"),
    # The value rules of a request are Python's (one home): its texts come from there.
    (
        "ws.request(new Date(0))",
        "TypeError",
        "wsclient.request(message): expected a JSON object, "
        'got the JSON "1970-01-01T00:00:00.000Z"',
    ),
    (
        "ws.request({type: 'x', id: 'a'})",
        "TypeError",
        "wsclient.request(message): the client sets"
        " a request's 'id' itself: remove the 'id' field (got \"a\")",
    ),
    ("ws.request({toJSON: () => ({id: 7})})", "TypeError", "wsclient.request(message): the client"),
    ("ws.request({type: 'x'}, 5)", "TypeError", "wsclient.request(message, options): expected"),
    (
        "ws.request({type: 'x'}, {timeout: -1})",
        "TypeError",
        "wsclient.request(message): expected a timeout from 1 to 2147483647 milliseconds, got -1",
    ),
    ("ws.request({type: 'x'}, {timeout: 1e300})", "TypeError", "wsclient.request(message): expe"),
    (
        "ws.request({type: 'x'}, {timeout: NaN})",
        "TypeError",
        "wsclient.request(message): expected a timeout from 1 to 2147483647 milliseconds, got NaN",
    ),
    ("ws.request({type: 'x'}, {timeout: 2 ** 31})", "TypeError", "wsclient.request(message): exp"),
    ("ws.request({type: 'x'}, {timeout: '5'})", "TypeError", "wsclient.request(message, {timeo"),
    ("ws.request({n: 1n})", "TypeError", "wsclient.request(message): cannot send this value"),
    ("ws.wait(5)", "TypeError", "wsclient.wait(id): expected a request id string, got the num"),
    ("ws.subscribe('')", "TypeError", "wsclient.subscribe(projectId): expected a non-empty"),
    ("ws.subscribe({})", "TypeError", "wsclient.subscribe(projectId): expected a non-empty"),
    ("ws.unsubscribe(null)", "TypeError", "wsclient.unsubscribe(projectId): expected a non-empty"),
    ("ws.unsubscribe('never')", "Error", "wsclient.unsubscribe(projectId): not subscribed to"),
    ("ws.on(5, () => {})", "TypeError", "wsclient.on(type, callback): expected a type string"),
    ("ws.on('x', 'str')", "TypeError", "wsclient.on(type, callback): expected a function"),
    ("ws.mountStatus(null)", "TypeError", "wsclient.mountStatus(element): expected a DOM element"),
    ("ws.mountStatus({})", "TypeError", "wsclient.mountStatus(element): expected a DOM element"),
    ("ws.state.subscribe(5)", "TypeError", "wsclient.state.subscribe(run): expected a function"),
    ("ws.health.subscribe(() => {}, 'x')", "TypeError", "wsclient.health.subscribe(run, inval"),
    ("ws.messages.subscribe()", "TypeError", "wsclient.messages.subscribe(run): expected a fun"),
    ("ws.sync.subscribe(null)", "TypeError", "wsclient.sync.subscribe(run): expected a function"),
]


def test_bad_arguments_throw_one_line_type_errors(
    app: Any, server: ServerThread, page_errors: list[str]
) -> None:
    """Each misuse throws at once: a TypeError for a bad argument (an Error for other misuse),
    one line that names the method, says what was passed and what to pass, with no Python in it;
    nothing reaches the server, and the client still works afterwards (a 10,000-deep value would
    overflow Pyodide's JSON decoder and kill the interpreter: Python refuses it unread)."""
    page = _boot(app, server)
    proxies = page.evaluate("() => window.wsclient.debug.liveProxies()")
    results = page.evaluate(
        """(calls) => {
        const ws = window.wsclient;
        const cyclic = {a: 1}; cyclic.self = cyclic;
        let deep = []; for (let i = 0; i < 10000; i++) deep = [deep];
        return calls.map((src) => window.__t.attempt(() => eval(src)));
    }""",
        [call for call, _, _ in MISUSE],
    )
    for (call, kind, start), got in zip(MISUSE, results, strict=True):
        assert got is not None, f"{call} did not throw"
        assert got["type"] == kind and got["isError"], (call, got)
        message = got["message"]
        assert message.startswith(start), (call, message)
        assert "\n" not in message, (call, message)
        for python in ("Traceback", 'File "', "PythonError", "JsProxy", "pyodide"):
            assert python not in message, (call, message)
        if kind == "TypeError":
            assert "expected" in message or "cannot send" in message or "remove" in message
    waited = page.evaluate(
        "() => window.wsclient.wait('nope').then(() => null, (e) => [e instanceof Error, "
        "e.message])"
    )
    assert waited == [
        True,
        'wsclient.wait(id): no request "nope" is pending; pending() lists the ones this page has',
    ]
    assert page.evaluate("() => window.wsclient.debug.liveProxies()") == proxies
    # The interpreter is alive and nothing of the above was sent.
    page.evaluate("() => window.wsclient.send({type: 'after', ok: true})")
    frames = _wait_frames(server, 1)
    assert [json.loads(f)["type"] for f in frames] == ["after"]
    assert page_errors == []


def test_a_refused_request_rejects_with_a_one_line_error(
    app: Any, server: ServerThread, page_errors: list[str]
) -> None:
    """A request that a full outbox refuses rejects its promise with a one-line Error (no
    traceback), and the request already queued stays pending."""
    page = _boot(app, server, max_queue=1)
    page.evaluate("() => window.wsclient.disconnect()")
    _wait_state(page, "disconnected")
    result = page.evaluate(
        """async () => {
        const ws = window.wsclient;
        const first = ws.request({type: 'one'});
        const second = ws.request({type: 'two'});
        const outcome = await second.then(() => null, (e) => [e instanceof Error, e.message]);
        return { outcome, pending: ws.pending().map((p) => p.message.type) };
    }"""
    )
    assert result["pending"] == ["one"]
    ok, message = result["outcome"]
    assert ok and "\n" not in message and "Traceback" not in message, message
    assert page_errors == []


# What a Python exception's class looks like at the start of a message ("ValueError: ",
# "wsclient.outbound.QueueFull: ").
PYTHON_CLASS = re.compile(r"\b[A-Za-z_][\w.]*(Error|Exception|Full): ")

OVER_LIMIT_JS = """
() => {
  const ws = window.wsclient;
  const bytes = (v) => new TextEncoder().encode(JSON.stringify(v)).length;
  // 2,000 ASCII characters: over the 1,000-byte bound by its length alone (refused in JS).
  const ascii = {type: 'big', pad: 'x'.repeat(2000)};
  // 600 two-byte characters: short enough in UTF-16 to cross, over the bound in UTF-8 (Python
  // measures it and refuses it).
  const accented = {type: 'big', pad: '\\u00e9'.repeat(600)};
  return {
    ascii: [bytes(ascii), window.__t.attempt(() => ws.send(ascii))],
    accented: [
      bytes(accented), JSON.stringify(accented).length,
      window.__t.attempt(() => ws.send(accented)),
    ],
  };
}
"""


def _python_free(message: str) -> None:
    """One line, with no Python exception class or traceback in it."""
    assert "\n" not in message, message
    assert not PYTHON_CLASS.search(message), message
    for python in ("Traceback", 'File "', "PythonError", "wsclient.outbound", "pyodide"):
        assert python not in message, message


def test_an_error_from_python_is_one_line_and_its_traceback_goes_to_debug(
    app: Any, server: ServerThread, page_errors: list[str], console: list[str]
) -> None:
    """A send over max_queue_bytes throws an Error that names the method and the option, with no
    Python class name or traceback (refused in JS when its length alone says so, by Python when
    only its UTF-8 size does); a send into an outbox full of requests likewise. Python's whole
    traceback is on the console at debug level."""
    page = _boot(app, server, max_queue_bytes=1000, max_queue=1)
    with page.expect_console_message(lambda m: "Traceback" in m.text) as logged:
        got = page.evaluate(OVER_LIMIT_JS)
    assert logged.value.type == "debug"
    expected = (
        "wsclient.send(message): a message of {} bytes is larger than max_queue_bytes (1000): "
        "send it in parts, or raise max_queue_bytes"
    )
    size, error = got["ascii"]
    assert error == {"type": "Error", "isError": True, "message": expected.format(size)}
    size, length, error = got["accented"]
    assert length <= 1000 < size  # it crossed into Python, which refused it
    assert error == {"type": "Error", "isError": True, "message": expected.format(size)}
    _python_free(error["message"])
    tracebacks = [m for m in console if "Traceback (most recent call last)" in m]
    assert len(tracebacks) == 1, tracebacks  # the ASCII one never reached Python
    assert tracebacks[0].startswith("debug: wsclient.send(message) failed in Python:")
    assert f"ValueError: a message of {size} bytes is larger than max_queue_bytes" in tracebacks[0]

    # A full outbox: the one request it may hold is pending while disconnected.
    page.evaluate("() => window.wsclient.disconnect()")
    _wait_state(page, "disconnected")
    with page.expect_console_message(lambda m: "Traceback" in m.text) as logged:
        full = page.evaluate(
            """() => {
            window.pendingRequest = window.wsclient.request({type: 'one'});
            return window.__t.attempt(() => window.wsclient.send({type: 'two'}));
        }"""
        )
    assert logged.value.type == "debug"
    assert full["type"] == "Error" and full["isError"], full
    assert full["message"].startswith("wsclient.send(message): the outbox is full"), full
    assert "max_queue" in full["message"]
    _python_free(full["message"])
    tracebacks = [m for m in console if "Traceback (most recent call last)" in m]
    assert len(tracebacks) == 2, tracebacks
    assert tracebacks[1].startswith("debug: wsclient.send(message) failed in Python:")
    assert "wsclient.outbound.QueueFull: the outbox is full" in tracebacks[1]
    assert page.evaluate("() => window.wsclient.pending().map((p) => p.message.type)") == ["one"]
    assert page_errors == []


# --- removers, mountStatus, store notifications --------------------------------------------


def test_mount_status_null_leaks_nothing(
    app: Any, server: ServerThread, page_errors: list[str]
) -> None:
    """mountStatus(null) throws a TypeError and creates no proxy; a real mount's unmount can be
    called twice and frees what the mount took."""
    page = _boot(app, server)
    before = page.evaluate("() => window.wsclient.debug.liveProxies()")
    thrown = page.evaluate("() => window.__t.attempt(() => window.wsclient.mountStatus(null))")
    assert thrown == {
        "type": "TypeError",
        "isError": True,
        "message": "wsclient.mountStatus(element): expected a DOM element, got null",
    }
    assert page.evaluate("() => window.wsclient.debug.liveProxies()") == before
    page.evaluate(
        """() => {
        const el = document.createElement('div');
        el.id = 'extra';
        document.body.append(el);
        window.unmount = window.wsclient.mountStatus(el);
    }"""
    )
    page.wait_for_selector("#extra .connection-status")
    assert page.evaluate("() => window.wsclient.debug.liveProxies()") > before
    twice = "() => [window.__t.attempt(window.unmount), window.__t.attempt(window.unmount)]"
    assert page.evaluate(twice) == [None, None]
    assert page.evaluate("() => window.wsclient.debug.liveProxies()") == before
    assert page.evaluate("() => document.querySelector('#extra').children.length") == 0
    assert page_errors == []


def test_mount_status_takes_an_element_of_an_iframe(
    app: Any, server: ServerThread, page_errors: list[str]
) -> None:
    """An element of an iframe is not `instanceof Element` of the page, and mountStatus takes
    it: the widget renders inside the frame, follows the state, and its unmount frees it."""
    page = _boot(app, server)
    page.evaluate("() => window.wsclient.disconnect()")
    _wait_state(page, "disconnected")
    before = page.evaluate("() => window.wsclient.debug.liveProxies()")  # no socket's proxies
    checks = page.evaluate(
        """() => {
        const frame = document.createElement('iframe');
        frame.id = 'inner';
        document.body.append(frame);
        const doc = frame.contentDocument;
        const el = doc.createElement('div');
        el.id = 'in-frame';
        doc.body.append(el);
        const checks = [el instanceof Element, el.nodeType];
        window.unmountInFrame = window.wsclient.mountStatus(el);
        return checks;
    }"""
    )
    assert checks == [False, 1]  # what made the instanceof test refuse it
    widget = page.frame_locator("#inner").locator("#in-frame .connection-status")
    expect(widget).to_have_attribute("data-status", "disconnected")
    page.evaluate("() => window.wsclient.connect()")
    expect(widget).to_have_attribute("data-status", "connected")
    page.evaluate("() => window.wsclient.disconnect()")
    expect(widget).to_have_attribute("data-status", "disconnected")
    page.evaluate("() => window.unmountInFrame()")
    expect(widget).to_have_count(0)
    assert page.evaluate("() => window.wsclient.debug.liveProxies()") == before
    assert page_errors == []


def test_removers_and_unsubscribers_can_be_called_twice(
    app: Any, server: ServerThread, page_errors: list[str]
) -> None:
    """Every remover and unsubscriber the API returns can be called again: it does nothing."""
    page = _boot(app, server)
    result = page.evaluate(
        """() => {
        const ws = window.wsclient;
        window.heard = [];
        const removers = [ws.on('chat', (m) => window.heard.push(m.n))];
        for (const name of ['state', 'messages', 'health', 'sync']) {
            removers.push(ws[name].subscribe(() => {}));
            removers.push(ws[name].subscribe(() => {}, () => {}));
        }
        const first = removers.map((r) => window.__t.attempt(r));
        const second = removers.map((r) => window.__t.attempt(r));
        return { first, second, types: removers.map((r) => typeof r) };
    }"""
    )
    assert set(result["types"]) == {"function"}
    assert result["first"] == [None] * 9 and result["second"] == [None] * 9
    page.evaluate("() => window.wsclient.on('chat', (m) => window.heard.push('new ' + m.n))")
    server.send(text=json.dumps({"type": "chat", "n": 1}))
    page.wait_for_function("() => window.heard.length === 1")
    assert page.evaluate("() => window.heard") == ["new 1"]  # the removed listener heard nothing
    assert page_errors == []


def test_state_notifies_only_changes_and_stores_work_with_svelte(
    app: Any, server: ServerThread, page_errors: list[str]
) -> None:
    """50 send()s while down change health (the queue depth) but not state, so state's
    subscribers hear nothing; svelte/store's get and derived read all four stores."""
    page = _boot(app, server)
    page.evaluate("() => window.wsclient.disconnect()")
    _wait_state(page, "disconnected")
    page.evaluate(
        """() => {
        const ws = window.wsclient;
        window.stateCalls = [];
        window.healthCalls = [];
        ws.state.subscribe((s) => window.stateCalls.push(s));
        ws.health.subscribe((h) => window.healthCalls.push(h.queueDepth));
        for (let i = 0; i < 50; i++) ws.send({type: 'queued', i});
    }"""
    )
    page.wait_for_function("() => window.healthCalls.at(-1) === 50")
    assert page.evaluate("() => window.stateCalls") == [
        {"status": "disconnected", "reconnectAttempts": 0, "error": None}
    ]
    assert page.evaluate("() => window.healthCalls.length") > 1
    result = page.evaluate(
        """async () => {
        const { get, derived } = await import('svelte/store');
        const ws = window.wsclient;
        const summary = derived(
            [ws.state, ws.health, ws.sync, ws.messages],
            ([s, h, y, m]) => `${s.status}/${h.status}/${h.queueDepth}/${Object.keys(y).length}/`
                + `${Array.isArray(m)}`,
        );
        const seen = [];
        const stop = summary.subscribe((v) => seen.push(v));
        const before = get(summary);
        ws.connect();
        const health = get(ws.health).status;
        return { before, health, sync: get(ws.sync), seen, stop: typeof stop };
    }"""
    )
    assert result["before"] == "disconnected/disconnected/50/0/true"
    assert result["health"] in ("connecting", "connected")
    assert result["sync"] == {}
    frames = _wait_frames(server, 50)
    assert [json.loads(f)["i"] for f in frames] == list(range(50))
    page.wait_for_function("() => window.stateCalls.at(-1).status === 'connected'")
    statuses = page.evaluate("() => window.stateCalls.map((s) => s.status)")
    assert all(a != b for a, b in itertools.pairwise(statuses)), statuses
    assert page_errors == []


# --- property test: send(v) puts JSON.stringify(v) on the wire -----------------------------

# A seeded generator of JS values, run in the page: nested objects, arrays with holes,
# undefined, functions, symbols, toJSON, Dates, big and small numbers, NaN/Infinity, -0, unicode
# with lone surrogates, Map/Set, BigInt and cycles (the last two must throw, like JSON.stringify).
CORPUS_JS = """
(count) => {
  let seed = 0x9e3779b9;
  const rand = () => {  // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(rand() * n);
  const pick = (items) => items[int(items.length)];
  const numbers = [0, -0, 1, -1, 0.1, 1 / 3, 1e21, 1e-7, 123456789012345680000, 2 ** 53,
    2 ** 53 + 2, -(2 ** 63), Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON, NaN,
    Infinity, -Infinity, 5e-324, 1.7976931348623157e308, 0.000001, 1e300];
  const units = ['a', 'Z', ' ', '"', '\\\\', '/', '\\n', '\\t', '\\u0000', '\\u001e', '\\u007f',
    '\\u00e9', '\\u2028', '\\u2029', '\\ufeff', '\\ud83d\\ude00', '\\ud800', '\\udfff', '\\u4e2d',
    '\\u0301', '{', '}', '[', ']', ','];
  const string = () => {
    let s = '';
    for (let i = int(8); i > 0; i--) s += pick(units);
    return s;
  };
  const leaf = () => {
    switch (int(12)) {
      case 0: return undefined;
      case 1: return null;
      case 2: return rand() < 0.5;
      case 3: case 4: return pick(numbers);
      case 5: return (rand() - 0.5) * 10 ** (int(40) - 20);
      case 6: case 7: return string();
      case 8: return new Date(Date.UTC(2000 + int(50), int(12), 1 + int(28), int(24)));
      case 9: return pick([() => 1, Symbol('s'), new Date(NaN)]);
      case 10: return int(1000) - 500;
      default: return pick([new Map([[1, 2]]), new Set([1, 2]), /re/g, new Uint8Array(2)]);
    }
  };
  const value = (depth) => {
    if (depth <= 0 || rand() < 0.3) return leaf();
    switch (int(6)) {
      case 0: case 1: {
        const o = {};
        for (let i = int(5); i > 0; i--) {
          o[rand() < 0.8 ? string() : String(int(10))] = value(depth - 1);
        }
        return o;
      }
      case 2: case 3: {
        const a = [];
        for (let i = int(5); i > 0; i--) a.push(value(depth - 1));
        if (rand() < 0.3) a[a.length + int(3)] = value(depth - 1);  // holes
        return a;
      }
      case 4: {
        const inner = value(depth - 1);
        const withKey = rand() < 0.5;  // decided now: toJSON must give the same each time
        return { toJSON: (key) => (withKey ? { key, inner } : inner) };
      }
      default:
        return Object.assign(Object.create(null), { n: value(depth - 1) });
    }
  };
  const corpus = [];
  for (let i = 0; i < count; i++) {
    let v = value(1 + int(5));
    const r = rand();
    if (r < 0.05) v = { big: 10n ** BigInt(int(30)), v };
    else if (r < 0.1) { const c = { v }; c.again = [c]; v = c; }
    else if (r < 0.13) v = [v, { deep: { er: 1n } }];
    corpus.push(v);
  }
  return corpus;
}
"""

PROPERTY_JS = """
(count) => {
  const corpus = window.__corpus(count);
  const results = [];
  for (const v of corpus) {
    let expected;
    let stringifyThrew = false;
    try {
      expected = JSON.stringify(v);
    } catch (_) {
      stringifyThrew = true;
    }
    let sent = null;
    try {
      window.wsclient.send(v);
    } catch (e) {
      const type = e instanceof TypeError ? 'TypeError' : String(e && e.name);
      sent = { type, message: e.message };
    }
    results.push({ expected: expected === undefined ? null : expected, stringifyThrew, sent });
  }
  return results;
}
"""


def test_send_is_json_stringify_for_generated_values(
    app: Any, v1_server: ServerThread, page_errors: list[str]
) -> None:
    """For 300 generated JS values, send(v) puts exactly JSON.stringify(v) on the wire, or throws
    a TypeError (queuing nothing) where JSON.stringify throws or gives undefined."""
    page = _boot(app, v1_server)
    page.evaluate(f"() => {{ window.__corpus = {CORPUS_JS.strip()}; }}")
    results = page.evaluate(PROPERTY_JS, 300)
    assert len(results) == 300
    expected: list[str] = []
    kinds = {"sent": 0, "threw": 0, "undefined": 0}
    for i, r in enumerate(results):
        if r["stringifyThrew"] or r["expected"] is None:
            kinds["threw" if r["stringifyThrew"] else "undefined"] += 1
            assert r["sent"] is not None, f"value {i}: send() did not throw"
            assert r["sent"]["type"] == "TypeError", (i, r)
            assert r["sent"]["message"].startswith("wsclient.send(message): "), (i, r)
        else:
            kinds["sent"] += 1
            assert r["sent"] is None, (i, r)
            expected.append(r["expected"])
    # The corpus exercises every branch (it is seeded, so these counts never change).
    assert kinds["threw"] >= 20 and kinds["undefined"] >= 5 and kinds["sent"] >= 200, kinds
    page.evaluate("() => window.wsclient.send({type: 'end-of-corpus'})")
    frames = _wait_frames(v1_server, len(expected) + 1)
    assert frames[-1] == '{"type":"end-of-corpus"}'
    assert len(frames) == len(expected) + 1
    for i, (got, want) in enumerate(zip(frames, expected, strict=False)):
        assert got == want, f"frame {i}: {got!r} != {want!r}"
    assert page_errors == []


def test_wait_for_a_request_settled_before_anyone_waited(
    app: Any, server: ServerThread, page_errors: list[str]
) -> None:
    """A request carried over a reload and acknowledged before the new page asks: wait(id)
    still resolves with the ack's data (asking whether the id exists must not use up its
    outcome), and a second wait(id) rejects: nothing is pending under that id any more."""
    page = _boot(app, server)
    page.evaluate("() => window.wsclient.disconnect()")
    _wait_state(page, "disconnected")
    request_id = page.evaluate(
        """() => {
        window.wsclient.request({type: 'carried', n: 1}).catch(() => {});
        return window.wsclient.pending()[0].id;
    }"""
    )
    page.reload()
    page.wait_for_function("() => window.wsclient !== undefined", timeout=60_000)
    page.evaluate(HELPERS_JS)
    server.wait_for_applied(1)
    page.wait_for_function("() => window.wsclient.pending().length === 0")
    outcome = page.evaluate(
        """async (id) => {
        const attempt = (p) => p.then((v) => ['ok', v], (e) => ['error', e.message]);
        const first = await attempt(window.wsclient.wait(id));
        const second = await attempt(window.wsclient.wait(id));
        return [first, second];
    }""",
        request_id,
    )
    assert outcome[0] == ["ok", {"type": "carried"}]
    assert outcome[1][0] == "error" and "is pending" in outcome[1][1]
    assert page_errors == []
