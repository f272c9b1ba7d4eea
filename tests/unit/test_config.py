"""The page's ?ws= URL and millisecond timing options become the client's configuration."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from wsclient.config import (
    ConfigError,
    log_level,
    options_from_query,
    page_options,
    projects_from_query,
    query_parameters,
    resolve_url,
)
from wsclient.options import Options


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


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://a.test/?ws=ws%3A%2F%2Fb.test%3A9%2Fws&ping_interval=500",
            {"ws": "ws://b.test:9/ws", "ping_interval": "500"},
        ),
        ("http://a.test/index.html", {}),
        ("http://a.test/?a=1&a=2&b=x+y&c=%E2%9C%93#frag", {"a": "2", "b": "x y", "c": "\u2713"}),
        ("http://a.test/?flag&=v&k=", {"flag": "", "": "v", "k": ""}),
    ],
)
def test_query_parameters(url: str, expected: dict[str, str]) -> None:
    """The page's query string is decoded like URLSearchParams (last value wins)."""
    assert query_parameters(url) == expected


@pytest.mark.parametrize(
    ("ws", "page", "expected"),
    [
        ("//c.test/ws", "https://a.test/x", "wss://c.test/ws"),
        ("sock", "http://a.test/app/page.html", "ws://a.test/app/sock"),
        ("?token=1", "http://a.test/ws", "ws://a.test/ws?token=1"),
        ("ws://[::1]:8000/ws", "http://a.test/", "ws://[::1]:8000/ws"),
        ("WS://b.test", "http://a.test/", "ws://b.test/"),
        ("ws://user@b.test:81/p?q=1#f", "http://a.test/", "ws://user@b.test:81/p?q=1"),
    ],
)
def test_relative_and_unusual_urls(ws: str, page: str, expected: str) -> None:
    """Relative references resolve against the page; IPv6 hosts, case and userinfo are kept."""
    assert resolve_url(ws, page) == expected


def test_page_options_are_the_options_fields_with_a_page_unit() -> None:
    """Every Seconds field of Options is a millisecond parameter, every int a count; nothing
    else (backoff_factor is for the Python API only)."""
    assert page_options() == {
        "ping_interval": "ms",
        "pong_timeout": "ms",
        "probe_timeout": "ms",
        "backoff_initial": "ms",
        "backoff_max": "ms",
        "connect_timeout": "ms",
        "min_uptime": "ms",
        "max_queue": "count",
        "max_queue_bytes": "count",
        "max_frame_size": "count",
        "keep_completed": "count",
        "backoff_after_drop": "ms",
    }


def test_the_page_accepts_what_options_accepts() -> None:
    """min_uptime=0 is valid for Options, so it is valid in the page too."""
    assert options_from_query({"min_uptime": "0"}).min_uptime == 0
    with pytest.raises(ConfigError, match="min_uptime"):
        options_from_query({"min_uptime": "-5"})


def test_readme_options_table_matches_the_options() -> None:
    """The README's options table lists exactly the page options, with Options' defaults."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", readme, re.M)
    table = {name: default.strip() for name, default in rows if name != "ws"}
    defaults = Options()
    expected = {
        name: str(round(getattr(defaults, name) * 1000))
        if unit == "ms"
        else str(getattr(defaults, name))
        for name, unit in page_options().items()
    }
    assert table == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [({}, None), ({"project": ""}, []), ({"project": " alpha, beta,,alpha "}, ["alpha", "beta"])],
)
def test_projects_named_in_the_page_url(query: dict[str, str], expected: list[str] | None) -> None:
    """?project=a,b names the projects to subscribe; absent means "the page's default"."""
    assert projects_from_query(query) == expected


def test_log_levels_from_the_page_url() -> None:
    """?log= picks the console level; an unknown one says what is accepted."""
    assert log_level({}) == logging.WARNING
    assert log_level({"log": "DEBUG"}) == logging.DEBUG
    with pytest.raises(ConfigError, match="debug, info, warning, error"):
        log_level({"log": "verbose"})
