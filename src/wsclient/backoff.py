"""How long to wait before reconnect attempt *n*: exponential backoff with full jitter.

``reconnect_delay(n, random)`` is a pure function of the attempt number and a random source, so
the exact sequence is pinned by a test and the reconnect-storm benchmark can drive thousands of
clients from one seeded generator. The defaults are the seed's numbers: the window for attempt 1 is
1 s and doubles per attempt up to 30 s. Full jitter draws the delay uniformly from the whole window,
``[0, min(cap, initial * factor ** (n - 1))]``, which spreads a crowd of clients that failed
together better than "equal" or "decorrelated" jitter (AWS Architecture Blog, "Exponential Backoff
And Jitter", 2015).

Why the first retry after a dropped connection is spread wider (the herd decision)
-------------------------------------------------------------------------------
Full jitter alone does not protect a server that drops every client at once. With 10,000 clients
dropped at t = 0 and windows 1, 2, 4, ... s, the first wave lands inside one second: ~16 % of the
clients in the worst 100 ms, and still ~3 % in the worst 100 ms after the server is back at t = 5 s
(``bench/reconnect_storm.py``). No per-client randomisation can fix that without waiting longer:
to keep a wave of clients under 2 % per 100 ms, their first retries must be spread over at least
5 s, so their *average* first retry comes after at least 2.5 s. A client cannot count the others,
so the only thing it can use to decide whether it is in a crowd is *why* it lost the connection:

- **Something on our side broke**: the browser went offline, the page slept, our own heartbeat or
  probe found the link dead, a connection attempt failed. Nobody else shares that cause, so a fast
  retry cannot start a herd. These start the ladder at ``DEFAULT_INITIAL`` (1 s), and coming back
  online retries at once.
- **The far side closed an established connection** (a close frame, or an abnormal close, while
  the browser is online, no probe of ours is pending and the connection had been up for
  ``min_uptime``). That is what a server restart, a crash, a deploy or a load-balancer failover
  looks like, and it happens to *every* client of that server in the same instant. A lone client's
  own trouble usually shows up as one of the signals above instead. This case starts the same
  ladder higher, at ``DEFAULT_AFTER_DROP`` (10 s: windows 10, 20, 30 s).

The price is paid only in that case: a lone client whose connection the far side drops while the
browser stays online waits 5 s on average (at most 10 s) instead of 0.5 s. In exchange the
10,000-client storm peaks at ~1.6 % of the clients per 100 ms, counting every attempt and counting
only those after the server is back (10 s is the smallest round window that passes 2 % with margin
across seeds; 8 s sits on the line at ~2.0 %). The close code does not pick the window: a crashing
server sends no 1001 or 1012, and trusting the code would leave the worst case unprotected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

#: Window of the first retry after a failure on our side (seconds).
DEFAULT_INITIAL: Final = 1.0
#: Growth of the window per failed attempt.
DEFAULT_FACTOR: Final = 2.0
#: Largest window (seconds); no delay is ever longer.
DEFAULT_MAX: Final = 30.0
#: Window of the first retry after the far side drops an established connection (seconds).
DEFAULT_AFTER_DROP: Final = 10.0


def backoff_window(
    attempt: int,
    *,
    initial: float = DEFAULT_INITIAL,
    factor: float = DEFAULT_FACTOR,
    cap: float = DEFAULT_MAX,
) -> float:
    """The longest delay before attempt ``attempt`` (1 = the first retry):
    ``initial * factor ** (attempt - 1)``, capped at ``cap``."""
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, got {attempt}")
    try:
        window = initial * float(factor) ** (attempt - 1)
    except OverflowError:  # only after thousands of attempts: the cap was reached long ago
        return cap
    return min(cap, window)


def reconnect_delay(
    attempt: int,
    random: Callable[[], float],
    *,
    initial: float = DEFAULT_INITIAL,
    factor: float = DEFAULT_FACTOR,
    cap: float = DEFAULT_MAX,
) -> float:
    """Seconds to wait before attempt ``attempt``: uniform over ``[0, backoff_window(attempt)]``.

    ``random`` returns a float in ``[0, 1]`` (``random.random`` or a seeded generator's method).
    ``random = lambda: 1.0`` gives the seed's jitter-free delays 1, 2, 4, ... s.
    """
    draw = random()
    if not 0.0 <= draw <= 1.0:
        raise ValueError(f"the random source must return a float in [0, 1], got {draw!r}")
    return draw * backoff_window(attempt, initial=initial, factor=factor, cap=cap)


class Ladder:
    """The retry ladder of one connection: which attempt comes next and when.

    A failure on our side starts it at ``initial``; the far side dropping a connection that had
    been up for a while (``established``) starts it at ``after_drop`` (the herd protection);
    a connection that dies young does not reset it, so each such failure climbs one rung.
    """

    __slots__ = ("after_drop", "at", "attempt", "cap", "factor", "initial", "random", "start")

    def __init__(
        self,
        random: Callable[[], float],
        *,
        initial: float = DEFAULT_INITIAL,
        factor: float = DEFAULT_FACTOR,
        cap: float = DEFAULT_MAX,
        after_drop: float = DEFAULT_AFTER_DROP,
    ) -> None:
        self.random = random
        self.initial, self.factor, self.cap, self.after_drop = initial, factor, cap, after_drop
        self.attempt = 0  # the attempt waited for or made (0: none failed since the last reset)
        self.start = initial  # the first rung of the current climb
        self.at: float | None = None  # when the next attempt opens, if one is scheduled

    def reset(self) -> None:
        self.attempt = 0
        self.start = self.initial
        self.at = None

    def failed(self, *, established: bool, dropped_by_peer: bool) -> None:
        """An attempt failed or a connection was lost: count the next attempt."""
        if established or self.attempt == 0:
            self.attempt = 1
            self.start = self.after_drop if established and dropped_by_peer else self.initial
        else:
            self.attempt += 1

    def delay(self, attempt: int, initial: float | None = None) -> float:
        """A jittered delay for ``attempt`` from ``initial`` (default: the current climb's)."""
        return reconnect_delay(
            attempt,
            self.random,
            initial=self.start if initial is None else initial,
            factor=self.factor,
            cap=self.cap,
        )

    def schedule(self, now: float) -> float:
        """Plan the counted attempt: returns the delay (``at`` is set)."""
        delay = self.delay(self.attempt)
        self.at = now + delay
        return delay
