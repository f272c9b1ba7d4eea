"""Recovery end to end (docs/protocol.md, v2 "nothing lost" and its v1 fallbacks).

The real page in Chromium against the reference server: project streams recovered after drops
(replay or snapshot), duplicates and gaps on the live stream, v1 servers without recovery, and
requests/sends that survive drops, half-open links, closing sockets and a reload. The page's state
is compared with the server's in two ways: re-derived from every event and snapshot the page's
``on("*")`` listener got, and read from the dashboard DOM. Run with ``-s`` for the figures.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from playwright.sync_api import Page

from server import HOLD, ServerThread
from tests.e2e.helpers import (
    changes,
    health,
    open_client,
    wait_opens,
    wait_settled,
    wait_status,
)
from tests.e2e.recovery_helpers import (
    FAST,
    LAST_SOCKET_JS,
    applied_seqs,
    assert_exactly_once,
    dom_state,
    fold,
    install,
    log,
    ms,
    offsets,
    outcomes,
    report,
    settled,
    wait_dom,
    wait_sync,
    wait_top,
    wire_seqs,
)

API = "window.wsclient"


def boot(app: Any, page: Page, **query: Any) -> Page:
    """Open the dashboard with the fast timings, the recorders installed, connected."""
    page = open_client(app, page, **{**FAST, **query})
    install(page)
    return page


def subscribe(page: Page, server: ServerThread, *projects: str) -> None:
    """Subscribe from the page and wait until each first subscribe's snapshot is through."""
    for p in projects:
        page.evaluate(f"(p) => {API}.subscribe(p)", p)
    server.wait_for(
        lambda s: {m["project_id"] for m in s.connections[-1].messages_of_type("subscribe")}
        >= set(projects)
    )
    for p in projects:
        page.wait_for_function(
            "(p) => (window.__rr.log[p] || []).some((m) => m.type === 'project.snapshot')", arg=p
        )
        wait_sync(page, p, "live")


def go_down(page: Page, server: ServerThread) -> None:
    """Refuse upgrades and reset the connection; wait until the page knows it is down."""
    server.refuse(True)
    server.drop()
    wait_status(page, "reconnecting")


# --- 1. replay after abrupt drops -------------------------------------------------------------


