"""Page configuration: the server URL and the timing options, read from the page's query string.

Pure functions (no browser access) so every rule is tested in CPython; ``browser.py`` passes in
``window.location`` and the query string.

- ``?ws=<url>`` picks the server; without it the client uses the page's own origin at ``/ws``,
  with ``wss:`` on https pages. ``http(s)`` URLs are mapped to ``ws(s)`` and relative URLs are
  resolved against the page.
- Timing options come in milliseconds: ``ping_interval``, ``pong_timeout``, ``probe_timeout``,
  ``backoff_initial``, ``backoff_max``, ``backoff_after_drop``, ``connect_timeout``,
  ``min_uptime``; ``max_queue`` is a message count.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Mapping

from .core import Options

#: Query parameters holding durations in milliseconds, by the ``Options`` field they set.
MILLISECOND_OPTIONS = (
    "ping_interval",
    "pong_timeout",
    "probe_timeout",
    "backoff_initial",
    "backoff_max",
    "connect_timeout",
    "min_uptime",
    "backoff_after_drop",
)

_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}


class ConfigError(ValueError):
    """The page was given a setting the client cannot use; the message says which and why."""


def resolve_url(ws_param: str | None, page_url: str) -> str:
    """The WebSocket URL to connect to, from the ``ws`` query parameter and the page's URL.

    Raises ``ConfigError`` for a URL that is not ws/wss/http/https or has no host.
    """
    page = urllib.parse.urlsplit(page_url)
    if not ws_param:
        scheme = "wss" if page.scheme == "https" else "ws"
        if not page.netloc:
            raise ConfigError(
                f"cannot derive a WebSocket URL from the page address {page_url!r}: "
                "serve the page over http(s) or pass ?ws=ws://host:port/ws"
            )
        return urllib.parse.urlunsplit((scheme, page.netloc, "/ws", "", ""))
    target = urllib.parse.urlsplit(urllib.parse.urljoin(page_url, ws_param.strip()))
    ws_scheme = _SCHEMES.get(target.scheme.lower())
    if ws_scheme is None:
        raise ConfigError(
            f"invalid WebSocket URL {ws_param!r}: the scheme must be ws, wss, http or https"
        )
    if not target.hostname:
        raise ConfigError(f"invalid WebSocket URL {ws_param!r}: it names no host")
    try:
        target.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise ConfigError(f"invalid WebSocket URL {ws_param!r}: {exc}") from None
    # A fragment is not allowed in a WebSocket URL (the browser would throw); drop it.
    return urllib.parse.urlunsplit((ws_scheme, target.netloc, target.path, target.query, ""))


def options_from_query(query: Mapping[str, str], base: Options | None = None) -> Options:
    """``Options`` with the query's overrides applied (milliseconds → seconds).

    Raises ``ConfigError`` naming the parameter for a value that is not a positive number.
    """
    changes: dict[str, float | int] = {}
    for name in MILLISECOND_OPTIONS:
        if name in query:
            changes[name] = _number(name, query[name]) / 1000.0
    if "max_queue" in query:
        value = _number("max_queue", query["max_queue"])
        if value != int(value):
            raise ConfigError(f"max_queue={query['max_queue']!r} must be a whole number")
        changes["max_queue"] = int(value)
    try:
        return dataclasses.replace(base or Options(), **changes)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


def _number(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number (give milliseconds)") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name}={raw!r} must be a positive number of milliseconds")
    return value
