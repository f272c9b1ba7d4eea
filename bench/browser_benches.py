"""Dead link and memory (through Playwright); the UI under a flood (no DevTools).

Throughput is in ``throughput.py``, start-up in ``startup.py``, the v2 figures in ``v2.py``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from playwright.sync_api import Page

from .harness import BOOT_TIMEOUT_MS, Bench, Row, Section, interleave, median
from .throughput import FRAMES, HeadlessPage

# Follows the state store: the wall-clock time (Date.now(), the harness's time.time() domain)
# at which the status first left "connected" since the last `__lostAt = 0`.
LOST_AT_JS = """
addEventListener("wsclient:ready", () => {
  window.__lostAt = 0;
  window.wsclient.state.subscribe((s) => {
    window.__status = s.status;
    if (s.status !== "connected" && window.__lostAt === 0) window.__lostAt = Date.now();
  });
});
"""


CLICKS = 20  # clicks spread over the flood: enough for a worst case to mean something


def p90(values: list[float]) -> float:
    """The 90th percentile (nearest rank): with 40 clicks, all but the 4 slowest."""
    ordered = sorted(values)
    return ordered[max(0, -(-9 * len(ordered) // 10) - 1)] if ordered else float("nan")


FLOOD_PAGES = {
    "wsclient": ("flood", "/bench/pages/flood.html"),
    "native": ("flood-native", "/bench/pages/flood-native.html"),
}


def _flood_once(bench: Bench, name: str, path: str, rate: int, seconds: float) -> dict[str, Any]:
    """One flood into one page: what ``pages/flood.js`` measured, plus the server's pace."""
    page = HeadlessPage(bench, name, path)
    try:
        server = bench.server
        conn = page.connection
        seen = page.frames_seen()
        arm = {"type": "bench.arm", "seconds": seconds, "clicks": CLICKS}
        server.send(text=json.dumps(arm), connection=conn)
        start = time.monotonic()
        server.flood(FRAMES[0], int(rate * seconds), rate=rate, connection=conn)
        sent_in = time.monotonic() - start
        server.send(text=json.dumps({"type": "bench.stop"}), connection=conn)
        result = page.wait_result(seen, timeout=120)
    finally:
        page.close()
    return {**result, "sent_in": sent_in}


def ui_flood(bench: Bench, rate: int, seconds: float) -> Section:
    """The dashboard under ``rate`` msg/s for ``seconds``: renders per second, click latency.

    The click latency's baseline is a plain-JS dashboard under the same flood in the same run
    (``pages/flood-native.html``): what this machine and browser give any page, so a figure
    bounded by them shows as a ratio near 1. Each page runs in a headless Chromium with no
    DevTools attached (see ``throughput.HeadlessPage``), alternately, twice (once with --quick).
    The goal is judged on the median and the 90th percentile: the single worst click of 40 is
    set by the shared machine (it stalls both pages at the same moments), and is shown beside.
    """
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in FLOOD_PAGES}
    for _, name in interleave(tuple(FLOOD_PAGES), 1 if bench.settings.quick else 2):
        page_name, path = FLOOD_PAGES[name]
        runs[name].append(_flood_once(bench, page_name, path, rate, seconds))
        print(f"  flood {name}: done", flush=True)

    def clicks(name: str) -> list[float]:
        return [wait + handler for run in runs[name] for wait, handler in run["clicks"]]

    ours, native = clicks("wsclient"), clicks("native")
    ui = runs["wsclient"]
    elapsed = sum(run["ms"] for run in ui) / 1000
    renders_per_s = sum(run["renders"] for run in ui) / elapsed
    frames_per_s = sum(run["frames"] for run in ui) / elapsed
    click_ms, click_p90, worst_ms = median(ours), p90(ours), max(ours, default=float("nan"))
    native_ms, native_p90 = median(native), p90(native)
    native_worst = max(native, default=float("nan"))
    sec = Section(f"UI under a flood ({rate:,} msg/s for {seconds:g} s, dashboard)")
    sec.rows.append(
        Row(
            "Flood: feed renders per second",
            "animation frames per second (same run)",
            frames_per_s,
            renders_per_s,
            "/s",
            "<= 1 per frame",
            renders_per_s <= frames_per_s * 1.02,
            ratio=renders_per_s / frames_per_s if frames_per_s else None,
        )
    )
    sec.rows.append(
        Row(
            f"Flood: click -> handled (median of {len(ours)} clicks)",
            "plain-JS dashboard, same flood",
            native_ms,
            click_ms,
            "ms",
            "< 100 ms (median and p90)",
            click_ms < 100 and click_p90 < 100,
            ratio=click_ms / native_ms if native_ms else None,
            note=f"p90 {click_p90:,.1f}, worst {worst_ms:,.1f} ms; plain JS: p90 "
            f"{native_p90:,.1f}, worst {native_worst:,.1f} ms",
        )
    )
    for name, label in (("wsclient", "ours"), ("native", "plain JS")):
        split: list[list[float]] = [c for run in runs[name] for c in run["clicks"]]
        long_tasks = sorted(
            (t for run in runs[name] for t in run.get("longTasks", [])), reverse=True
        )
        waits, handlers = [w for w, _ in split], [h for _, h in split]
        sec.details.append(
            f"{label}: {sum(int(rate * seconds) for _ in runs[name]):,} frames sent in "
            + ", ".join(f"{run['sent_in']:.1f}" for run in runs[name])
            + " s (the server's pace; a page that fell behind would stretch this); renders "
            + ", ".join(str(run["renders"]) for run in runs[name])
            + ", animation frames "
            + ", ".join(str(run["frames"]) for run in runs[name])
            + "; click latencies (timer due -> end of the page's click handler), in the order "
            "clicked: "
            + ", ".join(f"{w + h:.0f}" for w, h in split)
            + f" ms; of which waiting behind queued work: median {median(waits):.1f} ms, worst "
            f"{max(waits, default=float('nan')):.1f} ms; in the handler: median "
            f"{median(handlers):.1f} ms. Long tasks (> 50 ms): "
            + (", ".join(f"{v:.0f}" for v in long_tasks[:10]) + " ms" if long_tasks else "none")
            + f" ({len(long_tasks)} in all)."
        )
    return sec


