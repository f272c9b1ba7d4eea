"""The page boots offline, Python runs, and the client reaches "Connected"."""

from __future__ import annotations

from typing import Any

import pytest
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


#: Records, from before the page's own scripts run, when each status element first shows
#: "Connecting..." (performance.now(): milliseconds since navigation started), and tags the
#: status root so a test can tell whether Python replaced it.
FIRST_PAINT_PROBE = """
window.__firstConnecting = null;
new MutationObserver(() => {
  if (window.__firstConnecting !== null) return;
  const roots = [...document.querySelectorAll("[data-ws-status] > .connection-status")];
  const all = document.querySelectorAll("[data-ws-status]").length;
  if (roots.length && roots.length === all && roots.every((r) =>
      r.dataset.status === "connecting" && r.getAttribute("role") === "status" &&
      r.getAttribute("aria-live") === "polite" && r.textContent === "Connecting...")) {
    window.__firstConnecting = performance.now();
    roots.forEach((r) => { r.__early = true; });
  }
}).observe(document, { childList: true, subtree: true, characterData: true, attributes: true });
"""


@pytest.mark.parametrize("path", ["index.html", "tests/e2e/pages/embed.html"])
def test_status_shows_connecting_from_the_first_paint(
    page: Page, server: ServerThread, path: str, page_errors: list[str]
) -> None:
    """On a cold first visit (a fresh browser context) every status element shows
    "Connecting..." (data-status, role, aria-live) within 300 ms of navigation, long before
    Python is up; Python then takes that same root over: one root per element, no second one."""
    page.add_init_script(FIRST_PAINT_PROBE)
    page.goto(f"{server.url}{path}?project=")
    page.wait_for_function("() => window.__firstConnecting !== null", timeout=10_000)
    first = page.evaluate("() => window.__firstConnecting")
    assert first < 300, f"Connecting... first shown {first:.0f} ms after navigation"
    page.wait_for_function("() => window.wsclient !== undefined", timeout=60_000)
    roots = page.evaluate(
        """() => [...document.querySelectorAll("[data-ws-status]")].map((el) => ({
            roots: el.querySelectorAll(".connection-status").length,
            children: el.children.length,
            taken_over: el.firstElementChild.__early === true,
        }))"""
    )
    assert roots and all(r == {"roots": 1, "children": 1, "taken_over": True} for r in roots)
    status = page.locator("[data-ws-status] > .connection-status").first
    expect(status).to_have_attribute("data-status", "connected")
    assert page_errors == []
