"""The bundle importer (src/bundleimport.py), built and used by this CPython.

The page's bundle is built by Pyodide's Python; these tests build their own from a small package
(and from src/wsclient) so that the importer's behaviour is checked where it can fail loudly.
Imports run in a subprocess: each gets a fresh ``sys.modules`` and ``sys.meta_path``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from importlib.util import MAGIC_NUMBER
from pathlib import Path

import pytest

import bundleimport

ROOT = Path(__file__).resolve().parents[2]


def run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that can import bundleimport and nothing else of ours
    (a copy of it sits alone in ``cwd/lib``), so whatever else it imports came from a bundle."""
    lib = cwd / "lib"
    lib.mkdir(exist_ok=True)
    shutil.copy(ROOT / "src" / "bundleimport.py", lib)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env={"PYTHONPATH": str(lib)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def package(tmp_path: Path) -> Path:
    pkg = tmp_path / "src" / "demo"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""Demo."""\nfrom .util import double\n')
    (pkg / "util.py").write_text(
        "def double(x):\n    return 2 * x\n\n\n"
        "def fail():\n    raise ValueError('boom from util')\n"
    )
    return pkg


def write_bundle(package: Path, where: Path) -> Path:
    path = where / "demo.bundle"
    path.write_bytes(bundleimport.build(package, "demo", "src/demo"))
    return path


def test_a_bundled_package_imports_and_runs(package: Path, tmp_path: Path) -> None:
    bundle = write_bundle(package, tmp_path)
    work = tmp_path / "elsewhere"  # where no source file exists: everything comes from the bundle
    work.mkdir()
    result = run(
        f"""
        import bundleimport
        importer = bundleimport.install({str(bundle)!r})
        import demo, demo.util
        assert demo.double(21) == 42
        assert demo.__spec__.loader is importer and demo.util.__spec__.loader is importer
        assert demo.__file__ == "src/demo/__init__.py", demo.__file__
        assert demo.util.__file__ == "src/demo/util.py", demo.util.__file__
        assert demo.__path__ == [] and not hasattr(demo.util, "__path__")
        print(sorted(importer.names))
        """,
        work,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['demo', 'demo.util']"


def test_tracebacks_show_the_bundled_source_lines(package: Path, tmp_path: Path) -> None:
    bundle = write_bundle(package, tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    result = run(
        f"""
        import bundleimport, inspect, traceback
        bundleimport.install({str(bundle)!r})
        import demo.util
        print(inspect.getsource(demo.util.double).strip().splitlines()[0])
        try:
            demo.util.fail()
        except ValueError:
            print(traceback.format_exc())  # how Pyodide reports an error to the page
        """,
        work,
    )
    assert result.returncode == 0, result.stderr
    first, report = result.stdout.split("\n", 1)
    assert first == "def double(x):"
    assert 'File "src/demo/util.py", line 6, in fail' in report
    assert "raise ValueError('boom from util')" in report  # the line itself, not just its number


def test_modules_outside_the_bundle_import_as_usual(package: Path, tmp_path: Path) -> None:
    bundle = write_bundle(package, tmp_path)
    result = run(
        f"""
        import bundleimport
        bundleimport.install({str(bundle)!r})
        import json, demo
        try:
            import demo.missing
        except ModuleNotFoundError as exc:
            print(exc.name)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "demo.missing"


def test_the_whole_client_imports_from_a_bundle(tmp_path: Path) -> None:
    """src/wsclient itself, bundled: the page's import path, in CPython."""
    bundle = tmp_path / "wsclient.bundle"
    bundle.write_bytes(bundleimport.build(ROOT / "src" / "wsclient", "wsclient", "src/wsclient"))
    result = run(
        f"""
        import bundleimport
        importer = bundleimport.install({str(bundle)!r})
        from wsclient import app, core, stores
        assert app.Client.__module__ == "wsclient.app" and core.__spec__.loader is importer
        client = app.Client(None)
        print(stores.get(client.state).status)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "error"


def test_sources_round_trip(package: Path) -> None:
    data = bundleimport.build(package, "demo", "src/demo")
    assert bundleimport.sources(data) == {
        "demo": (package / "__init__.py").read_bytes(),
        "demo.util": (package / "util.py").read_bytes(),
    }


def test_bytecode_of_another_python_is_refused_with_a_rebuild_hint(
    package: Path, tmp_path: Path
) -> None:
    data = bytearray(bundleimport.build(package, "demo", "src/demo"))
    start = len(bundleimport.HEADER)
    data[start : start + len(MAGIC_NUMBER)] = b"\x00\x00\r\n"
    path = tmp_path / "old.bundle"
    path.write_bytes(bytes(data))
    with pytest.raises(bundleimport.BundleError, match=r"another Python .*make setup"):
        bundleimport.BundleImporter.from_file(path)
    # The sources stay readable: the staleness check does not need the bundle's Python.
    assert set(bundleimport.sources(bytes(data))) == {"demo", "demo.util"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04 a zip, not a bundle", "is not a bundle"),
        (bundleimport.HEADER + MAGIC_NUMBER + b"\xff\xff", "is damaged"),
        (bundleimport.HEADER + MAGIC_NUMBER + b"N", "no module table"),  # marshalled None
    ],
)
def test_a_broken_bundle_says_so(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "broken.bundle"
    path.write_bytes(content)
    with pytest.raises(bundleimport.BundleError, match=f"{message}.*rebuild"):
        bundleimport.BundleImporter.from_file(path)


def test_a_missing_bundle_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(bundleimport.BundleError, match=r"cannot read the bundle .*make setup"):
        bundleimport.install(tmp_path / "nowhere.bundle")


def test_only_flat_packages_are_bundled(package: Path, tmp_path: Path) -> None:
    (package / "sub").mkdir()
    (package / "sub" / "__init__.py").write_text("")
    with pytest.raises(bundleimport.BundleError, match="subpackages are not supported"):
        bundleimport.build(package, "demo", "src/demo")
    with pytest.raises(bundleimport.BundleError, match="is not a package"):
        bundleimport.build(tmp_path, "demo", "x")


def test_asking_for_a_module_it_does_not_hold_is_an_import_error(package: Path) -> None:
    data = bundleimport.build(package, "demo", "src/demo")
    importer = bundleimport.BundleImporter(bundleimport._table(data, "test"))
    assert importer.find_spec("json") is None
    with pytest.raises(ImportError, match=r"demo\.other is not in this bundle"):
        importer.get_source("demo.other")
    assert importer.is_package("demo") and not importer.is_package("demo.util")
