"""The fault matrix (issue 6): what the network throws, the client survives with nothing lost.

Each test drives one fault through the controllable server against the real page in Chromium,
with short timing options, and asserts the outcome at the server (attempt times, frames) and in
the page (health store, status text). Run with ``-s`` to see the measured figures.
"""

from __future__ import annotations

import itertools
from typing import Any

from playwright.sync_api import Page

from server import ServerThread
from tests.e2e.helpers import (
    SLACK,
    changes,
    health,
    now,
    open_client,
    status_texts,
    stays_false,
    wait_opens,
    wait_settled,
    wait_status,
    windows,
)


def report(scenario: str, **figures: Any) -> None:
    """Print the measured figures of one scenario (visible with ``pytest -s``)."""
    shown = ", ".join(f"{k}={v}" for k, v in figures.items())
    print(f"\n[fault matrix] {scenario}: {shown}")


def ms(seconds: float) -> int:
    return round(seconds * 1000)


# --- 1. abrupt drops ----------------------------------------------------------------------------


def test_reconnects_after_each_of_20_abrupt_drops_with_growing_jittered_delays(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """20 TCP resets in a row: a reconnect after each; server-side delays follow the jittered
    ladder; the status shows the seed's texts with the attempt number."""
    initial, cap, drops = 0.05, 0.8, 20
    page = open_client(
        app, page, backoff_initial=ms(initial), backoff_max=ms(cap), min_uptime=60_000
    )
    for i in range(1, drops + 1):
        server.wait_for_open(1)
        server.drop()
        wait_opens(page, i + 1)
    snap = server.wait_for_open(1)
    conns = snap.connections
    assert len(conns) == drops + 1
    assert [a.outcome for a in snap.attempts] == ["accepted"] * (drops + 1)
    # Delay before retry n: from the server's drop of connection n to the next upgrade request.
    gaps = [
        b.opened_at - a.closed_at for a, b in itertools.pairwise(conns) if a.closed_at is not None
    ]
    limits = windows(drops, initial, cap)
    assert len(gaps) == drops
    for n, (gap, limit) in enumerate(zip(gaps, limits, strict=True), 1):
        assert 0 < gap <= limit + SLACK, f"retry {n}: {gap:.3f} s, window {limit} s"
    early, capped = gaps[:3], gaps[-10:]
    # The delays grew: the early ones are bounded by their small windows, and ten draws from the
    # capped window add up to more than those bounds (P(fail) < 1e-4).
    assert sum(capped) > sum(limits[:3]) + 3 * SLACK
    assert max(capped) - min(capped) > cap / 10  # ...and are jittered, not one fixed value
    expected = ["Connected"]
    for n in range(1, drops + 1):
        expected += [f"Reconnecting... (Attempt {n})", "Connected"]
    texts = status_texts(page)
    assert texts[texts[0] == "Connecting..." :] == expected
    assert page_errors == []
    report(
        "1 abrupt drops",
        reconnects=len(conns) - 1,
        gaps_ms=[ms(g) for g in gaps],
        windows_ms=[ms(w) for w in limits],
        early_sum_ms=ms(sum(early)),
        capped_sum_ms=ms(sum(capped)),
    )


# --- 2. server down for a while -----------------------------------------------------------------


def test_server_down_then_back_backs_off_to_the_cap_then_connects(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """Refused upgrades (503): attempts back off up to the cap and never beyond it; once the
    server is back the next attempt connects."""
    initial, cap, refused = 0.05, 0.4, 12
    page = open_client(
        app, page, backoff_initial=ms(initial), backoff_max=ms(cap), min_uptime=60_000
    )
    server.refuse(True)
    server.drop()
    snap = server.wait_for(
        lambda s: sum(a.outcome == "refused" for a in s.attempts) >= refused, timeout=30
    )
    back = now()
    server.refuse(False)
    wait_opens(page, 2)
    snap = server.wait_for_open(1)
    tries = [a for a in snap.attempts if a.outcome == "refused"]
    dropped_at = snap.connections[0].closed_at
    assert dropped_at is not None
    times = [dropped_at] + [a.t for a in tries]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    limits = windows(len(gaps), initial, cap)
    for n, (gap, limit) in enumerate(zip(gaps, limits, strict=True), 1):
        assert 0 < gap <= limit + SLACK, f"attempt {n}: {gap:.3f} s, window {limit} s"
    capped = gaps[4:]  # windows 50, 100, 200, then 400 ms = the cap
    assert sum(capped) > cap  # backed off: not a tight loop against a down server
    reconnected = [a for a in snap.attempts if a.outcome == "accepted"][-1]
    assert reconnected.t - back <= cap + SLACK
    assert snap.connections[-1].open
    seen = [c["attempt"] for c in changes(page) if c["status"] == "reconnecting"]
    assert seen == list(range(1, len(tries) + 2))
    assert page_errors == []
    report(
        "2 server down",
        refused_attempts=len(tries),
        gaps_ms=[ms(g) for g in gaps],
        cap_ms=ms(cap),
        max_gap_ms=ms(max(gaps)),
        reconnect_after_back_ms=ms(reconnected.t - back),
    )


# --- 3. flapping --------------------------------------------------------------------------------


def test_flapping_server_backoff_keeps_growing(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """Accepted then closed at once, again and again: connections shorter than min_uptime do not
    reset the ladder, so the delays grow to the cap (no tight loop)."""
    initial, cap, flaps = 0.05, 0.8, 12
    page = open_client(app, page, backoff_initial=ms(initial), backoff_max=ms(cap), min_uptime=5000)
    server.flap(True, code=1001, reason="flap")
    server.close(1001, "going away")
    snap = server.wait_for(
        lambda s: sum(a.outcome == "flapped" for a in s.attempts) >= flaps, timeout=30
    )
    server.flap(False)
    first = snap.connections[0]
    assert first.closed_at is not None
    times = [first.closed_at] + [a.t for a in snap.attempts if a.outcome == "flapped"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    limits = windows(len(gaps), initial, cap)
    for n, (gap, limit) in enumerate(zip(gaps, limits, strict=True), 1):
        assert 0 < gap <= limit + SLACK, f"attempt {n}: {gap:.3f} s, window {limit} s"
    late = gaps[-7:]
    assert sum(late) > cap  # 7 draws from [0, 0.8 s]; a tight loop would sum to a few ms
    assert max(late) - min(late) > cap / 10
    attempts_seen = [c["attempt"] for c in changes(page) if c["status"] == "reconnecting"]
    assert attempts_seen[: len(gaps)] == list(range(1, len(gaps) + 1))
    wait_settled(page, server)
    assert page_errors == []
    report(
        "3 flapping",
        flapped=len(gaps),
        gaps_ms=[ms(g) for g in gaps],
        windows_ms=[ms(w) for w in limits],
        late_sum_ms=ms(sum(late)),
        attempts_seen=attempts_seen,
    )
