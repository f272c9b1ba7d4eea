"""The dashboard at scale, the first burst and main-thread cost, the flood with and without it.

Every page here runs in its own headless Chromium driven over raw CDP (``cdp.CdpPage``: no
Network domain, so no per-frame DevTools copy); frames come from the project's server
(``server.burst``: as fast as the page's socket takes them, or ``server.flood`` paced).

- ``scale`` (``--only scale``): ``index.html?project=`` (the dashboard, subscribed to nothing)
  with ``pages/dash.js`` injected, twice: ``?keep_completed=50000`` (every process stays in the
  store) and the default retention (200). Each page absorbs 1,000-file bursts, 100,000 distinct
  ``file.uploaded``, 50,000 processes (``process.started`` then ``process.completed``, in blocks
  of 1,000) and 10,000 ``project.created``, then gets ONE more event of each kind, five rounds:
  from the frame's arrival (the socket's ``message`` event) to the new row in the DOM (a
  MutationObserver on the list), the long tasks around it, and the DOM's element count.
- ``firstburst``: ``native.html`` vs ``client.html`` (the throughput pages, ``bench.js``), a fresh
  page per repetition: the rate over the first 5,000 frames of the first burst the page gets
  (20,000 frames), then the main thread's busy time per message in the steady state:
  ``Performance.getMetrics`` ``TaskDuration`` (and ``ScriptDuration``) before and after a fixed
  burst of 20,000 frames, divided by 20,000.
- ``dashflood``: ``index.html`` (the dashboard) vs ``pages/embed.html`` (the README snippet:
  the status widget only, no dashboard), both with ``dash.js``, side by side, alternately: the
  rate each absorbs an unpaced burst of 100,000 ``process.progress`` frames at, and a flood of
  10,000 msg/s for 5 s with 20 clicks on a plain button (no handler but the bench's) spread over
  it. What a dashboard costs at all, a figure; the dashboard issue's goal (the new dashboard vs
  the one before it) is ``dashbefore`` (``bench/dash_before.py``), which runs the same
  ``dash_flood`` with another ``Baseline``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from itertools import count
from typing import Any

from .cdp import CdpPage
from .harness import PAGES, Bench, Row, Section, alternate, fmt, median
from .throughput import FRAMES, WARMUP
from .throughput import PAGES as THROUGHPUT_PAGES

DASH_JS = (PAGES / "dash.js").read_text()
TS = "2024-05-01T12:00:00.000Z"
_marks = count(1)


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def file_frames(project: str, tag: str, n: int) -> list[str]:
    """``n`` ``file.uploaded`` events of ``project``, each at a path of its own."""
    return [
        _dumps(
            {
                "type": "file.uploaded",
                "timestamp": TS,
                "project_id": project,
                "file": {
                    "name": f"{tag}_{i:06d}.png",
                    "path": f"/projects/{project}/{tag}/{tag}_{i:06d}.png",
                    "size": 100_000 + i,
                    "asset_type": "image",
                },
            }
        )
        for i in range(n)
    ]


def process_frames(project: str, tag: str, n: int, block: int = 1_000) -> list[str]:
    """``n`` processes: per block of ``block``, each started, then each completed."""
    out: list[str] = []
    for start in range(0, n, block):
        ids = [f"{tag}-{i:06d}" for i in range(start, min(n, start + block))]
        for type_, progress, message in (
            ("process.started", 0.0, "Rendering frame 0/40"),
            ("process.completed", 1.0, "Render complete"),
        ):
            out += [
                _dumps(
                    {
                        "type": type_,
                        "timestamp": TS,
                        "project_id": project,
                        "process_id": pid,
                        "progress": progress,
                        "message": message,
                    }
                )
                for pid in ids
            ]
    return out


def project_frames(tag: str, n: int) -> list[str]:
    """``n`` ``project.created`` events, each for a project of its own."""
    return [
        _dumps(
            {
                "type": "project.created",
                "timestamp": TS,
                "project_id": f"{tag}-{i:05d}",
                "data": {"id": f"{tag}-{i:05d}", "name": f"Project {tag} {i}", "status": "active"},
            }
        )
        for i in range(n)
    ]


class DashPage(CdpPage):
    """A page with ``pages/dash.js`` injected: bursts absorbed, one-event probes, floods."""

    def __init__(self, bench: Bench, name: str, path: str, query: dict[str, str | int]) -> None:
        super().__init__(bench, name, path, query, init_js=DASH_JS)
        self.wait_for("window.__dash && window.wsclient")

    def absorb(self, frames: list[str], segments: int = 1) -> dict[str, Any]:
        """Burst ``frames`` then a ``bench.mark``: events/s from the first frame's arrival to
        the mark's listener, and ms until two animation frames after it. With ``segments``,
        marks between equal parts of the burst give each part's rate too (``parts``)."""
        mark = next(_marks)
        before = self.metrics()
        raf0 = self.evaluate("__dash.rafMs")
        self.evaluate("__dash.arm()")
        step = -(-len(frames) // segments)
        payload: list[str | bytes] = []
        for k in range(segments):
            payload += frames[k * step : (k + 1) * step]
            payload.append(_dumps({"type": "bench.mark", "id": f"{mark}.{k}"}))
        self._bench.server.burst(payload, connection=self.connection)
        last = json.dumps(f"{mark}.{segments - 1}")
        got = self.evaluate(f"__dash.waitMark({last})", timeout=600, await_promise=True)
        after = self.metrics()
        busy = after["TaskDuration"] - before["TaskDuration"]
        layout = sum(after[k] - before[k] for k in ("LayoutDuration", "RecalcStyleDuration"))
        seconds = (got["t1"] - got["t0"]) / 1000
        times = [got["t0"]] + [got["marks"][f"{mark}.{k}"] for k in range(segments)]
        sizes = [len(frames[k * step : (k + 1) * step]) for k in range(segments)]
        return {
            "rate": len(frames) / seconds,
            "ms": seconds * 1000,
            "settled_ms": got["t2"] - got["t0"],
            "parts": [
                n / ((b - a) / 1000) for n, a, b in zip(sizes, times[:-1], times[1:], strict=True)
            ],
            # Main-thread busy time from before the arm to two frames after the mark (the
            # renders of the last events included, idle time not): events per busy second.
            "busy_rate": len(frames) / busy,
            # Of which in animation-frame callbacks (the dashboard's renders), ms.
            "raf_ms": got["rafMs"] - raf0,
            "busy_ms": busy * 1000,
            "layout_ms": layout * 1000,  # style recalculation and layout
        }

    def count_adds(self, on: bool) -> dict[str, int] | None:
        value: dict[str, int] | None = self.evaluate(f"__dash.countAdds({json.dumps(on)})")
        return value

    def probe(self, kind: str, key: str, frame: str) -> dict[str, Any]:
        """One event whose row shows ``key``: arrival -> row in the DOM, and the long tasks."""
        self.evaluate(f"__dash.probe_({json.dumps(kind)}, {json.dumps(key)})")
        sent = time.time() * 1000
        self._bench.server.send(text=frame, connection=self.connection)
        got: dict[str, Any] = self.evaluate("__dash.probeResult()", timeout=60, await_promise=True)
        got["dom_ms"] = got["inDom"] - got["arrived"]
        got["paint_ms"] = got["painted"] - got["arrived"]
        got["send_ms"] = got["inDom"] + got["timeOrigin"] - sent
        return got

    def lists(self) -> dict[str, Any]:
        value: dict[str, Any] = self.evaluate("__dash.lists()")
        return value


# --- 1. the dashboard at scale -----------------------------------------------------------------

SCALE_FILES = 100_000
SCALE_PROCESSES = 50_000
SCALE_PROJECTS = 10_000
SMALL = 1_000
PROBE_ROUNDS = 5
LATENCY_GOAL_MS = 50.0
ELEMENTS_BOUND = 1_000
SCALE_VARIANTS = {"keep 50,000": {"keep_completed": 50_000}, "default retention": {}}


def _probes(page: DashPage, rounds: int) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {"file": [], "process": [], "project": []}
    for r in range(rounds):
        time.sleep(0.4)  # idle: the previous event is rendered and its long tasks reported
        key = f"probe-file-{r:03d}"
        frame = file_frames("scale", key, 1)[0]
        out["file"].append(page.probe("file", key, frame))
        time.sleep(0.4)
        key = f"probe-proc-{r:03d}"
        frame = _dumps(
            {
                "type": "process.started",
                "timestamp": TS,
                "project_id": "scale",
                "process_id": key,
                "progress": 0.0,
                "message": "Rendering frame 0/40",
            }
        )
        out["process"].append(page.probe("process", key, frame))
        time.sleep(0.4)
        key = f"probe-proj-{r:03d}"
        frame = _dumps(
            {
                "type": "project.created",
                "timestamp": TS,
                "project_id": key,
                "data": {"id": key, "name": f"Probe {r}", "status": "active"},
            }
        )
        out["project"].append(page.probe("project", key, frame))
    return out


def _scale_once(bench: Bench, label: str, query: dict[str, int], quick: bool) -> dict[str, Any]:
    files = SCALE_FILES // 10 if quick else SCALE_FILES
    processes = SCALE_PROCESSES // 10 if quick else SCALE_PROCESSES
    projects = SCALE_PROJECTS // 10 if quick else SCALE_PROJECTS
    smalls = 2 if quick else 8
    slug = label.split()[0]
    page = DashPage(bench, f"scale-{slug}", "/index.html", {"project": "", **query})
    res: dict[str, Any] = {"label": label, "files": files, "processes": processes}
    try:
        page.absorb(file_frames("warm", "warm", WARMUP))
        res["small_before"] = [
            page.absorb(file_frames("small", f"before{k}", SMALL)) for k in range(smalls)
        ]
        res["big"] = page.absorb(file_frames("scale", "big", files), segments=10)
        res["small_after"] = [
            page.absorb(file_frames("small", f"after{k}", SMALL)) for k in range(smalls)
        ]
        res["procs"] = page.absorb(process_frames("scale", "proc", processes))
        res["projects"] = page.absorb(project_frames("proj", projects))
        time.sleep(1.0)
        res["probes"] = _probes(page, 2 if quick else PROBE_ROUNDS)
        time.sleep(0.3)
        res["lists"] = page.lists()
        # Untimed: how many row elements a burst of distinct files creates (MutationObserver).
        page.count_adds(True)
        page.absorb(file_frames("scale", "diag", SMALL * 10))
        res["added"] = page.count_adds(False)
    finally:
        page.close()
    return res


def scale(bench: Bench) -> Section:
    quick = bench.settings.quick
    bench.server.set_heartbeat(0)
    runs: list[dict[str, Any]] = []
    try:
        for label, query in SCALE_VARIANTS.items():
            started = time.monotonic()
            runs.append(_scale_once(bench, label, query, quick))
            run = runs[-1]
            print(
                f"  scale {label}: files {run['big']['rate']:,.0f}/s, 1k "
                f"{median([r['rate'] for r in run['small_before'] + run['small_after']]):,.0f}/s, "
                f"busy {run['big']['busy_rate']:,.0f} vs "
                f"{median([r['busy_rate'] for r in run['small_before'] + run['small_after']]):,.0f}"
                "/s, processes "
                f"{run['procs']['rate']:,.0f}/s, projects {run['projects']['rate']:,.0f}/s, "
                f"{run['lists']['elements']} elements ({time.monotonic() - started:.0f} s)",
                flush=True,
            )
    finally:
        bench.server.set_heartbeat(3.0)
    files = runs[0]["files"]
    sec = Section(
        f"Dashboard at scale ({files:,} files, {runs[0]['processes']:,} processes, "
        f"{SCALE_PROJECTS // (10 if quick else 1):,} projects into index.html)"
    )
    for run in runs:
        label = run["label"]
        for kind, name in (
            ("file", "file.uploaded"),
            ("process", "process.started"),
            ("project", "project.created"),
        ):
            probes = run["probes"][kind]
            dom = [p["dom_ms"] for p in probes]
            sends = [p["send_ms"] for p in probes]
            tasks = [t for p in probes for t in p["longTasks"]]
            worst_task = max((d for _, d in tasks), default=0)
            sec.rows.append(
                Row(
                    f"Scale ({label}): one more {name}, arrival -> row in the DOM",
                    "goal",
                    LATENCY_GOAL_MS,
                    median(dom),
                    "ms",
                    f"<= {LATENCY_GOAL_MS:g} ms, no long task > 50 ms",
                    max(dom) <= LATENCY_GOAL_MS and not tasks,
                    ratio=median(dom) / LATENCY_GOAL_MS,
                    note=f"worst {max(dom):,.1f} ms; server send -> DOM median "
                    f"{median(sends):,.1f} ms; long tasks around it: "
                    + (f"{len(tasks)}, longest {worst_task} ms" if tasks else "none"),
                )
            )
        lists = run["lists"]
        sec.rows.append(
            Row(
                f"Scale ({label}): DOM elements after it all",
                "bound",
                ELEMENTS_BOUND,
                lists["elements"],
                "elements",
                f"< {ELEMENTS_BOUND:,}",
                lists["elements"] < ELEMENTS_BOUND,
                ratio=lists["elements"] / ELEMENTS_BOUND,
                note="rows shown / held: "
                + ", ".join(
                    f"{k} {lists[k]['rows']} / {lists[k]['total']:,}"
                    for k in ("projects", "processes", "files")
                ),
            )
        )
        smalls = run["small_before"] + run["small_after"]
        small, big = median([r["rate"] for r in smalls]), run["big"]["rate"]
        sec.rows.append(
            Row(
                f"Scale ({label}): absorbing {files:,} file events vs {SMALL:,}, wall clock",
                f"{SMALL:,}-event bursts, same page",
                small,
                big,
                "events/s",
                ">= 0.9x",
                big / small >= 0.9,
                ratio=big / small,
                note="first arrival -> the last event's listener",
            )
        )
        small_busy, big_busy = median([r["busy_rate"] for r in smalls]), run["big"]["busy_rate"]
        sec.rows.append(
            Row(
                f"Scale ({label}): absorbing {files:,} file events vs {SMALL:,}, per busy second",
                f"{SMALL:,}-event bursts, same page",
                small_busy,
                big_busy,
                "events/s",
                ">= 0.9x",
                big_busy / small_busy >= 0.9,
                ratio=big_busy / small_busy,
                note=f"main thread {1e6 / big_busy:.0f} vs {1e6 / small_busy:.0f} us per event, "
                "renders included",
            )
        )
    for run in runs:
        probes = run["probes"]
        sec.details.append(
            f"**{run['label']}**: events/s (wall clock / per busy second), {SMALL:,}-file bursts "
            "before the big one: "
            + ", ".join(f"{fmt(r['rate'])}/{fmt(r['busy_rate'])}" for r in run["small_before"])
            + "; after it: "
            + ", ".join(f"{fmt(r['rate'])}/{fmt(r['busy_rate'])}" for r in run["small_after"])
            + f"; {run['files']:,} files: {fmt(run['big']['rate'])}/{fmt(run['big']['busy_rate'])} "
            f"({run['big']['ms'] / 1000:.1f} s,"
            f" rendered {run['big']['settled_ms'] / 1000:.1f} s; "
            f"{run['big']['raf_ms'] / run['big']['busy_ms']:.0%} of its busy time in "
            "animation-frame callbacks, i.e. the renders, "
            f"{run['big']['layout_ms'] / run['big']['busy_ms']:.0%} in style and layout), "
            "by tenths of the burst: "
            + ", ".join(fmt(v) for v in run["big"]["parts"])
            + f"; {run['processes']:,} processes "
            f"({2 * run['processes']:,} frames): {fmt(run['procs']['rate'])}; projects: "
            f"{fmt(run['projects']['rate'])}. One more event, arrival -> row in DOM / -> next "
            "animation frame / server send -> row in DOM (ms), by round: "
            + "; ".join(
                f"{kind}: "
                + ", ".join(
                    f"{p['dom_ms']:.1f}/{p['paint_ms']:.1f}/{p['send_ms']:.1f}" for p in values
                )
                for kind, values in probes.items()
            )
            + ". Long tasks within 100 ms before a probe's arrival to its paint ([start vs "
            "arrival, duration] ms): "
            + (
                "; ".join(
                    f"{kind}: {[t for p in values for t in p['longTasks']]}"
                    for kind, values in probes.items()
                    if any(p["longTasks"] for p in values)
                )
                or "none"
            )
            + f". Lists at the end: {json.dumps(run['lists'])}. Row elements added to the lists "
            f"during one more (untimed) burst of {SMALL * 10:,} distinct files: "
            f"{json.dumps(run['added'])}."
        )
    sec.details.append(
        "`index.html?project=` (no subscription: the raw bursts carry no offsets) with "
        "`pages/dash.js` injected over CDP, one fresh headless Chromium per retention. Rates: "
        "from the first event's arrival (the socket's `message` event) to the client's listener "
        "for a `bench.mark` frame sent right after the last event; `rendered`: to two "
        "animation frames after it. Per busy second: the events divided by the main thread's "
        "busy time (CDP `TaskDuration`) from before the arm to two frames after the mark, so the "
        "renders of the burst's last events count and the wait for a frame does not (a "
        f"{SMALL:,}-event burst lasts ~50 ms: its wall-clock rate leaves its last render out and "
        "swings with where frames fall). Probes: the page idles 0.4 s, the server sends one event; "
        "`arrival` is its `message` event, `row in DOM` the MutationObserver callback after the "
        "render that inserted its row (the row's attribute matched), `server send` the "
        "harness's wall clock just before `server.send` vs the page's (`timeOrigin + now()`). "
        "DOM elements: `document.getElementsByTagName('*').length` (the page has ~110 without "
        "rows; each list shows at most 50 rows)."
    )
    return sec


# --- 2. the first burst and main-thread cost ---------------------------------------------------

FIRST = 5_000
FIRST_BURST = 20_000
STEADY = 20_000


def _receive_first(page: CdpPage, n: int, of: int) -> float:
    """Frames/s over the first ``n`` frames of a burst of ``of``."""
    server = page._bench.server
    seen = page.frames_seen()
    server.send(text=json.dumps({"type": "bench.arm", "n": n}), connection=page.connection)
    server.burst(list(FRAMES), connection=page.connection, count=of // len(FRAMES))
    result = page.wait_result(seen)
    return float((n - 1) / ((result["t1"] - result["t0"]) / 1000.0))


def first_burst(bench: Bench) -> Section:
    reps = max(3, bench.settings.reps)
    steady_reps = 2 if bench.settings.quick else 3
    variants = ("native", "wsclient")
    first: dict[str, list[float]] = {v: [] for v in variants}
    task_us: dict[str, list[float]] = {v: [] for v in variants}
    script_us: dict[str, list[float]] = {v: [] for v in variants}
    steady_rate: dict[str, list[float]] = {v: [] for v in variants}
    bench.server.set_heartbeat(0)
    try:
        for rep, variant in alternate(variants, reps):
            page = CdpPage(bench, f"first-{variant}-{rep}", THROUGHPUT_PAGES[variant])
            try:
                first[variant].append(_receive_first(page, FIRST, FIRST_BURST))
                page.receive(WARMUP)
                for _ in range(steady_reps):
                    before = page.metrics()
                    steady_rate[variant].append(page.receive(STEADY))
                    after = page.metrics()
                    task_us[variant].append(
                        (after["TaskDuration"] - before["TaskDuration"]) * 1e6 / STEADY
                    )
                    script_us[variant].append(
                        (after["ScriptDuration"] - before["ScriptDuration"]) * 1e6 / STEADY
                    )
            finally:
                page.close()
            print(
                f"  first burst {variant}: {first[variant][-1]:,.0f} msg/s; steady "
                f"{median(task_us[variant][-steady_reps:]):.1f} us/msg main thread",
                flush=True,
            )
    finally:
        bench.server.set_heartbeat(3.0)
    pairs = [o / n for n, o in zip(first["native"], first["wsclient"], strict=True)]
    n_first, o_first = median(first["native"]), median(first["wsclient"])
    n_task, o_task = median(task_us["native"]), median(task_us["wsclient"])
    n_script, o_script = median(script_us["native"]), median(script_us["wsclient"])
    sec = Section(
        f"First burst and main-thread cost (first {FIRST:,} of {FIRST_BURST:,} frames, "
        f"a fresh page each time; steady state {STEADY:,} frames)"
    )
    sec.rows.append(
        Row(
            f"First burst: rate over the first {FIRST:,} frames, wsclient vs native JS",
            "native WebSocket (fresh page)",
            n_first,
            o_first,
            "msg/s",
            ">= 0.8x",
            median(pairs) >= 0.8,
            ratio=median(pairs),
            note=f"median of per-pair ratios; ratio of medians {o_first / n_first:.2f}x",
        )
    )
    sec.rows.append(
        Row(
            "Steady state: main-thread busy time per message (CDP TaskDuration)",
            "native WebSocket",
            n_task,
            o_task,
            "us",
            "<= 1.3x",
            o_task / n_task <= 1.3,
            ratio=o_task / n_task,
            note=f"ScriptDuration {o_script:.1f} vs {n_script:.1f} us ({o_script / n_script:.2f}x)",
        )
    )
    sec.details.append(
        "msg/s over the first frames, in order: "
        + "; ".join(f"{v}: " + ", ".join(fmt(x) for x in first[v]) for v in variants)
        + ". Main-thread us per message (TaskDuration): "
        + "; ".join(f"{v}: " + ", ".join(f"{x:.1f}" for x in task_us[v]) for v in variants)
        + ". ScriptDuration: "
        + "; ".join(f"{v}: " + ", ".join(f"{x:.1f}" for x in script_us[v]) for v in variants)
        + ". Steady-state msg/s: "
        + "; ".join(f"{v}: " + ", ".join(fmt(x) for x in steady_rate[v]) for v in variants)
    )
    sec.details.append(
        "Pages: `native.html` and `client.html` (the throughput bench's, `bench.js`), each rep "
        "a fresh headless Chromium under raw CDP (no Network domain). First burst: the first "
        f"frames the page gets after it connected: {FIRST_BURST:,} `process.progress` frames "
        f"in one burst, clock from the first one's `message` event to the listener's "
        f"{FIRST:,}th message (no warm-up before it). Then {WARMUP:,} frames of warm-up and "
        f"{steady_reps} bursts of {STEADY:,}: `Performance.getMetrics` before and after each "
        "(after the page reported its last message), the difference of `TaskDuration` (all "
        "tasks of the renderer's main thread: the handlers, the pump's batches, GC, timers) and "
        "of `ScriptDuration` (JS/Wasm execution), divided by the frames."
    )
    return sec


# --- 3. the flood with the dashboard vs without ------------------------------------------------

FLOOD_RATE = 10_000
FLOOD_SECONDS = 5.0
FLOOD_CLICKS = 20
FLOOD_BURST = 100_000
DISTINCT = 20_000


@dataclass(frozen=True)
class Baseline:
    """What ``dash_flood`` compares ``index.html`` with: its variant name in the output, its
    page, how the table names it, the rows' prefix, and the throughput goal (None: a figure)."""

    key: str
    path: str
    label: str
    prefix: str
    title: str
    goal: float | None
    note: str = ""
    #: What the baseline page is, for the details.
    about: str = ""
    #: A JS expression that must be truthy on the baseline page once it booted (a check that
    #: the page is what it claims to be).
    check_js: str = ""


#: The README snippet (the status widget only): what the dashboard page costs at all. Not the
#: dashboard issue's goal (that is the new dashboard vs the old one: bench/dash_before.py).
SNIPPET = Baseline(
    key="snippet",
    path="/bench/pages/embed.html",
    label="README snippet (`embed.html`: status widget only, renders no list)",
    prefix="Dashboard page vs bare snippet page (cost of having a dashboard)",
    title="the README snippet (no dashboard)",
    goal=None,
    note="the dashboard issue's goal (>= 0.95x) is new vs old dashboard: `dashbefore`, "
    "results/dashboard-vs-before.md",
    about="`pages/embed.html`, the README's embedding snippet: the client and its status "
    "widget, no dashboard (no lists, no feed, nothing rendered per event). So this compares "
    "having the dashboard with having none; the dashboard issue's goal (new dashboard vs old, "
    ">= 0.95x) is measured by `dashbefore` (results/dashboard-vs-before.md).",
)


def dash_flood(bench: Bench, baseline: Baseline = SNIPPET, reps: int | None = None) -> Section:
    quick = bench.settings.quick
    reps = reps or (2 if quick else 3)
    burst = FLOOD_BURST // 10 if quick else FLOOD_BURST
    seconds = 2.0 if quick else FLOOD_SECONDS
    base = baseline.key
    paths = {"dashboard": "/index.html", base: baseline.path}
    variants = tuple(paths)
    rates: dict[str, list[float]] = {v: [] for v in variants}
    floods: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    busy: dict[str, list[float]] = {v: [] for v in variants}
    burst_busy: dict[str, list[float]] = {v: [] for v in variants}
    render_share: dict[str, list[float]] = {v: [] for v in variants}
    render_distinct: dict[str, list[float]] = {v: [] for v in variants}
    layout_distinct: dict[str, list[float]] = {v: [] for v in variants}
    bench.server.set_heartbeat(0)
    pages: dict[str, DashPage] = {}
    try:
        for v in variants:
            pages[v] = DashPage(bench, f"dashflood-{v}", paths[v], {})
            if v == base and baseline.check_js and not pages[v].evaluate(baseline.check_js):
                raise RuntimeError(f"dashflood: {paths[v]} fails {baseline.check_js!r}")
            pages[v].absorb(list(FRAMES) * (WARMUP // len(FRAMES)))
        frames = list(FRAMES) * (burst // len(FRAMES))
        for _, v in alternate(variants, reps):
            got = pages[v].absorb(frames)
            rates[v].append(got["rate"])
            burst_busy[v].append(1e6 / got["busy_rate"])
            render_share[v].append(got["raf_ms"] / got["busy_ms"])
            print(f"  dashflood {v}: {rates[v][-1]:,.0f} msg/s", flush=True)
        for rep, v in alternate(variants, reps):
            distinct = file_frames("alpha", f"d{rep}", DISTINCT // (10 if quick else 1))
            got = pages[v].absorb(distinct)
            busy[v].append(1e6 / got["busy_rate"])
            render_distinct[v].append(got["raf_ms"] / got["busy_ms"])
            layout_distinct[v].append(got["layout_ms"] / got["busy_ms"])
            print(f"  dashflood {v}: {busy[v][-1]:,.1f} us per distinct file", flush=True)
        for _, v in alternate(variants, 1 if quick else 2):
            page = pages[v]
            time.sleep(0.5)
            page.evaluate(f"__dash.startFlood({seconds}, {FLOOD_CLICKS})")
            start = time.monotonic()
            bench.server.flood(
                FRAMES[0], int(FLOOD_RATE * seconds), rate=FLOOD_RATE, connection=page.connection
            )
            sent_in = time.monotonic() - start
            time.sleep(0.2)
            result = page.evaluate("__dash.stopFlood()")
            result["sent_in"] = sent_in
            floods[v].append(result)
            print(f"  dashflood {v}: flood done", flush=True)
    finally:
        for page in pages.values():
            page.close()
        bench.server.set_heartbeat(3.0)
    pairs = [d / s for s, d in zip(rates[base], rates["dashboard"], strict=True)]
    ratio = median(pairs)
    snip, dash = median(rates[base]), median(rates["dashboard"])

    def clicks(v: str) -> list[float]:
        return [w + h for run in floods[v] for w, h in run["clicks"]]

    def waits(v: str) -> list[float]:
        return [w for run in floods[v] for w, _ in run["clicks"]]

    from .browser_benches import p90

    dc, sc = clicks("dashboard"), clicks(base)
    sec = Section(
        f"Flood: the dashboard (`index.html`) vs {baseline.title} ({burst:,}-frame bursts; "
        f"{FLOOD_RATE:,} msg/s for {seconds:g} s)"
    )
    goal = baseline.goal
    # Main-thread busy time per event of the same bursts (CDP TaskDuration): less moved by
    # other jobs' load than the wall-clock rate, a cross-check of the ratio.
    busy_pairs = [d / s for s, d in zip(burst_busy[base], burst_busy["dashboard"], strict=True)]
    note = (
        f"median of per-pair ratios; ratio of medians {dash / snip:.2f}x; main-thread us per "
        f"event {median(burst_busy['dashboard']):.1f} vs {median(burst_busy[base]):.1f} "
        f"(per-pair {median(busy_pairs):.2f}x)"
    )
    sec.rows.append(
        Row(
            f"{baseline.prefix}: throughput (unpaced burst)",
            f"{baseline.label}, same frames",
            snip,
            dash,
            "msg/s",
            f">= {goal:g}x" if goal is not None else f"- (a figure; {baseline.note})",
            ratio >= goal if goal is not None else None,
            ratio=ratio,
            note=note,
        )
    )
    db, sb = median(busy["dashboard"]), median(busy[base])
    sec.rows.append(
        Row(
            f"{baseline.prefix}: main thread per event, {DISTINCT // (10 if quick else 1):,} "
            "distinct files",
            f"{baseline.label}, same frames",
            sb,
            db,
            "us",
            "- (a figure: what a changed row costs)",
            None,
            ratio=db / sb,
            note=f"{db - sb:+.1f} us per event for the dashboard",
        )
    )
    dm, sm = median(dc), median(sc)
    sec.rows.append(
        Row(
            f"{baseline.prefix}: click latency under the flood (median of {len(dc)})",
            f"{baseline.label}, same flood",
            sm,
            dm,
            "ms",
            "< 100 ms (median and p90)",
            dm < 100 and p90(dc) < 100,
            ratio=dm / sm if sm > 0 else None,
            note=f"p90 {p90(dc):.1f} vs {p90(sc):.1f}, worst {max(dc):.1f} vs {max(sc):.1f} ms",
        )
    )
    for v in variants:
        runs = floods[v]
        tasks = sorted((t for run in runs for t in run["longTasks"]), reverse=True)
        sec.details.append(
            f"{v}: burst msg/s "
            + ", ".join(fmt(x) for x in rates[v])
            + " (main-thread us per event: "
            + ", ".join(f"{x:.1f}" for x in burst_busy[v])
            + ")"
            + " (of the main thread's busy time, in animation-frame callbacks: "
            + ", ".join(f"{x:.0%}" for x in render_share[v])
            + "); main-thread us per distinct file event "
            + ", ".join(f"{x:.1f}" for x in busy[v])
            + " (in animation-frame callbacks: "
            + ", ".join(f"{x:.0%}" for x in render_distinct[v])
            + "; style and layout: "
            + ", ".join(f"{x:.0%}" for x in layout_distinct[v])
            + ")"
            + "; flood sent in "
            + ", ".join(f"{run['sent_in']:.1f}" for run in runs)
            + " s; animation frames/s "
            + ", ".join(f"{run['frames'] / run['ms'] * 1000:.0f}" for run in runs)
            + "; click latencies (ms, timer due -> end of the click listener): "
            + ", ".join(f"{c:.0f}" for c in clicks(v))
            + f", of which waiting: median {median(waits(v)):.1f}, worst "
            f"{max(waits(v), default=float('nan')):.1f} ms; long tasks (> 50 ms): "
            + (
                ", ".join(str(t) for t in tasks[:10]) + f" ms ({len(tasks)} in all)"
                if tasks
                else "none"
            )
        )
    if baseline.about:
        sec.details.append(f"Baseline (`{base}`): {baseline.about}")
    sec.details.append(
        "Both pages open side by side (two headless Chromiums under raw CDP), `pages/dash.js` "
        "injected into each. Bursts: 100 distinct `process.progress` frames of project `alpha` "
        "(which the dashboard subscribes by default) repeated; clock from the first frame's "
        "`message` event to the client's `bench.mark` listener. Distinct files: `file.uploaded` "
        "events of `alpha`, each at a new path, main-thread busy time (CDP `TaskDuration`, "
        "from before the burst to two frames after its last event, so the renders count) per "
        "event. `In animation-frame callbacks`: the time `dash.js` measured inside every "
        "`requestAnimationFrame` callback (it wraps the function; the dashboard renders there), "
        "as a share of that busy time; style and layout: CDP `RecalcStyleDuration` + "
        "`LayoutDuration` over the same span. The flood: `server.flood` of one "
        "such frame at 10,000/s; clicks on a plain button the bench adds to both pages (no "
        "handler but its own), so the latency is the main thread's availability, not a "
        "handler's cost."
    )
    return sec
