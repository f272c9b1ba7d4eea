"""``python -m bench`` (``make bench``): every benchmark in one go; writes bench/results/RESULTS.md.

Options: ``--quick`` (fewer frames, reps and cycles: a smoke run), ``--only NAME`` (repeatable:
throughput, startup, ui, deadlink, memory, recovery, outbox, storage, offsets, storm, profile,
scale, firstburst, dashflood, dashbefore, sharing, auth), ``--reps N`` (repetitions per variant),
``--out PATH``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from playwright.sync_api import sync_playwright  # noqa: E402

from . import (  # noqa: E402
    auth,
    browser_benches,
    dash_before,
    dashboard,
    sharing,
    startup,
    storage,
    throughput,
    v2,
)
from . import reconnect_storm as storm_sim  # noqa: E402
from .harness import (  # noqa: E402
    BOOT_TIMEOUT_MS,
    Bench,
    Row,
    Section,
    Settings,
    fmt,
    git_revision,
)

NAMES = (
    "throughput",
    "startup",
    "ui",
    "deadlink",
    "memory",
    "recovery",
    "outbox",
    "storage",
    "offsets",
    "storm",
    "profile",
    "scale",
    "firstburst",
    "dashflood",
    "dashbefore",
    "sharing",
    "auth",
)
DEFAULT_OUT = ROOT / "bench" / "results" / "RESULTS.md"


def storm() -> Section:
    """The core's 10,000-client simulation: peak attempts per 100 ms, defaults vs the seed."""
    ours, seed = storm_sim.defaults(), storm_sim.seed_policy()
    sec = Section(f"Reconnect storm ({storm_sim.CLIENTS:,} simulated clients, core only)")
    sec.rows.append(
        Row(
            "Storm: peak attempts in any 100 ms",
            "seed policy (no jitter)",
            seed.peak_all,
            ours.peak_all,
            "attempts",
            "<= 2 % of clients",
            ours.peak_all_share <= 0.02,
            ratio=ours.peak_all / seed.peak_all,
            note=f"{ours.peak_all_share:.2%} vs {seed.peak_all_share:.2%} of clients",
        )
    )
    sec.rows.append(
        Row(
            "Storm: peak attempts per 100 ms once the server is back",
            "seed policy (no jitter)",
            seed.peak_after_back,
            ours.peak_after_back,
            "attempts",
            "-",
            None,
            ratio=ours.peak_after_back / seed.peak_after_back,
            note=f"half back at {ours.median_reconnect:.1f} s vs {seed.median_reconnect:.1f} s",
        )
    )
    sec.details.append(
        "```\n" + storm_sim.report({"defaults": ours, "seed (no jitter)": seed}) + "\n```"
    )
    return sec


def profile(bench: Bench) -> Section:
    """Microseconds per frame for each piece of the hot path, inside Pyodide."""
    with bench.context(stamp=False) as ctx:
        ctx.add_init_script(f"window.__benchFrames = {json.dumps(throughput.FRAMES)};")
        page = ctx.new_page()
        page.goto(bench.url("/bench/pages/profile.html"))
        page.wait_for_function("window.__profile !== undefined", timeout=BOOT_TIMEOUT_MS * 3)
        results = json.loads(page.evaluate("window.__profile"))
    sec = Section("Hot-path profile inside Pyodide (us per frame, best of 5)")
    cprofile = results.pop("cprofile")
    sec.details.append("; ".join(f"{name}: {value:.2f} us" for name, value in results.items()))
    sec.details.append(
        "cProfile of driver.frames (batches of 100), by own time:\n\n```\n"
        + cprofile.strip()
        + "\n```"
    )
    return sec


