"""The architecture holds: layers only point down, no import circle, the core knows no domain
type, one module creates FFI proxies, the core reads no clock and does no I/O, and the package
holds the client only (the demo lives in demo/)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "wsclient"
FFI_MODULES = {"js", "pyodide", "pyscript", "pyodide_js"}

#: The package's layers, bottom first. A module imports only from its own layer or a lower one
#: (``test_no_import_circle`` keeps imports inside a layer acyclic); every import counts:
#: absolute and relative, at module level, inside functions, and for type checking only.
LAYERS: list[tuple[str, set[str]]] = [
    ("helpers", {"backoff", "records", "options", "envelope", "config"}),
    (
        "connection core",
        {"outbound", "actions", "auth", "link", "lifecycle", "delivery", "streams", "core"},
    ),
    ("messages and stores", {"__init__", "messages", "stores"}),
    ("driver and tab sharing", {"driver", "durable", "tabs", "tabs_hub", "tabs_outbox"}),
    ("router", {"router"}),
    ("client", {"client"}),
    ("browser", {"port", "dom", "bridge", "status", "ui"}),
    ("entry point", {"app"}),
]
LAYER_OF = {module: index for index, (_, modules) in enumerate(LAYERS) for module in modules}
#: The connection core: it sees envelopes (a project id, an offset, the frame), never the domain.
CORE = LAYERS[1][1] | {"options", "envelope", "backoff"}
#: The browser adapter: the only modules that may import the FFI.
BROWSER = {"port", "dom", "bridge"}
#: Modules that may not touch the browser, the clock, or anything with I/O.
PURE = sorted((CORE | {"driver", "stores", "messages", "router", "config", "status"}) - {"auth"})
CLOCK_OR_IO = {"time", "datetime", "asyncio", "socket", "threading", "os", "select"}


def modules() -> list[str]:
    return sorted(path.stem for path in PACKAGE.glob("*.py"))


def imports(module: str) -> Iterator[tuple[str, set[str]]]:
    """(imported module, names imported from it) of every import statement in ``module``;
    modules of the package are named without their ``wsclient.`` prefix."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.removeprefix("wsclient."), set()
        elif isinstance(node, ast.ImportFrom):
            names = {alias.name for alias in node.names}
            if node.level == 0 and node.module:
                if node.module == "wsclient":
                    yield "__init__", names
                    for name in names & set(modules()):  # from wsclient import app
                        yield name, set()
                else:
                    yield node.module.removeprefix("wsclient."), names
            elif node.level == 1 and node.module:  # from .core import Session
                yield node.module, names
            elif node.level == 1:  # from . import dom
                yield from ((name, set()) for name in names)


def package_imports(module: str) -> set[str]:
    return {name for name, _ in imports(module) if name in set(modules())} - {module}


def imported_roots(module: str) -> set[str]:
    """Top-level names of what ``module`` imports from outside the package."""
    return {name.split(".")[0] for name, _ in imports(module) if name not in set(modules())}


def test_every_module_has_a_layer() -> None:
    """A new module is placed in LAYERS (say where it sits before anything may import it)."""
    assert [m for m in modules() if m not in LAYER_OF] == []


@pytest.mark.parametrize("module", modules())
def test_layers_only_point_down(module: str) -> None:
    """Each module imports from its own layer or below, never from a layer above it."""
    if module not in LAYER_OF:
        pytest.fail(f"{module}.py has no layer: add it to LAYERS")
    upward = {
        name: LAYERS[LAYER_OF[name]][0]
        for name in package_imports(module)
        if LAYER_OF.get(name, -1) > LAYER_OF.get(module, -1)
    }
    assert upward == {}, f"{module} ({LAYERS[LAYER_OF[module]][0]}) imports from above"


def test_no_import_circle() -> None:
    """The package's import graph (every import, function-level ones included) has no cycle."""
    graph = {module: package_imports(module) for module in modules()}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            pytest.fail("import circle: " + " -> ".join(cycle))
        if module in done:
            return
        for name in sorted(graph[module]):
            visit(name, [*path, module])
        done.add(module)

    for module in graph:
        visit(module, [])


def domain_types() -> set[str]:
    """The classes messages.py declares (FileEvent, ProcessEvent, ProjectSnapshot...)."""
    tree = ast.parse((PACKAGE / "messages.py").read_text())
    return {node.name for node in tree.body if isinstance(node, ast.ClassDef)}


@pytest.mark.parametrize("module", sorted(CORE))
def test_the_core_imports_no_domain_type(module: str) -> None:
    """The connection core imports nothing from the typed messages, the router or the stores,
    and no domain message type from anywhere: it needs a project id and an offset only."""
    if not (PACKAGE / f"{module}.py").is_file():
        pytest.skip(f"{module}.py does not exist")
    found = {name: names for name, names in imports(module)}
    assert set(found) & {"messages", "router", "stores", "client"} == set()
    assert {n for names in found.values() for n in names} & domain_types() == set()


def test_the_package_is_the_client_only() -> None:
    """The demo (dashboard, activity figures) lives in demo/, and no client module imports it."""
    assert not {"dashboard", "activity", "main"} & set(modules())
    assert {m for m in modules() if any(n.split(".")[0] == "demo" for n, _ in imports(m))} == set()
    assert {"dashboard.py", "activity.py", "main.py"} <= {p.name for p in (ROOT / "demo").iterdir()}


def test_only_the_browser_adapter_imports_the_ffi() -> None:
    """js / pyodide / pyscript are imported by the browser adapter (port, dom, bridge) alone."""
    offenders = {
        module: imported_roots(module) & FFI_MODULES
        for module in modules()
        if module not in BROWSER
    }
    assert {name: found for name, found in offenders.items() if found} == {}


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_read_no_clock_and_do_no_io(module: str) -> None:
    """The sans-I/O modules are driven by inputs and `now`, never by a clock or a socket."""
    if not (PACKAGE / f"{module}.py").is_file():
        pytest.skip(f"{module}.py does not exist")
    assert imported_roots(module) & (CLOCK_OR_IO | FFI_MODULES) == set()


def test_only_the_port_creates_proxies() -> None:
    """create_proxy / create_once_callable appear in port.py only (it destroys what it makes)."""
    for path in PACKAGE.glob("*.py"):
        if path.stem != "port":
            text = path.read_text()
            assert "create_proxy" not in text and "create_once_callable" not in text, path.name


def test_no_module_imports_urllib() -> None:
    """urllib.parse costs ~0.3 s of page start-up in Pyodide; config.py parses URLs itself."""
    assert [m for m in modules() if "urllib" in imported_roots(m)] == []
