"""The page boots offline, Python runs, and the client reaches "Connected"."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from server import ServerThread


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


def test_the_page_requests_nothing_that_fails(page: Page, server: ServerThread) -> None:
    """Every file the page asks for exists (no 404 at start-up), and the client's socket is the
    page's only connection."""
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(f"{server.url}index.html")
    page.wait_for_function("() => window.wsclient !== undefined", timeout=60_000)
    server.wait_for_open(1)
    assert failed == []
    assert len(server.snapshot().connections) == 1
