"""Memory bounds that hold: the outbox by bytes as well as count, and an inbound frame limit
that fits real payloads (an option, and a drop that says how to raise it)."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Page

from server import ServerThread
from tests.e2e.helpers import health, open_client, wait_status

MB = 1024 * 1024


def test_forty_5mb_sends_while_down_keep_the_outbox_within_its_byte_bound(
    app: Any, page: Page, server: ServerThread
) -> None:
    """40 queued 5 MB messages: only what fits in max_queue_bytes (8 MiB) is kept, the rest is
    counted as overflow, and the kept one is delivered on reconnect."""
    page = open_client(app, page, backoff_initial=50, backoff_max=200, backoff_after_drop=100)
    page.evaluate("() => window.wsclient.disconnect()")
    wait_status(page, "disconnected")
    page.evaluate(
        """() => {
        const pad = "x".repeat(5 * 1024 * 1024);
        for (let n = 0; n < 40; n++) window.wsclient.send({ type: "big", n, pad });
    }"""
    )
    h = health(page)
    assert (h["queueDepth"], h["queueOverflow"]) == (1, 39)
    page.evaluate("() => window.wsclient.connect()")
    frame = server.wait_for_frame(lambda f: '"big"' in (f.text or ""), timeout=20)
    assert json.loads(frame.text)["n"] == 39
    assert frame.size > 5 * MB


def test_a_2mb_frame_reaches_listeners_and_an_oversized_one_names_the_option(
    app: Any, page: Page, server: ServerThread
) -> None:
    """A valid 2 MB frame is delivered whole (the default limit is 16 Mi characters); past
    ?max_frame_size= a frame is dropped, counted, and the reason names that option."""
    page = open_client(app, page, max_frame_size=3 * MB)
    page.evaluate(
        """() => {
        window.sizes = [];
        window.wsclient.on("payload", (m) => window.sizes.push(m.pad.length));
    }"""
    )
    server.send(text=json.dumps({"type": "payload", "pad": "y" * (2 * MB)}))
    server.send(text=json.dumps({"type": "payload", "pad": "z" * (4 * MB)}))
    server.send(text=json.dumps({"type": "payload", "pad": "ok"}))
    page.wait_for_function("() => window.sizes.length === 2", timeout=20_000)
    assert page.evaluate("() => window.sizes") == [2 * MB, 2]
    assert page.locator("#frames-dropped").inner_text() == "1"
