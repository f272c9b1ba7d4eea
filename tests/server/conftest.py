"""Fixtures for the mock-server tests: one ServerThread per session, reset before every test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server import ServerThread


class SkewClock:
    """time.monotonic() plus a skew that tests advance: time passes without sleeping."""

    def __init__(self) -> None:
        self._skew = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return time.monotonic() + self._skew

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a monotonic clock never goes back")
        with self._lock:
            self._skew += seconds


@pytest.fixture(scope="session")
def clock() -> SkewClock:
    return SkewClock()


@pytest.fixture(scope="session")
def srv_session(
    tmp_path_factory: pytest.TempPathFactory, clock: SkewClock
) -> Iterator[ServerThread]:
    root = tmp_path_factory.mktemp("www")
    (root / "index.html").write_text("<!doctype html><title>t</title>")
    with ServerThread(root=root, demo=False, heartbeat=3.0, clock=clock) as srv:
        yield srv


@pytest.fixture()
def srv(srv_session: ServerThread) -> Iterator[ServerThread]:
    srv_session.reset()
    yield srv_session
    srv_session.reset()


@pytest.fixture(scope="session")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("static")
    (root / "index.html").write_text("<!doctype html><title>root</title>")
    files = {
        "app.mjs": "export const x = 1;\n",
        "mod.wasm": "\0asm",
        "pyscript.toml": "name = 'x'\n",
        "pkg.zip": "PK",
        "data.json": "{}",
        "main.py": "print(1)\n",
        "node_modules/lib/index.js": "export default 1;\n",
        "sub/index.html": "<p>sub</p>",
        "empty/readme.txt": "no index here",
        ".secret": "nope",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    outside = tmp_path_factory.mktemp("outside")
    (outside / "leak.txt").write_text("leak")
    (root / "link.txt").symlink_to(outside / "leak.txt")
    (root / "big.bin").write_bytes(b"\xab" * (15 * 1024 * 1024))
    return root
