"""window.wsclient works from plain JavaScript; the Python stores work with real svelte/store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from server import ServerThread
from tests.e2e.helpers import plain_static_server

ROOT = Path(__file__).resolve().parents[2]
STATUS = "[data-ws-status] .connection-status"


def _wait_connected(page: Page) -> None:
    page.wait_for_function(
        "() => { let s; window.wsclient.state.subscribe(v => { s = v.status })(); "
        "return s === 'connected'; }"
    )


def test_ready_event_then_plain_js_use(app: Any, server: ServerThread) -> None:
    """wsclient:ready fires after window.wsclient is set; send/subscribe/on work from JS."""
    page: Page = app()
    assert page.evaluate("() => window.wsclient !== undefined")
    _wait_connected(page)
    page.evaluate(
        """() => {
        window.got = []; window.got2 = [];
        window.off = window.wsclient.on('chat.message', m => window.got.push(m));
        window.wsclient.on('chat.message', m => window.got2.push(m.text));
        window.wsclient.subscribe('alpha');
        window.wsclient.send({type: 'chat.message', text: 'from js', n: [1, 2]});
    }"""
    )
    server.wait_for_frame(lambda f: '"subscribe"' in (f.text or "") and "alpha" in f.text)
    sent = server.wait_for_frame(lambda f: "from js" in (f.text or ""))
    message = json.loads(sent.text)
    assert message.pop("id").startswith(page.evaluate("() => ''"))  # a v2 server: a delivery id
    assert message == {"type": "chat.message", "text": "from js", "n": [1, 2]}
    server.send(text=json.dumps({"type": "chat.message", "text": "hello", "meta": {"a": 1}}))
    page.wait_for_function("() => window.got.length === 1 && window.got2.length === 1")
    got = page.evaluate("() => window.got[0]")
    assert got == {"type": "chat.message", "text": "hello", "meta": {"a": 1}}
    assert page.evaluate("() => Object.getPrototypeOf(window.got[0]) === Object.prototype")
    page.evaluate("() => window.off()")
    server.send(text=json.dumps({"type": "chat.message", "text": "again"}))
    page.wait_for_function("() => window.got2.length === 2")
    assert page.evaluate("() => window.got.length") == 1


def test_state_store_contract_and_disconnect_connect(app: Any, server: ServerThread) -> None:
    """state.subscribe calls back at once with {status, reconnectAttempts, error}, and on change."""
    page: Page = app()
    _wait_connected(page)
    page.evaluate(
        """() => {
        window.states = [];
        window.unsub = window.wsclient.state.subscribe(s => window.states.push(s));
    }"""
    )
    first = page.evaluate("() => window.states[0]")
    assert first == {"status": "connected", "reconnectAttempts": 0, "error": None}
    page.evaluate("() => window.wsclient.disconnect()")
    page.wait_for_function("() => window.states.at(-1).status === 'disconnected'")
    closed = server.wait_for(lambda snap: snap.connections and snap.connections[-1].closed_at)
    assert closed.connections[-1].close_code == 1000
    page.evaluate("() => window.wsclient.connect()")
    page.wait_for_function("() => window.states.at(-1).status === 'connected'")
    server.wait_for_connections(2)
    page.evaluate("() => window.unsub()")
    count = page.evaluate("() => window.states.length")
    page.evaluate("() => window.wsclient.disconnect()")
    expect(page.locator(STATUS)).to_have_attribute("data-status", "disconnected")
    assert page.evaluate("() => window.states.length") == count


def test_messages_store_gives_plain_arrays(app: Any, server: ServerThread) -> None:
    """messages holds the last 100 messages as plain JS objects, oldest first."""
    page: Page = app()
    _wait_connected(page)
    server.burst([json.dumps({"type": "tick", "n": n}) for n in range(150)])
    page.wait_for_function(
        "() => { let v; window.wsclient.messages.subscribe(m => { v = m })(); "
        "return v.length === 100 && v.filter(m => m.type === 'tick').at(-1)?.n === 149; }"
    )
    ns = page.evaluate(
        "() => { let v; window.wsclient.messages.subscribe(m => { v = m })(); "
        "return v.filter(m => m.type === 'tick').map(m => m.n); }"
    )
    assert ns == sorted(ns) and ns[-1] == 149


def test_real_svelte_store_get_and_derived(app: Any, server: ServerThread) -> None:
    """svelte/store's own get() and derived() work on the page's Python stores."""
    page: Page = app()
    _wait_connected(page)
    result = page.evaluate(
        """async () => {
        const { get, derived } = await import('svelte/store');
        const ws = window.wsclient;
        const label = derived(ws.state, s => `${s.status}:${s.reconnectAttempts}`);
        const both = derived([ws.state, ws.messages], ([s, m]) => s.status + '/' + m.length);
        const seen = [];
        const unsub = label.subscribe(v => seen.push(v));
        const initial = get(ws.state);
        ws.disconnect();
        const after = get(label);
        ws.connect();
        unsub();
        return { initial, after, seen, both: get(both) };
    }"""
    )
    assert result["initial"] == {"status": "connected", "reconnectAttempts": 0, "error": None}
    assert result["after"] == "disconnected:0"
    assert result["seen"][:2] == ["connected:0", "disconnected:0"]
    assert result["both"].split("/")[0] in ("connecting", "connected")


def test_two_hundred_reconnects_leave_no_proxies(app: Any, server: ServerThread) -> None:
    """200 forced reconnect cycles: the count of live FFI proxies returns to where it started."""
    page: Page = app(backoff_initial=10, backoff_max=20, backoff_after_drop=10, min_uptime=1)
    _wait_connected(page)
    before = page.evaluate("() => window.wsclient.debug.liveProxies()")
    for cycle in range(1, 201):
        server.drop()
        server.wait_for_connections(cycle + 1, timeout=10)
    _wait_connected(page)
    after = page.evaluate("() => window.wsclient.debug.liveProxies()")
    assert after == before, f"{after - before} proxies leaked over 200 reconnects"
    assert len(server.snapshot().connections) == 201


@pytest.fixture
def static_server() -> Iterator[str]:
    """The repository root behind Python's plain static file server (no /ws there)."""
    with plain_static_server(ROOT) as url:
        yield url


