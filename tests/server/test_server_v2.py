"""Protocol v2 on the wire: hello, numbered project streams, recovery, acks, and the v1 switch."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server import HOLD, ServerThread
from tests.server.conftest import SkewClock
from tests.server.wsutil import connect, fence, recv_json, recv_type, send_json, subscribe

REPO = Path(__file__).resolve().parents[2]

Session = Callable[[aiohttp.ClientSession], Awaitable[None]]


def run(body: Session) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as s:
            await body(s)

    asyncio.run(main())


def snapshot_as_state(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A `project.snapshot` in `project_state()`'s shape."""
    return {
        "data": snapshot["data"],
        "files": {f["path"]: f for f in snapshot["files"]},
        "processes": {
            p["process_id"]: {k: p[k] for k in ("status", "progress", "message")}
            for p in snapshot["processes"]
        },
    }


def upload(srv: ServerThread, project: str, name: str) -> dict[str, Any]:
    file = {"name": name, "path": f"/{project}/{name}", "size": 1, "asset_type": "image"}
    return srv.emit(project, "file.uploaded", file=file)


# ---------------------------------------------------------------------------- hello


def test_hello_is_the_first_frame(srv: ServerThread) -> None:
    """Every connection starts with {"type": "hello", "protocol": 2, "timestamp": ISO}."""

    async def body(s: aiohttp.ClientSession) -> None:
        for _ in range(2):
            async with s.ws_connect(srv.ws_url) as ws:
                await send_json(ws, {"type": "ping"})
                hello = await recv_json(ws)
                assert hello["type"] == "hello" and hello["protocol"] == 2
                assert datetime.fromisoformat(hello["timestamp"])

    run(body)


def test_hello_waits_for_a_silenced_connection(srv: ServerThread) -> None:
    """A connection opened while silent gets its hello first, once silence ends."""
    srv.silence(True)

    async def body(s: aiohttp.ClientSession) -> None:
        async with s.ws_connect(srv.ws_url) as ws:
            await send_json(ws, {"type": "ping", "id": 1})
            await asyncio.to_thread(srv.wait_for_open, 1)
            await asyncio.to_thread(srv.silence, False)
            assert (await recv_json(ws))["type"] == "hello"
            assert (await recv_json(ws))["type"] == "pong"

    run(body)


# ---------------------------------------------------------------------------- streams


def test_offsets_count_up_by_one_per_project(srv: ServerThread) -> None:
    """Each project numbers its own events 1, 2, 3... and subscribers get them as emitted."""

    async def body(s: aiohttp.ClientSession) -> None:
        async with connect(s, srv.ws_url) as ws:
            await subscribe(ws, "a")
            await subscribe(ws, "b")
            sent = [
                await asyncio.to_thread(upload, srv, project, f"f{i}.png")
                for i, project in enumerate("abab" + "a")
            ]
            got = [await recv_json(ws) for _ in sent]
            assert got == sent
            assert [m["offset"] for m in got if m["project_id"] == "a"] == [1, 2, 3]
            assert [m["offset"] for m in got if m["project_id"] == "b"] == [1, 2]

    run(body)


def test_streams_are_server_wide(srv: ServerThread) -> None:
    """Two connections on one project see the same events with the same offsets."""

    async def body(s: aiohttp.ClientSession) -> None:
        async with connect(s, srv.ws_url) as one, connect(s, srv.ws_url) as two:
            await subscribe(one, "p")
            await asyncio.to_thread(srv.emit_many, "p", 3)
            await subscribe(two, "p")
            await asyncio.to_thread(srv.emit_many, "p", 4)
            first = [await recv_json(one) for _ in range(7)]
            second = [await recv_json(two) for _ in range(4)]
            assert [m["offset"] for m in first] == list(range(1, 8))
            assert second == first[3:]

    run(body)


