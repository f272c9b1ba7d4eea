"""Reconnect storm: 10,000 clients lose their server at once; how hard do they hit it?

Every client is a real ``wsclient.core.Session`` run by the page's own ``wsclient.driver.Driver``
on a simulated port (its sockets and its one timer are events on a shared queue) under one fake
clock. The scenario:

- all clients have been connected for 10 s when, at t = 0, the server goes away and every socket
  closes (code 1006 for a crash by default; 1001 "going away" or 1012 "service restart" for a
  graceful shutdown -- the core treats them alike);
- until t = 5 s every connection attempt is refused after ``LATENCY`` (a close with 1006);
- from t = 5 s every attempt opens after ``LATENCY``, and the server stays up.

The figure is the peak number of connection attempts (``OpenSocket`` actions) in any 100 ms window,
as a share of the clients. Two counts are reported:

- **all attempts**: the issue's metric, and the one the test asserts (<= 2 %);
- **after the server is back** (t >= 5 s): attempts that reach a live server and cost it a
  handshake, a subscription replay and a queue flush. Refused attempts while it is down cost a
  TCP reset or a load balancer's 502; this is the load that can knock a restarting server over.

Policies compared (see ``wsclient/backoff.py`` for the reasoning):

- ``defaults``: ``Options()`` -- full jitter, and the first retry after the far side drops an
  established connection drawn from a 10 s window;
- ``full jitter only``: the same with ``backoff_after_drop = backoff_initial`` (1 s);
- ``seed``: the seed's policy, ``min(1 s * 2**n, 30 s)`` with no jitter -- the same core with a
  random source that always returns 1.0 and no drop spread.

Run ``python -m bench.reconnect_storm`` to print the table; results are also written to
``bench/results/reconnect_storm.txt``.
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wsclient.actions import Settle
from wsclient.core import Health, Session
from wsclient.driver import Driver, NoStorage
from wsclient.messages import Message
from wsclient.options import Options
from wsclient.records import replace
from wsclient.streams import SyncStatus

CLIENTS = 10_000
WINDOW = 0.1  # seconds: the width of the window the peak is measured over
DOWN_AT = 0.0
BACK_AT = 5.0
LATENCY = 0.05  # seconds from OpenSocket until the refusal or the open arrives
HORIZON = 300.0  # stop simulating here (every client has long reconnected)

_TIMER, _REFUSED, _OPENED = 0, 1, 2


@dataclass(frozen=True)
class StormResult:
    clients: int
    attempt_times: list[float]  # every OpenSocket after the drop, sorted
    reconnected: int  # clients connected again by the horizon
    peak_all: int  # most attempts in any WINDOW
    peak_all_at: float  # where that window starts
    peak_after_back: int  # most attempts in any WINDOW at or after BACK_AT
    median_reconnect: float  # when half of the clients had their connection back
    last_reconnect: float  # when the last client got its connection back

    @property
    def peak_all_share(self) -> float:
        return self.peak_all / self.clients

    @property
    def peak_after_back_share(self) -> float:
        return self.peak_after_back / self.clients


def peak_in_window(times: Sequence[float], width: float = WINDOW) -> tuple[int, float]:
    """Most of the sorted ``times`` inside any half-open window ``[t, t + width)``, and its t."""
    best, best_at, lo = 0, 0.0, 0
    for hi, end in enumerate(times):
        while times[lo] <= end - width:
            lo += 1
        if hi - lo + 1 > best:
            best, best_at = hi - lo + 1, times[lo]
    return best, best_at


class StormPort(NoStorage):
    """One client's platform in the simulation: sockets and its one timer become scheduled
    events on the shared queue (``driver.Port``)."""

    def __init__(self, storm: Storm, client: int) -> None:
        self.storm = storm
        self.client = client
        self.timer = 0  # generation of the armed timer; re-arming or cancelling bumps it

    def now(self) -> float:
        return self.storm.now

    def open_socket(self, socket_id: int) -> None:
        storm = self.storm
        if storm.now < DOWN_AT:
            return  # the connection made before the scenario: opened by hand in simulate()
        storm.attempts.append(storm.now)
        kind = _OPENED if storm.now >= BACK_AT else _REFUSED
        storm.push(storm.now + LATENCY, kind, self.client, socket_id)

    def send(self, socket_id: int, text: str) -> bool:
        return True

    def close_socket(self, socket_id: int, code: int, reason: str) -> int:
        return 0  # the fake socket is gone; its events would be stale anyway

    def set_timer(self, delay: float | None) -> None:
        self.timer += 1
        if delay is not None:
            self.storm.push(self.storm.now + delay, _TIMER, self.client, self.timer)

    def dispose(self) -> None:
        pass


class Storm:
    """The shared clock and event queue of the simulation."""

    def __init__(self) -> None:
        self.now = DOWN_AT - 10.0
        self.events: list[tuple[float, int, int, int, int]] = []  # (time, seq, kind, client, n)
        self.seq = 0
        self.attempts: list[float] = []

    def push(self, at: float, kind: int, client: int, n: int) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, client, n))


class _Ignore:
    """The page side of a simulated client: nothing to show (``driver.Receiver``)."""

    def parse(self, text: str) -> Message | None:
        return None

    def parse_joined(self, batch: str) -> list[Message | None]:
        return []

    def dispatch(self, message: Message) -> None:
        pass

    def on_binary(self, size: int) -> None:
        pass

    def on_too_large(self, length: int) -> None:
        pass

    def on_batch_end(self) -> None:
        pass

    def on_health(self, health: Health) -> None:
        pass

    def on_sync(self, statuses: dict[str, SyncStatus]) -> None:
        pass

    def on_settled(self, settle: Settle) -> None:
        pass

    def on_resync(self, project_id: str) -> None:
        pass


def simulate(
    clients: int = CLIENTS,
    *,
    options: Options | None = None,
    random_source: Callable[[], float] | None = None,
    seed: int = 2024,
    drop_code: int = 1006,
) -> StormResult:
    """Drop ``clients`` connected clients at ``DOWN_AT``, bring the server back at ``BACK_AT``.

    Every client is the page's own ``Driver`` around a ``Session``, on a ``StormPort``."""
    rng = random.Random(seed)
    source = random_source if random_source is not None else rng.random
    shared = options if options is not None else Options()
    storm = Storm()
    ports: list[StormPort] = []

    def make_port(client: int) -> Callable[[Driver], StormPort]:
        def make(_driver: Driver) -> StormPort:
            port = StormPort(storm, client)
            ports.append(port)
            return port

        return make

    drivers = [
        Driver(Session(shared, random=source, id_prefix=str(client)), make_port(client), _Ignore())
        for client in range(clients)
    ]
    reconnected_at: list[float] = []

    # Everyone connected 10 s ago, heard from the server 0.5 s ago, and is dropped at DOWN_AT.
    for driver in drivers:
        storm.now = DOWN_AT - 10.0
        driver.connect()
        driver.socket_opened(1)
    storm.now = DOWN_AT - 0.5
    for driver in drivers:
        driver.frames(1, [])
    storm.now = DOWN_AT
    for driver in drivers:
        driver.socket_closed(1, drop_code, "")

    done = [False] * clients
    while storm.events:
        now, _, kind, client, n = heapq.heappop(storm.events)
        if now > HORIZON:
            break
        if done[client]:
            continue  # connected to a server that stays up: nothing more to simulate
        storm.now = max(storm.now, now)  # a timer due during the set-up fires late
        driver = drivers[client]
        if kind == _TIMER:
            if ports[client].timer == n:  # a timer the driver has not re-armed or cancelled
                driver.timer_fired()
        elif kind == _REFUSED:
            driver.socket_closed(n, 1006, "")
        else:
            driver.socket_opened(n)
            reconnected_at.append(now)
            done[client] = True

    attempts = storm.attempts
    attempts.sort()
    peak_all, peak_all_at = peak_in_window(attempts)
    after_back = attempts[
        next((i for i, t in enumerate(attempts) if t >= BACK_AT), len(attempts)) :
    ]
    peak_after_back, _ = peak_in_window(after_back)
    return StormResult(
        clients=clients,
        attempt_times=attempts,
        reconnected=len(reconnected_at),
        peak_all=peak_all,
        peak_all_at=peak_all_at,
        peak_after_back=peak_after_back,
        median_reconnect=statistics.median(reconnected_at) if reconnected_at else math.nan,
        last_reconnect=max(reconnected_at, default=math.nan),
    )


