"""axe-core finds no accessibility violation on the dashboard and the status widget, in every
connection state; a screenshot of each state is written to build/screenshots/ (not committed)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from server import ServerThread

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "build" / "screenshots"  # gitignored; pytest-playwright empties test-results/
STATUS = "[data-ws-status] .connection-status"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP but never answers the WebSocket handshake."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations for the whole page, each with its rule, impact and targets."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document)).violations.map(v => ({
            id: v.id, impact: v.impact, targets: v.nodes.map(n => n.target.join(" ")),
        }))"""
    )
    return found


def check(page: Page, state: str) -> None:
    expect(page.locator(STATUS)).to_have_attribute("data-status", state, timeout=15_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"dashboard-{state}.png"), full_page=True)
    assert violations(page) == [], state


def test_no_violations_while_connecting(app: Any, silent_port: int) -> None:
    """A handshake that never completes: the page says Connecting... accessibly."""
    page: Page = app(ws=f"ws://127.0.0.1:{silent_port}/ws", connect_timeout=60_000)
    check(page, "connecting")


def test_no_violations_connected_reconnecting_error_disconnected(
    app: Any, server: ServerThread
) -> None:
    """The dashboard with live data, then each other state the widget can show."""
    server.set_demo(True)
    page: Page = app(project="alpha", backoff_initial=100, backoff_after_drop=100)
    expect(page.locator("#files li").first).to_be_visible(timeout=15_000)
    check(page, "connected")
    server.refuse(True)
    server.drop()
    check(page, "reconnecting")
    server.refuse(False)
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected", timeout=15_000)
    server.close(4401, "token expired")
    check(page, "error")
    page.evaluate("() => window.wsclient.disconnect()")
    check(page, "disconnected")
