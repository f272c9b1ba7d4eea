"""Times the pieces of the inbound hot path inside Pyodide (``python -m bench --only profile``).

Each figure is microseconds per frame over the same 100 distinct ``process.progress`` frames the
throughput bench sends; ``window.__profile`` gets the results and a cProfile of the driver's
``frames`` (the whole path a batch takes: parse, the core's stream check, dispatch, publish).
"""

import cProfile
import io
import json
import pstats
import time
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]

from wsclient.app import Client
from wsclient.messages import parse
from wsclient.router import EventRouter

# The throughput bench's 100 frames, handed over by the harness (bench/__main__.py).
FRAMES: list[str] = list(js.window.__benchFrames)
ROUNDS = 200  # x 100 frames
HELLO = json.dumps({"type": "hello", "protocol": 2, "timestamp": "2024-05-01T12:00:00.000Z"})


def per_frame(fn: Any) -> float:
    """Microseconds per frame: the best of 5 runs (the machine is shared and noisy)."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(ROUNDS // 5):
            fn()
        best = min(best, (time.perf_counter() - start) / (ROUNDS // 5 * len(FRAMES)) * 1e6)
    return best


class QuietPort:
    """A driver port that does nothing: the core's decisions without a browser."""

    def __init__(self, _url: str, _driver: Any) -> None:
        self.opened: list[int] = []

    def now(self) -> float:
        return time.monotonic()

    def open_socket(self, socket_id: int) -> None:
        self.opened.append(socket_id)

    def send(self, socket_id: int, text: str) -> bool:
        return True

    def close_socket(self, socket_id: int, code: int, reason: str) -> int:
        return 0

    def set_timer(self, delay: float | None) -> None:
        pass

    def save(self, entry: Any) -> None:
        pass

    def forget(self, id: str) -> None:
        pass

    def load(self) -> list[Any]:
        return []

    def dispose(self) -> None:
        pass


def connected_client(subscribers: bool) -> tuple[Client, int]:
    """A client on a quiet port, its socket open and greeted as v2; with ``subscribers``: a
    listener and subscribers on ``messages`` and ``processes`` (as the throughput page has)."""
    client = Client("ws://bench.invalid/ws", port=QuietPort)
    client.connect()
    port: Any = client.driver.port
    sid = port.opened[-1]
    client.driver.socket_opened(sid)
    client.driver.frames(sid, [HELLO])
    if subscribers:
        sink: list[Any] = [None]
        client.on("process.progress", lambda m: sink.__setitem__(0, m))
        client.messages.subscribe(lambda w: sink.__setitem__(0, w))
        client.processes.subscribe(lambda p: sink.__setitem__(0, p))
    return client, sid


def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    decode = json.JSONDecoder().decode
    results["json.loads"] = per_frame(lambda: [decode(f) for f in FRAMES])
    results["parse"] = per_frame(lambda: [parse(f) for f in FRAMES])
    r = EventRouter()
    sink: list[Any] = [None]
    r.on("process.progress", lambda m: sink.__setitem__(0, m))
    r.messages.subscribe(lambda w: sink.__setitem__(0, w))
    r.processes.subscribe(lambda p: sink.__setitem__(0, p))
    handle, publish = r.handle, r.publish

    def routed() -> None:
        for f in FRAMES:
            handle(f)
        publish()

    results["router: parse + dispatch, publish per 100"] = per_frame(routed)
    client, sid = connected_client(subscribers=True)
    frames = client.driver.frames
    results["driver.frames (batches of 100)"] = per_frame(lambda: frames(sid, FRAMES))
    bare, bare_sid = connected_client(subscribers=False)
    results["driver.frames, no subscribers"] = per_frame(
        lambda: bare.driver.frames(bare_sid, FRAMES)
    )
    # The same frames with consecutive offsets, for a project the client holds a position for.
    sub, sub_sid = connected_client(subscribers=True)
    sub.subscribe("alpha")
    sub.driver.frames(
        sub_sid,
        [
            json.dumps(
                {
                    "type": "subscribed",
                    "project_id": "alpha",
                    "epoch": "e",
                    "offset": 0,
                    "recovered": False,
                }
            ),
            json.dumps(
                {
                    "type": "project.snapshot",
                    "project_id": "alpha",
                    "offset": 0,
                    "data": None,
                    "files": [],
                    "processes": [],
                }
            ),
        ],
    )
    numbered = [json.loads(f) for f in FRAMES]
    next_offset = [1]

    def with_offsets() -> list[str]:
        batch = []
        for event in numbered:
            event["offset"] = next_offset[0]
            next_offset[0] += 1
            batch.append(json.dumps(event, separators=(",", ":")))
        return batch

    batches = [with_offsets() for _ in range(ROUNDS)]
    plain = [[f for f in FRAMES] for _ in range(ROUNDS)]

    def feed_all(client: Client, sid: int, source: list[list[str]]) -> Any:
        it = iter(source)
        return lambda: client.driver.frames(sid, next(it))

    results["driver.frames, offsets (subscribed)"] = per_frame(feed_all(sub, sub_sid, batches))
    results["driver.frames, same without offsets"] = per_frame(feed_all(sub, sub_sid, plain))
    if sub.core.health().duplicates:
        raise RuntimeError("the offsets profile produced duplicates")
    js_batch = to_js(FRAMES)
    results["batch.to_py()"] = per_frame(lambda: js_batch.to_py())
    joined = js.Function.new("batch", 'return () => batch.join("\\x1e")')(js_batch)
    results["JS join -> str -> split"] = per_frame(lambda: joined().split("\x1e"))
    # The whole JS -> Python crossing, as static/wsclient.js makes it: one call per batch.
    proxy = create_proxy(lambda text: frames(sid, text.split("\x1e")))
    call = js.Function.new("fn", "batch", 'return () => fn(batch.join("\\x1e"))')(proxy, js_batch)
    results["JS call -> split + driver.frames"] = per_frame(call)
    proxy.destroy()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(50):
        frames(sid, FRAMES)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
    results["cprofile"] = out.getvalue()
    return results


js.window.__profile = json.dumps(run())
