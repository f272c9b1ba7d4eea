"""The architecture holds: one module touches the FFI; the core reads no clock, does no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "wsclient"
FFI_MODULES = {"js", "pyodide", "pyscript"}
#: Modules that may not touch the browser, the clock, or anything with I/O.
PURE = [
    "activity",
    "core",
    "driver",
    "backoff",
    "outbound",
    "stores",
    "messages",
    "router",
    "config",
    "status",
]
CLOCK_OR_IO = {"time", "datetime", "asyncio", "socket", "threading", "os", "select"}


def imported_roots(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


#: The browser adapter: the socket port, the DOM helpers and the page bridge.
BROWSER = {"port", "dom", "bridge"}


def test_only_the_browser_adapter_imports_the_ffi() -> None:
    """js / pyodide / pyscript are imported by the browser adapter (port, dom, bridge) alone."""
    offenders = {
        path.stem: imported_roots(path.stem) & FFI_MODULES
        for path in PACKAGE.glob("*.py")
        if path.stem not in BROWSER
    }
    assert {name: found for name, found in offenders.items() if found} == {}


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_read_no_clock_and_do_no_io(module: str) -> None:
    """The sans-I/O modules are driven by inputs and `now`, never by a clock or a socket."""
    assert imported_roots(module) & (CLOCK_OR_IO | FFI_MODULES) == set()


def test_only_the_adapter_creates_proxies() -> None:
    """create_proxy / create_once_callable appear in port.py only (it destroys what it makes)."""
    for path in PACKAGE.glob("*.py"):
        if path.stem != "port":
            text = path.read_text()
            assert "create_proxy" not in text and "create_once_callable" not in text, path.name


def test_no_module_imports_urllib() -> None:
    """urllib.parse costs ~0.3 s of page start-up in Pyodide; config.py parses URLs itself."""
    users = [path.stem for path in PACKAGE.glob("*.py") if "urllib" in imported_roots(path.stem)]
    assert users == []
