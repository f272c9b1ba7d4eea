"""axe-core finds no accessibility violation on the dashboard and its status widget, and on
svelte.html with the story's ConnectionStatus.svelte, in every connection state; its colour
contrast check ran on the page's text and left no node undecided. A screenshot of each state is
written to build/screenshots/ (not committed)."""

from __future__ import annotations

import re
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
SVELTE_STATUS = "#svelte-status .connection-status .text"


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


# One axe run on the whole page. A run during which the page replaced nodes it reported on (the
# dashboard rebuilds its feed for each message, heartbeats included) judged nodes no longer
# shown, and is run again: up to five times, then its results stand.
AUDIT_JS = """
async () => {
  for (let attempt = 1; ; attempt++) {
    const result = await axe.run(document, { elementRef: true });
    const all = [...result.violations, ...result.incomplete, ...result.passes];
    const raced = all.some((r) => r.nodes.some((n) => n.element && !n.element.isConnected));
    if (raced && attempt < 5) continue;
    const where = (n) => n.target.join(" ");
    const contrast = (list) =>
      list.filter((r) => r.id === "color-contrast").flatMap((r) => r.nodes);
    return {
      attempts: attempt,
      violations: result.violations.map((v) => ({
        id: v.id, impact: v.impact, targets: v.nodes.map(where),
      })),
      undecidedContrast: contrast(result.incomplete).map((n) =>
        `${where(n)}: ${n.any.map((c) => c.message).join("; ")}`),
      passes: result.passes.map((r) => r.id),
      contrastPassedTexts: contrast(result.passes).map((n) => n.element.textContent.trim()),
    };
  }
}
"""


def audit(page: Page) -> dict[str, Any]:
    """axe-core on the whole page: its violations (rule, impact, targets), the nodes whose colour
    contrast it could not decide (target: axe's reason), the rules that passed on some node and
    the texts whose contrast passed."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found: dict[str, Any] = page.evaluate(AUDIT_JS)
    return found


def assert_accessible(page: Page, name: str, text: str | None = None) -> None:
    """Screenshot ``name``; no violation, no undecided contrast, and a contrast check that ran
    (on the node with ``text`` if given: the status text a state shows)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    found = audit(page)
    assert found["violations"] == [], (name, found["attempts"])
    assert found["undecidedContrast"] == [], (name, found["attempts"])
    assert "color-contrast" in found["passes"], name
    if text is not None:
        checked = found["contrastPassedTexts"]
        assert any(text in t for t in checked), (name, text, checked)


def check(page: Page, state: str) -> None:
    expect(page.locator(STATUS)).to_have_attribute("data-status", state, timeout=15_000)
    assert_accessible(page, f"dashboard-{state}")


def live_data(server: ServerThread, page: Page, project: str, file_item: str) -> None:
    """Give ``project`` data, files and processes: the demo's mix from before the page (the
    subscribe's snapshot brings it), then three live events, waited for (``file_item``: the
    selector of a rendered file). Bounded, so the dashboard's feed (a 320px scroll box) stays
    short: axe cannot judge the contrast of rows scrolled out of such a box (it reports them
    incomplete, "partially obscured"), whatever their colours."""
    server.emit(
        project,
        "file.uploaded",
        file={"name": "hero.png", "path": "/live/hero.png", "size": 512, "asset_type": "image"},
    )
    server.emit(project, "process.started", process_id="a11y-1", message="Queued")
    server.emit(project, "process.progress", process_id="a11y-1", progress=0.4, message="Half")
    expect(page.locator(f'{file_item}:has-text("hero.png")')).to_have_count(1, timeout=15_000)


def open_svelte(app: Any, **query: Any) -> Page:
    page: Page = app("/svelte.html", **query)
    page.wait_for_function("() => window.svelteDemo !== undefined && window.svelteDemo.mounted")
    return page


def check_svelte(page: Page, state: str, text: str, pattern: str | None = None) -> None:
    """svelte.html once the Svelte status shows ``text`` (the seed component's text for
    ``state``; a regex ``pattern`` if given): accessible, and the status text passed the
    contrast check."""
    expected = re.compile(pattern) if pattern is not None else text
    expect(page.locator(SVELTE_STATUS)).to_have_text(expected, timeout=15_000)
    assert_accessible(page, f"svelte-{state}", text)


def test_no_violations_while_connecting(app: Any, silent_port: int) -> None:
    """A handshake that never completes: the page says Connecting... accessibly."""
    page: Page = app(ws=f"ws://127.0.0.1:{silent_port}/ws", connect_timeout=60_000)
    check(page, "connecting")


def test_no_violations_connected_reconnecting_error_disconnected(
    app: Any, server: ServerThread
) -> None:
    """The dashboard with live data, then each other state the widget can show."""
    server.emit_many("alpha", 12)
    page: Page = app(project="alpha", backoff_initial=100, backoff_after_drop=100)
    live_data(server, page, "alpha", "#files li")
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


def test_svelte_status_no_violations_while_connecting(app: Any, silent_port: int) -> None:
    """svelte.html while a handshake never completes: the seed's "Connecting..." is accessible."""
    page = open_svelte(app, ws=f"ws://127.0.0.1:{silent_port}/ws", connect_timeout=60_000)
    check_svelte(page, "connecting", "Connecting...")


def test_svelte_status_no_violations_in_the_other_states(app: Any, server: ServerThread) -> None:
    """svelte.html with a project's live data, then each other state the seed's
    ConnectionStatus.svelte shows: connected, reconnecting, error, disconnected."""
    server.emit_many("alpha", 12)
    page = open_svelte(app, project="alpha", backoff_initial=100, backoff_after_drop=100)
    live_data(server, page, "alpha", '[data-project="alpha"] .file')
    check_svelte(page, "connected", "Connected")
    server.refuse(True)
    server.drop()
    check_svelte(page, "reconnecting", "Reconnecting...", r"^Reconnecting\.\.\. \(Attempt \d+\)$")
    server.refuse(False)
    expect(page.locator(SVELTE_STATUS)).to_have_text("Connected", timeout=15_000)
    server.close(4401, "token expired")
    check_svelte(page, "error", "Connection Error: token expired")
    page.evaluate("() => window.wsclient.disconnect()")
    check_svelte(page, "disconnected", "Disconnected")
