"""Static files and the `python -m server` command line."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from server import ServerThread
from tests.server.wsutil import connect, recv_json, send_json

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def static_srv(static_root: Path) -> Iterator[ServerThread]:
    with ServerThread(root=static_root) as srv:
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
    [".secret", "empty/", "missing.js", "link.txt", "%2e%2e/etc/passwd"],
)
def test_static_hidden_and_missing_are_404(static_srv: ServerThread, path: str) -> None:
    # empty/ has no index.html: no listing. link.txt points outside the root.
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
            async with aiohttp.ClientSession() as s, connect(s, url + "ws") as ws:
                await send_json(ws, {"type": "ping", "id": 1})
                assert (await recv_json(ws))["type"] == "pong"

        asyncio.run(main())
    finally:
        proc.terminate()
        assert proc.wait(5) == 0
