"""Protocol v2 figures: recovery after a reconnect, the durable outbox's cost, offsets' cost.

- ``recovery``: ``pages/recovery.html`` (the client as embedded, plus ``pages/recovery.js``) in a
  headless Chromium with no DevTools (see ``throughput.HeadlessPage``). Per run the page
  subscribes to a fresh project; the harness drops the connection and refuses reconnects, then
  either emits 1,000 events of the demo's mix (``replay``: the client recovers them from the
  history) or uploads 1,000 files and empties the history (``snapshot``: the client gets one
  ``project.snapshot`` of 1,000 files), then lets the client back in. The clock runs from the new
  socket's ``open`` event to the ``sync`` store showing the project ``live`` (replay through) or
  ``reset`` (snapshot applied); the page then checks it holds the server's last offset.
- ``outbox``: the README snippet page through Playwright (no frames flow while measuring, so
  DevTools costs nothing here), disconnected, ``max_queue`` raised; µs per ``wsclient.send()`` in
  a tight loop, with ``localStorage`` working vs ``window.localStorage`` made to throw before
  the page boots (the durable outbox then lives in memory only), two pages, interleaved.
- ``offsets``: the throughput page (``pages/client.html``, no DevTools) subscribed to a project
  (so the client holds a position for it) receives the same ``process.progress`` flood for that
  project with consecutive ``offset`` fields (from its position on) and without, interleaved.
"""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Page

from .harness import BOOT_TIMEOUT_MS, Bench, Row, Section, alternate, fmt, median
from .throughput import WARMUP, HeadlessPage

MISSED = 1_000

# Short backoff so that the client is back soon after the server lets it in (not timed).
RECOVERY_QUERY: dict[str, str | int] = {"backoff_initial": 50, "backoff_max": 200}


def _file(project: str, i: int) -> dict[str, Any]:
    name = f"render_{i:04d}.png"
    return {
        "name": name,
        "path": f"/projects/{project}/renders/{name}",
        "size": 100_000 + i,
        "asset_type": "image",
    }


def _recover_once(bench: Bench, page: HeadlessPage, variant: str, project: str) -> float:
    """One outage of ``project``: ms from the new socket's open to its stores up to date."""
    server = bench.server
    expect = "live" if variant == "replay" else "reset"
    arm = {"type": "bench.arm", "project": project, "expect": expect}
    server.send(text=json.dumps(arm), connection=page.open_connection())
    page.wait_message("bench.subscribed", project=project)
    server.refuse(True)
    server.drop()
    if variant == "replay":
        server.emit_many(project, MISSED)
    else:
        for i in range(MISSED):
            server.emit(project, "file.uploaded", file=_file(project, i))
        server.trim_history(project, 0)
    top = server.position(project)[1]
    server.refuse(False)
    result = page.wait_message("bench.result", project=project)
    if result["offset"] != top:
        raise RuntimeError(
            f"recovery {variant}: the page holds offset {result['offset']} of {project}, "
            f"the server {top} (statuses seen: {result['statuses']})"
        )
    return float(result["done"]) - float(result["open"])


def recovery(bench: Bench) -> Section:
    reps = bench.settings.reps
    variants = ("replay", "snapshot")
    times: dict[str, list[float]] = {v: [] for v in variants}
    page = HeadlessPage(bench, "recovery", "/bench/pages/recovery.html", RECOVERY_QUERY)
    try:
        for rep, variant in alternate(variants, reps):
            times[variant].append(_recover_once(bench, page, variant, f"{variant}-{rep}"))
            print(f"  recovery {variant}: {times[variant][-1]:,.0f} ms", flush=True)
    finally:
        server = bench.server
        server.refuse(False)
        page.close()
    replay, snapshot = median(times["replay"]), median(times["snapshot"])
    sec = Section(f"Recovery after a reconnect ({MISSED:,} missed events, v2)")
    sec.rows.append(
        Row(
            f"v2: reconnect -> stores up to date, {MISSED:,} missed events replayed",
            "-",
            None,
            replay,
            "ms",
            "- (a figure)",
            None,
            note=f"{MISSED / replay * 1000:,.0f} events/s" if replay else "",
        )
    )
    sec.rows.append(
        Row(
            f"v2: reconnect -> stores up to date, snapshot of {MISSED:,} files",
            f"replay of {MISSED:,} events (same run)",
            replay,
            snapshot,
            "ms",
            "- (a figure)",
            None,
            ratio=snapshot / replay if replay else None,
        )
    )
    for variant, values in times.items():
        sec.details.append(f"{variant}: " + ", ".join(fmt(v) for v in values) + " ms")
    sec.details.append(
        "From the new socket's `open` event (the harness drops the link, refuses upgrades while "
        "the server makes the events, then lets the client in; backoff 50-200 ms) to the `sync` "
        "store showing the project `live` (replay) or `reset` (snapshot). The clock includes the "
        "`hello`, the subscribe with `since` and its `subscribed` reply. After each run the page "
        "checked that its `messages` store holds the server's last offset."
    )
    return sec


