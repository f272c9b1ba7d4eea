"""How the e2e tests and the benchmarks launch Chromium: the Debian package, at a fixed path."""

from __future__ import annotations

from typing import Final

#: Debian's Chromium; Playwright cannot download a browser here.
EXECUTABLE: Final = "/usr/bin/chromium"

#: Without the background-networking flags Chromium floods the closed network with requests;
#: ``--expose-gc`` and precise memory info let the leak checks read a settled JS heap.
ARGS: Final = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--js-flags=--expose-gc",
    "--enable-precise-memory-info",
)

#: Hosts a page may request; anything else is a test failure (the page must work offline).
LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
