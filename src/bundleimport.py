"""Import a package from one pre-compiled bundle file (the page loads wsclient this way).

A bundle holds each module's bytecode, compiled ahead of time by the same Python as the page's,
and its source (compressed; read only when a traceback or ``inspect`` asks for it). Loading it
is one ``marshal.loads`` of its table; each module's code is unmarshalled when it is imported.
The table holds only plain values (str, bool, bytes), so any Python can read the sources (the
tests check them against src/ in CPython); only the code needs the bundle's Python.

Why not the zip and ``zipimport``: zipimport parses the zip's directory in Python and loads
every module's code twice (``find_spec`` asks for the file name, which loads the code): the
page's ``main.py`` took 62 ms with zipimport, 52 ms with a bundle (medians of 8 interleaved loads).

Stdlib only, no ``js``: built by ``tools/build_package.mjs`` (in Pyodide, so the bytecode
matches the page's Python), tested in CPython by ``tests/unit/test_bundleimport.py``.
"""

from __future__ import annotations

import marshal
import sys
import zlib
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from types import CodeType, ModuleType
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from importlib.abc import Loader

#: A bundle starts with this line, then the bytecode magic of the Python that built it.
HEADER = b"python-bundle 1\n"

# module name -> (is a package, file name, marshalled code, zlib-compressed source)
_Entry = tuple[bool, str, bytes, bytes]


class BundleError(ImportError):
    """The bundle cannot be used; the message says how to rebuild it."""


def build(package: str | Path, name: str, filename_prefix: str) -> bytes:
    """The bundle of the package in directory ``package``, imported as ``name``.

    Tracebacks name each module ``<filename_prefix>/<file>.py``. Only a flat package (no
    subpackages) is supported, which is what wsclient is.
    """
    root = Path(package)
    if not (root / "__init__.py").is_file():
        raise BundleError(f"{root} is not a package (no __init__.py): nothing to bundle")
    nested = sorted(str(p.relative_to(root)) for p in root.glob("*/**/*.py"))
    if nested:
        raise BundleError(f"subpackages are not supported, found {nested}: flatten {root}")
    modules: dict[str, _Entry] = {}
    for path in sorted(root.glob("*.py")):
        source = path.read_bytes()
        filename = f"{filename_prefix}/{path.name}"
        code = compile(source, filename, "exec", dont_inherit=True)
        is_package = path.name == "__init__.py"
        modules[name if is_package else f"{name}.{path.stem}"] = (
            is_package,
            filename,
            marshal.dumps(code),
            zlib.compress(source, 9),
        )
    return HEADER + MAGIC_NUMBER + marshal.dumps(modules)


def sources(data: bytes) -> dict[str, bytes]:
    """Each module's source as stored in the bundle ``data`` (to check it is up to date)."""
    return {name: zlib.decompress(entry[3]) for name, entry in _table(data, "bundle").items()}


class BundleImporter:
    """A meta path finder and loader for the modules of one bundle."""

    def __init__(self, modules: dict[str, _Entry]) -> None:
        self._modules = modules

    @classmethod
    def from_file(cls, path: str | Path) -> BundleImporter:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise BundleError(
                f"cannot read the bundle {path} ({exc.strerror}): is it in pyscript.toml's "
                "[files]? Build it with `make setup`"
            ) from None
        table = _table(data, str(path))
        magic = data[len(HEADER) : len(HEADER) + len(MAGIC_NUMBER)]
        if magic != MAGIC_NUMBER:
            raise BundleError(
                f"{path} holds bytecode of another Python (magic {magic.hex()}, this one "
                f"{MAGIC_NUMBER.hex()}): rebuild it with the page's own Pyodide (`make setup`)"
            )
        return cls(table)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._modules)

    # importlib.abc.MetaPathFinder
    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        entry = self._modules.get(fullname)
        if entry is None:
            return None
        # A Loader by protocol (create_module, exec_module), not by base class: the page need
        # not import importlib.abc for it.
        spec = ModuleSpec(fullname, cast("Loader", self), origin=entry[1], is_package=entry[0])
        spec.has_location = True  # sets __file__, so tracebacks and inspect find the source
        return spec

    # importlib.abc.Loader / InspectLoader
    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return None  # the default module

    def exec_module(self, module: ModuleType) -> None:
        exec(self.get_code(module.__name__), module.__dict__)

    def get_code(self, fullname: str) -> CodeType:
        code = marshal.loads(self._entry(fullname)[2])
        if not isinstance(code, CodeType):
            raise BundleError(f"the bundle's entry for {fullname} is not code: rebuild it")
        return code

    def get_source(self, fullname: str) -> str:
        return zlib.decompress(self._entry(fullname)[3]).decode()

    def is_package(self, fullname: str) -> bool:
        return self._entry(fullname)[0]

    def _entry(self, fullname: str) -> _Entry:
        try:
            return self._modules[fullname]
        except KeyError:
            raise ImportError(f"{fullname} is not in this bundle", name=fullname) from None


def install(path: str | Path) -> BundleImporter:
    """Make the modules of the bundle at ``path`` importable (ahead of ``sys.path``)."""
    importer = BundleImporter.from_file(path)
    sys.meta_path.insert(0, importer)
    return importer


def _table(data: bytes, where: str) -> dict[str, _Entry]:
    if not data.startswith(HEADER):
        raise BundleError(f"{where} is not a bundle (no {HEADER!r} header): rebuild it")
    try:
        table = marshal.loads(memoryview(data)[len(HEADER) + len(MAGIC_NUMBER) :])
    except (EOFError, ValueError, TypeError) as exc:
        raise BundleError(f"{where} is damaged ({exc}): rebuild it") from None
    if not isinstance(table, dict):
        raise BundleError(f"{where} is damaged (no module table): rebuild it")
    return table
