"""Start-up with the Pyodide memory snapshot, three ways, interleaved in one run.

    PYTHONPATH=src:. python -m bench.snapshot_boot [--reps 6]

Pages: the README snippet (``bench/pages/embed.html``: navigation -> ``data-status="connected"``,
interpreter ``static/pyodide_snapshot.mjs``) and a bare PyScript + Pyodide page that only prints
(``bench/pages/bare.html``: navigation -> its first Python line). Each repetition loads both pages
in fresh browser contexts, alternating which goes first:

- **localhost, first visit**: an empty cache (the snippet boots normally, then fetches the snapshot
  in the background);
- **localhost, repeat visit**: the same context reloaded once the first visit is done (the snippet
  boots from the cached snapshot; the bare page has Pyodide's files cached too);
- **throttled first visit**: CDP network emulation at 20 Mbit/s down, 40 ms latency, with an empty
  cache (the server sends the snapshot gzip-compressed, as any server with precompressed files
  would; Pyodide's own files go as they are for both pages).

Prints medians and the snippet/bare ratio per way, and writes ``bench/results/SNAPSHOT.md``.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from server import ServerThread
from tests import chromium

from .startup import THROTTLE

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "SNAPSHOT.md"
# Stamps the moment the status component first says "connected" (milliseconds since navigation).
CONNECTED_AT = """
new MutationObserver((_, observer) => {
  const root = document.querySelector("[data-ws-status] .connection-status");
  if (root?.dataset.status === "connected") {
    window.__doneAt = performance.now();
    observer.disconnect();
  }
}).observe(document, { subtree: true, childList: true, attributes: true });
"""
DONE = "() => (window.__doneAt ?? window.__printedAt) !== undefined"
ELAPSED = "() => window.__doneAt ?? window.__printedAt"
PAGES = {"snippet": "bench/pages/embed.html", "bare": "bench/pages/bare.html"}


def load(browser: Browser, url: str, kind: str, *, repeat: bool, throttled: bool) -> float:
    """Navigation -> done in ms for one load (the second one of a context if ``repeat``)."""
    context = browser.new_context()
    context.add_init_script(CONNECTED_AT)
    try:
        page = context.new_page()
        if throttled:
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", THROTTLE)
        page.goto(url)
        page.wait_for_function(DONE, timeout=120_000)
        if repeat:
            if kind == "snippet":
                page.wait_for_function(
                    "() => window.wsclientBoot.prefetched === true", timeout=60_000
                )
            page.reload()
            page.wait_for_function(DONE, timeout=120_000)
        elapsed: float = page.evaluate(ELAPSED)
        if kind == "snippet" and repeat:
            assert page.evaluate("() => window.wsclientBoot.snapshot") == "used"
        return elapsed
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.snapshot_boot")
    parser.add_argument("--reps", type=int, default=6)
    args = parser.parse_args()
    ways = {
        "localhost, first visit": (False, False),
        "localhost, repeat visit": (True, False),
        "throttled first visit (20 Mbit/s, 40 ms)": (False, True),
    }
    results: dict[str, dict[str, list[float]]] = {w: {"snippet": [], "bare": []} for w in ways}
    with ServerThread(root=ROOT) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium.EXECUTABLE, args=list(chromium.ARGS))
        for rep in range(args.reps):
            for way, (repeat, throttled) in ways.items():
                order = ["snippet", "bare"] if rep % 2 == 0 else ["bare", "snippet"]
                for kind in order:
                    ms = load(
                        browser, server.url + PAGES[kind], kind, repeat=repeat, throttled=throttled
                    )
                    results[way][kind].append(ms)
                    print(f"{way:42} {kind:8} {ms:8.0f} ms", flush=True)
        browser.close()
    lines = [
        "# Start-up with the Pyodide snapshot (bench/snapshot_boot.py)",
        "",
        f"{args.reps} repetitions per page and way, interleaved; navigation -> done (ms), medians.",
        "",
        "| way | bare page | README snippet | difference | ratio |",
        "|---|---|---|---|---|",
    ]
    for way, by_kind in results.items():
        bare, ours = statistics.median(by_kind["bare"]), statistics.median(by_kind["snippet"])
        lines.append(
            f"| {way} | {bare:,.0f} | {ours:,.0f} | {ours - bare:+,.0f} | {ours / bare:.2f}x |"
        )
    lines += [
        "",
        "Every load (ms): "
        + "; ".join(
            f"{way}: bare {', '.join(f'{v:.0f}' for v in r['bare'])} / snippet "
            f"{', '.join(f'{v:.0f}' for v in r['snippet'])}"
            for way, r in results.items()
        ),
        "",
    ]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
