"""The fault matrix (issue 6): what the network throws, the client survives with nothing lost.

Each test drives one fault through the controllable server against the real page in Chromium,
with short timing options, and asserts the outcome at the server (attempt times, frames) and in
the page (health store, status text). Run with ``-s`` to see the measured figures.
"""

from __future__ import annotations

import itertools
from typing import Any

from playwright.sync_api import Page, expect

from server import ServerThread
from tests.e2e.helpers import (
    SLACK,
    changes,
    health,
    now,
    open_client,
    page_now,
    sockets,
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


# --- 4. half-open link --------------------------------------------------------------------------


def test_half_open_link_is_detected_within_ping_interval_plus_pong_timeout(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """The server goes silent with TCP open: the heartbeat finds the dead link within
    ping_interval + pong_timeout, the status says so, and the client reconnects."""
    ping, pong = 0.5, 0.5
    page = open_client(
        app,
        page,
        ping_interval=ms(ping),
        pong_timeout=ms(pong),
        backoff_initial=100,
        backoff_max=800,
        min_uptime=60_000,
    )
    server.wait_for_open(1)
    t0 = page_now(page)  # taken before the silence starts: the measured time is an upper bound
    server.silence(True)
    wait_status(page, "reconnecting", timeout=ping + pong + 5)
    lost = next(c for c in changes(page) if c["t"] > t0 and c["status"] == "reconnecting")
    detection = (lost["t"] - t0) / 1000
    assert detection <= ping + pong + SLACK
    assert (lost["code"], lost["reason"], lost["attempt"]) == (4000, "heartbeat timeout", 1)
    server.silence(False)
    snap = wait_settled(page, server)
    assert len(snap.connections) >= 2 and snap.connections[-1].open
    texts = status_texts(page)
    assert texts[-1] == "Connected"
    assert "Reconnecting... (Attempt 1)" in texts[texts.index("Connected") :]
    assert page_errors == []
    report("4 half-open", detection_ms=ms(detection), bound_ms=ms(ping + pong), texts=texts)


# --- 5. messages sent while down ----------------------------------------------------------------


def test_500_messages_sent_while_down_arrive_once_in_order_after_the_subscribes(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """500 sends while the server refuses us: after the reconnect the server gets one subscribe
    per active project, then all 500 in order, each exactly once."""
    page = open_client(app, page, backoff_initial=50, backoff_max=400, min_uptime=60_000)
    page.evaluate("['alpha', 'beta', 'gamma'].forEach((p) => window.wsclient.subscribe(p))")
    server.wait_for(lambda s: len(s.connections[0].messages_of_type("subscribe")) == 3)
    server.refuse(True)
    server.drop()
    wait_status(page, "reconnecting")
    page.evaluate(
        """() => {
          window.wsclient.unsubscribe("gamma");
          for (let seq = 0; seq < 500; seq++) window.wsclient.send({ type: "test.queued", seq });
        }"""
    )
    assert health(page)["queueDepth"] == 500
    server.refuse(False)
    wait_settled(page, server)
    # Anything sent before this marker (duplicates included) reaches the server before it.
    page.evaluate("window.wsclient.send({ type: 'test.marker' })")
    server.wait_for_frame("test.marker")
    snap = server.snapshot()
    assert len(snap.connections) == 2
    first, second = snap.connections
    assert first.messages_of_type("test.queued") == []
    wire = [m for m in second.messages() if m["type"] != "ping"]
    subscribes, rest = wire[:2], wire[2:]
    assert sorted(m["project_id"] for m in subscribes) == ["alpha", "beta"]
    assert {m["type"] for m in subscribes} == {"subscribe"}
    seqs = [m["seq"] for m in rest if m["type"] == "test.queued"]
    assert seqs == list(range(500))  # all of them, in order, exactly once
    assert [m["type"] for m in rest] == ["test.queued"] * 500 + ["test.marker"]
    assert all(m["type"] != "unsubscribe" for c in snap.connections for m in c.messages())
    assert health(page)["queueDepth"] == 0 and health(page)["queueOverflow"] == 0
    assert page_errors == []
    received = [f for f in second.frames if '"test.queued"' in f.text]
    report(
        "5 queued while down",
        sent=500,
        received=len(seqs),
        lost=len(set(range(500)) - set(seqs)),
        duplicated=len(seqs) - len(set(seqs)),
        subscribes=[m["project_id"] for m in subscribes],
        flush_ms=ms(received[-1].t - second.opened_at),
    )


# --- 6. subscriptions across reconnects ---------------------------------------------------------


def test_subscriptions_are_restored_exactly_once_across_10_reconnects(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """Each reconnect subscribes each active project once; a project unsubscribed while down is
    not resubscribed (nor unsubscribed on the wire); a project keeps its subscription while one
    of its two subscribers remains."""
    page = open_client(
        app,
        page,
        backoff_initial=50,
        backoff_max=400,
        backoff_after_drop=100,
        min_uptime=1,
    )
    api = "window.wsclient"
    page.evaluate(f"['a', 'b', 'b', 'c'].forEach((p) => {api}.subscribe(p))")
    server.wait_for(lambda s: len(s.connections[0].messages_of_type("subscribe")) == 3)
    expected: list[list[str]] = [["a", "b", "c"]]
    for n in range(1, 11):
        if n == 4:  # down for a while; "c" loses its only subscriber meanwhile
            server.refuse(True)
            server.drop()
            wait_status(page, "reconnecting")
            page.evaluate(f"{api}.unsubscribe('c')")
            server.refuse(False)
        else:
            if n == 7:  # one of b's two subscribers leaves while connected
                page.evaluate(f"{api}.unsubscribe('b')")
            server.drop()
        wait_settled(page, server)
        page.evaluate(f"{api}.send({{ type: 'test.marker', n: {n} }})")
        server.wait_for_frame(lambda f, n=n: f.json() == {"type": "test.marker", "n": n})
        expected.append(["a", "b"] if n >= 4 else ["a", "b", "c"])
    snap = server.snapshot()
    assert len(snap.connections) == 11
    seen = [
        sorted(m["project_id"] for m in c.messages_of_type("subscribe")) for c in snap.connections
    ]
    assert seen == expected
    assert all(not c.messages_of_type("unsubscribe") for c in snap.connections)
    assert snap.connections[-1].subscriptions == ("a", "b")
    page.evaluate(f"{api}.unsubscribe('b')")  # the last subscriber of b leaves while connected
    server.wait_for_frame(lambda f: f.json() == {"type": "unsubscribe", "project_id": "b"})
    assert server.snapshot().connections[-1].subscriptions == ("a",)
    assert page_errors == []
    report("6 subscriptions", reconnects=10, subscribes_per_connection=seen, stale_unsubscribes=0)


# --- 7. disconnect() ----------------------------------------------------------------------------


def test_disconnect_stays_disconnected_and_connect_works_afterwards(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """disconnect() closes with 1000 and no attempt follows for 5x the backoff cap, whether it
    came while connected or while waiting for a retry; connect() afterwards connects."""
    cap = 0.4
    page = open_client(app, page, backoff_initial=50, backoff_max=ms(cap), min_uptime=60_000)
    quiet = 5 * cap

    page.evaluate("window.wsclient.disconnect()")
    wait_status(page, "disconnected")
    snap = server.wait_for(lambda s: not s.connections[0].open)
    closed = snap.connections[0]
    assert (closed.close_code, closed.closed_by) == (1000, "client")
    made = sockets(page)["created"]
    tried = len(snap.attempts)
    stays_false(server, lambda s: len(s.attempts) > tried, quiet)
    assert sockets(page)["created"] == made
    assert status_texts(page)[-1] == "Disconnected"

    page.evaluate("window.wsclient.connect()")
    wait_settled(page, server)

    server.refuse(True)  # now disconnect while a retry is pending
    server.drop()
    server.wait_for(lambda s: any(a.outcome == "refused" for a in s.attempts))
    page.evaluate("window.wsclient.disconnect()")
    wait_status(page, "disconnected")
    made = sockets(page)["created"]
    tried = len(server.snapshot().attempts)
    stays_false(server, lambda s: len(s.attempts) > tried, quiet)
    assert sockets(page)["created"] == made
    server.refuse(False)
    page.evaluate("window.wsclient.connect()")
    snap = wait_settled(page, server)
    assert status_texts(page)[-1] == "Connected"
    assert page_errors == []
    report(
        "7 disconnect",
        quiet_ms=ms(quiet),
        attempts_while_disconnected=0,
        connections=len(snap.connections),
    )


# --- 8. close codes -----------------------------------------------------------------------------


def test_close_4401_stops_with_the_reason_and_1012_reconnects(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """4401 "token expired": error state showing the reason, no further attempts; after connect(),
    a 1012 restart reconnects (within backoff_after_drop: the connection was established)."""
    cap, after_drop = 0.4, 0.2
    page = open_client(
        app,
        page,
        backoff_initial=50,
        backoff_max=ms(cap),
        backoff_after_drop=ms(after_drop),
        min_uptime=1,
    )
    status = page.locator("[data-ws-status] .connection-status")
    server.close(4401, "token expired")
    wait_status(page, "error")
    expect(status).to_have_attribute("data-status", "error")
    expect(status.locator(".text")).to_have_text("Connection Error: token expired")
    h = health(page)
    assert (h["error"], h["lastCloseCode"], h["attempt"]) == ("token expired", 4401, 0)
    tried = len(server.snapshot().attempts)
    stays_false(server, lambda s: len(s.attempts) > tried, 5 * cap)

    page.evaluate("window.wsclient.connect()")
    before = wait_settled(page, server)
    server.close(1012, "service restart")
    snap = wait_settled(page, server)
    assert len(snap.connections) == len(before.connections) + 1
    restarted, fresh = snap.connections[-2:]
    assert (restarted.close_code, restarted.closed_by) == (1012, "server")
    assert restarted.closed_at is not None
    gap = fresh.opened_at - restarted.closed_at
    assert gap <= after_drop + SLACK
    texts = status_texts(page)
    assert texts[-2:] == ["Reconnecting... (Attempt 1)", "Connected"]
    assert "Connection Error: token expired" in texts
    assert page_errors == []
    report("8 close codes", attempts_after_4401=0, reconnect_after_1012_ms=ms(gap), texts=texts)