def defaults() -> StormResult:
    return simulate()


def full_jitter_only() -> StormResult:
    base = Options()
    return simulate(options=replace(base, backoff_after_drop=base.backoff_initial))


def seed_policy() -> StormResult:
    """The seed's ``min(1000 * 2**attempts, 30000)`` ms: every client waits exactly the window."""
    base = Options()
    return simulate(
        options=replace(base, backoff_after_drop=base.backoff_initial),
        random_source=lambda: 1.0,
    )


def report(results: dict[str, StormResult]) -> str:
    lines = [
        f"Reconnect storm: {CLIENTS} clients dropped at t={DOWN_AT:g} s, server back at "
        f"t={BACK_AT:g} s; peak connection attempts in any {WINDOW * 1000:g} ms window",
        f"{'policy':<18} {'all attempts':>20} {'after server back':>20} "
        f"{'attempts':>9} {'half back':>10} {'all back':>9}",
    ]
    for name, r in results.items():
        lines.append(
            f"{name:<18} {r.peak_all:>7} ({r.peak_all_share:6.2%}) @{r.peak_all_at:5.2f}s "
            f"{r.peak_after_back:>7} ({r.peak_after_back_share:6.2%})     "
            f"{len(r.attempt_times):>9} {r.median_reconnect:>9.1f}s {r.last_reconnect:>8.1f}s"
        )
    return "\n".join(lines)


def main() -> None:
    results = {
        "defaults": defaults(),
        "defaults, 1001": simulate(drop_code=1001),
        "full jitter only": full_jitter_only(),
        "seed (no jitter)": seed_policy(),
    }
    text = report(results)
    print(text)
    out = Path(__file__).with_name("results") / "reconnect_storm.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
