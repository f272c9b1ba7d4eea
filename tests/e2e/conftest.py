"""E2E harness: Debian Chromium through pytest-playwright, one project server per session.

Every test fails if the page requests anything outside loopback.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, Route
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from server import ServerThread
from tests import chromium

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = chromium.LOOPBACK
BOOT_TIMEOUT_MS = 60_000  # a cold Pyodide boot takes 3-4 s, the first after a machine start ~8 s


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": chromium.EXECUTABLE,
        "args": list(chromium.ARGS),
    }


@pytest.fixture(scope="session")
def server() -> Iterator[ServerThread]:
    srv = ServerThread(root=ROOT)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(autouse=True)
def _fresh_server(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each e2e test starts against a server with no modes on and no history."""
    if "server" in request.fixturenames:
        srv: ServerThread = request.getfixturevalue("server")
        srv.reset()
    yield


@pytest.fixture(autouse=True)
def outside_requests(context: BrowserContext) -> Iterator[list[str]]:
    """Every e2e test: abort any request that leaves loopback, and fail at teardown if one did."""
    seen: list[str] = []

    def guard(route: Route) -> None:
        url = route.request.url
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme in ("data", "blob") or parsed.hostname in LOOPBACK:
            route.fallback()
        else:
            seen.append(url)
            route.abort()

    context.route("**/*", guard)
    yield seen
    assert seen == [], f"the page requested outside loopback: {seen}"


@pytest.fixture
def page_errors(page: Page) -> list[str]:
    """Uncaught exceptions on the page (a test asserts this stays empty where it matters)."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


@pytest.fixture
def app(
    page: Page, server: ServerThread, outside_requests: list[str], page_errors: list[str]
) -> Any:
    """Open the dashboard against the test server; returns a function taking query options."""

    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))

    def open_app(path: str = "/index.html", **query: Any) -> Page:
        query.setdefault("project", "")  # no default subscription unless a test asks for one
        qs = urllib.parse.urlencode(query)
        page.goto(f"{server.url}{path.lstrip('/')}" + (f"?{qs}" if qs else ""))
        try:
            page.wait_for_function("() => window.wsclient !== undefined", timeout=BOOT_TIMEOUT_MS)
        except PlaywrightTimeoutError:
            log = "\n".join(console[-40:] + page_errors)
            raise AssertionError(f"the page did not boot; its console said:\n{log}") from None
        return page

    return open_app
