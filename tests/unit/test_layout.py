"""The browser gets every module of the package, and the page loads nothing from outside."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "wsclient"


def _expand(path: str, templates: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: templates[m.group(1)], path)


def shipped_files() -> dict[str, str]:
    """Source path -> destination path of every file PyScript copies into the browser."""
    config = tomllib.loads((ROOT / "pyscript.toml").read_text())
    files: dict[str, str] = config["files"]
    templates = {k[1:-1]: v for k, v in files.items() if re.fullmatch(r"\{\w+\}", k)}
    return {
        _expand(src, templates): _expand(dest, templates)
        for src, dest in files.items()
        if src[1:-1] not in templates
    }


def test_every_package_module_is_shipped_to_the_browser() -> None:
    """Adding a module to src/wsclient without listing it in pyscript.toml fails here."""
    shipped = shipped_files()
    for module in sorted(PACKAGE.rglob("*.py")):
        rel = module.relative_to(ROOT / "src").as_posix()
        assert f"./src/{rel}" in shipped, f"{rel} is missing from [files] in pyscript.toml"
        assert shipped[f"./src/{rel}"] == f"./{rel}"


def test_every_shipped_file_exists() -> None:
    """A stale entry would 404 in the browser and stop the boot."""
    for src in shipped_files():
        assert (ROOT / src).is_file(), f"pyscript.toml ships {src}, which does not exist"


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
