"""Times the pieces of the inbound hot path inside Pyodide (``python -m bench --only profile``).

Each figure is microseconds per frame over the same 100 distinct ``process.progress`` frames the
throughput bench sends; ``window.__profile`` gets the results and a cProfile of ``feed``.
"""

import cProfile
import io
import json
import pstats
import time
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]

from wsclient.messages import parse
from wsclient.router import EventRouter

# The throughput bench's 100 frames, handed over by the harness (bench/__main__.py).
FRAMES: list[str] = list(js.window.__benchFrames)
ROUNDS = 200  # x 100 frames


def per_frame(fn: Any) -> float:
    """Microseconds per frame: the best of 5 runs (the machine is shared and noisy)."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(ROUNDS // 5):
            fn()
        best = min(best, (time.perf_counter() - start) / (ROUNDS // 5 * len(FRAMES)) * 1e6)
    return best


def router() -> EventRouter:
    r = EventRouter()
    sink: list[Any] = [None]
    r.on("process.progress", lambda m: sink.__setitem__(0, m))
    r.messages.subscribe(lambda w: sink.__setitem__(0, w))
    r.processes.subscribe(lambda p: sink.__setitem__(0, p))
    return r


def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    decode = json.JSONDecoder().decode
    results["json.loads"] = per_frame(lambda: [decode(f) for f in FRAMES])
    results["parse"] = per_frame(lambda: [parse(f) for f in FRAMES])
    r = router()
    feed = r.feed
    results["feed (parse + stores + listener)"] = per_frame(lambda: [feed(f) for f in FRAMES])
    bare = EventRouter()
    bare_feed = bare.feed
    results["feed, no subscribers"] = per_frame(lambda: [bare_feed(f) for f in FRAMES])
    js_batch = to_js(FRAMES)
    results["batch.to_py()"] = per_frame(lambda: js_batch.to_py())

    def through_batch() -> None:
        for f in js_batch.to_py():
            feed(f)

    results["to_py + feed"] = per_frame(through_batch)
    # The whole JS -> Python crossing, as the adapter's shim makes it: one call per batch.
    sink = create_proxy(lambda batch: [feed(f) for f in batch.to_py()])
    call = js.Function.new("fn", "batch", "return () => fn(batch)")(sink, js_batch)
    results["JS call -> to_py + feed"] = per_frame(call)
    sink.destroy()
    joined = js.Function.new("batch", 'return () => batch.join("\\x1e")')(js_batch)
    results["JS join -> str -> split"] = per_frame(lambda: joined().split("\x1e"))
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(50):
        for f in FRAMES:
            feed(f)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
    results["cprofile"] = out.getvalue()
    return results


js.window.__profile = json.dumps(run())
