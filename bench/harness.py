"""What every browser benchmark shares: the project's server, Chromium, pages, and the statistics.

Chromium is launched exactly as the e2e tests launch it (``tests/e2e/conftest.py``). Pages are
served by the project's own server from the repository root, so ``/bench/pages/...`` and the
client's ``/src/...`` come from the same origin as ``/ws``. Nothing here routes requests (Playwright
routing adds latency to every request, which would distort start-up); instead every request is
observed and any that leaves loopback is reported in the results.
"""

from __future__ import annotations

import statistics
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, Playwright

from server import ServerThread
from tests import chromium

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "bench" / "pages"
CHROMIUM = chromium.EXECUTABLE
CHROMIUM_ARGS = list(chromium.ARGS)
BOOT_TIMEOUT_MS = 60_000
LOOPBACK = chromium.LOOPBACK
INIT_JS = (PAGES / "bench.js").read_text()


@dataclass
class Row:
    """One line of the results table: a figure for the baseline and for this client."""

    name: str
    baseline_label: str
    baseline: float | None
    ours: float | None
    unit: str
    goal: str
    met: bool | None
    ratio: float | None = None
    note: str = ""


@dataclass
class Section:
    """A benchmark's rows plus free-form detail (samples, method notes)."""

    title: str
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


@dataclass
class Settings:
    reps: int
    quick: bool


class Bench:
    """The server, the browser and helpers, for the duration of one ``python -m bench`` run."""

    def __init__(self, playwright: Playwright, settings: Settings) -> None:
        self.settings = settings
        self.server = ServerThread(root=ROOT, call_timeout=300.0)
        self.server.start()
        self.browser: Browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        self.outside: list[str] = []

    @property
    def versions(self) -> dict[str, str]:
        return {"chromium": self.browser.version}

    def close(self) -> None:
        self.browser.close()
        self.server.stop()

    def new_context(self, *, stamp: bool = True) -> BrowserContext:
        context = self.browser.new_context()
        if stamp:
            context.add_init_script(INIT_JS)
        context.on("request", self._watch)
        return context

    @contextmanager
    def context(self, *, stamp: bool = True) -> Iterator[BrowserContext]:
        ctx = self.new_context(stamp=stamp)
        try:
            yield ctx
        finally:
            ctx.close()

    def _watch(self, request: Any) -> None:
        parsed = urllib.parse.urlsplit(request.url)
        if parsed.scheme not in ("data", "blob") and parsed.hostname not in LOOPBACK:
            self.outside.append(request.url)

    def url(self, path: str, **query: str | int) -> str:
        qs = urllib.parse.urlencode(query)
        return f"{self.server.url}{path.lstrip('/')}" + (f"?{qs}" if qs else "")

    def connection_id(self, tag: str, timeout: float = 10.0) -> int:
        """The id of the open connection whose URL query holds ``bench=<tag>``."""
        needle = f"bench={tag}"

        def pred(snap: Any) -> bool:
            return any(c.open and needle in c.query for c in snap.connections)

        snap = self.server.wait_for(pred, timeout=timeout)
        return max(c.id for c in snap.connections if c.open and needle in c.query)


def wait_connected_status(page: Page, timeout_ms: int = BOOT_TIMEOUT_MS) -> None:
    """Wait until the page shows "Connected" (any page: ``[data-status=connected]``)."""
    page.wait_for_selector("[data-status=connected]", state="attached", timeout=timeout_ms)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:,.{digits}f}"


def interleave(variants: Sequence[str], reps: int) -> Iterator[tuple[int, str]]:
    """A B C A B C ...: drift over the run hits every variant equally."""
    for rep in range(reps):
        for variant in variants:
            yield rep, variant


def alternate(variants: Sequence[str], reps: int) -> Iterator[tuple[int, str]]:
    """A B B A A B ...: for two variants, each goes first as often as the other (cancels an
    order effect such as the second burst running on a warmer page)."""
    for rep in range(reps):
        yield from ((rep, v) for v in (variants if rep % 2 == 0 else variants[::-1]))


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "src"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip() + (" (src modified)" if dirty.stdout.strip() else "")
