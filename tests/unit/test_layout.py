"""The browser gets every module of the package, and the page loads nothing from outside."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tests import packaging

ROOT = Path(__file__).resolve().parents[2]


def test_the_browser_package_holds_every_module_fresh() -> None:
    """build/wsclient.zip has every module of src/wsclient, byte for byte, with its bytecode."""
    assert packaging.problems() == []


def test_pyscript_ships_the_built_package() -> None:
    """pyscript.toml copies the built zip (and nothing else), unextracted, into the interpreter,
    and the entry point imports from it (unpacking would cost ~40 ms of start-up)."""
    config = tomllib.loads((ROOT / "pyscript.toml").read_text())
    assert config["files"] == {"./build/wsclient.zip": "./wsclient.zip"}
    main = (ROOT / "src" / "main.py").read_text()
    assert main.index('"wsclient.zip"') < main.index("from wsclient import")


def test_interpreter_is_local() -> None:
    """Without a local interpreter PyScript fetches Pyodide from a CDN and nothing runs offline."""
    config = tomllib.loads((ROOT / "pyscript.toml").read_text())
    interpreter = config["interpreter"]
    assert interpreter.startswith("/node_modules/pyodide/")
    assert (ROOT / interpreter.lstrip("/")).exists() or not (ROOT / "node_modules").exists()


def test_page_names_no_remote_url() -> None:
    """index.html and pyscript.toml reference only relative paths."""
    for name in ("index.html", "pyscript.toml"):
        text = (ROOT / name).read_text()
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), name


def test_every_local_path_the_page_names_exists() -> None:
    """index.html names PyScript's hashed chunks (modulepreload): an upgrade that renames them
    must fail here, not silently fetch a 404 at every start-up."""
    html = (ROOT / "index.html").read_text()
    paths = re.findall(r'(?:href|src)="\./([^"]+)"', html)
    paths += re.findall(r'"\./(node_modules/[^"]+)"', html)  # the import map
    assert any("modulepreload" in line for line in html.splitlines())
    missing = [p for p in sorted(set(paths)) if not (ROOT / p).is_file()]
    assert paths and missing == []
