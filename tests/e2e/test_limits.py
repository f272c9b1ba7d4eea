"""Memory bounds that hold: the outbox by bytes as well as count (and the WebAssembly memory with
it), and an inbound frame limit that fits real payloads (an option, and a drop that says how to
raise it, made before the frame is copied into WebAssembly memory)."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Page, expect

from server import ServerThread
from tests.e2e.helpers import health, open_client, wait_status

MB = 1024 * 1024

#: Options.max_queue_bytes' default (src/wsclient/core.py).
MAX_QUEUE_BYTES = 8 * MB

#: What Pyodide's heap may grow by beyond what it holds (allocator rounding, free lists, the
#: interpreter's own work while sending).
HEAP_SLACK = 8 * MB


def _wasm_bytes(page: Page) -> int:
    value = page.evaluate("() => window.wsclient.debug.wasmBytes()")
    assert isinstance(value, int) and value > 0, value
    return value


def test_forty_5mb_sends_while_down_keep_the_outbox_and_the_wasm_heap_bounded(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """40 queued 5 MB messages: only what fits in max_queue_bytes (8 MiB) is kept, the rest is
    counted as overflow (and shown), the kept one is delivered on reconnect, and Pyodide's
    WebAssembly memory (which never shrinks) grows by about twice the bound at most, not by the
    200 MB that went through it."""
    page = open_client(app, page, backoff_initial=50, backoff_max=200, backoff_after_drop=100)
    page.evaluate("() => window.wsclient.disconnect()")
    wait_status(page, "disconnected")
    before = _wasm_bytes(page)
    page.evaluate(
        """() => {
        const pad = "x".repeat(5 * 1024 * 1024);
        for (let n = 0; n < 40; n++) window.wsclient.send({ type: "big", n, pad });
    }"""
    )
    grown = _wasm_bytes(page) - before
    print(f"\nWasm heap: {before / MB:.1f} MiB before, grew by {grown / MB:.1f} MiB")
    assert grown <= 2 * MAX_QUEUE_BYTES + HEAP_SLACK, f"the heap grew by {grown / MB:.1f} MiB"
    h = health(page)
    assert (h["queueDepth"], h["queueOverflow"]) == (1, 39)
    expect(page.locator("#queue-overflow")).to_have_text("39")
    page.evaluate("() => window.wsclient.connect()")
    frame = server.wait_for_frame(lambda f: '"big"' in (f.text or ""), timeout=20)
    assert json.loads(frame.text)["n"] == 39
    assert frame.size > 5 * MB
    assert page_errors == []


LISTEN_JS = """
() => {
  window.got = [];
  window.wsclient.on("payload", (m) => window.got.push(m));
}
"""


def test_a_2mb_frame_reaches_listeners_whole_under_the_default_limit(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """A valid 2 MB frame (the default limit is 16 Mi characters) is delivered whole: the
    listener gets exactly what JSON.parse makes of the frame."""
    page = open_client(app, page)
    page.evaluate(LISTEN_JS)
    pad = "".join(chr(0x21 + n % 90) for n in range(4096)).replace('"', "'").replace("\\", "/")
    frame = json.dumps({"type": "payload", "pad": pad * (2 * MB // len(pad))})
    server.send(text=frame)
    page.wait_for_function("() => window.got.length === 1", timeout=20_000)
    same = page.evaluate(
        "(frame) => JSON.stringify(window.got[0]) === JSON.stringify(JSON.parse(frame))", frame
    )
    assert same
    assert page.evaluate("() => window.got[0].pad.length") == 2 * MB
    assert page.locator("#frames-dropped").inner_text() == "0"
    assert page_errors == []


def test_an_oversized_frame_is_dropped_before_wasm_with_a_warning_naming_the_option(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """Past ?max_frame_size= a frame is dropped in JS, before it is copied into WebAssembly
    memory (a 24 MB frame leaves the heap as it was), counted, shown, and the console warns
    once, naming its size and max_frame_size; the frames around it arrive."""
    console: list[tuple[str, str]] = []
    page.on("console", lambda m: console.append((m.type, m.text)))
    page = open_client(app, page, max_frame_size=MB)
    page.evaluate(LISTEN_JS)
    before = _wasm_bytes(page)
    big = json.dumps({"type": "payload", "pad": "z" * (24 * MB)})
    server.send(text=json.dumps({"type": "payload", "pad": "before"}))
    server.send(text=big)
    server.send(text=json.dumps({"type": "payload", "pad": "after"}))
    page.wait_for_function("() => window.got.length === 2", timeout=20_000)
    assert page.evaluate("() => window.got.map((m) => m.pad)") == ["before", "after"]
    expect(page.locator("#frames-dropped")).to_have_text("1")
    grown = _wasm_bytes(page) - before
    assert grown < 4 * MB, f"the heap grew by {grown / MB:.1f} MiB: the frame reached Wasm"
    warnings = [text for kind, text in console if kind == "warning" and "too_large" in text]
    assert len(warnings) == 1, console
    assert f"a frame of {len(big)} characters exceeds the limit of {MB}" in warnings[0]
    assert "raise the max_frame_size option" in warnings[0]
    assert page_errors == []
