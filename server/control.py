"""HTTP control API under /_control/ so another process (benchmark, e2e harness) can drive it.

JSON in, JSON out. Errors in the request body answer 400 with {"error": ...}.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .core import MockServer, WaitTimeout
from .records import Snapshot

PREFIX = "/_control"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_Handler = Callable[[MockServer, dict[str, Any]], Awaitable[dict[str, Any]]]


def _opt_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None or value == "all":
        return None
    return int(value)


def _opt_float(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    return None if value is None else float(value)


async def _connections(s: MockServer, body: dict[str, Any]) -> dict[str, Any]:
    return s.snapshot().to_json()


async def _status(s: MockServer, body: dict[str, Any]) -> dict[str, Any]:
    snap = s.snapshot()
    return {
        "modes": snap.modes,
        "open": len(snap.open_connections),
        "opened": len(snap.connections),
        "attempts": len(snap.attempts),
    }


async def _drop(s: MockServer, body: dict[str, Any]) -> dict[str, Any]:
    return {"dropped": s.drop()}


async def _close(s: MockServer, body: dict[str, Any]) -> dict[str, Any]:
    code = int(body.get("code", 1000))
    return {"closed": await s.close(code, str(body.get("reason", "")))}


async def _silence(s: MockServer, body: dict[str, Any]) -> dict[str, Any]:
    return {"affected": s.silence(bool(body.get("on", True)))}


async def _refuse(s: MockServer, body: dict[str, Any]) -> dict[str, Any]:
    mode = str(body.get("mode", "503"))
    if mode not in ("503", "abort"):
        raise ValueError("mode must be '503' or 'abort'")
    s.refuse(
        on=bool(body.get("on", True)),
        seconds=_opt_float(body, "seconds"),
        count=_opt_int(body, "count"),
        mode="abort" if mode == "abort" else "503",
    )
    return {"modes": s.modes()}


async def _flap(s: MockServer, body: dict[str, Any]) -> dict[str, Any]:
    code = body.get("code", 1001)
    s.flap(
        on=bool(body.get("on", True)),
        code=None if code is None else int(code),
        reason=str(body.get("reason", "flap")),
        count=_opt_int(body, "count"),
    )
    return {"modes": s.modes()}


async def _send(s: MockServer, body: dict[str, Any]) -> dict[str, Any]:
    binary: bytes | None = None
    if body.get("binary") is not None:
        try:
            binary = base64.b64decode(str(body["binary"]), validate=True)
        except binascii.Error as exc:
            raise ValueError(f"binary must be base64: {exc}") from None
    sent = await s.send(
        text=body.get("text"),
        binary=binary,
        size=_opt_int(body, "size"),
        as_binary=bool(body.get("as_binary", False)),
        repeat=int(body.get("repeat", 1)),
        connection=_opt_int(body, "connection"),
        payload_type=str(body.get("payload_type", "test.large")),
    )
    return {"sent": sent}


async def _burst(s: MockServer, body: dict[str, Any]) -> dict[str, Any]:
    frames = body.get("frames")
    if frames is None:
        frames = [str(body["text"])]
    if not isinstance(frames, list) or not all(isinstance(f, str) for f in frames):
        raise ValueError("frames must be a list of strings")
    sent = await s.burst(
        frames, connection=_opt_int(body, "connection"), count=int(body.get("count", 1))
    )
    return {"sent": sent}


async def _flood(s: MockServer, body: dict[str, Any]) -> dict[str, Any]:
    sent = await s.flood(
        str(body["text"]),
        int(body["count"]),
        rate=_opt_float(body, "rate"),
        connection=_opt_int(body, "connection"),
    )
    return {"sent": sent}


async def _reset(s: MockServer, body: dict[str, Any]) -> dict[str, Any]:
    s.reset()
    return {"ok": True}


async def _demo(s: MockServer, body: dict[str, Any]) -> dict[str, Any]:
    s.set_demo(bool(body.get("on", True)))
    return {"modes": s.modes()}


async def _heartbeat(s: MockServer, body: dict[str, Any]) -> dict[str, Any]:
    s.set_heartbeat(float(body["seconds"]))
    return {"modes": s.modes()}


async def _wait(s: MockServer, body: dict[str, Any]) -> dict[str, Any]:
    """Wait until at least `opened` connections were opened / `open` are open / `attempts`
    attempts were made / a received frame contains `frame_contains`."""
    opened = _opt_int(body, "opened")
    open_ = _opt_int(body, "open")
    attempts = _opt_int(body, "attempts")
    needle = body.get("frame_contains")

    def pred(snap: Snapshot) -> bool:
        if opened is not None and len(snap.connections) < opened:
            return False
        if open_ is not None and len(snap.open_connections) < open_:
            return False
        if attempts is not None and len(snap.attempts) < attempts:
            return False
        if needle is not None:
            return any(needle in f.text for c in snap.connections for f in c.frames)
        return True

    snap = await s.wait_for(pred, timeout=float(body.get("timeout", 5.0)))
    return snap.to_json()


ROUTES: dict[str, _Handler] = {
    "connections": _connections,
    "status": _status,
    "drop": _drop,
    "close": _close,
    "silence": _silence,
    "refuse": _refuse,
    "flap": _flap,
    "send": _send,
    "burst": _burst,
    "flood": _flood,
    "reset": _reset,
    "demo": _demo,
    "heartbeat": _heartbeat,
    "wait": _wait,
}


def add_control_routes(app: web.Application, server: MockServer) -> None:
    def wrap(fn: _Handler) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            body: dict[str, Any] = {}
            if request.can_read_body:
                try:
                    parsed = await request.json()
                except ValueError:
                    return web.json_response({"error": "body must be JSON"}, status=400)
                if not isinstance(parsed, dict):
                    return web.json_response({"error": "body must be an object"}, status=400)
                body = parsed
            try:
                return web.json_response(await fn(server, body))
            except WaitTimeout as exc:
                data = {"error": str(exc), "snapshot": exc.snapshot.to_json()}
                return web.json_response(data, status=408)
            except (KeyError, TypeError, ValueError) as exc:
                return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=400)

        return handler

    for name, fn in ROUTES.items():
        handler = wrap(fn)
        app.router.add_post(f"{PREFIX}/{name}", handler)
        if name in ("connections", "status"):
            app.router.add_get(f"{PREFIX}/{name}", handler)