def test_subscribe_without_since_gets_a_snapshot_of_the_state(srv: ServerThread) -> None:
    """`subscribed` (recovered false, epoch, top) then a snapshot equal to project_state()."""
    srv.emit("p", "project.created", data={"name": "P"})
    srv.emit_many("p", 40)
    upload(srv, "p", "last.png")
    srv.emit("p", "process.started", process_id="job", progress=0.0, message="go")
    epoch, top = srv.position("p")

    async def body(s: aiohttp.ClientSession) -> None:
        async with connect(s, srv.ws_url) as ws:
            reply, (snapshot,) = await subscribe(ws, "p")
            assert reply["recovered"] is False
            assert (reply["epoch"], reply["offset"], reply["project_id"]) == (epoch, top, "p")
            assert snapshot["type"] == "project.snapshot" and snapshot["offset"] == top
            assert snapshot_as_state(snapshot) == srv.project_state("p")
            assert snapshot["processes"][-1] == {
                "process_id": "job",
                "status": "running",
                "progress": 0.0,
                "message": "go",
            }

    run(body)


def test_snapshot_of_a_new_project_is_empty(srv: ServerThread) -> None:
    async def body(s: aiohttp.ClientSession) -> None:
        async with connect(s, srv.ws_url) as ws:
            reply, (snapshot,) = await subscribe(ws, "new")
            assert reply["offset"] == 0 and snapshot["offset"] == 0
            assert (snapshot["data"], snapshot["files"], snapshot["processes"]) == (None, [], [])

    run(body)


def test_since_within_history_replays_exactly_the_missed_events(srv: ServerThread) -> None:
    """After a reconnect, `since` gets recovered true and the missed events, in order."""

    async def body(s: aiohttp.ClientSession) -> None:
        async with connect(s, srv.ws_url) as ws:
            reply, _ = await subscribe(ws, "p")
            await asyncio.to_thread(srv.emit_many, "p", 5)
            seen = [await recv_json(ws) for _ in range(5)]
        missed = await asyncio.to_thread(srv.emit_many, "p", 12)
        async with connect(s, srv.ws_url) as ws:
            reply, replay = await subscribe(ws, "p", (reply["epoch"], seen[-1]["offset"]))
            assert reply["recovered"] is True and reply["offset"] == 17
            assert replay == missed
            assert [m["offset"] for m in replay] == list(range(6, 18))
            upload(srv, "p", "live.png")
            assert (await recv_json(ws))["offset"] == 18  # then the live stream continues

    run(body)


def test_since_at_the_top_recovers_nothing_missing(srv: ServerThread) -> None:
    srv.emit_many("p", 3)
    epoch, top = srv.position("p")

    async def body(s: aiohttp.ClientSession) -> None:
        async with connect(s, srv.ws_url) as ws:
            reply, replay = await subscribe(ws, "p", (epoch, top))
            assert reply["recovered"] is True and replay == []
            assert await fence(ws) == []

    run(body)


@pytest.mark.parametrize(
    "lose",
    [
        pytest.param(lambda srv: srv.new_epoch("p"), id="epoch-changed"),
        pytest.param(lambda srv: srv.new_epoch(), id="all-epochs-changed"),
        pytest.param(lambda srv: srv.trim_history("p", keep=2), id="history-too-short"),
    ],
)
def test_lost_history_answers_with_a_snapshot(
    srv: ServerThread, lose: Callable[[ServerThread], None]
) -> None:
    """When the events after `since` are gone: recovered false and a snapshot of the state."""
    srv.emit_many("p", 5)
    epoch, top = srv.position("p")
    srv.emit_many("p", 5)
    lose(srv)

    async def body(s: aiohttp.ClientSession) -> None:
        async with connect(s, srv.ws_url) as ws:
            reply, (snapshot,) = await subscribe(ws, "p", (epoch, top))
            assert reply["recovered"] is False and snapshot["type"] == "project.snapshot"
            assert snapshot["offset"] == 10 == reply["offset"]
            assert snapshot_as_state(snapshot) == srv.project_state("p")

    run(body)


@pytest.mark.parametrize(
    "since",
    [
        {"epoch": "EPOCH", "offset": 99},
        {"epoch": "EPOCH", "offset": -1},
        {"epoch": "EPOCH", "offset": "1"},
        {"epoch": "EPOCH", "offset": True},
        {"offset": 1},
        "EPOCH:1",
    ],
)
def test_impossible_or_malformed_since_gets_a_snapshot(srv: ServerThread, since: Any) -> None:
    srv.emit_many("p", 3)
    epoch, _ = srv.position("p")
    if isinstance(since, dict) and "epoch" in since:
        since = {**since, "epoch": epoch}

    async def body(s: aiohttp.ClientSession) -> None:
        async with connect(s, srv.ws_url) as ws:
            await send_json(ws, {"type": "subscribe", "project_id": "p", "since": since})
            reply = await recv_json(ws)
            assert reply["type"] == "subscribed" and reply["recovered"] is False
            assert (await recv_json(ws))["type"] == "project.snapshot"

    run(body)