def test_plain_static_server_with_ws_parameter(
    page: Page, static_server: str, server: ServerThread, outside_requests: list[str]
) -> None:
    """The root served by any static server boots, and ?ws= points it at another server."""
    page.goto(f"{static_server}index.html?ws={server.ws_url}")
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected", timeout=60_000)
    server.wait_for_open(1)
    assert outside_requests == []


def test_bad_url_is_an_error_state(app: Any, page_errors: list[str]) -> None:
    """?ws=ftp://… shows a clear error instead of throwing."""
    page: Page = app(ws="ftp://example.invalid/ws")
    expect(page.locator(STATUS)).to_have_attribute("data-status", "error")
    expect(page.locator(f"{STATUS} .text")).to_contain_text("invalid WebSocket URL")
    assert page_errors == []


def test_mount_and_unmount_the_status_widget_from_js(app: Any, server: ServerThread) -> None:
    """mountStatus(el) renders the component; its unmount removes it and frees its resources."""
    page: Page = app()
    _wait_connected(page)
    before = page.evaluate("() => window.wsclient.debug.liveProxies()")
    page.evaluate(
        """() => {
        const el = document.createElement('div'); el.id = 'late';
        document.body.append(el);
        window.unmountLate = window.wsclient.mountStatus(el);
    }"""
    )
    late = page.locator("#late .connection-status")
    expect(late).to_have_attribute("data-status", "connected")
    expect(late).to_have_attribute("role", "status")
    assert page.evaluate("() => window.wsclient.debug.liveProxies()") > before
    page.evaluate("() => window.unmountLate()")
    expect(late).to_have_count(0)
    assert page.evaluate("() => window.wsclient.debug.liveProxies()") == before
    page.evaluate("() => window.wsclient.disconnect()")  # a state change after unmount
    expect(page.locator(STATUS)).to_have_attribute("data-status", "disconnected")
    expect(page.locator("#late *")).to_have_count(0)


def test_bad_calls_from_js_throw_clear_errors(app: Any, server: ServerThread) -> None:
    """subscribe(undefined), send(undefined), send(1n), on(type, "x") throw TypeErrors that name
    the method, what was passed and what to pass; nothing is sent: a marker sent after them
    reaches the server, and nothing but the marker (and pings) did."""
    page: Page = app()
    _wait_connected(page)
    errors = page.evaluate(
        """() => {
        const attempt = f => {
            try { f(); return null; } catch (e) { return [e instanceof TypeError, e.message]; }
        };
        return [
            attempt(() => window.wsclient.subscribe(undefined)),
            attempt(() => window.wsclient.send(undefined)),
            attempt(() => window.wsclient.send({n: 1n})),
            attempt(() => window.wsclient.on('x', 'not a function')),
        ];
    }"""
    )
    assert errors == [
        [True, "wsclient.subscribe(projectId): expected a non-empty string, got undefined"],
        [
            True,
            "wsclient.send(message): expected a value JSON can hold (an object, array, string, "
            "number, boolean or null), got undefined",
        ],
        [True, errors[2][1]],
        [True, 'wsclient.on(type, callback): expected a function, got the string "not a function"'],
    ]
    assert errors[2][1].startswith("wsclient.send(message): cannot send this value as JSON:")
    # The client sends in order: once the marker is at the server, whatever the bad calls could
    # have sent would be there before it.
    page.evaluate("() => window.wsclient.send({type: 'marker-after-bad-calls'})")
    server.wait_for_frame("marker-after-bad-calls")
    frames = [f for c in server.snapshot().connections for f in c.frames]
    types = [f.json().get("type") if isinstance(f.json(), dict) else f.text for f in frames]
    assert [t for t in types if t != "ping"] == ["marker-after-bad-calls"], types
