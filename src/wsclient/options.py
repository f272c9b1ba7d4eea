"""The client's options: the one place their names, defaults, units and checks live.

``config.page_options`` reads them from the page's query string (``Seconds`` fields in
milliseconds, ``int`` fields as counts); the README's table is checked against this class.
"""

from __future__ import annotations

import math
from typing import TypeAlias

from .backoff import (
    DEFAULT_AFTER_DROP,
    DEFAULT_FACTOR,
    DEFAULT_INITIAL,
    DEFAULT_MAX,
)
from .records import Record, record

#: A duration in seconds. In the page's query string, an ``Options`` field of this type is given
#: in milliseconds (``config.page_options``); ``int`` fields are plain counts; other fields are for
#: the Python API only.
Seconds: TypeAlias = float


@record
class Options(Record):
    """Timing and size options (the one place their names, defaults and meanings live)."""

    ping_interval: Seconds = 5.0  # inbound silence before the client sends a ping
    pong_timeout: Seconds = 4.0  # no frame this long after a ping: the link is dead, reconnect
    probe_timeout: Seconds = 2.5  # the same, for the probe sent on coming back online/visible
    backoff_initial: Seconds = DEFAULT_INITIAL  # first retry window after a failure on our side
    backoff_factor: float = DEFAULT_FACTOR  # the retry window grows by this per failed attempt
    backoff_max: Seconds = DEFAULT_MAX  # cap of the retry window
    connect_timeout: Seconds = 10.0  # a socket not open by then is a failed attempt
    min_uptime: Seconds = 5.0  # a connection shorter than this does not reset the backoff
    max_queue: int = 1000  # messages kept while down (count); the oldest are dropped beyond
    max_queue_bytes: int = 8 << 20  # their size in UTF-8 bytes; the oldest are dropped beyond
    max_frame_size: int = 16 << 20  # inbound frames longer than this (characters) are dropped
    keep_completed: int = 200  # completed processes kept in the stores (the oldest go first)
    # First retry window when the server drops an established connection (see backoff.py).
    backoff_after_drop: Seconds = DEFAULT_AFTER_DROP
    # Share one connection between the tabs of the browser where it can (Web Locks and
    # BroadcastChannel); ?share=0 in the page's URL turns it off (config.share_from_query).
    # A tab alone still uses one socket and one core: it leads "direct" (tabs.py).
    share: bool = True

    def __post_init__(self) -> None:
        positive = (
            "ping_interval",
            "pong_timeout",
            "probe_timeout",
            "backoff_initial",
            "backoff_max",
            "connect_timeout",
            "backoff_after_drop",
        )
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 < value < math.inf):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if not (isinstance(self.min_uptime, int | float) and 0 <= self.min_uptime < math.inf):
            raise ValueError(f"min_uptime must be 0 or more seconds, got {self.min_uptime!r}")
        if not (isinstance(self.backoff_factor, int | float) and 1 <= self.backoff_factor < 100):
            raise ValueError(
                f"backoff_factor must be between 1 and 100, got {self.backoff_factor!r}"
            )
        if not isinstance(self.share, bool):
            raise ValueError(f"share must be True or False, got {self.share!r}")
        for name in ("max_queue", "max_queue_bytes", "max_frame_size", "keep_completed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
