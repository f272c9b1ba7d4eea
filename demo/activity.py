"""What the dashboard draws besides lists: the connection timeline, the round-trip sparkline,
messages per second, a process's ETA, file sizes and the feed's own memory of events. Pure (times
come in as arguments), so each rule is tested in CPython; ``dashboard.py`` turns them into DOM
without any chart library.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Sequence
from typing import Final, Generic, Protocol, TypeVar

#: How far back the timeline and the sparkline look.
TIMELINE_SECONDS: Final = 300.0
SPARK_SAMPLES: Final = 60
#: At most this many state changes are kept, however fast the connection flaps.
MAX_CHANGES: Final = 600
RECONNECTING: Final = "reconnecting"
#: The link's own keep-alive traffic, which the feed hides unless asked.
HEARTBEAT_TYPES: Final = frozenset({"pong", "system.heartbeat"})
#: Events (heartbeats aside) the feed remembers, and heartbeats it remembers besides.
FEED_KEEP: Final = 100
FEED_HEARTBEATS: Final = 50


class Timeline:
    """The connection's states over the last ``window`` seconds, as segments of a strip.

    ``record`` is called on every state change, when it happens (not when the page draws), so a
    state shorter than a frame, or a reconnect while the tab is hidden, is kept. What it keeps is
    bounded: changes older than the window are dropped as new ones come, and at most
    ``max_changes`` are kept whatever the rate of changes.
    """

    def __init__(self, window: float = TIMELINE_SECONDS, max_changes: int = MAX_CHANGES) -> None:
        self.window = window
        self._changes: deque[tuple[float, str]] = deque(maxlen=max_changes)  # (since, status)

    def record(self, now: float, status: str) -> None:
        """The status is ``status`` from ``now`` on (repeats are ignored)."""
        if not self._changes or self._changes[-1][1] != status:
            self._changes.append((now, status))
        self._prune(now - self.window)

    def _prune(self, start: float) -> None:
        while len(self._changes) > 1 and self._changes[1][0] <= start:
            self._changes.popleft()  # wholly before the window

    def segments(self, now: float) -> list[tuple[str, float, float]]:
        """``(status, start, width)`` per segment, as fractions of the window ending ``now``."""
        start = now - self.window
        self._prune(start)
        out = []
        for index, (since, status) in enumerate(self._changes):
            until = self._changes[index + 1][0] if index + 1 < len(self._changes) else now
            begin, end = max(since, start), min(until, now)
            if end > begin:
                out.append((status, (begin - start) / self.window, (end - begin) / self.window))
        return out

    def reconnect_marks(self, now: float) -> list[float]:
        """Where each loss of the connection (a change to ``reconnecting``) within the window
        happened, as fractions of the window ending ``now``, oldest first; however short the
        reconnect, it has its mark."""
        start = now - self.window
        return [
            (since - start) / self.window
            for since, status in self._changes
            if status == RECONNECTING and start <= since <= now
        ]

    def reconnects(self, now: float) -> int:
        """How many times the connection was lost within the window."""
        return len(self.reconnect_marks(now))

    def summary(self, now: float) -> str:
        """The strip in words (its accessible name): each state's share of the window, the
        reconnects, and the state now."""
        shares: dict[str, float] = {}
        for status, _start, width in self.segments(now):
            shares[status] = shares.get(status, 0.0) + width
        span = self.window / 60 if self.window % 60 == 0 else self.window
        unit = ("minute" if self.window % 60 == 0 else "second") + ("" if span == 1 else "s")
        label = f"Connection over the last {span:g} {unit}"
        if not shares:
            return f"{label}: nothing recorded yet"
        parts = ", ".join(f"{status} {max(share, 0.01):.0%}" for status, share in shares.items())
        reconnects = reconnect_count(self.reconnects(now)) or "no reconnects"
        return f"{label}: {parts}; {reconnects}; {self._changes[-1][1]} now"


def reconnect_count(count: int) -> str:
    """``1 reconnect``, ``3 reconnects``; empty for none."""
    return f"{count} reconnect{'' if count == 1 else 's'}" if count else ""


class Rate:
    """Events per second over the last ``seconds`` whole seconds."""

    def __init__(self, seconds: int = 5) -> None:
        self._seconds = seconds
        self._buckets: deque[tuple[int, int]] = deque()  # (second, count)
        self.count = 0

    def add(self, now: float, count: int = 1) -> None:
        second = int(now)
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1] = (second, self._buckets[-1][1] + count)
        else:
            self._buckets.append((second, count))
        self.count += count

    def per_second(self, now: float) -> float:
        """The mean rate over the last ``seconds`` complete seconds before ``now``."""
        current = int(now)
        while self._buckets and self._buckets[0][0] < current - self._seconds:
            self._buckets.popleft()
        total = sum(n for second, n in self._buckets if second < current)
        return total / self._seconds


def sparkline(samples: list[float], width: float, height: float) -> str:
    """SVG ``points`` for ``samples`` (oldest first) scaled into ``width`` x ``height``; a single
    sample draws a level line, so the first round trip is visible at once."""
    if not samples:
        return ""
    if len(samples) == 1:  # one sample is a level line across the box (one point draws nothing)
        samples = samples * 2
    top = max(samples) or 1.0
    step = width / max(1, len(samples) - 1)
    return " ".join(
        f"{index * step:.1f},{height - (value / top) * height:.1f}"
        for index, value in enumerate(samples)
    )


def rate_text(per_second: float) -> str:
    """Messages per second for people: one decimal below 10 (a quiet link's 0.2/s is not 0)."""
    if per_second <= 0:
        return "0"
    return f"{per_second:.1f}" if per_second < 10 else f"{per_second:.0f}"


def eta(first: tuple[float, float], last: tuple[float, float]) -> float | None:
    """Seconds until a process reaches 1.0, from two ``(time, progress)`` readings; None while
    it cannot be told (no progress yet, or going backwards)."""
    (t0, p0), (t1, p1) = first, last
    if t1 <= t0 or p1 <= p0 or p1 >= 1.0:
        return None
    return (1.0 - p1) * (t1 - t0) / (p1 - p0)


def human_size(size: int) -> str:
    """A byte count for people: ``512 B``, ``15.8 MB``."""
    if size < 1000:
        return f"{size} B"
    value = size / 1000
    for unit in ("kB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


class Typed(Protocol):
    """Anything with a message ``type`` (every ``Message``)."""

    @property
    def type(self) -> str: ...


M = TypeVar("M", bound=Typed)


class Feed(Generic[M]):
    """The feed's own memory: the last ``keep`` events other than heartbeats, and the last
    ``heartbeats`` heartbeats besides, so a quiet project's events are not pushed out by the
    link's keep-alive traffic (the client's shared ``messages`` window holds only the last 100
    messages of any type).

    ``take(window)`` is given each new value of that window (once per delivered batch, not per
    message) and keeps the messages it has not seen yet: those after the newest one it took,
    found by identity, so its cost is the number of new messages (at most the window's length).
    """

    def __init__(self, keep: int = FEED_KEEP, heartbeats: int = FEED_HEARTBEATS) -> None:
        self._events: deque[tuple[int, M]] = deque(maxlen=keep)
        self._heartbeats: deque[tuple[int, M]] = deque(maxlen=heartbeats)
        self._last: M | None = None  # the newest message taken
        self._seq = 0  # arrival order across both deques

    def take(self, window: Sequence[M]) -> None:
        """Keep the messages of ``window`` (oldest first) that arrived since the last call."""
        new = len(window)
        last = self._last
        if last is not None:
            for index in range(len(window) - 1, -1, -1):
                if window[index] is last:
                    new = len(window) - 1 - index
                    break
        for message in window[len(window) - new :]:
            self._seq += 1
            kept = self._heartbeats if message.type in HEARTBEAT_TYPES else self._events
            kept.append((self._seq, message))
        if window:
            self._last = window[-1]

    def shown(self, limit: int, heartbeats: bool = False) -> list[M]:
        """The newest ``limit`` messages kept, newest first; heartbeats among them if asked."""
        if not heartbeats:
            return [message for _, message in list(self._events)[-limit:]][::-1]
        merged = heapq.merge(self._events, self._heartbeats, key=lambda item: item[0])
        return [message for _, message in deque(merged, maxlen=limit)][::-1]

    def kept(self, heartbeats: bool = False) -> int:
        """How many messages the feed could show."""
        return len(self._events) + (len(self._heartbeats) if heartbeats else 0)


def auth_text(auth: str, refresh_at: float | None, now: float) -> str:
    """The dashboard's sign-in line: ``signed in, refresh in 42 s``, ``signing in...``,
    ``signed out``, or ``no sign-in`` (the page has no token provider)."""
    if auth == "signed_in":
        if refresh_at is None:
            return "signed in"
        return f"signed in, refresh in {max(0, math.ceil(refresh_at - now))} s"
    return {"signing_in": "signing in...", "signed_out": "signed out"}.get(auth, "no sign-in")


def tabs_text(role: str, tabs: int) -> str:
    """The dashboard's tab line: this tab's role and how many tabs share the connection."""
    if role == "alone":
        return "this tab alone"
    return f"{role} of {tabs} tab{'s' if tabs != 1 else ''}"
