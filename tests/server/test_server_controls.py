"""Fault-injection controls: each does what it says, seen from a real client socket."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time

import aiohttp
import pytest

from server import ServerThread
from tests.server.wsutil import connect, nothing_for, recv_json, recv_type, send_json


def test_drop_aborts_without_close_frame(srv: ServerThread) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as s, connect(s, srv.ws_url) as ws:
            await asyncio.to_thread(srv.wait_for_open, 1)
            assert await asyncio.to_thread(srv.drop) == 1
            msg = await ws.receive(timeout=2)
            # A close frame would surface as CLOSE with the server's code; an abort does not.
            assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR), msg
            assert ws.close_code == 1006

    asyncio.run(main())
    (c,) = srv.connections()
    assert c.closed_by == "drop" and c.close_code == 1006 and not c.open


def test_close_sends_code_and_reason(srv: ServerThread) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as s, connect(s, srv.ws_url) as ws:
            await asyncio.to_thread(srv.wait_for_open, 1)
            assert await asyncio.to_thread(srv.close, 4401, "unauthorized") == 1
            msg = await ws.receive(timeout=2)
            assert msg.type == aiohttp.WSMsgType.CLOSE
            assert (msg.data, msg.extra) == (4401, "unauthorized")

    asyncio.run(main())
    (c,) = srv.connections()
    assert (c.closed_by, c.close_code, c.close_reason) == ("server", 4401, "unauthorized")


def test_close_rejects_overlong_reason_and_reserved_codes(srv: ServerThread) -> None:
    with pytest.raises(ValueError):
        srv.close(1000, "x" * 124)
    for code in (999, 1005, 1006, 1015, 2000, 5000):
        with pytest.raises(ValueError):
            srv.close(code)
    with pytest.raises(ValueError):
        srv.flap(True, code=1006)


def test_client_close_is_recorded(srv: ServerThread) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(srv.ws_url)
            await ws.close(code=1000, message=b"bye")

    asyncio.run(main())
    snap = srv.wait_for(lambda s: bool(s.connections) and not s.connections[0].open)
    assert snap.connections[0].closed_by == "client"
    assert snap.connections[0].close_code == 1000


def test_silence_stops_everything_but_keeps_tcp_open(srv: ServerThread) -> None:
    srv.set_heartbeat(0.1)

    async def main() -> None:
        async with aiohttp.ClientSession() as s, connect(s, srv.ws_url) as ws:
            await recv_type(ws, "system.heartbeat")
            await asyncio.to_thread(srv.silence, True)
            await send_json(ws, {"type": "ping", "id": "while-silent"})
            assert await asyncio.to_thread(srv.send, text='{"type":"x"}') == 0
            assert await nothing_for(ws, 0.5)  # no heartbeats, no pong, nothing sent
            assert not ws.closed
            # Reading is paused: the ping has not even been recorded.
            assert all("while-silent" not in f.text for f in srv.connections()[0].frames)

            # A connection made while silent is accepted but hears nothing.
            async with s.ws_connect(srv.ws_url) as ws2:
                await send_json(ws2, {"type": "ping", "id": 2})
                assert await nothing_for(ws2, 0.3)
                assert srv.snapshot().connections[1].silent

                await asyncio.to_thread(srv.silence, False)
                # The buffered ping is read now and answered; heartbeats resume.
                pong = await recv_type(ws, "pong")
                assert pong["id"] == "while-silent"
                await recv_type(ws, "system.heartbeat")
                assert (await recv_type(ws2, "pong"))["id"] == 2

    asyncio.run(main())


def test_refuse_for_seconds_rejects_and_records(srv: ServerThread) -> None:
    srv.refuse(seconds=0.4)

    async def main() -> None:
        async with aiohttp.ClientSession() as s:
            for _ in range(2):
                with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                    await s.ws_connect(srv.ws_url)
                assert info.value.status == 503
            await asyncio.sleep(0.45)
            async with connect(s, srv.ws_url) as ws:
                await send_json(ws, {"type": "ping"})
                await recv_json(ws)

    asyncio.run(main())
    snap = srv.snapshot()
    assert [a.outcome for a in snap.attempts] == ["refused", "refused", "accepted"]
    assert snap.attempts[0].connection_id is None
    assert snap.attempts[2].connection_id == snap.connections[0].id
    assert all(g >= 0 for g in snap.attempt_gaps())


def _raw_handshake(port: int) -> bytes:
    """Send a WebSocket upgrade on a raw socket; return what comes back before EOF/reset."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(request.encode())
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
                if b"\r\n\r\n" in data:
                    break
        except ConnectionResetError:
            pass
        return data


