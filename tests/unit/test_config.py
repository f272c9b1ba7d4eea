"""The page's ?ws= URL and millisecond timing options become the client's configuration."""

from __future__ import annotations

import pytest

from wsclient.config import ConfigError, options_from_query, resolve_url
from wsclient.core import Options


@pytest.mark.parametrize(
    ("ws", "page", "expected"),
    [
        (None, "http://127.0.0.1:8000/index.html", "ws://127.0.0.1:8000/ws"),
        (None, "https://example.test/app/?x=1", "wss://example.test/ws"),
        ("ws://other.test:9000/socket", "http://a.test/", "ws://other.test:9000/socket"),
        ("wss://other.test/ws?token=abc", "http://a.test/", "wss://other.test/ws?token=abc"),
        ("http://other.test/ws", "https://a.test/", "ws://other.test/ws"),
        ("https://other.test/ws", "http://a.test/", "wss://other.test/ws"),
        ("/custom", "https://a.test/page", "wss://a.test/custom"),
        ("ws://other.test/ws#frag", "http://a.test/", "ws://other.test/ws"),
    ],
)
def test_resolve_url(ws: str | None, page: str, expected: str) -> None:
    """Same-origin /ws by default (wss on https); ?ws= wins; http(s) map to ws(s)."""
    assert resolve_url(ws, page) == expected


@pytest.mark.parametrize(
    "bad", ["ftp://x.test/ws", "javascript:alert(1)", "ws://", "ws://host:99999/", "mailto:a@b"]
)
def test_bad_url_is_a_config_error_naming_it(bad: str) -> None:
    """A URL the browser cannot open is reported with what is wrong, not as a crash."""
    with pytest.raises(ConfigError, match="invalid WebSocket URL"):
        resolve_url(bad, "http://a.test/")


def test_page_without_origin_needs_a_ws_parameter() -> None:
    """A file:// page has no origin to derive /ws from; the error says what to pass."""
    with pytest.raises(ConfigError, match=r"\?ws="):
        resolve_url(None, "file:///tmp/index.html")


def test_millisecond_options_become_seconds() -> None:
    """Every timing option in the query is read as milliseconds."""
    query = {
        "ping_interval": "1500",
        "pong_timeout": "700",
        "probe_timeout": "300",
        "backoff_initial": "100",
        "backoff_max": "2000",
        "backoff_after_drop": "250",
        "connect_timeout": "900",
        "min_uptime": "50",
        "max_queue": "20",
    }
    options = options_from_query(query)
    assert options == Options(
        ping_interval=1.5,
        pong_timeout=0.7,
        probe_timeout=0.3,
        backoff_initial=0.1,
        backoff_max=2.0,
        backoff_after_drop=0.25,
        connect_timeout=0.9,
        min_uptime=0.05,
        max_queue=20,
    )


def test_no_query_gives_the_defaults() -> None:
    """Options the page does not set keep their defaults."""
    assert options_from_query({"ws": "ws://x.test/ws", "other": "1"}) == Options()


@pytest.mark.parametrize(
    ("name", "value"),
    [("ping_interval", "abc"), ("pong_timeout", "-5"), ("backoff_max", "0"), ("max_queue", "2.5")],
)
def test_bad_option_is_a_config_error_naming_it(name: str, value: str) -> None:
    """A bad option value names the parameter."""
    with pytest.raises(ConfigError, match=name):
        options_from_query({name: value})
