"""DOM helpers of the page: element lookup and creation, event listeners, a ticker, one render
per animation frame, the console log handler, and what the page says of itself (URL, online).

Each helper's proxy comes from ``port.Proxies`` and is destroyed by its ``close``/remover.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import jsnull  # type: ignore[import-not-found]

from .port import Proxies

#: The page's document.
document: Any = js.document


def element(tag: str, cls: str = "", text: str = "") -> Any:
    """A new ``<tag class=cls>`` holding ``text`` (as text: ``textContent``, never HTML)."""
    node = document.createElement(tag)
    if cls:
        node.className = cls
    if text:
        node.textContent = text
    return node


def query(parent: Any, selector: str) -> Any | None:
    """``parent.querySelector(selector)``, or None."""
    found = parent.querySelector(selector)
    return None if found is None or found == jsnull else found


def element_by_id(element_id: str) -> Any | None:
    """The element with that id, or None (Pyodide gives JS ``null`` as a ``JsNull``, not None)."""
    element = js.document.getElementById(element_id)
    return None if element is None or element == jsnull else element


class ConsoleHandler(logging.Handler):
    """Log records to the browser console, each at its own console level."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if record.levelno >= logging.ERROR:
                js.console.error(text)
            elif record.levelno >= logging.WARNING:
                js.console.warn(text)
            elif record.levelno >= logging.INFO:
                js.console.info(text)
            else:
                js.console.debug(text)
        except Exception:
            self.handleError(record)


def log_to_console(level: int) -> None:
    """Send the ``wsclient`` loggers' records at ``level`` and above to the console."""
    logger = logging.getLogger("wsclient")
    for handler in [h for h in logger.handlers if isinstance(h, ConsoleHandler)]:
        logger.removeHandler(handler)
    handler = ConsoleHandler()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def online() -> bool:
    """What ``navigator.onLine`` says (it can be wrong: the client only shows it)."""
    return bool(js.navigator.onLine)


def page_url() -> str:
    """The page's address (the client reads ``?ws=`` and its options from it)."""
    return str(js.window.location.href)


class Ticker:
    """Calls ``fn`` every ``interval_ms`` while started (e.g. a retry countdown)."""

    def __init__(self, fn: Callable[[], None], interval_ms: int) -> None:
        self._proxy = Proxies.create(fn)
        self._interval_ms = interval_ms
        self._handle: Any = None

    def start(self) -> None:
        if self._handle is None:
            self._handle = js.setInterval(self._proxy, self._interval_ms)

    def stop(self) -> None:
        if self._handle is not None:
            js.clearInterval(self._handle)
            self._handle = None

    def close(self) -> None:
        self.stop()
        if self._proxy is not None:
            Proxies.destroy([self._proxy])
            self._proxy = None


class FrameScheduler:
    """Runs ``fn`` at most once per animation frame, however often ``request()`` is called."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self._fn = fn
        self._proxy = Proxies.create(self._run)
        self._handle: Any = None

    def request(self) -> None:
        if self._handle is None:
            self._handle = js.requestAnimationFrame(self._proxy)

    def _run(self, _timestamp: float) -> None:
        self._handle = None
        self._fn()

    def close(self) -> None:
        if self._handle is not None:
            js.cancelAnimationFrame(self._handle)
            self._handle = None
        Proxies.destroy([self._proxy])


def listen(target: Any, kind: str, handler: Callable[[Any], None]) -> Callable[[], None]:
    """``addEventListener`` with an owned proxy; returns the function that removes and frees it."""
    proxy = Proxies.create(handler)
    target.addEventListener(kind, proxy)
    removed = False

    def remove() -> None:
        nonlocal removed
        if not removed:
            removed = True
            target.removeEventListener(kind, proxy)
            Proxies.destroy([proxy])

    return remove
