"""The wire protocol at /ws: ping/pong, heartbeats, subscriptions, demo events, recording."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import datetime
from typing import Any

import aiohttp

from server import ServerThread
from tests.server.wsutil import collect, connect, nothing_for, recv_json, recv_type, send_json


def _is_iso_utc(ts: Any) -> bool:
    return isinstance(ts, str) and ts.endswith("Z") and bool(datetime.fromisoformat(ts))


def test_ping_gets_pong_with_echoed_id(srv: ServerThread) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as s, connect(s, srv.ws_url) as ws:
            await send_json(ws, {"type": "ping", "id": "abc-1", "timestamp": 1})
            pong = await recv_json(ws)
            assert pong["type"] == "pong" and pong["id"] == "abc-1"
            assert _is_iso_utc(pong["timestamp"])
            await send_json(ws, {"type": "ping"})
            pong = await recv_json(ws)
            assert pong["type"] == "pong" and "id" not in pong

    asyncio.run(main())


def test_heartbeat_cadence_and_runtime_change(srv: ServerThread) -> None:
    srv.set_heartbeat(0.15)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as s, connect(s, srv.ws_url) as ws:
            times = []
            for _ in range(4):
                hb = await recv_type(ws, "system.heartbeat")
                assert _is_iso_utc(hb["timestamp"])
                times.append(loop.time())
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert all(0.08 < g < 0.3 for g in gaps), gaps
            await asyncio.to_thread(srv.set_heartbeat, 0)  # 0 disables
            assert await nothing_for(ws, 0.4)

    asyncio.run(main())


def test_default_heartbeat_is_three_seconds() -> None:
    # A fresh server, so the session one's runtime changes cannot leak in.
    with ServerThread() as fresh:
        assert fresh.snapshot().modes["heartbeat"] == 3.0


def test_subscriptions_tracked_per_connection(srv: ServerThread) -> None:
    async def main() -> None:
        async with (
            aiohttp.ClientSession() as s,
            connect(s, srv.ws_url) as a,
            connect(s, srv.ws_url) as b,
        ):
            for p in ("p1", "p2", "p1"):
                await send_json(a, {"type": "subscribe", "project_id": p})
            await send_json(b, {"type": "subscribe", "project_id": "p3"})
            await send_json(a, {"type": "unsubscribe", "project_id": "p2"})
            await send_json(a, {"type": "ping", "id": 1})
            await recv_type(a, "pong")  # everything before the ping has been handled
            await send_json(b, {"type": "ping", "id": 1})
            await recv_type(b, "pong")
            conns = srv.connections()
            assert conns[0].subscriptions == ("p1",)
            assert conns[1].subscriptions == ("p3",)

    asyncio.run(main())


def test_demo_events_only_for_subscribed_projects(srv: ServerThread) -> None:
    """~3 events/s per subscribed project, numbered +1 per project, only to its subscribers."""
    srv.set_demo(True)

    async def main() -> None:
        async with (
            aiohttp.ClientSession() as s,
            connect(s, srv.ws_url) as a,
            connect(s, srv.ws_url) as b,
            connect(s, srv.ws_url) as idle,
        ):
            await send_json(a, {"type": "subscribe", "project_id": "alpha"})
            await send_json(a, {"type": "subscribe", "project_id": "beta"})
            await send_json(b, {"type": "subscribe", "project_id": "gamma"})
            got_a, got_b, got_idle = await asyncio.gather(
                collect(a, 1.5), collect(b, 1.5), collect(idle, 1.0)
            )
            got_a, got_b = _events(got_a), _events(got_b)
            assert {m["project_id"] for m in got_a} == {"alpha", "beta"}
            assert {m["project_id"] for m in got_b} == {"gamma"}
            assert got_idle == []
            assert len(got_a) >= 6 and len(got_b) >= 3
            for m in got_a + got_b:
                _check_shape(m)
            for project in ("alpha", "beta"):
                offsets = [m["offset"] for m in got_a if m["project_id"] == project]
                assert offsets == list(range(1, len(offsets) + 1))
            # After unsubscribing, no more events for that project.
            await send_json(a, {"type": "unsubscribe", "project_id": "alpha"})
            await send_json(a, {"type": "ping", "id": "sync"})
            await recv_type(a, "pong")
            later = await collect(a, 0.8)
            assert later and {m["project_id"] for m in later} == {"beta"}

    asyncio.run(main())


def _events(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The project events among `frames` (no subscribe replies)."""
    return [m for m in frames if m["type"] not in ("subscribed", "project.snapshot")]


