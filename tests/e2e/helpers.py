"""Shared helpers for the e2e fault matrix: a page-side recorder and condition waits.

Everything here waits on conditions (the page's stores, the server's snapshot); nothing sleeps.
Times measured in the page use ``performance.now()`` (milliseconds); times measured at the server
use ``time.monotonic()`` (seconds), which is also the clock of ``Snapshot``/``Attempt``/``Frame``.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from server import Frame, ServerThread, Snapshot, WaitTimeout

#: Extra time allowed on top of a deadline the client promises (timer, FFI and loopback latency).
SLACK = 0.3

# Installed before the page's own scripts: counts every WebSocket the page constructs and every
# one that has fully closed, without keeping a reference to any of them.
SOCKET_COUNTER_JS = """
(() => {
  const Native = window.WebSocket;
  const stats = { created: 0, closed: 0 };
  class CountingWebSocket extends Native {
    constructor(...args) {
      super(...args);
      stats.created += 1;
      this.addEventListener("close", () => { stats.closed += 1; });
    }
  }
  window.WebSocket = CountingWebSocket;
  window.__sockets = stats;
})();
"""

# Installed after boot: follows the health store and the status widget's text.
# `keep` = false records only the current values (for long runs whose logs would grow the heap).
RECORDER_JS = """
(keep) => {
  const rec = { current: null, opens: 0, changes: [], texts: [] };
  window.__rec = rec;
  let key = null;
  window.wsclient.health.subscribe((h) => {
    rec.current = h;
    const k = h.status + "/" + h.attempt;
    if (k === key) return;
    key = k;
    if (h.status === "connected") rec.opens += 1;
    if (keep) {
      rec.changes.push({
        t: performance.now(), status: h.status, attempt: h.attempt,
        code: h.lastCloseCode, reason: h.lastCloseReason, error: h.error,
      });
    }
  });
  const text = document.querySelector("[data-ws-status] .connection-status .text");
  rec.texts.push(text.textContent);
  new MutationObserver((records) => {
    if (!keep) return;
    for (const r of records) {
      for (const node of r.addedNodes) {
        const value = node.textContent;
        if (rec.texts[rec.texts.length - 1] !== value) rec.texts.push(value);
      }
    }
  }).observe(text, { childList: true, characterData: true, subtree: true });
}
"""


def open_client(app: Any, page: Page, *, keep: bool = True, **query: Any) -> Page:
    """Open the page with the socket counter and the recorder, and wait until it is connected."""
    page.add_init_script(SOCKET_COUNTER_JS)
    page = app(**query)
    page.evaluate(RECORDER_JS, keep)
    wait_opens(page, 1)
    return page


def health(page: Page) -> dict[str, Any]:
    """The health store's current value (a plain dict)."""
    value = page.evaluate("window.__rec.current")
    assert isinstance(value, dict)
    return value


def wait_opens(page: Page, n: int, timeout: float = 10.0) -> None:
    """Wait until the client has entered ``connected`` ``n`` times since the recorder started."""
    page.wait_for_function(f"() => window.__rec.opens >= {n}", timeout=timeout * 1000)


def wait_status(page: Page, status: str, timeout: float = 10.0) -> None:
    """Wait until the health store shows ``status``."""
    page.wait_for_function(
        f"() => window.__rec.current !== null && window.__rec.current.status === {status!r}",
        timeout=timeout * 1000,
    )


def wait_change(page: Page, status: str, after: float, timeout: float = 10.0) -> dict[str, Any]:
    """Wait until the recorder has seen the health store enter ``status`` after ``after``
    (performance.now() ms) and return that change. Unlike ``wait_status`` this cannot miss a
    state that lasts less than one polling frame (a retry on a 100 ms ladder can be that short)."""
    find = f"window.__rec.changes.find((c) => c.t > {after} && c.status === {status!r})"
    page.wait_for_function(f"() => {find} !== undefined", timeout=timeout * 1000)
    value = page.evaluate(find)
    assert isinstance(value, dict)
    return value