def test_new_epoch_keeps_state_and_can_restart_offsets(srv: ServerThread) -> None:
    srv.emit_many("p", 6)
    state = srv.project_state("p")
    epoch, _ = srv.position("p")
    srv.new_epoch("p")
    new, top = srv.position("p")
    assert new != epoch and top == 6 and srv.project_state("p") == state
    assert srv.history("p") == []
    srv.new_epoch("p", reset_offset=True)
    assert srv.position("p")[1] == 0
    assert upload(srv, "p", "x.png")["offset"] == 1


def test_repeated_subscribe_on_one_connection_fills_a_gap(srv: ServerThread) -> None:
    """A client that saw a gap resubscribes on the same connection and gets the replay."""

    async def body(s: aiohttp.ClientSession) -> None:
        async with connect(s, srv.ws_url) as ws:
            reply, _ = await subscribe(ws, "p")
            events = await asyncio.to_thread(srv.emit_many, "p", 6)
            assert [await recv_json(ws) for _ in events] == events
            # Pretend offsets 3..6 were lost on the way.
            again, replay = await subscribe(ws, "p", (reply["epoch"], 2))
            assert again["recovered"] is True and replay == events[2:]
            assert srv.connections()[0].subscriptions == ("p",)
            # Without `since` it is answered with a snapshot, also on the same connection.
            again, (snapshot,) = await subscribe(ws, "p")
            assert again["recovered"] is False and snapshot["offset"] == 6

    run(body)


def test_state_follows_the_events(srv: ServerThread) -> None:
    """data, files by path, processes running -> completed; project.deleted clears them."""
    srv.emit("p", "project.created", data={"name": "P"})
    upload(srv, "p", "a.png")
    upload(srv, "p", "b.png")
    srv.emit("p", "file.deleted", file={"path": "/p/a.png", "name": "a.png"})
    srv.emit("p", "process.started", process_id="j", progress=0.0, message="start")
    srv.emit("p", "process.progress", process_id="j", progress=0.5)
    assert srv.project_state("p") == {
        "data": {"name": "P"},
        "files": {
            "/p/b.png": {"name": "b.png", "path": "/p/b.png", "size": 1, "asset_type": "image"}
        },
        "processes": {"j": {"status": "running", "progress": 0.5, "message": "start"}},
    }
    srv.emit("p", "process.completed", process_id="j", progress=1.0, message="done")
    assert srv.project_state("p")["processes"]["j"]["status"] == "completed"
    srv.emit("p", "project.deleted", data={})
    assert srv.project_state("p") == {"data": None, "files": {}, "processes": {}}