def test_refuse_count_and_abort_mode(srv: ServerThread) -> None:
    srv.refuse(count=2, mode="abort")
    # Raw sockets, because aiohttp's client silently retries a request whose connection dies.
    assert _raw_handshake(srv.port) == b""  # no HTTP response at all
    assert _raw_handshake(srv.port) == b""
    assert _raw_handshake(srv.port).startswith(b"HTTP/1.1 101")
    assert [a.outcome for a in srv.snapshot().attempts] == ["refused", "refused", "accepted"]


def test_refuse_until_turned_off(srv: ServerThread) -> None:
    srv.refuse(True)
    assert srv.snapshot().modes["refusing"]
    srv.refuse(False)
    assert not srv.snapshot().modes["refusing"]


def test_flap_accepts_then_closes(srv: ServerThread) -> None:
    srv.flap(True, code=1012, reason="restart")

    async def main() -> None:
        async with aiohttp.ClientSession() as s:
            for _ in range(3):
                async with s.ws_connect(srv.ws_url) as ws:  # the handshake succeeds
                    msg = await ws.receive(timeout=2)
                    assert msg.type == aiohttp.WSMsgType.CLOSE
                    assert (msg.data, msg.extra) == (1012, "restart")
            await asyncio.to_thread(srv.flap, True, None)  # abort flavour
            async with s.ws_connect(srv.ws_url) as ws:
                msg = await ws.receive(timeout=2)
                assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
            await asyncio.to_thread(srv.flap, False)
            async with connect(s, srv.ws_url) as ws:
                assert await nothing_for(ws, 0.2)

    asyncio.run(main())
    snap = srv.snapshot()
    assert [a.outcome for a in snap.attempts] == ["flapped"] * 4 + ["accepted"]
    assert [c.closed_by for c in snap.connections[:4]] == ["flap"] * 4
    assert snap.connections[3].close_code == 1006


def test_flap_count_limits_it(srv: ServerThread) -> None:
    srv.flap(count=1)

    async def main() -> None:
        async with aiohttp.ClientSession() as s:
            for _ in range(2):
                async with s.ws_connect(srv.ws_url):
                    pass

    asyncio.run(main())
    assert [a.outcome for a in srv.snapshot().attempts] == ["flapped", "accepted"]


def test_send_text_binary_and_5mb(srv: ServerThread) -> None:
    five_mb = 5 * 1024 * 1024

    async def main() -> None:
        async with aiohttp.ClientSession() as s, connect(s, srv.ws_url, max_msg_size=0) as ws:
            await asyncio.to_thread(srv.wait_for_open, 1)
            assert await asyncio.to_thread(srv.send, text="not even json") == 1
            assert (await ws.receive(timeout=2)).data == "not even json"

            assert await asyncio.to_thread(srv.send, binary=b"\x00\x01") == 1
            msg = await ws.receive(timeout=2)
            assert msg.type == aiohttp.WSMsgType.BINARY and msg.data == b"\x00\x01"

            assert await asyncio.to_thread(srv.send, size=five_mb) == 1
            msg = await ws.receive(timeout=5)
            assert msg.type == aiohttp.WSMsgType.TEXT and len(msg.data.encode()) == five_mb
            assert json.loads(msg.data)["type"] == "test.large"

            assert await asyncio.to_thread(srv.send, size=five_mb, as_binary=True) == 1
            msg = await ws.receive(timeout=5)
            assert msg.type == aiohttp.WSMsgType.BINARY and len(msg.data) == five_mb

            assert await asyncio.to_thread(srv.send, text="r", repeat=3) == 3
            assert [(await ws.receive(timeout=2)).data for _ in range(3)] == ["r"] * 3

    asyncio.run(main())
    assert srv.connections()[0].sent == 8  # hello + 7


