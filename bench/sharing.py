"""Tab sharing (docs/protocol.md, "Sharing"): pages of one browser context share Web Locks and a
BroadcastChannel like the tabs of one browser.

- **Handover**: three tabs subscribed to one project while events flow (~50/s); the leader tab
  is closed; measured from ``page.close()`` to the new leader's socket open at the server, and to
  every remaining tab's stores holding the server's offset of that moment.
- **Main-thread cost per event**: two tabs subscribed to one project, a burst of events; the
  renderer main thread's ``TaskDuration`` (CDP ``Performance.getMetrics``) of each tab over the
  burst, per event, follower vs leader. Playwright's Network domain copies the leader's socket
  frames to its session, which adds to the leader's figure only (a bias in the follower's
  favour, small next to Pyodide's per-frame cost).
- **Start-up**: what sharing adds before ``window.wsclient`` appears and before the first
  ``connected`` (the tab's liveness lock and the outbox adoption, the leader lock, importing
  the tab modules): ``pages/share-start.html``, each load in a fresh context (a lone tab),
  sharing on (the default) and ``?share=0`` alternated, times from the moment Python starts the
  client.
- **Bytes on the wire**: bytes the server sent during one burst to three sharing tabs vs one
  tab, and vs three tabs with ``?share=0``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from playwright.sync_api import BrowserContext, Page

from .harness import BOOT_TIMEOUT_MS, Bench, Row, Section, alternate, fmt, median

PROJECT = "alpha"
QUERY = {
    "project": "",  # sharing is on by default
    "backoff_initial": 50,
    "backoff_after_drop": 100,
    "min_uptime": 1,
}

TOP_JS = """() => {
  window.__top = 0;
  window.wsclient.on("*", (m) => {
    if (m.project_id === "alpha" && typeof m.offset === "number" && m.offset > window.__top) {
      window.__top = m.offset;
    }
  });
}"""

ROLE_JS = """() => {
  let value;
  window.wsclient.health.subscribe((h) => { value = h; })();
  return [value.role, value.tabs, value.status];
}"""


def _open(bench: Bench, context: BrowserContext, **query: Any) -> Page:
    page = context.new_page()
    page.goto(bench.url("/index.html", **{**QUERY, **query}))
    page.wait_for_function("() => window.wsclient !== undefined", timeout=BOOT_TIMEOUT_MS)
    page.evaluate(TOP_JS)
    return page


def _subscribed(pages: list[Page], bench: Bench) -> None:
    for page in pages:
        page.wait_for_function(
            "() => { let h; window.wsclient.health.subscribe((v) => { h = v; })(); "
            "return h.status === 'connected'; }",
            timeout=BOOT_TIMEOUT_MS,
        )
        page.evaluate("(p) => window.wsclient.subscribe(p)", PROJECT)
    top = bench.server.position(PROJECT)[1]
    for page in pages:
        page.wait_for_function("(top) => window.__top >= top", arg=top, timeout=30_000)


def _leader(pages: list[Page]) -> Page:
    return next(p for p in pages if p.evaluate(ROLE_JS)[0] == "leader")


class _Events:
    """Events of PROJECT at ~``rate``/s from a thread while the context is open."""

    def __init__(self, bench: Bench, rate: float) -> None:
        self._bench = bench
        self._stop = threading.Event()
        self._period = 1.0 / rate
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Events:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self._bench.server.emit_many(PROJECT, 1)


def handover(bench: Bench) -> tuple[list[float], list[float]]:
    """Seconds from closing the leader tab to the new socket open, and to every tab current."""
    to_socket: list[float] = []
    to_current: list[float] = []
    for _ in range(bench.settings.reps):
        bench.server.reset()
        bench.server.emit_many(PROJECT, 5)
        with bench.context() as context:
            pages = [_open(bench, context) for _ in range(3)]
            _subscribed(pages, bench)
            with _Events(bench, 50.0):
                leader = _leader(pages)
                rest = [p for p in pages if p is not leader]
                opened = bench.server.snapshot().sockets_opened
                start = time.monotonic()
                leader.close()
                snap = bench.server.wait_for(
                    lambda s, opened=opened: s.sockets_opened > opened, timeout=30
                )
                new = max(snap.connections, key=lambda c: c.opened_at)
                to_socket.append(new.opened_at - start)
                top = bench.server.position(PROJECT)[1]
                for page in rest:
                    page.wait_for_function("(top) => window.__top >= top", arg=top, timeout=30_000)
                to_current.append(time.monotonic() - start)
    return to_socket, to_current


def _task_ms(context: BrowserContext, page: Page) -> Any:
    session = context.new_cdp_session(page)
    session.send("Performance.enable")

    def read() -> float:
        metrics = session.send("Performance.getMetrics")["metrics"]
        return 1000.0 * next(m["value"] for m in metrics if m["name"] == "TaskDuration")

    return read


def cost_per_event(bench: Bench, events: int) -> tuple[list[float], list[float]]:
    """Main-thread milliseconds per event in the leader tab and in a follower tab."""
    leader_ms: list[float] = []
    follower_ms: list[float] = []
    for _ in range(bench.settings.reps):
        bench.server.reset()
        with bench.context() as context:
            pages = [_open(bench, context) for _ in range(2)]
            _subscribed(pages, bench)
            leader = _leader(pages)
            follower = next(p for p in pages if p is not leader)
            clocks = {p: _task_ms(context, p) for p in pages}
            before = {p: clocks[p]() for p in pages}
            bench.server.emit_many(PROJECT, events)
            top = bench.server.position(PROJECT)[1]
            for page in pages:
                page.wait_for_function("(top) => window.__top >= top", arg=top, timeout=60_000)
            leader_ms.append((clocks[leader]() - before[leader]) / events)
            follower_ms.append((clocks[follower]() - before[follower]) / events)
    return leader_ms, follower_ms


def wire_bytes(bench: Bench, tabs: int, events: int, **query: Any) -> float:
    """Bytes the server sent during a burst of ``events`` to ``tabs`` tabs."""
    bench.server.reset()
    with bench.context() as context:
        pages = [_open(bench, context, **query) for _ in range(tabs)]
        _subscribed(pages, bench)
        before = bench.server.snapshot().bytes_sent
        bench.server.emit_many(PROJECT, events)
        top = bench.server.position(PROJECT)[1]
        for page in pages:
            page.wait_for_function("(top) => window.__top >= top", arg=top, timeout=60_000)
        return float(bench.server.snapshot().bytes_sent - before)


START_JS = """() => window.__connected === undefined ? null
  : [window.__ready - window.__t0, window.__connected - window.__t0]"""


def startup(bench: Bench) -> dict[str, list[tuple[float, float]]]:
    """(ms to ``window.wsclient``, ms to ``connected``) from the client's start, per variant."""
    times: dict[str, list[tuple[float, float]]] = {"shared": [], "alone": []}
    reps = 3 if bench.settings.quick else max(8, bench.settings.reps)
    for _, variant in alternate(("shared", "alone"), reps):
        query: dict[str, Any] = {} if variant == "shared" else {"share": 0}
        with bench.context() as context:
            page = context.new_page()
            page.goto(bench.url("/bench/pages/share-start.html", **query))
            handle = page.wait_for_function(START_JS, timeout=BOOT_TIMEOUT_MS)
            ready, connected = handle.json_value()
            role = page.evaluate(ROLE_JS)[0]
            assert role == ("leader" if variant == "shared" else "alone"), (variant, role)
            times[variant].append((float(ready), float(connected)))
    return times


