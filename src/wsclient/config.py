"""Page configuration: the server URL and the timing options, read from the page's query string.

Pure functions (no browser access) so every rule is tested in CPython; ``browser.py`` passes in
``window.location`` and the query string.

- ``?ws=<url>`` picks the server; without it the client uses the page's own origin at ``/ws``,
  with ``wss:`` on https pages. ``http(s)`` URLs are mapped to ``ws(s)`` and relative URLs are
  resolved against the page.
- Every ``Options`` field whose type is ``Seconds`` can be set in milliseconds (``?ping_interval=
  1500``), and every ``int`` field as a count (``?max_queue=50``): see ``page_options``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .options import Options
from .records import fields, replace


def page_options() -> dict[str, str]:
    """The ``Options`` fields the page's query string can set, with their unit there:
    ``"ms"`` for durations (``Seconds`` fields) and ``"count"`` for whole numbers."""
    units = {"Seconds": "ms", "int": "count"}
    annotations = Options.__annotations__  # strings: the module uses postponed annotations
    return {
        name: units[annotations[name]] for name in fields(Options) if annotations[name] in units
    }


_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}


class ConfigError(ValueError):
    """The page was given a setting the client cannot use; the message says which and why."""


# RFC 3986, appendix B: scheme, authority, path, query, fragment of any URI reference.
_URI = re.compile(r"^(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$")
# host (a name, an IPv4 address or a bracketed IPv6 address) and an optional port.
_AUTHORITY = re.compile(r"^(?:[^@]*@)?(\[[0-9A-Fa-f:.]+\]|[^:\[\]]*)(?::(\d*))?$")
_PERCENT = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


def _split(url: str) -> tuple[str, str | None, str, str | None]:
    """(scheme, authority, path, query) of a URI reference; absent parts are "" or None."""
    match = _URI.match(url)
    assert match is not None  # every string matches: each group is optional
    scheme, authority, path, query, _fragment = match.groups()
    return (scheme or "").lower(), authority, path, query


def _join(page_url: str, reference: str) -> tuple[str, str | None, str, str | None]:
    """``reference`` resolved against the page (RFC 3986 section 5.2, without dot segments)."""
    scheme, authority, path, query = _split(reference)
    if scheme:
        return scheme, authority, path, query
    base_scheme, base_authority, base_path, base_query = _split(page_url)
    if authority is not None:
        return base_scheme, authority, path, query
    if not path:
        return base_scheme, base_authority, base_path, query if query is not None else base_query
    if not path.startswith("/"):
        path = base_path[: base_path.rfind("/") + 1] + path if base_path else "/" + path
    return base_scheme, base_authority, path, query


def resolve_url(ws_param: str | None, page_url: str) -> str:
    """The WebSocket URL to connect to, from the ``ws`` query parameter and the page's URL.

    Raises ``ConfigError`` for a URL that is not ws/wss/http/https or has no host. (Parsed with
    a regex rather than ``urllib.parse``, whose import alone costs ~0.3 s of page start-up in
    Pyodide.)
    """
    if not ws_param:
        scheme, authority, _path, _query = _split(page_url)
        if scheme not in ("http", "https") or not authority:
            raise ConfigError(
                f"cannot derive a WebSocket URL from the page address {page_url!r}: "
                "serve the page over http(s) or pass ?ws=ws://host:port/ws"
            )
        return f"{'wss' if scheme == 'https' else 'ws'}://{authority}/ws"
    scheme, authority, path, query = _join(page_url, ws_param.strip())
    ws_scheme = _SCHEMES.get(scheme)
    if ws_scheme is None:
        raise ConfigError(
            f"invalid WebSocket URL {ws_param!r}: the scheme must be ws, wss, http or https"
        )
    host = _AUTHORITY.match(authority or "")
    if host is None or not host.group(1):
        raise ConfigError(f"invalid WebSocket URL {ws_param!r}: it names no host")
    port = host.group(2)
    if port is not None and (not port or int(port) > 65535):
        raise ConfigError(f"invalid WebSocket URL {ws_param!r}: port {port!r} is out of range")
    # A fragment is not allowed in a WebSocket URL (the browser would throw); it is dropped.
    suffix = f"?{query}" if query is not None else ""
    return f"{ws_scheme}://{authority}{path or '/'}{suffix}"


def query_parameters(url: str) -> dict[str, str]:
    """The decoded query parameters of ``url`` (the last value wins, ``+`` is a space)."""
    query = _split(url)[3]
    params: dict[str, str] = {}
    for pair in (query or "").split("&"):
        if pair:
            name, _, value = pair.partition("=")
            params[_unquote(name)] = _unquote(value)
    return params


def _unquote(text: str) -> str:
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    return _PERCENT.sub(
        lambda m: bytes.fromhex(m.group().replace("%", "")).decode("utf-8", "replace"), text
    )


def options_from_query(query: Mapping[str, str], base: Options | None = None) -> Options:
    """``Options`` with the query's overrides applied (milliseconds -> seconds).

    Raises ``ConfigError`` naming the parameter for a value ``Options`` does not accept.
    """
    changes: dict[str, float | int] = {}
    for name, unit in page_options().items():
        if name not in query:
            continue
        raw = query[name]
        try:
            value = float(raw)
        except ValueError:
            what = "milliseconds" if unit == "ms" else "a whole number"
            raise ConfigError(f"{name}={raw!r} is not a number (give {what})") from None
        if unit == "ms":
            changes[name] = value / 1000.0
        elif value == int(value):
            changes[name] = int(value)
        else:
            raise ConfigError(f"{name}={raw!r} must be a whole number")
    changes_: dict[str, object] = dict(changes)
    if "share" in query:
        changes_["share"] = share_from_query(query, (base or Options()).share)
    try:
        return replace(base or Options(), **changes_)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{exc} (the page gives durations in milliseconds)") from None


def share_from_query(query: Mapping[str, str], default: bool) -> bool:
    """``?share=0`` (or ``false``/``off``/``no``) turns tab sharing off for this tab, any other
    value turns it on; without the parameter, ``default`` (docs/protocol.md, "Sharing")."""
    if "share" not in query:
        return default
    return query["share"].strip().lower() not in ("0", "false", "off", "no")


#: ``?log=`` values, as ``logging`` levels.
LOG_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


def log_level(query: Mapping[str, str]) -> int:
    """The console's log level from ``?log=`` (default ``warning``); ConfigError names the
    accepted values."""
    name = query.get("log", "warning").strip().lower()
    if name not in LOG_LEVELS:
        raise ConfigError(f"log={name!r} is not a log level; use one of {', '.join(LOG_LEVELS)}")
    return LOG_LEVELS[name]


def projects_from_query(query: Mapping[str, str]) -> list[str] | None:
    """The projects named by ``?project=alpha,beta`` (trimmed, empty names and repeats left
    out), in order; None without the parameter (``?project=`` names none)."""
    if "project" not in query:
        return None
    names = (name.strip() for name in query["project"].split(","))
    return list(dict.fromkeys(name for name in names if name))