def render(
    sections: list[Section],
    meta: dict[str, str],
    elapsed: float,
    heading: tuple[str, str] | None = None,
) -> str:
    title, intro = heading or (
        "Benchmark results",
        "Written by `python -m bench` (`make bench`).",
    )
    lines = [
        f"# {title}",
        "",
        f"{intro} Every figure is the median of the repetitions; every ratio is against a "
        "baseline measured in the same run.",
        "",
    ]
    lines += [f"- **{k}**: {v}" for k, v in meta.items()]
    lines += [f"- **run time**: {elapsed / 60:.1f} min", ""]
    lines += [
        "| benchmark | baseline | baseline value | wsclient | ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for sec in sections:
        for row in sec.rows:
            digits = 2 if row.unit in ("s",) else (1 if row.unit == "ms" else 0)
            met = "-" if row.met is None else ("yes" if row.met else "**no**")
            ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
            ours = f"{fmt(row.ours, digits)} {row.unit}"
            if row.note:
                ours += f" ({row.note})"
            base = "-" if row.baseline is None else f"{fmt(row.baseline, digits)} {row.unit}"
            lines.append(
                f"| {row.name} | {row.baseline_label} | {base} "
                f"| {ours} | {ratio} | {row.goal} | {met} |"
            )
    lines.append("")
    for sec in sections:
        lines += [f"## {sec.title}", ""]
        for detail in sec.details:
            lines += [detail, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None, heading: tuple[str, str] | None = None) -> None:
    """``heading``: the title and first sentence of the file written (``bench.storage`` and
    ``bench.dash_before`` write their own files through this)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument("--only", action="append", choices=NAMES, help="run only this one")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per variant")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    quick: bool = args.quick
    reps = args.reps or (2 if quick else 5)
    selected = args.only or list(NAMES)
    frames = 10_000 if quick else 100_000
    started = time.monotonic()
    sections: list[Section] = []
    with sync_playwright() as pw:
        bench = Bench(pw, Settings(reps=reps, quick=quick))
        try:
            meta = {
                "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "browser": f"Chromium {bench.browser.version} (headless, /usr/bin/chromium)",
                "versions": _versions(),
                "machine": f"{platform.machine()}, {_cpus()} CPUs, shared (other jobs ran too)",
                "client revision": git_revision(),
                "repetitions": f"{reps} per variant (interleaved)",
            }
            if "throughput" in selected:
                print("throughput", flush=True)
                sections.append(throughput.run(bench, frames)[0])
            if "startup" in selected:
                print("start-up", flush=True)
                sections.append(startup.run(bench))
            if "ui" in selected:
                print("UI under a flood", flush=True)
                sections.append(browser_benches.ui_flood(bench, 10_000, 2.0 if quick else 5.0))
            if "deadlink" in selected:
                print("dead link", flush=True)
                sections.append(browser_benches.dead_link(bench))
            if "memory" in selected:
                print("memory", flush=True)
                sections.append(browser_benches.memory(bench, 100 if quick else 1000))
            if "recovery" in selected:
                print("v2: recovery after a reconnect", flush=True)
                sections.append(v2.recovery(bench))
            if "outbox" in selected:
                print("v2: outbox cost per send", flush=True)
                sections.append(v2.outbox(bench))
            if "storage" in selected:
                print("durable outbox storage: localStorage vs IndexedDB", flush=True)
                sections.append(storage.run(bench))
            if "offsets" in selected:
                print("v2: throughput with offsets", flush=True)
                sections.append(v2.offsets(bench, frames // 2))
            if "storm" in selected:
                print("reconnect storm", flush=True)
                sections.append(storm())
            if "profile" in selected:
                print("hot-path profile", flush=True)
                sections.append(profile(bench))
            if "scale" in selected:
                print("dashboard at scale", flush=True)
                sections.append(dashboard.scale(bench))
            if "firstburst" in selected:
                print("first burst and main-thread cost", flush=True)
                sections.append(dashboard.first_burst(bench))
            if "dashflood" in selected:
                print("flood: dashboard vs snippet", flush=True)
                sections.append(dashboard.dash_flood(bench))
            if "dashbefore" in selected:
                print("flood: dashboard vs the dashboard before its activity figure", flush=True)
                sections.append(dash_before.flood(bench))
            if "sharing" in selected:
                print("tab sharing: handover, follower cost, bytes on the wire", flush=True)
                sections.append(sharing.run(bench))
            if "auth" in selected:
                print("authentication: reconnect cost, refresh under a flood", flush=True)
                sections.extend(auth.run(bench))
            if bench.outside:
                sections.append(
                    Section("Requests outside loopback (should be none)", details=bench.outside)
                )
        finally:
            bench.close()
    text = render(sections, meta, time.monotonic() - started, heading)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)
    print(f"\nwritten to {args.out}")


def _versions() -> str:
    parts = [f"Python {platform.python_version()} (harness)"]
    for pkg in ("pyodide", "@pyscript/core", "partysocket"):
        try:
            data = json.loads((ROOT / "node_modules" / pkg / "package.json").read_text())
            parts.append(f"{pkg} {data['version']}")
        except (OSError, ValueError, KeyError):
            parts.append(f"{pkg} (not installed)")
    try:
        from importlib.metadata import version

        parts.append(f"playwright {version('playwright')}")
    except Exception:
        pass
    return ", ".join(parts)


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