# Makes window.localStorage throw (as where storage is blocked), before the page's code runs:
# the client's durable outbox then has no storage at all and keeps its entries in memory only,
# without trying a write per send (a full storage would still try each one).
NO_STORAGE_JS = """
Object.defineProperty(window, "localStorage", {
  configurable: true,
  get() { throw new DOMException("bench: storage blocked", "SecurityError"); },
});
"""

SEND_LOOP_JS = """(n) => {
  const ws = window.wsclient;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) ws.send({ type: "bench.outbox", i, text: "queued while down" });
  return ((performance.now() - t0) * 1000) / n;
}"""

STORED_JS = """() => {
  let n = 0;
  try {
    localStorage;
  } catch (_) {
    return 0;  // the blocked page: nothing can be stored
  }
  for (let i = 0; i < localStorage.length; i++) {
    if (localStorage.key(i).startsWith("wsclient:outbox:")) n++;
  }
  localStorage.clear();
  return n;
}"""

SENDS = 300  # per loop (localStorage is cleared after each: far below its quota)


def _outbox_page(bench: Bench, variant: str, ctx: Any, reps: int) -> Page:
    if variant == "memory":
        ctx.add_init_script(NO_STORAGE_JS)
    page: Page = ctx.new_page()
    query = {"max_queue": (reps + 2) * SENDS, "ws": f"/ws?bench=outbox-{variant}"}
    page.goto(bench.url("/bench/pages/embed.html", **query))
    page.wait_for_selector("[data-status=connected]", state="attached", timeout=BOOT_TIMEOUT_MS)
    page.evaluate("window.wsclient.disconnect()")
    page.wait_for_selector("[data-status=disconnected]", state="attached", timeout=10_000)
    page.evaluate(SEND_LOOP_JS, 100)  # warm-up
    page.evaluate(STORED_JS)
    return page


def outbox(bench: Bench) -> Section:
    reps = max(6, 2 * bench.settings.reps)  # each loop takes ~0.1 s: more loops, less noise
    variants = ("durable", "memory")
    cost: dict[str, list[float]] = {v: [] for v in variants}
    stored: dict[str, list[int]] = {v: [] for v in variants}
    with bench.context(stamp=False) as durable_ctx, bench.context(stamp=False) as memory_ctx:
        pages = {
            "durable": _outbox_page(bench, "durable", durable_ctx, reps),
            "memory": _outbox_page(bench, "memory", memory_ctx, reps),
        }
        for _, variant in alternate(variants, reps):
            cost[variant].append(float(pages[variant].evaluate(SEND_LOOP_JS, SENDS)))
            stored[variant].append(int(pages[variant].evaluate(STORED_JS)))
            print(f"  outbox {variant}: {cost[variant][-1]:,.1f} us/send", flush=True)
        depth = {v: pages[v].evaluate(_HEALTH_JS) for v in variants}
    if any(n != SENDS for n in stored["durable"]) or any(stored["memory"]):
        raise RuntimeError(f"outbox: entries written per loop {stored} (expected {SENDS} and 0)")
    durable, memory = median(cost["durable"]), median(cost["memory"])
    sec = Section(f"Outbox cost per send() while disconnected ({SENDS} sends per loop)")
    sec.rows.append(
        Row(
            "v2: wsclient.send() while down, durable outbox (localStorage)",
            "outbox in memory only (storage blocked)",
            memory,
            durable,
            "us",
            "- (a figure)",
            None,
            ratio=durable / memory if memory else None,
            note=f"{durable - memory:+,.0f} us per send for durability",
        )
    )
    sec.details.append(
        "us per send, in order: "
        + "; ".join(f"{v}: " + ", ".join(f"{x:,.1f}" for x in cost[v]) for v in variants)
        + f". Entries found in localStorage after each loop: {stored}. Queue depth at the end "
        f"(health store): {depth}. Each send goes through the page API (JSON.stringify, the "
        "bridge, json.loads, the core's outbox); the durable page also writes one localStorage "
        "entry per send. localStorage is cleared after each loop (the in-memory queues grow the "
        "same on both pages)."
    )
    return sec


