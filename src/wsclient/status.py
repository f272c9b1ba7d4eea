"""What the connection-status component shows, as a pure function of the connection's health.

The texts and colour classes are the seed's (``ConnectionStatus.svelte``); the detail line (retry
countdown, round-trip time) is ours and lives in its own element so the main text stays exact.
``ui.mount_status`` writes this into the DOM.
"""

from __future__ import annotations

import math

from .core import Health, State
from .records import Record, record

STATUS_CLASS = {
    State.CONNECTING: "warning",
    State.CONNECTED: "success",
    State.RECONNECTING: "warning",
    State.DISCONNECTED: "error",
    State.ERROR: "error",
}


@record
class StatusView(Record):
    status: str  # the value of ``data-status``
    css_class: str  # success | warning | error
    text: str  # the seed's text
    detail: str  # countdown or round-trip time; may be empty


def status_text(state: State, attempt: int, error: str | None) -> str:
    """The seed's text for a state."""
    if state is State.CONNECTED:
        return "Connected"
    if state is State.CONNECTING:
        return "Connecting..."
    if state is State.RECONNECTING:
        return f"Reconnecting... (Attempt {attempt})"
    if state is State.ERROR:
        return f"Connection Error: {error or 'Connection failed'}"
    return "Disconnected"


def status_view(health: Health, now: float) -> StatusView:
    """The component's content for ``health`` at time ``now`` (same clock as the core's)."""
    detail = ""
    if health.state is State.RECONNECTING and health.next_retry_at is not None:
        remaining = health.next_retry_at - now
        detail = f"retrying in {math.ceil(remaining)} s" if remaining > 0 else "retrying now"
    elif health.state is State.CONNECTED and health.rtt is not None:
        detail = f"{health.rtt * 1000:.0f} ms"
    return StatusView(
        status=health.state.value,
        css_class=STATUS_CLASS[health.state],
        text=status_text(health.state, health.attempt, health.error),
        detail=detail,
    )