def run(bench: Bench) -> Section:
    sec = Section("Tab sharing (pages of one browser context)")
    events = 300 if bench.settings.quick else 1000
    to_socket, to_current = handover(bench)
    sec.rows.append(
        Row(
            "Handover: leader tab closed -> every tab current (events flowing)",
            "-",
            None,
            median(to_current) * 1000,
            "ms",
            "<= 1000 ms median",
            median(to_current) <= 1.0,
            note=f"new socket open after {fmt(median(to_socket) * 1000)} ms (median)",
        )
    )
    sec.details.append(
        "handover to socket (ms): "
        + ", ".join(fmt(t * 1000) for t in to_socket)
        + "; to every tab current (ms): "
        + ", ".join(fmt(t * 1000) for t in to_current)
    )
    leader_ms, follower_ms = cost_per_event(bench, events)
    ratio = median(follower_ms) / median(leader_ms)
    sec.details.append(
        "main-thread us per event, leader / follower: "
        + ", ".join(
            f"{fmt(a * 1000)}/{fmt(b * 1000)}" for a, b in zip(leader_ms, follower_ms, strict=True)
        )
    )
    sec.rows.append(
        Row(
            "Main-thread cost per event: follower tab vs leader tab",
            "leader tab",
            median(leader_ms) * 1000,
            median(follower_ms) * 1000,
            "us/event",
            "<= 1.2x",
            ratio <= 1.2,
            ratio=ratio,
        )
    )
    starts = startup(bench)
    for index, what in ((0, "window.wsclient"), (1, "first connected")):
        shared = [t[index] for t in starts["shared"]]
        alone = [t[index] for t in starts["alone"]]
        sec.rows.append(
            Row(
                f"Start-up of a lone tab: client start -> {what}, sharing on vs ?share=0",
                "?share=0",
                median(alone),
                median(shared),
                "ms",
                "-",
                None,
                ratio=median(shared) / median(alone),
                note=f"{median(shared) - median(alone):+.1f} ms (medians)",
            )
        )
    sec.details.append(
        "start-up (ms to window.wsclient / to connected): sharing on: "
        + ", ".join(f"{fmt(r, 1)}/{fmt(c, 1)}" for r, c in starts["shared"])
        + "; ?share=0: "
        + ", ".join(f"{fmt(r, 1)}/{fmt(c, 1)}" for r, c in starts["alone"])
    )
    one = wire_bytes(bench, 1, events)
    three = wire_bytes(bench, 3, events)
    alone = wire_bytes(bench, 3, events, share=0)
    sec.rows.append(
        Row(
            "Bytes on the wire: 3 sharing tabs vs 1 tab",
            "1 tab",
            one,
            three,
            "bytes",
            "= 1x",
            abs(three / one - 1.0) < 0.02,
            ratio=three / one,
            note=f"3 tabs with ?share=0: {alone / one:.2f}x",
        )
    )
    return sec