def test_send_to_one_connection(srv: ServerThread) -> None:
    async def main() -> None:
        async with (
            aiohttp.ClientSession() as s,
            connect(s, srv.ws_url) as a,
            connect(s, srv.ws_url) as b,
        ):
            snap = await asyncio.to_thread(srv.wait_for_open, 2)
            target = snap.connections[1].id
            assert await asyncio.to_thread(srv.send, text="only b", connection=target) == 1
            assert (await b.receive(timeout=2)).data == "only b"
            assert await nothing_for(a, 0.2)

    asyncio.run(main())


def test_burst_saturates_and_arrives_in_order(srv: ServerThread) -> None:
    n = 100_000
    frame = json.dumps({"type": "bench", "timestamp": "2026-01-01T00:00:00Z", "seq": 0})

    async def main() -> None:
        async with aiohttp.ClientSession() as s, connect(s, srv.ws_url) as ws:
            await asyncio.to_thread(srv.wait_for_open, 1)
            t0 = time.perf_counter()
            sender = asyncio.create_task(asyncio.to_thread(srv.flood, frame, n))

            async def read_all() -> int:
                ok = 0
                for _ in range(n):
                    # No per-frame timeout: async_timeout would dominate the client's cost.
                    ok += (await ws.receive()).data == frame
                return ok

            assert await asyncio.wait_for(read_all(), 20) == n
            rate = n / (time.perf_counter() - t0)
            assert await sender == n
            assert rate > 50_000, f"only {rate:.0f} frames/s"
            # A mixed list keeps its order, repeated.
            sent = await asyncio.to_thread(srv.burst, ["a", b"b", "c"], None, 2)
            assert sent == 6
            got = [(await ws.receive(timeout=2)).data for _ in range(6)]
            assert got == ["a", b"b", "c", "a", b"b", "c"]

    asyncio.run(main())


def test_flood_paced_rate(srv: ServerThread) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as s, connect(s, srv.ws_url) as ws:
            await asyncio.to_thread(srv.wait_for_open, 1)
            t0 = time.perf_counter()
            sent = await asyncio.to_thread(srv.flood, '{"type":"tick"}', 600, 2000)
            elapsed = time.perf_counter() - t0
            assert sent == 600
            assert 0.25 < elapsed < 0.6, elapsed
            for _ in range(600):
                await ws.receive(timeout=2)

    asyncio.run(main())


def test_reset_clears_everything(srv: ServerThread) -> None:
    srv.set_demo(True)
    srv.set_heartbeat(0.5)
    srv.flap(True)

    async def main() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(srv.ws_url) as ws:
                await ws.receive(timeout=2)
            await asyncio.to_thread(srv.flap, False)
            await asyncio.to_thread(srv.silence, True)
            ws = await s.ws_connect(srv.ws_url)
            await asyncio.to_thread(srv.reset)
            msg = await ws.receive(timeout=2)  # reset aborts open connections
            assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)

    asyncio.run(main())
    snap = srv.snapshot()
    assert snap.connections == () and snap.attempts == ()
    assert snap.modes["demo"] is False and snap.modes["heartbeat"] == 3.0
    assert not snap.modes["silent"] and not snap.modes["flap"] and not snap.modes["refusing"]