def _wait_lost(page: Page, timeout_s: float) -> float:
    page.wait_for_function("window.__lostAt > 0", timeout=timeout_s * 1000, polling=50)
    return float(page.evaluate("window.__lostAt"))


def dead_link(bench: Bench) -> Section:
    """Server goes silent (TCP open): time until the client leaves "connected"."""
    reps = max(2, bench.settings.reps - 2)
    results: dict[str, list[float]] = {"defaults": [], "online": []}
    with bench.context(stamp=False) as ctx:
        ctx.add_init_script(LOST_AT_JS)
        page = ctx.new_page()
        page.goto(bench.url("/index.html"))
        for _, variant in interleave(("defaults", "online"), reps):
            page.wait_for_function(
                "window.__status === 'connected'", timeout=BOOT_TIMEOUT_MS, polling=100
            )
            time.sleep(1.0)  # a heartbeat or two on the fresh connection
            page.evaluate("window.__lostAt = 0")
            silent_at = time.time()
            bench.server.silence(True)
            if variant == "online":
                page.evaluate("dispatchEvent(new Event('online'))")
            lost_at = _wait_lost(page, 30)
            results[variant].append((lost_at - silent_at * 1000) / 1000)
            bench.server.silence(False)
            print(f"  dead link {variant}: {results[variant][-1]:.2f} s", flush=True)
    sec = Section("Dead link (server silent, TCP open)")
    for variant, goal, label in (
        ("defaults", 10.0, "defaults (ping 5 s, pong 4 s)"),
        ("online", 3.0, "after an `online` event (probe 2.5 s)"),
    ):
        value = median(results[variant])
        sec.rows.append(
            Row(
                f"Dead link: silence -> declared, {label}",
                "goal (the seed never detects it)",
                goal,
                value,
                "s",
                f"<= {goal:g} s",
                max(results[variant]) <= goal,
                ratio=value / goal,
                note=f"worst {max(results[variant]):.2f} s",
            )
        )
        sec.details.append(f"{variant}: " + ", ".join(f"{v:.2f}" for v in results[variant]) + " s")
    return sec


MEMORY_JS = """async () => {
  for (let i = 0; i < 3; i++) {
    window.gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    heap: performance.memory.usedJSHeapSize,
    proxies: window.wsclient.debug.liveProxies(),
  };
}"""


def memory(bench: Bench, cycles: int) -> Section:
    """JS heap and live FFI proxies before/after ``cycles`` drop-and-reconnect cycles."""
    query = {"backoff_initial": 10, "backoff_max": 20, "backoff_after_drop": 10, "min_uptime": 1}
    with bench.context(stamp=False) as ctx:
        ctx.add_init_script(LOST_AT_JS)
        page = ctx.new_page()
        page.goto(bench.url("/index.html", **query))
        page.wait_for_function("window.__status === 'connected'", timeout=BOOT_TIMEOUT_MS)
        time.sleep(1.0)
        before: dict[str, float] = page.evaluate(MEMORY_JS)
        start_attempts = len(bench.server.snapshot().attempts)
        started = time.monotonic()
        bench.server.flap(True, code=1001, reason="bench cycle", count=cycles)
        bench.server.drop()  # the current connection goes; each of the next `cycles` flaps
        bench.server.wait_for(
            lambda s: (
                len(s.attempts) - start_attempts > cycles and any(c.open for c in s.connections)
            ),
            timeout=cycles * 0.5 + 30,
            interval=0.25,
        )
        page.wait_for_function(
            "window.__status === 'connected'", timeout=BOOT_TIMEOUT_MS, polling=100
        )
        elapsed = time.monotonic() - started
        snap = bench.server.snapshot()
        flapped = sum(1 for a in snap.attempts[start_attempts:] if a.outcome == "flapped")
        time.sleep(1.0)
        after: dict[str, float] = page.evaluate(MEMORY_JS)
        bench.server.flap(False)
    heap_delta = after["heap"] - before["heap"]
    sec = Section(f"Memory over {cycles:,} reconnect cycles")
    sec.rows.append(
        Row(
            f"Memory: JS heap after {cycles:,} cycles",
            "before the cycles",
            before["heap"] / 1024,
            after["heap"] / 1024,
            "KiB",
            "flat",
            abs(heap_delta) / cycles < 256,  # a leaked socket costs ~2.6 KB of JS heap
            ratio=after["heap"] / before["heap"],
            note=f"{heap_delta / 1024:+,.0f} KiB, {heap_delta / cycles:+,.0f} B per cycle",
        )
    )
    sec.rows.append(
        Row(
            f"Memory: live FFI proxies after {cycles:,} cycles",
            "before the cycles",
            before["proxies"],
            after["proxies"],
            "proxies",
            "0 leaked",
            after["proxies"] == before["proxies"],
            note=f"{after['proxies'] - before['proxies']:+d} leaked",
        )
    )
    sec.details.append(
        f"{flapped:,} connections accepted and closed (1001) right after the handshake in "
        f"{elapsed:.1f} s; options {json.dumps(query)}"
    )
    return sec
