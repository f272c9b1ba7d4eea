"""What the dashboard draws besides lists: the connection timeline, the round-trip sparkline,
messages per second, a process's ETA and file sizes. Pure (times come in as arguments), so each
rule is tested in CPython; ``ui.py`` turns them into DOM without any chart library.
"""

from __future__ import annotations

from collections import deque
from typing import Final

#: How far back the timeline and the sparkline look.
TIMELINE_SECONDS: Final = 300.0
SPARK_SAMPLES: Final = 60


class Timeline:
    """The connection's states over the last ``window`` seconds, as segments of a strip."""

    def __init__(self, window: float = TIMELINE_SECONDS) -> None:
        self.window = window
        self._changes: deque[tuple[float, str]] = deque()  # (since, status), oldest first

    def record(self, now: float, status: str) -> None:
        """The status is ``status`` from ``now`` on (repeats are ignored)."""
        if not self._changes or self._changes[-1][1] != status:
            self._changes.append((now, status))

    def segments(self, now: float) -> list[tuple[str, float, float]]:
        """``(status, start, width)`` per segment, as fractions of the window ending ``now``."""
        start = now - self.window
        while len(self._changes) > 1 and self._changes[1][0] <= start:
            self._changes.popleft()  # wholly before the window
        out = []
        for index, (since, status) in enumerate(self._changes):
            until = self._changes[index + 1][0] if index + 1 < len(self._changes) else now
            begin, end = max(since, start), min(until, now)
            if end > begin:
                out.append((status, (begin - start) / self.window, (end - begin) / self.window))
        return out

    def reconnects(self, now: float) -> int:
        """How many times the connection was lost within the window."""
        start = now - self.window
        return sum(
            1 for since, status in self._changes if status == "reconnecting" and since >= start
        )


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
    """SVG ``points`` for ``samples`` (oldest first) scaled into ``width`` x ``height``."""
    if not samples:
        return ""
    top = max(samples) or 1.0
    step = width / max(1, len(samples) - 1)
    return " ".join(
        f"{index * step:.1f},{height - (value / top) * height:.1f}"
        for index, value in enumerate(samples)
    )


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
