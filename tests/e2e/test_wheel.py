"""The wheel as a PyScript user gets it: built from pyproject.toml, it holds the client package
only, and an app of its own (a page, its pyscript.toml, a main.py, the wheel and the wheel's
wsclient.js, nothing from src/ or static/) boots from it and connects.
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from server import ServerThread
from tests.e2e.helpers import plain_static_server

ROOT = Path(__file__).resolve().parents[2]
VERSION = "0.1.0"
WHEEL_NAME = f"wsclient-{VERSION}-py3-none-any.whl"
BOOT_TIMEOUT_MS = 60_000


def readme_toml() -> str:
    """The pyscript.toml lines the README gives a PyScript user (its one ```toml block)."""
    text = (ROOT / "README.md").read_text()
    start = text.index("```toml\n") + len("```toml\n")
    return text[start : text.index("```", start)]


# The user's app: exactly the README's pyscript.toml lines.
PYSCRIPT_TOML = readme_toml()
assert WHEEL_NAME in PYSCRIPT_TOML, "the README names another wheel than pyproject.toml builds"

MAIN_PY = """\
import importlib.metadata

import js
import wsclient
from wsclient import app

client = app.start()
js.window.wheelInfo = js.JSON.parse(
    js.JSON.stringify(
        {"file": wsclient.__file__, "version": importlib.metadata.version("wsclient")}
    )
)
"""

INDEX_HTML = """\
<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>my app</title>
  <link rel="icon" href="data:,">
  <script type="module" src="/node_modules/@pyscript/core/dist/core.js"></script>
</head>
<body>
  <div data-ws-status></div>
  <script type="py" config="./pyscript.toml" src="./main.py"></script>
</body>
</html>
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built now from the working tree (pyproject.toml, hatchling, no network)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--quiet", "-w", str(out)],
        check=True,
    )  # fmt: skip
    path = out / WHEEL_NAME
    assert path.is_file(), sorted(p.name for p in out.iterdir())
    return path


#: The JavaScript half and its types, copied from static/ into the wheel's package.
JS_FILES = ("wsclient.js", "transport.js", "api.js", "tabs.js", "wsclient.d.ts")


def test_wheel_holds_the_client_package_only(wheel: Path) -> None:
    """wsclient/*.py, py.typed and the JS face (copies of static/: the entry module, the
    transport, the page API, tab sharing and the d.ts) plus metadata; no demo module."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        copies = {name: zf.read(f"wsclient/{name}") for name in JS_FILES}
        wheel_meta = zf.read(f"wsclient-{VERSION}.dist-info/WHEEL").decode()
    modules = sorted(f"wsclient/{p.name}" for p in (ROOT / "src" / "wsclient").glob("*.py"))
    package = sorted(n for n in names if not n.startswith(f"wsclient-{VERSION}.dist-info/"))
    assert package == sorted([*modules, "wsclient/py.typed", *(f"wsclient/{n}" for n in JS_FILES)])
    for name, copy in copies.items():
        assert copy == (ROOT / "static" / name).read_bytes(), name
    assert not any("dashboard" in n or "activity" in n for n in names)
    assert "Root-Is-Purelib: true" in wheel_meta and "Tag: py3-none-any" in wheel_meta
    assert not any(n.startswith(("server/", "tests/", "bench/", "svelte/")) for n in names)


@pytest.fixture
def user_app(wheel: Path, tmp_path: Path) -> Iterator[str]:
    """The user's site: their files, the wheel and the wheel's wsclient.js, behind a plain static
    file server; node_modules (PyScript and Pyodide from npm) is linked in."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(INDEX_HTML)
    (site / "pyscript.toml").write_text(PYSCRIPT_TOML)
    (site / "main.py").write_text(MAIN_PY)
    (site / WHEEL_NAME).write_bytes(wheel.read_bytes())
    with zipfile.ZipFile(wheel) as zf:
        for name in JS_FILES:
            (site / name).write_bytes(zf.read(f"wsclient/{name}"))
    (site / "node_modules").symlink_to(ROOT / "node_modules", target_is_directory=True)

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {  # noqa: RUF012 - the base class's own attribute
            **http.server.SimpleHTTPRequestHandler.extensions_map,
            ".js": "text/javascript",
            ".mjs": "text/javascript",
            ".wasm": "application/wasm",
            ".toml": "application/toml",
            ".whl": "application/zip",
        }

        def log_message(self, format: str, *args: object) -> None:
            pass

    with plain_static_server(site, Handler) as url:
        yield url


def test_a_pyscript_app_runs_the_client_from_the_wheel(
    page: Page, user_app: str, server: ServerThread, page_errors: list[str]
) -> None:
    """[files] unpacks the wheel, [js_modules.main] loads its wsclient.js; the page reaches
    Connected against the server, and `wsclient` is imported from the unpacked wheel."""
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(f"{user_app}index.html?ws={server.ws_url}")
    status = page.locator("[data-ws-status] .connection-status")
    expect(status).to_have_attribute("data-status", "connected", timeout=BOOT_TIMEOUT_MS)
    expect(status.locator(".text")).to_contain_text("Connected")
    server.wait_for_open(1)
    page.wait_for_function("() => window.wheelInfo !== undefined")
    info = page.evaluate("window.wheelInfo")
    assert info["version"] == VERSION
    assert not info["file"].startswith("/src"), info
    assert info["file"].endswith("/wsclient/__init__.py"), info
    mine = [u.removeprefix(user_app) for u in requested if u.startswith(user_app)]
    assert WHEEL_NAME in mine and {"wsclient.js", "transport.js", "api.js", "tabs.js"} <= set(mine)
    assert not any(u.startswith(("src/", "static/")) for u in mine), mine
    assert page_errors == []
