"""The connection-status component shows the seed's texts and classes, plus a countdown/RTT."""

from __future__ import annotations

import pytest

from wsclient.core import Health, State
from wsclient.records import replace
from wsclient.status import status_view

BASE = Health(
    state=State.DISCONNECTED,
    attempt=0,
    next_retry_at=None,
    last_close_code=None,
    last_close_reason="",
    error=None,
    rtt=None,
    queue_depth=0,
    queue_overflow=0,
)


@pytest.mark.parametrize(
    ("state", "attempt", "error", "text", "css"),
    [
        (State.CONNECTED, 0, None, "Connected", "success"),
        (State.CONNECTING, 0, None, "Connecting...", "warning"),
        (State.RECONNECTING, 3, None, "Reconnecting... (Attempt 3)", "warning"),
        (State.ERROR, 0, "unauthorized", "Connection Error: unauthorized", "error"),
        (State.DISCONNECTED, 0, None, "Disconnected", "error"),
    ],
)
def test_seed_texts_and_classes(
    state: State, attempt: int, error: str | None, text: str, css: str
) -> None:
    """Each state shows exactly the seed's text and colour class, and data-status is the state."""
    view = status_view(replace(BASE, state=state, attempt=attempt, error=error), now=0.0)
    assert (view.text, view.css_class, view.status) == (text, css, state.value)


def test_reconnecting_counts_down_to_the_next_retry() -> None:
    """While waiting, the detail shows whole seconds left, rounded up."""
    health = replace(BASE, state=State.RECONNECTING, attempt=2, next_retry_at=10.0)
    assert status_view(health, now=7.2).detail == "retrying in 3 s"
    assert status_view(health, now=10.5).detail == "retrying now"


def test_connected_shows_round_trip_time() -> None:
    """When a pong gave an RTT, it is shown in milliseconds."""
    health = replace(BASE, state=State.CONNECTED, rtt=0.0123)
    assert status_view(health, now=0.0).detail == "12 ms"


def test_error_without_reason_still_says_what_happened() -> None:
    """An error with no reason falls back to the seed's 'Connection failed'."""
    view = status_view(replace(BASE, state=State.ERROR), now=0.0)
    assert view.text == "Connection Error: Connection failed"


def test_the_first_paint_before_python_shows_what_python_shows_while_connecting() -> None:
    """static/early.js paints, before Python is up, the text, class and data-status that the
    Python component shows for the connecting state, so its take-over changes nothing visible."""
    from pathlib import Path

    early = (Path(__file__).resolve().parents[2] / "static" / "early.js").read_text()
    view = status_view(replace(BASE, state=State.CONNECTING), 0.0)
    assert f'part("text", "{view.text}")' in early
    assert f"${{ROOT_CLASS}} {view.css_class}`" in early
    assert f'"data-status", "{view.status}"' in early
    assert view.detail == "" and 'part("detail")' in early
