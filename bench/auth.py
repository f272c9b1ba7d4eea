"""Authentication's cost (protocol v3), measured in one run against the same client without it.

- ``reconnect``: the README snippet page (``pages/embed.html``) with a token provider that asks
  the server's ``POST /auth/token`` and times itself. Per repetition the server aborts the
  connection and the clock runs from the page's ``reconnecting`` to its ``connected`` (backoff
  windows of 1 ms, so the wait is noise). Variants, alternated: auth off (``setAuth(null)``,
  server without auth) and on. The claim: auth adds at most the provider's own time plus one
  round trip (the ``auth`` frame and its ``auth.ok``).
- ``refresh``: the same page under a paced flood of 10,000 frames/s for 12 s. With tokens of
  10 s the client refreshes on the open socket once or twice during the flood (else the server
  closes it: an expired token is a 4401, and frames in flight are lost). Counted: frames
  received of those sent (none may be lost), the longest gap between two frames the page's
  listener saw (a refresh must not stall delivery), against the same flood without auth.

``python -m bench.auth [--reps N]`` prints the table; ``python -m bench --only auth`` runs it
with the others.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Any

from playwright.sync_api import Page, sync_playwright

from .harness import BOOT_TIMEOUT_MS, Bench, Row, Section, Settings, alternate, fmt, median

PROVIDER_JS = """
window.__authTimes = [];
window.__provider = async () => {
  const t0 = performance.now();
  const response = await fetch("/auth/token", { method: "POST" });
  const token = (await response.json()).token;
  window.__authTimes.push(performance.now() - t0);
  return token;
};
"""

RECORDER_JS = """
() => {
  window.__changes = [];
  window.wsclient.state.subscribe(({ status }) =>
    window.__changes.push({ t: performance.now(), status }));
  window.__ticks = { n: 0, last: 0, maxGap: 0 };
  window.__offTicks = window.wsclient.on("bench.tick", () => {
    const now = performance.now(), ticks = window.__ticks;
    if (ticks.n > 0) ticks.maxGap = Math.max(ticks.maxGap, now - ticks.last);
    ticks.n += 1;
    ticks.last = now;
  });
}
"""

QUERY = {"backoff_initial": 1, "backoff_max": 1, "backoff_after_drop": 1, "min_uptime": 0}
FLOOD_RATE = 10_000
FLOOD_SECONDS = 12.0
#: Tokens of 10 s: a refresh every 5-9 s, at least one per flood. The client refreshes at 50-90 %
#: of a token's life; under this flood the provider's answer alone takes ~0.3 s (the main thread
#: is busy), so much shorter tokens leave the refresh too little slack (they are not realistic:
#: real ones live for minutes).
TOKEN_SECONDS = 10.0


def _open(bench: Bench) -> tuple[Any, Page]:
    context = bench.new_context(stamp=False)
    context.add_init_script(PROVIDER_JS)
    page = context.new_page()
    page.goto(bench.url("/bench/pages/embed.html", **QUERY))
    page.wait_for_function("() => window.wsclient !== undefined", timeout=BOOT_TIMEOUT_MS)
    page.evaluate(RECORDER_JS)
    page.wait_for_function("() => window.__changes.at(-1).status === 'connected'")
    return context, page


def _use(bench: Bench, page: Page, auth: bool) -> None:
    """Auth on or off for the next connection, on both sides."""
    bench.server.set_auth(auth)
    page.evaluate(f"() => window.wsclient.setAuth({'window.__provider' if auth else 'null'})")


def _reconnect_ms(bench: Bench, page: Page) -> float:
    """One server-side abort: ms from the page's reconnecting to its connected again."""
    mark = page.evaluate("performance.now()")
    bench.server.drop()
    page.wait_for_function(
        f"() => window.__changes.some((c) => c.t > {mark} && c.status === 'connected')",
        timeout=30_000,
    )
    changes = [c for c in page.evaluate("window.__changes") if c["t"] > mark]
    lost = next(c["t"] for c in changes if c["status"] == "reconnecting")
    back = next(c["t"] for c in changes if c["status"] == "connected")
    return float(back - lost)


