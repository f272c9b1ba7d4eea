"""The browser gets every module of the package, and the page loads nothing from outside."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest

from tests import packaging

ROOT = Path(__file__).resolve().parents[2]


def test_the_browser_package_holds_every_module_fresh() -> None:
    """build/wsclient.bundle has every module of src/wsclient, byte for byte, and no other;
    build/bundleimport.pyc was compiled from src/bundleimport.py as it is now."""
    assert packaging.problems() == []


def test_a_stale_build_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The freshness check above can fail: an edited module or importer is reported."""
    source = tmp_path / "wsclient"
    shutil.copytree(packaging.SOURCE, source)
    (source / "stores.py").write_text((source / "stores.py").read_text() + "\n# edited\n")
    (source / "extra.py").write_text("")
    importer = tmp_path / "bundleimport.py"
    importer.write_bytes(packaging.IMPORTER.read_bytes())
    monkeypatch.setattr(packaging, "SOURCE", source)
    monkeypatch.setattr(packaging, "IMPORTER", importer)
    assert packaging.problems() == [
        "wsclient.extra is missing from the bundle",
        "wsclient.stores in the bundle is stale",
    ]
    importer.write_text(importer.read_text() + "\n# edited\n")
    assert packaging.problems() == ["build/bundleimport.pyc is stale: run `make setup`"]


def test_pyscript_ships_the_bundle_and_its_importer() -> None:
    """pyscript.toml copies the bundle and its importer (and nothing else) into the interpreter,
    and the entry point installs the importer before it imports the package."""
    config = tomllib.loads((ROOT / "pyscript.toml").read_text())
    assert config["files"] == {
        "./build/wsclient.bundle": "./wsclient.bundle",
        "./build/bundleimport.pyc": "./bundleimport.pyc",
    }
    main = (ROOT / "src" / "main.py").read_text()
    install = main.index('bundleimport.install("wsclient.bundle")')
    assert install < main.index("from wsclient import")


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
