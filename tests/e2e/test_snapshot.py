"""Start-up from a Pyodide memory snapshot (static/pyodide_snapshot.mjs): a first visit boots
normally and puts the snapshot in the cache; a repeat visit boots from it; a snapshot that does
not fit the page (stale sources, another Pyodide, missing) is refused."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Route, expect

from server import ServerThread
from tests.chromium import LOOPBACK

ROOT = Path(__file__).resolve().parents[2]

STATUS = "[data-ws-status] .connection-status"
MANIFEST = "**/build/snapshot/pyodide.snapshot.json"


def boot_state(page: Page) -> Any:
    return page.evaluate("() => window.wsclientBoot")


def queued_request_prefix(page: Page) -> str:
    """The delivery-id prefix of a request queued now (it comes from the interpreter's random)."""
    page.evaluate(
        "() => { window.wsclient.disconnect(); window.wsclient.request({type: 'probe'}); }"
    )
    pending = page.evaluate("() => window.wsclient.pending()")
    return str(pending[-1]["id"]).rsplit("-", 1)[0]


def test_a_repeat_visit_boots_from_the_snapshot(browser: Browser, server: ServerThread) -> None:
    """Visit 1: normal boot, then the snapshot is fetched for later. Visits 2 and 3: booted from
    it, connected, each with its own random state (not the one frozen in the snapshot)."""
    context = browser.new_context()  # no request routing (it would disable the HTTP cache)
    outside: list[str] = []
    context.on(
        "request",
        lambda r: (
            outside.append(r.url) if urllib.parse.urlsplit(r.url).hostname not in LOOPBACK else None
        ),
    )
    try:
        page = context.new_page()
        page.goto(f"{server.url}index.html?project=")
        page.wait_for_function("() => window.wsclient !== undefined", timeout=60_000)
        assert boot_state(page)["snapshot"] == "not cached"
        page.wait_for_function("() => window.wsclientBoot.prefetched === true", timeout=60_000)
        prefixes = []
        for _ in range(2):
            page.reload()
            page.wait_for_function("() => window.wsclient !== undefined", timeout=60_000)
            assert boot_state(page)["snapshot"] == "used"
            expect(page.locator(STATUS)).to_have_attribute("data-status", "connected")
            prefixes.append(queued_request_prefix(page))
        assert prefixes[0] != prefixes[1]
    finally:
        context.close()
    assert outside == []


def check(page: Page) -> str:
    """What the loader says of the manifest the server gives now."""
    result: str = page.evaluate(
        """async () => {
            const loader = await import("/static/pyodide_snapshot.mjs");
            try { await loader.fittingManifest(); return "fits"; }
            catch (error) { return error.message; }
        }"""
    )
    return result


def test_a_snapshot_that_does_not_fit_the_page_is_refused(app: Any, server: ServerThread) -> None:
    """The snapshot built by make setup fits; one made from other sources, for another Pyodide,
    or whose manifest is missing, is refused saying why (the page then boots normally)."""
    page: Page = app()
    assert check(page) == "fits"
    manifest = json.loads(
        page.evaluate(
            f"() => fetch('{server.url}build/snapshot/pyodide.snapshot.json').then(r => r.text())"
        )
    )

    def serve(body: dict[str, Any] | None) -> None:
        def fulfil(route: Route) -> None:
            if body is None:
                route.fulfill(status=404, body="not found")
            else:
                route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

        page.unroute(MANIFEST)
        page.route(MANIFEST, fulfil)

    serve({**manifest, "sources": "00000000000000"})
    assert check(page).startswith("stale snapshot")
    serve({**manifest, "pyodide": "0.0.1"})
    assert "made with Pyodide 0.0.1" in check(page)
    serve(None)
    assert "HTTP 404" in check(page)