def _check_shape(m: dict[str, Any]) -> None:
    assert _is_iso_utc(m["timestamp"])
    kind = m["type"]
    if kind.startswith("project."):
        assert isinstance(m["data"], dict) and {"name", "status", "updated_by"} <= set(m["data"])
    elif kind.startswith("file."):
        f = m["file"]
        assert isinstance(f["name"], str) and isinstance(f["path"], str)
        assert isinstance(f["size"], int) and f["asset_type"] in {
            "image",
            "model",
            "document",
            "video",
            "audio",
        }
    elif kind.startswith("process."):
        assert isinstance(m["process_id"], str) and isinstance(m["message"], str)
        assert 0.0 <= m["progress"] <= 1.0
    else:
        raise AssertionError(f"unexpected demo type {kind}")


def test_demo_process_runs_to_completion() -> None:
    import random

    from server.demo import DemoProject

    proj = DemoProject("p", random.Random(1))
    seen: dict[str, list[dict[str, Any]]] = {}
    for _ in range(400):
        m = proj.next_event()
        if m["type"].startswith("process."):
            seen.setdefault(m["process_id"], []).append(m)
    finished = [evs for evs in seen.values() if evs[-1]["type"] == "process.completed"]
    assert finished
    for evs in finished:
        assert evs[0]["type"] == "process.started"
        progress = [e["progress"] for e in evs]
        assert progress == sorted(progress) and progress[-1] == 1.0
        assert all(e["type"] == "process.progress" for e in evs[1:-1])


def test_demo_off_sends_nothing(srv: ServerThread) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as s, connect(s, srv.ws_url) as ws:
            await send_json(ws, {"type": "subscribe", "project_id": "p"})
            assert (await recv_json(ws))["type"] == "subscribed"
            assert (await recv_json(ws))["type"] == "project.snapshot"
            assert await nothing_for(ws, 0.7)

    asyncio.run(main())


def test_frames_recorded_in_order_per_connection(srv: ServerThread) -> None:
    async def main() -> None:
        async with (
            aiohttp.ClientSession() as s,
            connect(s, srv.ws_url) as a,
            connect(s, srv.ws_url) as b,
        ):
            for i in range(20):
                await send_json(a, {"type": "app.msg", "seq": i})
            await b.send_bytes(b"\x00\x01\x02")
            await b.send_str("plain text")
            srv.wait_for(lambda snap: sum(len(c.frames) for c in snap.connections) >= 22)

    asyncio.run(main())
    a, b = srv.connections()
    assert [m["seq"] for m in a.messages()] == list(range(20))
    times = [f.t for f in a.frames]
    assert times == sorted(times)
    assert [f.text for f in b.frames] == ["<binary 3 bytes>", "plain text"]
    assert [f.kind for f in b.frames] == ["binary", "text"]
    assert a.id < b.id and a.opened_at <= b.opened_at


def test_bad_client_frames_are_recorded_and_harmless(srv: ServerThread) -> None:
    bad = [
        "not json",
        "[1, 2]",
        "42",
        '{"type": 5}',
        '{"type": "subscribe"}',
        '{"type": "subscribe", "project_id": {"x": 1}}',
        '{"no_type": true}',
        "\ud7ff" * 3,
        "",
    ]

    async def main() -> None:
        async with aiohttp.ClientSession() as s:
            async with connect(s, srv.ws_url) as ws:
                for text in bad:
                    await ws.send_str(text)
                await ws.send_bytes(b"\xff" * 1000)
                await send_json(ws, {"type": "ping", "id": [1, {"a": None}]})
                pong = await recv_json(ws)
                assert pong["id"] == [1, {"a": None}]
            # The server is still fine for new connections.
            async with connect(s, srv.ws_url) as ws2:
                await send_json(ws2, {"type": "ping", "id": 2})
                assert (await recv_json(ws2))["id"] == 2

    asyncio.run(main())
    first = srv.connections()[0]
    assert [f.text for f in first.frames[: len(bad)]] == bad
    assert first.frames[len(bad)].text == "<binary 1000 bytes>"
    assert first.subscriptions == ()


def test_wait_for_times_out_with_snapshot(srv: ServerThread) -> None:
    from server import WaitTimeout

    try:
        srv.wait_for_connections(1, timeout=0.1)
    except WaitTimeout as exc:
        assert exc.snapshot.connections == ()
    else:
        raise AssertionError("expected WaitTimeout")


def test_wait_for_frame_by_type(srv: ServerThread) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as s, connect(s, srv.ws_url) as ws:
            await send_json(ws, {"type": "hello", "n": 1})
            frame = await asyncio.to_thread(srv.wait_for_frame, "hello")
            assert json.loads(frame.text)["n"] == 1

    asyncio.run(main())
