"""Static files, the /_control/ HTTP API, and the `python -m server` command line."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server import ServerThread
from server.testing import recv_json, send_json

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def static_srv(static_root: Path) -> Iterator[ServerThread]:
    with ServerThread(root=static_root, control=False) as srv:
        yield srv


@pytest.mark.parametrize(
    ("path", "ctype"),
    [
        ("", "text/html"),
        ("index.html", "text/html"),
        ("app.mjs", "text/javascript"),
        ("mod.wasm", "application/wasm"),
        ("pyscript.toml", "application/toml"),
        ("pkg.zip", "application/zip"),
        ("data.json", "application/json"),
        ("node_modules/lib/index.js", "text/javascript"),
        ("sub/", "text/html"),
    ],
)
def test_static_content_types(static_srv: ServerThread, path: str, ctype: str) -> None:
    with urllib.request.urlopen(static_srv.url + path) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].split(";")[0] == ctype


@pytest.mark.parametrize(
    "path",
    [".secret", "empty/", "missing.js", "link.txt", "%2e%2e/etc/passwd", "_control/status"],
)
def test_static_hidden_and_missing_are_404(static_srv: ServerThread, path: str) -> None:
    # empty/ has no index.html: no listing. link.txt points outside the root. Control is off.
    async def main() -> int:
        async with aiohttp.ClientSession() as s, s.get(static_srv.url + path) as r:
            return r.status

    assert asyncio.run(main()) == 404


def test_static_dir_without_slash_redirects(static_srv: ServerThread) -> None:
    async def main() -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as s,
            s.get(static_srv.url + "sub", allow_redirects=False) as r,
        ):
            return r.status, r.headers["Location"]

    assert asyncio.run(main()) == (301, "/sub/")


def test_static_large_file(static_srv: ServerThread) -> None:
    with urllib.request.urlopen(static_srv.url + "big.bin") as r:
        assert r.headers["Content-Type"] == "application/octet-stream"
        assert len(r.read()) == 15 * 1024 * 1024


def _post(srv: ServerThread, name: str, body: dict[str, Any] | None = None) -> Any:
    req = urllib.request.Request(
        f"{srv.url}_control/{name}",
        data=json.dumps(body or {}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_http_control_api(srv: ServerThread) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(srv.ws_url) as ws:
            await send_json(ws, {"type": "subscribe", "project_id": "p9"})
            snap = await asyncio.to_thread(_post, srv, "wait", {"frame_contains": "p9"})
            (conn,) = snap["connections"]
            assert conn["subscriptions"] == ["p9"] and conn["frames"][0]["kind"] == "text"

            sent = await asyncio.to_thread(_post, srv, "send", {"text": '{"type":"t"}'})
            assert sent == {"sent": 1}
            assert (await recv_json(ws))["type"] == "t"
            b64 = base64.b64encode(b"\x01\x02\x03").decode()
            await asyncio.to_thread(_post, srv, "send", {"binary": b64})
            assert (await ws.receive(timeout=2)).data == b"\x01\x02\x03"

            burst = await asyncio.to_thread(_post, srv, "burst", {"frames": ["x", "y"], "count": 2})
            assert burst == {"sent": 4}
            assert [(await ws.receive(timeout=2)).data for _ in range(4)] == ["x", "y"] * 2
            flood = await asyncio.to_thread(_post, srv, "flood", {"text": "z", "count": 50})
            assert flood == {"sent": 50}
            for _ in range(50):
                await ws.receive(timeout=2)

            await asyncio.to_thread(_post, srv, "heartbeat", {"seconds": 0.1})
            assert (await recv_json(ws))["type"] == "system.heartbeat"
            await asyncio.to_thread(_post, srv, "heartbeat", {"seconds": 0})

            await asyncio.to_thread(_post, srv, "close", {"code": 4403, "reason": "forbidden"})
            msg = await ws.receive(timeout=2)
            assert (msg.data, msg.extra) == (4403, "forbidden")

    asyncio.run(main())

    status = _post(srv, "refuse", {"seconds": 5})
    assert status["modes"]["refusing"]
    assert _post(srv, "flap", {"on": True, "code": None})["modes"]["flap"]
    assert _post(srv, "silence", {"on": True}) == {"affected": 0}
    assert _post(srv, "demo", {"on": True})["modes"]["demo"]
    assert _post(srv, "drop") == {"dropped": 0}
    with urllib.request.urlopen(srv.url + "_control/status") as r:
        assert json.loads(r.read())["opened"] == 1
    assert _post(srv, "reset") == {"ok": True}
    with urllib.request.urlopen(srv.url + "_control/connections") as r:
        data = json.loads(r.read())
    assert data["connections"] == [] and data["attempts"] == []
    assert not data["modes"]["refusing"] and not data["modes"]["flap"]


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("send", b'{"text": "a", "size": 3}'),
        ("send", b'{"binary": "***"}'),
        ("refuse", b'{"mode": "teapot"}'),
        ("heartbeat", b"{}"),
        ("close", b"not json"),
        ("close", b'{"code": 1006}'),
        ("burst", b"[1]"),
    ],
)
def test_http_control_bad_input_is_400(srv: ServerThread, name: str, body: bytes) -> None:
    req = urllib.request.Request(f"{srv.url}_control/{name}", data=body, method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    assert info.value.code == 400


def test_http_wait_timeout_is_408(srv: ServerThread) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        _post(srv, "wait", {"opened": 1, "timeout": 0.1})
    assert info.value.code == 408


def test_cli_serves_page_and_ws(static_root: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "--port", "0", "--root", str(static_root), "--no-demo"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("Serving demo at http://127.0.0.1:"), line
        url = line.split(" at ", 1)[1]
        with urllib.request.urlopen(url) as r:
            assert b"root" in r.read()

        async def main() -> None:
            async with aiohttp.ClientSession() as s, s.ws_connect(url + "ws") as ws:
                await send_json(ws, {"type": "ping", "id": 1})
                assert (await recv_json(ws))["type"] == "pong"

        asyncio.run(main())
    finally:
        proc.terminate()
        assert proc.wait(5) == 0
