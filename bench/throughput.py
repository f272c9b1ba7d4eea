"""Inbound throughput: N small ``process.progress`` frames through each page's full handler.

Three pages stay open side by side on one server (``native``, ``partysocket``, ``wsclient``), each
in its own headless Chromium with no DevTools attached, and receive the burst in turn, A B C A B
C..., so drift hits each equally. Each page is warmed up with a short burst first. The clock starts
when the page's socket receives the first measured frame (the same ``message`` listener on every
variant, ``pages/bench.js``) and stops in the page's ``process.progress`` listener at the N-th
message; the page reports both times back over its socket. A CPython client receives the same
burst to show the server's own ceiling.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from typing import Any

from server import ConnectionInfo, Snapshot

from .harness import (
    BOOT_TIMEOUT_MS,
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    Bench,
    Row,
    Section,
    fmt,
    interleave,
    median,
)

VARIANTS = ("native", "partysocket", "wsclient")
PAGES = {
    "native": "/bench/pages/native.html",
    "partysocket": "/bench/pages/partysocket.html",
    "wsclient": "/bench/pages/client.html",
}
#: 100 distinct frames of the seed's ``process.progress`` shape, sent round-robin.
FRAMES = [
    json.dumps(
        {
            "type": "process.progress",
            "timestamp": "2024-05-01T12:00:00.000Z",
            "project_id": "alpha",
            "process_id": f"proc-alpha-{i % 4}",
            "progress": round(i / 100, 2),
            "message": f"Rendering frame {i}/100",
        },
        separators=(",", ":"),
    )
    for i in range(100)
]
WARMUP = 2_000


class HeadlessPage:
    """One page in its own headless Chromium with no DevTools client attached.

    Headless Chromium shows one page per process, and Playwright cannot be used here: it enables
    the DevTools Network domain, and Chromium then copies every WebSocket frame to it, which
    costs more per frame than the handlers being compared. The page talks only to the server.
    """

    def __init__(
        self,
        bench: Bench,
        name: str,
        path: str | None = None,
        query: dict[str, str | int] | None = None,
    ) -> None:
        self.name = name
        self._profile = tempfile.TemporaryDirectory(
            prefix="bench-chromium-", ignore_cleanup_errors=True
        )
        url = bench.url(path or PAGES[name], ws=f"/ws?bench={name}", **(query or {}))
        self._proc = subprocess.Popen(
            [CHROMIUM, "--headless", f"--user-data-dir={self._profile.name}", *CHROMIUM_ARGS, url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._bench = bench
        self.connection = self._wait_ready()

    def _wait_ready(self) -> int:
        needle = f"bench={self.name}"

        def ready(snap: Snapshot) -> bool:
            return any(_ready_on(c, needle) for c in snap.connections)

        snap = self._bench.server.wait_for(ready, timeout=BOOT_TIMEOUT_MS / 1000, interval=0.1)
        return max(c.id for c in snap.connections if _ready_on(c, needle))

    def receive(self, n: int) -> float:
        """Frames per second for ``n`` frames (``n`` a multiple of ``len(FRAMES)``)."""
        server = self._bench.server
        seen = self.frames_seen()
        server.send(text=json.dumps({"type": "bench.arm", "n": n}), connection=self.connection)
        server.burst(FRAMES, connection=self.connection, count=n // len(FRAMES))
        result = self.wait_result(seen)
        return (n - 1) / ((result["t1"] - result["t0"]) / 1000.0)

    def receive_frames(self, frames: list[str]) -> float:
        """Frames per second for exactly ``frames``, written as one block."""
        server = self._bench.server
        seen = self.frames_seen()
        n = len(frames)
        server.send(text=json.dumps({"type": "bench.arm", "n": n}), connection=self.connection)
        server.burst(list(frames), connection=self.connection, count=1)
        result = self.wait_result(seen)
        return (n - 1) / ((result["t1"] - result["t0"]) / 1000.0)

    def wait_message(self, type_: str, timeout: float = 60, **fields: Any) -> dict[str, Any]:
        """The first JSON frame of ``type_`` (with ``fields``) the page sent on any of its
        connections (a reconnect opens another)."""
        needle = f"bench={self.name}"
        found: list[dict[str, Any]] = []

        def done(snap: Snapshot) -> bool:
            for c in snap.connections:
                if needle not in c.query:
                    continue
                for f in c.frames:
                    if type_ not in f.text:
                        continue
                    value = f.json()
                    if (
                        isinstance(value, dict)
                        and value.get("type") == type_
                        and all(value.get(k) == v for k, v in fields.items())
                    ):
                        found.append(value)
                        return True
            return False

        self._bench.server.wait_for(done, timeout=timeout, interval=0.05)
        return found[0]

    def open_connection(self) -> int:
        """The id of the page's open connection (after reconnects)."""
        needle = f"bench={self.name}"
        snap = self._bench.server.wait_for(
            lambda s: any(c.open and needle in c.query for c in s.connections), timeout=30
        )
        return max(c.id for c in snap.connections if c.open and needle in c.query)

    def frames_seen(self) -> int:
        """How many frames the server has received from this page so far."""
        return _frame_count(self._bench.server.snapshot(), self.connection)

    def wait_result(self, seen: int, timeout: float = 300) -> dict[str, Any]:
        """The first ``bench.result`` the page sent after its ``seen``-th frame."""
        found: list[dict[str, Any]] = []

        def done(snap: Snapshot) -> bool:
            for c in snap.connections:
                if c.id == self.connection:
                    for f in c.frames[seen:]:
                        value = f.json()
                        if isinstance(value, dict) and value.get("type") == "bench.result":
                            found.append(value)
                            return True
            return False

        self._bench.server.wait_for(done, timeout=timeout, interval=0.2)
        return found[0]

    def close(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._profile.cleanup()


def _ready_on(c: ConnectionInfo, needle: str) -> bool:
    return c.open and needle in c.query and any("bench.ready" in f.text for f in c.frames)


def _frame_count(snap: Snapshot, connection: int) -> int:
    return next((len(c.frames) for c in snap.connections if c.id == connection), 0)


def cpython_rate(bench: Bench, n: int) -> float:
    """The rate a CPython aiohttp client receives (and parses) the same burst at."""
    url = bench.server.ws_url + "?bench=cpython"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.cpython_client", url, str(n)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the CPython client did not connect")
        conn = bench.connection_id("cpython")
        bench.server.burst(FRAMES, connection=conn, count=n // len(FRAMES))
        rate = float(json.loads(proc.stdout.readline())["rate"])
    finally:
        proc.wait(timeout=60)
    return rate


def run(bench: Bench, n: int) -> tuple[Section, dict[str, list[float]]]:
    reps = bench.settings.reps
    rates: dict[str, list[float]] = {v: [] for v in (*VARIANTS, "cpython")}
    bench.server.set_heartbeat(0)  # nothing but the burst on the wire while measuring
    pages: list[HeadlessPage] = []
    try:
        for name in VARIANTS:
            pages.append(HeadlessPage(bench, name))
        for page in pages:
            page.receive(WARMUP)
        by_name = {page.name: page for page in pages}
        for _, name in interleave(VARIANTS, reps):
            rates[name].append(by_name[name].receive(n))
            print(f"  throughput {name}: {rates[name][-1]:,.0f} msg/s", flush=True)
    finally:
        for page in pages:
            page.close()
    for _ in range(max(1, reps // 2)):
        rates["cpython"].append(cpython_rate(bench, n))
        print(f"  throughput cpython: {rates['cpython'][-1]:,.0f} msg/s", flush=True)
    bench.server.set_heartbeat(3.0)
    return section(rates, n), rates


def section(rates: dict[str, list[float]], n: int) -> Section:
    native = median(rates["native"])
    party = median(rates["partysocket"])
    ours = median(rates["wsclient"])
    server = median(rates["cpython"])
    sec = Section(f"Inbound throughput ({n:,} frames)")
    sec.rows.append(
        Row(
            "Throughput: wsclient vs native JS",
            "native WebSocket",
            native,
            ours,
            "msg/s",
            ">= 0.9x",
            ours / native >= 0.9,
            ratio=ours / native,
        )
    )
    sec.rows.append(
        Row(
            "Throughput: wsclient vs partysocket",
            "partysocket",
            party,
            ours,
            "msg/s",
            "> 1.0x",
            ours > party,
            ratio=ours / party,
        )
    )
    sec.rows.append(
        Row(
            "Throughput: partysocket vs native JS (reference)",
            "native WebSocket",
            native,
            party,
            "msg/s",
            "-",
            None,
            ratio=party / native,
        )
    )
    sec.rows.append(
        Row(
            "Server ceiling: CPython aiohttp client vs native JS",
            "native WebSocket",
            native,
            server,
            "msg/s",
            "> 1.5x (server not the bottleneck)",
            server > 1.5 * native,
            ratio=server / native,
        )
    )
    for name, values in rates.items():
        sec.details.append(f"{name}: " + ", ".join(fmt(v) for v in values) + " msg/s")
    return sec