def reconnect(bench: Bench) -> Section:
    reps = max(bench.settings.reps, 5) * 2
    context, page = _open(bench)
    samples: dict[str, list[float]] = {"off": [], "on": []}
    provider: list[float] = []
    try:
        for _, variant in alternate(["off", "on"], reps):
            _use(bench, page, variant == "on")
            samples[variant].append(_reconnect_ms(bench, page))
            if variant == "on":
                provider.append(page.evaluate("window.__authTimes.at(-1)"))
        rtt_s = page.evaluate(
            "(() => { let h; window.wsclient.health.subscribe((v) => { h = v; })(); "
            "return h.rtt; })()"
        )
    finally:
        context.close()
        bench.server.set_auth(False)
    off, on = median(samples["off"]), median(samples["on"])
    rtt = (rtt_s or 0.0) * 1000
    allowance = median(provider) + rtt
    extra = on - off
    spread = statistics.pstdev(samples["off"] + samples["on"])
    section = Section("Authentication: reconnect to connected")
    section.rows.append(
        Row(
            "reconnect -> connected, auth on vs off (median ms)",
            "auth off",
            off,
            on,
            "ms",
            f"extra <= provider ({median(provider):.1f} ms) + 1 RTT ({rtt:.1f} ms)",
            extra <= allowance + spread,
            note=f"extra {extra:.1f} ms; spread (stdev of all samples) {spread:.1f} ms",
        )
    )
    section.details.append(
        f"{reps} reconnects per variant, alternated. off: {json.dumps([round(x, 1) for x in samples['off']])}; "  # noqa: E501
        f"on: {json.dumps([round(x, 1) for x in samples['on']])}; provider ms: "
        f"{json.dumps([round(x, 1) for x in provider])}."
    )
    return section


def _flood(bench: Bench, page: Page, count: int) -> dict[str, float]:
    page.evaluate("() => { window.__ticks = { n: 0, last: 0, maxGap: 0 }; }")
    frames_before = bench.server.snapshot().auth_frames
    sent = bench.server.flood(json.dumps({"type": "bench.tick"}), count, rate=FLOOD_RATE)
    page.wait_for_function(f"() => window.__ticks.n >= {sent}", timeout=60_000)
    ticks = page.evaluate("window.__ticks")
    return {
        "sent": sent,
        "received": ticks["n"],
        "max_gap": ticks["maxGap"],
        "refreshes": bench.server.snapshot().auth_frames - frames_before,
    }


def refresh(bench: Bench) -> Section:
    reps = 3
    count = int(FLOOD_RATE * FLOOD_SECONDS)
    context, page = _open(bench)
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    try:
        for _, variant in alternate(["off", "on"], reps):
            bench.server.set_token_lifetime(TOKEN_SECONDS)
            _use(bench, page, variant == "on")
            bench.server.drop()  # the next connection is made with this variant's settings
            page.wait_for_function(
                "() => window.__changes.at(-1).status === 'connected'", timeout=30_000
            )
            runs[variant].append(_flood(bench, page, count))
        sockets = bench.server.snapshot().sockets_opened
    finally:
        context.close()
        bench.server.set_auth(False)
    lost = sum(r["sent"] - r["received"] for v in runs.values() for r in v)
    refreshes = [r["refreshes"] for r in runs["on"]]
    gap_off = median([r["max_gap"] for r in runs["off"]])
    gap_on = median([r["max_gap"] for r in runs["on"]])
    section = Section("Authentication: refresh under a 10k msg/s flood")
    section.rows.append(
        Row(
            "longest gap between two delivered frames (median of runs)",
            "no auth",
            gap_off,
            gap_on,
            "ms",
            "no event delayed, none dropped",
            lost == 0 and min(refreshes) >= 1,
            ratio=gap_on / gap_off if gap_off else None,
            note=f"frames lost {lost}; refreshes per flood {refreshes}; sockets {sockets}",
        )
    )
    section.details.append(
        f"{reps} floods of {count} frames at {FLOOD_RATE}/s per variant; max gaps off "
        f"{[round(r['max_gap'], 1) for r in runs['off']]}, on "
        f"{[round(r['max_gap'], 1) for r in runs['on']]} ms."
    )
    return section


def run(bench: Bench) -> list[Section]:
    return [reconnect(bench), refresh(bench)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=6)
    args = parser.parse_args()
    with sync_playwright() as playwright:
        bench = Bench(playwright, Settings(reps=args.reps, quick=False))
        try:
            for section in run(bench):
                print(f"\n## {section.title}")
                for row in section.rows:
                    print(
                        f"- {row.name}: {row.baseline_label} {fmt(row.baseline, 1)} {row.unit}, "
                        f"auth {fmt(row.ours, 1)} {row.unit}; goal: {row.goal}; met: {row.met}"
                        f" ({row.note})"
                    )
                for detail in section.details:
                    print(f"  {detail}")
        finally:
            bench.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