def test_20_drops_with_events_in_every_gap_replay_each_offset_exactly_once(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """20 drops with events emitted while down: each reconnect replays the gap, every offset
    reaches on("*") exactly once, the page equals the server and sync is live again."""
    projects = ("alpha", "beta")
    page = boot(app, page)
    subscribe(page, server, *projects)
    catch_up: list[float] = []
    for i in range(1, 21):
        go_down(page, server)
        for j, p in enumerate(projects):
            server.emit_many(p, 3 + (i + j) % 7)
        server.refuse(False)
        wait_opens(page, i + 1)
        for p in projects:
            wait_top(page, p, server.position(p)[1])
            wait_sync(page, p, "live")
        opened = [c["t"] for c in changes(page) if c["status"] == "connected"][-1]
        catch_up.append(page.evaluate("window.__rr.lastEventAt") - opened)
        for p in projects:
            entries = log(page, p)
            assert_exactly_once(offsets(entries), server.position(p)[1])
            assert fold(entries) == server.project_state(p), f"drop {i}: {p} differs"
    render = [wait_dom(page, server, p, "live") for p in projects]
    snap = server.snapshot()
    assert len(snap.connections) == 21
    # Every reconnect recovered by replay: `since` on each resubscribe, never a second snapshot.
    for c in snap.connections[1:]:
        subs = c.messages_of_type("subscribe")
        assert sorted(m["project_id"] for m in subs) == sorted(projects)
        assert all("since" in m for m in subs)
    assert page.evaluate("window.__rr.snapshots") == {p: 1 for p in projects}
    assert health(page)["duplicates"] == 0
    assert page_errors == []
    report(
        "1 drops with replay",
        drops=20,
        events={p: server.position(p)[1] for p in projects},
        open_to_caught_up_ms=[round(x) for x in catch_up],
        max_open_to_caught_up_ms=round(max(catch_up)),
        dom_lag_ms=[ms(x) for x in render],
    )


# --- 2. snapshot when the history cannot cover the gap ----------------------------------------


def _file(project: str, name: str, size: int = 1234) -> dict[str, Any]:
    return {
        "name": name,
        "path": f"/projects/{project}/{name}",
        "size": size,
        "asset_type": "image",
    }


def test_short_history_and_new_epoch_reset_the_project_from_a_snapshot(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """History trimmed (alpha) and epoch changed (beta) while down: each gets a project.snapshot,
    its chip shows data-sync="reset", and nothing the server no longer has stays in the page."""
    page = boot(app, page)
    subscribe(page, server, "alpha", "beta")
    emit = server.emit
    for p in ("alpha", "beta"):
        emit(p, "project.created", data={"name": f"Project {p}", "status": "active"})
        for n in range(1, 5):
            emit(p, "file.uploaded", file=_file(p, f"f{n}.png", 1000 * n))
        emit(p, "process.started", process_id=f"{p}-job1", progress=0.1, message="job1 started")
        emit(p, "process.started", process_id=f"{p}-job2", progress=0.2, message="job2 started")
        wait_top(page, p, server.position(p)[1])
        wait_dom(page, server, p, "live")
    before = {p: dom_state(page, p) for p in ("alpha", "beta")}
    assert len(before["alpha"]["files"]) == 4 and len(before["beta"]["processes"]) == 2

    go_down(page, server)
    # alpha: two files deleted, one process completed, one new file; then the history is cut.
    emit("alpha", "file.deleted", file=_file("alpha", "f1.png", 1000))
    emit("alpha", "file.deleted", file=_file("alpha", "f3.png", 3000))
    emit("alpha", "process.completed", process_id="alpha-job1", message="job1 complete")
    emit("alpha", "file.uploaded", file=_file("alpha", "f5.png", 5000))
    server.trim_history("alpha", keep=1)
    # beta: deleted and created again with one new file; then the server "restarts" its stream.
    emit("beta", "project.deleted", data={})
    emit("beta", "project.created", data={"name": "Beta reborn", "status": "new"})
    emit("beta", "file.uploaded", file=_file("beta", "g1.png", 777))
    server.new_epoch("beta")
    server.refuse(False)

    for p in ("alpha", "beta"):
        wait_sync(page, p, "reset")
        wait_dom(page, server, p, "reset")
    assert page.evaluate("window.__rr.snapshots") == {"alpha": 2, "beta": 2}
    for p in ("alpha", "beta"):
        entries = log(page, p)
        assert entries[-1]["type"] == "project.snapshot"
        assert entries[-1]["offset"] == server.position(p)[1]
        assert fold(entries) == server.project_state(p)
    alpha, beta = dom_state(page, "alpha"), dom_state(page, "beta")
    assert sorted(alpha["files"]) == [f"/projects/alpha/{n}" for n in ("f2.png", "f4.png", "f5.png")]
    assert alpha["processes"]["alpha-job1"][0] == "completed"
    assert list(beta["files"]) == ["/projects/beta/g1.png"] and beta["processes"] == {}
    assert beta["project"] == ["Beta reborn", "  beta \u00b7 new"]
    # The reconnect asked with `since` for both; the server answered recovered: false.
    last = server.snapshot().connections[-1]
    assert all("since" in m for m in last.messages_of_type("subscribe"))
    # Live events after the snapshot apply on top of it; "reset" lasts until the next recovery.
    emit("alpha", "file.uploaded", file=_file("alpha", "f6.png", 6000))
    wait_top(page, "alpha", server.position("alpha")[1])
    wait_dom(page, server, "alpha", "reset")
    server.drop()
    wait_opens(page, 3)
    for p in ("alpha", "beta"):
        wait_sync(page, p, "live")
        wait_dom(page, server, p, "live")
    assert page.evaluate("window.__rr.snapshots") == {"alpha": 2, "beta": 2}
    assert page_errors == []
    report(
        "2 snapshot reset",
        files_before={p: len(before[p]["files"]) for p in before},
        files_after={"alpha": len(alpha["files"]), "beta": len(beta["files"])},
        processes_after={"alpha": len(alpha["processes"]), "beta": len(beta["processes"])},
    )


# --- 3. duplicates and gaps on the live stream ------------------------------------------------


def test_duplicate_offsets_are_dropped_and_a_gap_resubscribes_on_the_same_connection(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """Injected frames with applied offsets are dropped (health.duplicates); an offset that
    skips ahead makes the page resubscribe with `since` on the same connection and end equal to
    the server, the skipped-ahead frame never applied."""
    page = boot(app, page, ping_interval=30_000, pong_timeout=10_000)
    subscribe(page, server, "alpha")
    server.emit_many("alpha", 6)
    wait_top(page, "alpha", 6)
    history = server.history("alpha")
    # Two duplicates: the last event and an older one, exactly as the server sent them.
    server.send(text=json.dumps(history[-1]))
    server.send(text=json.dumps(history[2]))
    page.wait_for_function("() => window.__rec.current.duplicates >= 2")
    epoch, top = server.position("alpha")
    # A made-up event three offsets ahead: a gap. It must not be applied.
    ghost = {
        "type": "file.uploaded",
        "timestamp": history[-1]["timestamp"],
        "project_id": "alpha",
        "offset": top + 3,
        "file": {"name": "ghost.png", "path": "/ghost.png", "size": 1, "asset_type": "image"},
    }
    server.send(text=json.dumps(ghost))
    since_top = {"type": "subscribe", "project_id": "alpha", "since": {"epoch": epoch, "offset": top}}
    server.wait_for_frame(lambda f: f.json() == since_top)
    wait_sync(page, "alpha", "live")
    server.emit_many("alpha", 3)
    wait_top(page, "alpha", top + 3)
    # A real gap: the server loses four events on the way (silent), then the fifth arrives.
    server.silence(True)
    server.emit_many("alpha", 4)
    server.silence(False)
    epoch, gap_from = server.position("alpha")
    server.emit_many("alpha", 1)
    since_gap = {
        "type": "subscribe",
        "project_id": "alpha",
        "since": {"epoch": epoch, "offset": gap_from - 4},
    }
    server.wait_for_frame(lambda f: f.json() == since_gap)
    final = server.position("alpha")[1]
    wait_top(page, "alpha", final)
    wait_sync(page, "alpha", "live")
    wait_dom(page, server, "alpha", "live")
    entries = log(page, "alpha")
    assert_exactly_once(offsets(entries), final)
    assert fold(entries) == server.project_state("alpha")
    assert "/ghost.png" not in dom_state(page, "alpha")["files"]
    snap = server.snapshot()
    assert len(snap.connections) == 1  # all on the same connection
    subs = snap.connections[0].messages_of_type("subscribe")
    assert [m.get("since", {}).get("offset") for m in subs] == [None, top, gap_from - 4]
    assert health(page)["duplicates"] == 2
    assert page_errors == []
    report(
        "3 duplicates and gaps",
        duplicates=health(page)["duplicates"],
        resubscribes=len(subs) - 1,
        final_offset=final,
    )


# --- 4. v1 server: stale + resync ----------------------------------------------------------------


def test_v1_server_marks_projects_stale_with_one_resync_per_project_per_reconnect(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """On a v1 server projects are live until their first reconnect; then each is stale and
    gets exactly one resync event per reconnect."""
    server.set_v1(True)
    page = boot(app, page, pong_timeout=1000)
    projects = ("alpha", "beta")
    for p in projects:
        page.evaluate(f"(p) => {API}.subscribe(p)", p)
    server.wait_for(lambda s: len(s.connections[0].messages_of_type("subscribe")) == 2)
    assert page.evaluate("window.__rr.sync") == {p: "live" for p in projects}
    assert health(page)["protocol"] == 1
    reconnects = 4
    for i in range(1, reconnects + 1):
        server.drop()
        wait_opens(page, i + 1)
        page.wait_for_function(
            "(n) => window.__rr.resyncs.length >= n", arg=len(projects) * i, timeout=10_000
        )
        for p in projects:
            wait_sync(page, p, "stale")
    # A fence: the page sends after its last reconnect and the server gets it after the
    # subscribes; anything the page emits for that reconnect is out by then.
    wait_settled(page, server)
    page.evaluate(f"{API}.send({{ type: 'test.fence' }})")
    server.wait_for_frame("test.fence")
    server.emit("alpha", "project.updated", data={"name": "still flowing"})
    page.wait_for_function("() => (window.__rr.log.alpha || []).length >= 1")
    resyncs = page.evaluate("window.__rr.resyncs")
    per_project = Counter(r["project_id"] for r in resyncs)
    assert per_project == {p: reconnects for p in projects}
    assert page.evaluate("window.__rr.resyncStar") == len(resyncs)  # "*" sees them too
    assert page.evaluate("window.__rr.sync") == {p: "stale" for p in projects}
    assert [dom_state(page, p)["sync"] for p in projects] == ["stale", "stale"]
    assert all(c.protocol == 1 for c in server.snapshot().connections)
    assert page_errors == []
    report("4 v1 resync", reconnects=reconnects, resyncs=dict(per_project))