@pytest.mark.parametrize(
    ("type_", "fields"),
    [
        ("chat.message", {}),
        ("project.snapshot", {}),
        ("project.updated", {"data": "x"}),
        ("file.uploaded", {"file": {"name": "x"}}),
        ("process.progress", {"progress": 0.5}),
        ("file.uploaded", {"offset": 3, "file": {"path": "/x"}}),
    ],
)
def test_emit_rejects_what_the_state_cannot_apply(
    srv: ServerThread, type_: str, fields: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        srv.emit("p", type_, **fields)
    assert srv.position("p")[1] == 0


# ---------------------------------------------------------------------------- history bounds


def test_history_is_bounded_by_size_and_age() -> None:
    """At most history_size events, none older than history_age (the clock is injected)."""
    clock = SkewClock()
    with ServerThread(history_size=5, history_age=60.0, clock=clock) as srv:
        srv.emit_many("p", 8)
        assert [m["offset"] for m in srv.history("p")] == [4, 5, 6, 7, 8]
        clock.advance(30)
        srv.emit_many("p", 2)
        clock.advance(31)  # offsets 4..8 are now 61 s old, 9 and 10 are 31 s old
        assert [m["offset"] for m in srv.history("p")] == [9, 10]
        epoch, _ = srv.position("p")

        async def body(s: aiohttp.ClientSession) -> None:
            async with connect(s, srv.ws_url) as ws:
                reply, _ = await subscribe(ws, "p", (epoch, 7))
                assert reply["recovered"] is False
                reply, replay = await subscribe(ws, "p", (epoch, 8))
                assert reply["recovered"] is True and [m["offset"] for m in replay] == [9, 10]
                clock.advance(30)
                reply, _ = await subscribe(ws, "p", (epoch, 8))
                assert reply["recovered"] is False

        run(body)


def test_dedup_window_may_not_be_shorter_than_the_history() -> None:
    with pytest.raises(ValueError):
        ServerThread(history_age=180.0, dedup_window=60.0)


# ---------------------------------------------------------------------------- acks


def test_request_is_acked_and_applied_once(srv: ServerThread) -> None:
    """A repeated id, on the same or a new connection, gets the same ack and is not re-applied."""
    request = {"type": "project.rename", "id": "r-1", "name": "New"}

    async def body(s: aiohttp.ClientSession) -> None:
        async with connect(s, srv.ws_url) as ws:
            await send_json(ws, request)
            ack = await recv_type(ws, "ack")
            assert ack["id"] == "r-1" and ack["ok"] is True
            assert ack["data"] == {"type": "project.rename"}
            await send_json(ws, request)
            assert {k: v for k, v in (await recv_type(ws, "ack")).items() if k != "timestamp"} == {
                k: v for k, v in ack.items() if k != "timestamp"
            }
        async with connect(s, srv.ws_url) as ws:
            await send_json(ws, request)
            again = await recv_type(ws, "ack")
            assert (again["id"], again["ok"]) == ("r-1", True)

    run(body)
    (applied,) = srv.applied()
    assert (applied.id, applied.message) == ("r-1", request)
    assert [a.repeat for a in srv.acks_sent()] == [False, True, True]


def test_rejected_ids_are_remembered(srv: ServerThread) -> None:
    srv.ack_policy(lambda msg: "forbidden" if msg.get("type") == "project.delete" else None)

    async def body(s: aiohttp.ClientSession) -> None:
        async with connect(s, srv.ws_url) as ws:
            await send_json(ws, {"type": "project.delete", "id": "d-1"})
            ack = await recv_type(ws, "ack")
            assert (ack["ok"], ack["error"]) == (False, "forbidden") and "data" not in ack
            await asyncio.to_thread(srv.ack_policy, None)  # would accept it now
            await send_json(ws, {"type": "project.delete", "id": "d-1"})
            again = await recv_type(ws, "ack")
            assert (again["id"], again["ok"], again["error"]) == ("d-1", False, "forbidden")

    run(body)
    assert srv.applied() == []


def test_hold_never_acks_until_the_policy_changes(srv: ServerThread) -> None:
    srv.ack_policy(lambda msg: HOLD)

    async def body(s: aiohttp.ClientSession) -> None:
        async with connect(s, srv.ws_url) as ws:
            await send_json(ws, {"type": "slow", "id": "h-1"})
            await send_json(ws, {"type": "slow", "id": "h-1"})
            assert await fence(ws) == []  # answers come in order: none before the pong
            assert srv.applied() == []
            await asyncio.to_thread(srv.ack_policy, None)
            await send_json(ws, {"type": "slow", "id": "h-1"})
            assert (await recv_type(ws, "ack"))["ok"] is True

    run(body)
    assert [a.id for a in srv.applied()] == ["h-1"]


def test_a_failing_policy_rejects_with_its_error(srv: ServerThread) -> None:
    srv.ack_policy(lambda msg: 1 / 0)  # type: ignore[arg-type,return-value]

    async def body(s: aiohttp.ClientSession) -> None:
        async with connect(s, srv.ws_url) as ws:
            await send_json(ws, {"type": "x", "id": "e-1"})
            ack = await recv_type(ws, "ack")
            assert ack["ok"] is False and "ZeroDivisionError" in ack["error"]

    run(body)


def test_only_requests_with_a_string_id_are_acked(srv: ServerThread) -> None:
    """No id, a non-string id, and subscribe/unsubscribe/ping with ids: no ack."""

    async def body(s: aiohttp.ClientSession) -> None:
        async with connect(s, srv.ws_url) as ws:
            await send_json(ws, {"type": "note"})
            await send_json(ws, {"type": "note", "id": 7})
            await send_json(ws, {"type": "unsubscribe", "project_id": "p", "id": "u"})
            await send_json(ws, {"type": "ping", "id": "q"})
            assert (await recv_json(ws))["type"] == "pong"
            assert await fence(ws) == []

    run(body)
    assert srv.applied() == [] and srv.acks_sent() == []


def test_dedup_window_expires(srv: ServerThread, clock: SkewClock) -> None:
    """An id older than the dedup window (default 180 s) counts as new again."""

    async def body(s: aiohttp.ClientSession) -> None:
        async with connect(s, srv.ws_url) as ws:
            await send_json(ws, {"type": "x", "id": "w-1"})
            await recv_type(ws, "ack")
            clock.advance(179)
            await send_json(ws, {"type": "x", "id": "w-1"})
            await recv_type(ws, "ack")
            assert len(srv.applied()) == 1
            clock.advance(2)
            await send_json(ws, {"type": "x", "id": "w-1"})
            await recv_type(ws, "ack")
            assert len(srv.applied()) == 2

    run(body)


# ---------------------------------------------------------------------------- v1 and reset


def assert_speaks_v1(srv: ServerThread) -> None:
    async def body(s: aiohttp.ClientSession) -> None:
        async with s.ws_connect(srv.ws_url) as ws:
            await send_json(ws, {"type": "ping", "id": 0})
            assert (await recv_json(ws))["type"] == "pong"  # no hello first
            await send_json(ws, {"type": "subscribe", "project_id": "p"})
            await send_json(ws, {"type": "note", "id": "n-1"})
            assert await fence(ws) == []  # no subscribed, no snapshot, no ack
            event = await asyncio.to_thread(upload, srv, "p", "a.png")
            got = await recv_json(ws)
            assert "offset" not in got and got == {k: v for k, v in event.items() if k != "offset"}

    run(body)
    assert srv.applied() == []


def test_v1_server_sends_no_v2_frames() -> None:
    with ServerThread(v1=True) as srv:
        assert_speaks_v1(srv)
        srv.reset()
        assert srv.snapshot().modes["protocol"] == 1  # reset keeps the constructor's choice


def test_set_v1_applies_to_new_connections(srv: ServerThread) -> None:
    async def body(s: aiohttp.ClientSession) -> None:
        async with connect(s, srv.ws_url) as v2:
            await subscribe(v2, "p")
            await asyncio.to_thread(srv.set_v1, True)
            async with s.ws_connect(srv.ws_url) as v1:
                await send_json(v1, {"type": "subscribe", "project_id": "p"})
                await fence(v1)
                await asyncio.to_thread(upload, srv, "p", "a.png")
                assert "offset" in await recv_json(v2)
                assert "offset" not in await recv_json(v1)
        assert [c.protocol for c in srv.connections()] == [2, 1]

    run(body)


def test_reset_forgets_streams_and_acks_and_restores_v2(srv: ServerThread) -> None:
    srv.set_v1(True)
    srv.emit_many("p", 3)
    srv.ack_policy(lambda msg: HOLD)
    srv.reset()
    assert srv.position("p")[1] == 0 and srv.history("p") == []
    assert srv.snapshot().modes["protocol"] == 2

    async def body(s: aiohttp.ClientSession) -> None:
        async with connect(s, srv.ws_url) as ws:  # v2 again: hello first
            await send_json(ws, {"type": "x", "id": "a"})
            assert (await recv_type(ws, "ack"))["ok"] is True  # the policy is gone

    run(body)


@pytest.mark.parametrize(("flags", "first"), [([], "hello"), (["--v1"], "pong")])
def test_cli_v1_switch(static_root: Path, flags: list[str], first: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "--port", "0", "--root", str(static_root), *flags],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().split(" at ", 1)[1]

        async def body(s: aiohttp.ClientSession) -> None:
            async with s.ws_connect(url + "ws") as ws:
                await send_json(ws, {"type": "ping"})
                assert (await recv_json(ws))["type"] == first

        run(body)
    finally:
        proc.terminate()
        assert proc.wait(5) == 0
