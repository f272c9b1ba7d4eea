"""Async aiohttp-client helpers for tests that talk to the mock server's /ws endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp


@contextlib.asynccontextmanager
async def connect(
    session: aiohttp.ClientSession, url: str, **kwargs: Any
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A v2 connection whose `hello` (checked to be the first frame) is already read."""
    async with session.ws_connect(url, **kwargs) as ws:
        hello = await recv_json(ws)
        assert hello["type"] == "hello" and hello["protocol"] == 2, hello
        yield ws


async def recv_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = 2.0) -> dict[str, Any]:
    msg = await ws.receive(timeout=timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    value = json.loads(msg.data)
    assert isinstance(value, dict)
    return value


async def recv_type(
    ws: aiohttp.ClientWebSocketResponse, type_: str, timeout: float = 2.0
) -> dict[str, Any]:
    """Skip frames until one of `type_` arrives."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {type_} within {timeout}s")
        msg = await recv_json(ws, left)
        if msg.get("type") == type_:
            return msg


async def collect(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[dict[str, Any]]:
    """All JSON text frames received during `seconds`."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            break
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        out.append(json.loads(msg.data))
    return out


async def send_json(ws: aiohttp.ClientWebSocketResponse, obj: dict[str, Any]) -> None:
    await ws.send_str(json.dumps(obj))


async def nothing_for(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> bool:
    """True if no frame at all arrives within `seconds`."""
    try:
        await asyncio.wait_for(ws.receive(), seconds)
    except TimeoutError:
        return True
    return False


async def subscribe(
    ws: aiohttp.ClientWebSocketResponse,
    project_id: str,
    since: tuple[str, int] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Subscribe (v2); returns `subscribed` and what follows it: the snapshot, or the replay."""
    msg: dict[str, Any] = {"type": "subscribe", "project_id": project_id}
    if since is not None:
        msg["since"] = {"epoch": since[0], "offset": since[1]}
    await send_json(ws, msg)
    reply = await recv_type(ws, "subscribed")
    if not reply["recovered"]:
        return reply, [await recv_json(ws)]
    assert since is not None
    return reply, [await recv_json(ws) for _ in range(reply["offset"] - since[1])]


async def fence(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    """Ping and return every frame before the pong: all the answers to what was sent before."""
    await send_json(ws, {"type": "ping", "id": "fence"})
    frames: list[dict[str, Any]] = []
    while (msg := await recv_json(ws))["type"] != "pong":
        if msg["type"] != "system.heartbeat":
            frames.append(msg)
    return frames


async def fetch_token(session: aiohttp.ClientSession, base_url: str) -> dict[str, Any]:
    """POST /auth/token and return its JSON (`token`, `expires_in`); asserts a 200."""
    async with session.post(base_url + "auth/token") as r:
        assert r.status == 200, (r.status, await r.text())
        body = await r.json()
    assert isinstance(body, dict)
    return body


async def authenticate(ws: aiohttp.ClientWebSocketResponse, token: str) -> dict[str, Any]:
    """Send the auth frame and return the `auth.ok` (asserting it is the next frame)."""
    await send_json(ws, {"type": "auth", "token": token})
    ok = await recv_json(ws)
    assert ok["type"] == "auth.ok", ok
    return ok


async def recv_close(ws: aiohttp.ClientWebSocketResponse, timeout: float = 2.0) -> tuple[int, str]:
    """Skip frames until the server's close frame; returns its (code, reason)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        msg = await ws.receive(timeout=left)
        if msg.type == aiohttp.WSMsgType.CLOSE:
            return msg.data, msg.extra
        assert msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY), msg
    raise TimeoutError(f"no close frame within {timeout}s")
