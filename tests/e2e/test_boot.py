"""The page boots offline, Python runs, and the client reaches "Connected"."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from server import ServerThread

INDEX = Path(__file__).resolve().parents[2] / "index.html"


def test_page_boots_offline_and_python_runs(app: Any, outside_requests: list[str]) -> None:
    """Pyodide and PyScript load from the local tree; Python publishes window.wsclient."""
    page: Page = app()
    assert page.evaluate("typeof window.wsclient.send") == "function"
    assert page.evaluate("typeof window.wsclient.state.subscribe") == "function"
    assert outside_requests == []


def test_page_reaches_connected(app: Any, server: ServerThread, page_errors: list[str]) -> None:
    """Against the project's server the status component shows the seed's "Connected"."""
    page: Page = app()
    status = page.locator("[data-ws-status] .connection-status")
    expect(status).to_have_attribute("data-status", "connected")
    expect(status.locator(".text")).to_have_text("Connected")
    server.wait_for_open(1)
    assert page_errors == []


def test_socket_opened_during_boot_is_adopted(app: Any, server: ServerThread) -> None:
    """static/early.js connects while Pyodide boots; the client adopts that socket (one
    connection at the server) and what arrived before Python ran still reaches the stores."""
    page: Page = app()
    expect(page.locator("[data-ws-status] .connection-status")).to_have_attribute(
        "data-status", "connected"
    )
    snapshot = server.snapshot()
    assert len(snapshot.connections) == 1, "the early socket was not adopted"
    assert page.evaluate("() => window.__wsclientEarly") is None


def test_frames_received_before_python_runs_are_kept(page: Page, server: ServerThread) -> None:
    """A frame the server sends the moment the socket opens, seconds before Python is up,
    lands in the messages store."""
    page.goto(f"{server.url}index.html")
    # Waits in the page, not on the server: Playwright must keep serving the requests that the
    # offline guard routes (early.js is requested only once PyScript asks for the interpreter).
    page.wait_for_function(
        "() => window.__wsclientEarly?.opened === true || window.wsclient !== undefined",
        timeout=60_000,
    )
    server.wait_for_connections(1)
    booted = page.evaluate("() => window.wsclient !== undefined")
    server.send(text='{"type": "hello.early", "n": 1}')
    page.wait_for_function("() => window.wsclient !== undefined", timeout=60_000)
    page.wait_for_function(
        "() => { let v; window.wsclient.messages.subscribe(m => { v = m })(); "
        "return v.some(m => m.type === 'hello.early'); }"
    )
    assert booted is False, "Python was already up: this run did not test the early path"
    assert len(server.snapshot().connections) == 1


def test_preloads_are_used_not_fetched_twice(page: Page, server: ServerThread) -> None:
    """What index.html preloads (to overlap it with the boot) is the very response PyScript and
    the client use: one request per file, none of them a 404."""
    requests: list[str] = []
    failed: list[str] = []
    page.on("request", lambda r: requests.append(r.url.removeprefix(server.url)))
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(f"{server.url}index.html")
    page.wait_for_function("() => window.wsclient !== undefined", timeout=60_000)
    preloaded = re.findall(r'<link rel="(?:module)?preload" href="\./([^"]+)"', INDEX.read_text())
    assert len(preloaded) >= 4
    assert {url: requests.count(url) for url in preloaded} == dict.fromkeys(preloaded, 1)
    assert failed == []