_HEALTH_JS = """() => {
  let h = null;
  window.wsclient.health.subscribe((v) => (h = v))();
  return h.queueDepth;
}"""


OFFSET_PROJECT = "bench-offsets"


def _progress(project: str, i: int, offset: int | None) -> str:
    event: dict[str, Any] = {
        "type": "process.progress",
        "timestamp": "2024-05-01T12:00:00.000Z",
        "project_id": project,
        "process_id": f"proc-{project}-{i % 4}",
        "progress": round((i % 100) / 100, 2),
        "message": f"Rendering frame {i % 100}/100",
    }
    if offset is not None:
        event["offset"] = offset
    return json.dumps(event, separators=(",", ":"))


def offsets(bench: Bench, n: int) -> Section:
    """The same flood of project events, with and without offsets, into one page."""
    reps = max(4, 2 * bench.settings.reps)  # a burst takes ~1-2 s: more pairs, less noise
    variants = ("off", "on")
    rates: dict[str, list[float]] = {v: [] for v in variants}
    server = bench.server
    server.set_heartbeat(0)
    page = HeadlessPage(bench, "offsets", "/bench/pages/client.html")
    try:
        sub = {"type": "bench.subscribe", "project": OFFSET_PROJECT}
        server.send(text=json.dumps(sub), connection=page.connection)
        page.wait_message("bench.subscribed", project=OFFSET_PROJECT)
        position = server.position(OFFSET_PROJECT)[1]

        def flood(variant: str, count: int) -> list[str]:
            nonlocal position
            if variant == "off":
                return [_progress(OFFSET_PROJECT, i, None) for i in range(count)]
            frames = [_progress(OFFSET_PROJECT, i, position + 1 + i) for i in range(count)]
            position += count
            return frames

        for variant in variants:
            page.receive_frames(flood(variant, WARMUP))
        for _, variant in alternate(variants, reps):
            frames = flood(variant, n)
            rates[variant].append(page.receive_frames(frames))
            print(f"  offsets {variant}: {rates[variant][-1]:,.0f} msg/s", flush=True)
    finally:
        page.close()
        server.set_heartbeat(3.0)
    off, on = median(rates["off"]), median(rates["on"])
    # Each rep's two bursts ran back to back (A B, then B A): the ratio within a rep is immune to
    # the drift between reps that other jobs' load causes.
    pairs = [b / a for a, b in zip(rates["off"], rates["on"], strict=True)]
    ratio = median(pairs)
    sec = Section(f"Inbound throughput with offsets ({n:,} frames, v2)")
    sec.rows.append(
        Row(
            "v2: throughput with offsets vs without",
            "same frames without `offset`",
            off,
            on,
            "msg/s",
            ">= 0.95x",
            ratio >= 0.95,
            ratio=ratio,
            note=f"median of per-rep ratios; ratio of medians {on / off:.2f}x",
        )
    )
    sec.details.append(
        "msg/s in order: "
        + "; ".join(f"{v}: " + ", ".join(fmt(x) for x in rates[v]) for v in variants)
        + f". One page (`client.html`), subscribed to `{OFFSET_PROJECT}` (its first snapshot "
        "gave the client a position); `on` frames carry the next consecutive offsets (about 16 "
        "bytes more per frame), so each is checked and applied, none is a duplicate or a gap."
    )
    return sec