def status_texts(page: Page) -> list[str]:
    """Every distinct text the status widget showed, in order (consecutive repeats merged)."""
    texts = page.evaluate("window.__rec.texts")
    assert isinstance(texts, list)
    return [str(t) for t in texts]


def changes(page: Page) -> list[dict[str, Any]]:
    """Every (status, attempt) change of the health store, with ``t`` = performance.now() ms."""
    value = page.evaluate("window.__rec.changes")
    assert isinstance(value, list)
    return value


def sockets(page: Page) -> dict[str, int]:
    """How many WebSockets the page constructed and how many have closed."""
    value = page.evaluate("({...window.__sockets})")
    assert isinstance(value, dict)
    return value


def page_now(page: Page) -> float:
    """The page's ``performance.now()`` in milliseconds."""
    return float(page.evaluate("performance.now()"))


def stays_false(
    server: ServerThread, predicate: Callable[[Snapshot], bool], seconds: float
) -> Snapshot:
    """Assert that ``predicate`` does not become true within ``seconds``; returns the last snapshot.

    A bounded wait for a condition that must not happen (not a sleep standing in for one).
    """
    try:
        snap = server.wait_for(predicate, timeout=seconds)
    except WaitTimeout as exc:
        return exc.snapshot
    raise AssertionError(f"unexpected: condition met within {seconds} s: {snap.attempts}")


def windows(count: int, initial: float, cap: float, factor: float = 2.0) -> list[float]:
    """The backoff windows (seconds) of attempts 1..count."""
    return [min(cap, initial * factor**i) for i in range(count)]


def now() -> float:
    """The server's clock (``time.monotonic()``)."""
    return time.monotonic()


def wait_settled(page: Page, server: ServerThread, timeout: float = 10.0) -> Snapshot:
    """Wait until the server has an open connection and the client is connected on the socket of
    the server's latest attempt (every socket the page made reached the server)."""
    snap = server.wait_for_open(1, timeout=timeout)
    n = len(snap.attempts)
    page.wait_for_function(
        f"() => window.__sockets.created === {n} && window.__rec.current.status === 'connected'",
        timeout=timeout * 1000,
    )
    return snap


def frame_is(value: object) -> Callable[[Frame], bool]:
    """A ``wait_for_frame`` predicate: the frame is JSON equal to ``value``, leaving out the
    delivery ``id`` a v2 connection adds when ``value`` has none."""

    def match(frame: Frame) -> bool:
        got = frame.json()
        if isinstance(got, dict) and isinstance(value, dict) and "id" not in value:
            got = {k: v for k, v in got.items() if k != "id"}
        return bool(got == value)

    return match


@contextlib.contextmanager
def plain_static_server(
    directory: Path, handler: type[http.server.SimpleHTTPRequestHandler] | None = None
) -> Iterator[str]:
    """``directory`` behind Python's plain static file server (no /ws); yields its URL."""
    serve = functools.partial(
        handler or http.server.SimpleHTTPRequestHandler, directory=str(directory)
    )
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), serve)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def wait_server(
    page: Page, server: ServerThread, predicate: Callable[[Snapshot], bool], timeout: float = 15.0
) -> Snapshot:
    """``server.wait_for`` that keeps Playwright's event loop turning: every request of the page
    (a provider's token fetch included) passes the test's route guard, which only runs while
    the test is inside a Playwright call."""
    deadline = time.monotonic() + timeout
    while True:
        snap = server.snapshot()
        if predicate(snap):
            return snap
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {snap.connections}")
        page.wait_for_timeout(20)


#: Installed before the page's scripts: every console line the client writes, in order, in
#: ``window.__wsclientLines``.
CONSOLE_RECORDER_JS = """
(() => {
  const lines = (window.__wsclientLines = []);
  for (const level of ["debug", "log", "info", "warn", "error"]) {
    const original = console[level].bind(console);
    console[level] = (...args) => {
      const text = args.map(String).join(" ");
      if (text.startsWith("wsclient")) lines.push(text);
      original(...args);
    };
  }
})();
"""
