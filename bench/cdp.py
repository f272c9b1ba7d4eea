"""A page in its own headless Chromium, driven over raw CDP (no Playwright, no Network domain).

``throughput.HeadlessPage`` talks to its page only through the page's WebSocket; this one also
holds a DevTools session, synchronously, for what only DevTools gives: a script injected before
the page's own (``Page.addScriptToEvaluateOnNewDocument``), ``Runtime.evaluate`` (read what the
page measured, or await a promise it resolves), and ``Performance.getMetrics`` (the renderer main
thread's ``TaskDuration`` / ``ScriptDuration``). The Network domain is never enabled, so Chromium
does not copy WebSocket frames to the session (see the README: that is what makes Playwright
unusable while frames flow). CDP events are read and skipped.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from .harness import BOOT_TIMEOUT_MS, CHROMIUM, CHROMIUM_ARGS, Bench
from .throughput import HeadlessPage


class CdpPage(HeadlessPage):
    """``HeadlessPage`` (same socket protocol: ``bench=<name>`` in the socket's query, a
    ``bench.ready`` frame from the page) plus a DevTools session on the page."""

    def __init__(
        self,
        bench: Bench,
        name: str,
        path: str,
        query: dict[str, str | int] | None = None,
        init_js: str | None = None,
        wait_ready: bool = True,
    ) -> None:
        self.name = name
        self._bench = bench
        self._profile = tempfile.TemporaryDirectory(
            prefix="bench-chromium-", ignore_cleanup_errors=True
        )
        self._proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                f"--user-data-dir={self._profile.name}",
                "--remote-debugging-port=0",
                *CHROMIUM_ARGS,
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._id = 0
        self._ws: ClientConnection | None = None
        try:
            self._ws = connect(self._page_target(), max_size=None, open_timeout=30)
            self.call("Page.enable")
            if init_js:
                self.call("Page.addScriptToEvaluateOnNewDocument", source=init_js)
            self.call("Performance.enable")
            url = bench.url(path, ws=f"/ws?bench={name}", **(query or {}))
            self.call("Page.navigate", url=url)
            self.connection = self._wait_ready() if wait_ready else 0
        except BaseException:
            self.close()
            raise

    def _page_target(self) -> str:
        active = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while True:
            try:
                port = int(active.read_text().split()[0])
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                    targets = json.load(r)
                return str(
                    next(t for t in targets if t.get("type") == "page")["webSocketDebuggerUrl"]
                )
            except (OSError, ValueError, IndexError, StopIteration):
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    raise RuntimeError("Chromium's DevTools did not come up") from None
                time.sleep(0.05)

    def call(self, method: str, timeout: float = 60.0, **params: Any) -> dict[str, Any]:
        assert self._ws is not None
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{method}: no answer after {timeout:g} s")
            data = json.loads(self._ws.recv(timeout=left))
            if data.get("id") == self._id:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                result: dict[str, Any] = data.get("result", {})
                return result

    def evaluate(self, expression: str, timeout: float = 60.0, await_promise: bool = False) -> Any:
        """The JSON value of ``expression`` in the page (a promise's, with ``await_promise``)."""
        got = self.call(
            "Runtime.evaluate",
            timeout=timeout,
            expression=expression,
            returnByValue=True,
            awaitPromise=await_promise,
        )
        if "exceptionDetails" in got:
            details = got["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise RuntimeError(f"{expression[:60]!r} threw: {text}")
        return got.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = BOOT_TIMEOUT_MS / 1000) -> Any:
        """Poll ``expression`` every 100 ms until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression[:60]!r} still falsy after {timeout:g} s")
            time.sleep(0.1)

    def metrics(self) -> dict[str, float]:
        """``Performance.getMetrics``: TaskDuration, ScriptDuration... (seconds), counts."""
        got = self.call("Performance.getMetrics")
        return {m["name"]: float(m["value"]) for m in got.get("metrics", [])}

    def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                self._ws.close()
            self._ws = None
        super().close()
