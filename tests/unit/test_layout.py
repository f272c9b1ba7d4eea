"""The browser gets every module of the package, and the page loads nothing from outside."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pyscript_ships_every_module_of_the_package() -> None:
    """pyscript.toml's [files] list is exactly src/wsclient/*.py, each to wsclient/ (a module
    missing here is an ImportError only in the browser)."""
    config = tomllib.loads((ROOT / "pyscript.toml").read_text())
    files = config["files"]
    assert files["{FROM}"] == "./src/wsclient"
    assert files["{TO}"] == "./wsclient"
    entries = {key: value for key, value in files.items() if key not in ("{FROM}", "{TO}")}
    shipped = {key.removeprefix("{FROM}/") for key in entries}
    assert set(entries.values()) == {"{TO}/"}
    modules = {p.name for p in (ROOT / "src" / "wsclient").glob("*.py")}
    assert shipped == modules


def test_the_demo_config_ships_the_client_as_the_embedding_config_does_plus_the_demo() -> None:
    """demo/pyscript.toml (index.html's config) ships exactly what pyscript.toml ships, paths
    taken from demo/ (they resolve against the config's URL), plus demo/*.py into demo/; the
    embedding config ships no demo module."""
    root = tomllib.loads((ROOT / "pyscript.toml").read_text())
    demo = tomllib.loads((ROOT / "demo" / "pyscript.toml").read_text())
    assert demo["interpreter"] == root["interpreter"]
    assert demo["files"]["{FROM}"] == "../src/wsclient"
    client = {k: v for k, v in demo["files"].items() if k.startswith("{")}
    assert client == {**root["files"], "{FROM}": "../src/wsclient"}
    own = {k: v for k, v in demo["files"].items() if not k.startswith("{")}
    assert own == {f"./{p.name}": "./demo/" for p in (ROOT / "demo").glob("*.py")}
    assert demo["js_modules"] == {
        kind: {f"../{path.removeprefix('./')}": name for path, name in modules.items()}
        for kind, modules in root["js_modules"].items()
    }
    assert not [k for k in root["files"] if "dashboard" in k or "activity" in k]


def test_the_demo_page_starts_the_demo_and_the_embedding_pages_the_client() -> None:
    """index.html runs the demo's entry point with the demo's config; the embedding page of the
    README runs the client's with the client's config."""
    index = (ROOT / "index.html").read_text()
    assert 'config="./demo/pyscript.toml">from demo import main; main.start()' in index
    embed = (ROOT / "tests" / "e2e" / "pages" / "embed.html").read_text()
    assert 'config="/pyscript.toml">from wsclient import app; app.start()' in embed


def test_pyscript_loads_the_adapters_javascript() -> None:
    """The JS half of the socket port is registered under the name port.py imports."""
    config = tomllib.loads((ROOT / "pyscript.toml").read_text())
    assert config["js_modules"]["main"] == {"./static/wsclient.js": "wsclient_js"}
    assert (
        "from pyscript.js_modules import wsclient_js"
        in (ROOT / "src" / "wsclient" / "port.py").read_text()
    )


def test_interpreter_is_local() -> None:
    """Without a local interpreter PyScript fetches Pyodide from a CDN and nothing runs offline:
    pyscript.toml names the snapshot loader, which imports the npm pyodide from node_modules."""
    config = tomllib.loads((ROOT / "pyscript.toml").read_text())
    assert config["interpreter"] == "/static/pyodide_snapshot.mjs"
    loader = (ROOT / "static" / "pyodide_snapshot.mjs").read_text()
    assert 'from "../node_modules/pyodide/pyodide.mjs"' in loader


def test_page_names_no_remote_url() -> None:
    """index.html and the configs reference only local paths."""
    for name in ("index.html", "pyscript.toml", "demo/pyscript.toml"):
        text = (ROOT / name).read_text()
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), name


def test_every_local_path_the_page_names_exists() -> None:
    """Every path index.html names exists after set-up (a renamed file fails here, not as a 404
    in the browser); no hashed build name is written by hand."""
    html = (ROOT / "index.html").read_text()
    paths = re.findall(r'(?:href|src)="\./([^"]+)"', html)
    paths += re.findall(r'"\./(node_modules/[^"]+)"', html)  # the import map
    assert not [p for p in paths if re.search(r"-[A-Za-z0-9_-]{8}\.js$", p)]
    missing = [p for p in sorted(set(paths)) if not (ROOT / p).is_file()]
    assert paths and missing == []
