"""What the browser loads (build/wsclient.bundle, build/bundleimport.pyc) and whether it is
up to date with src/."""

from __future__ import annotations

import _imp  # source_hash(key, source): the hash of an unchecked-hash .pyc, for any Python's key
import subprocess
from pathlib import Path

import bundleimport

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "wsclient"
BUNDLE = ROOT / "build" / "wsclient.bundle"
IMPORTER = ROOT / "src" / "bundleimport.py"
IMPORTER_PYC = ROOT / "build" / "bundleimport.pyc"


def problems() -> list[str]:
    """What is wrong with the build: missing, stale or extra modules (empty when fresh)."""
    missing = [p for p in (BUNDLE, IMPORTER_PYC) if not p.is_file()]
    if missing:
        return [f"{p.relative_to(ROOT)} does not exist: run `make setup`" for p in missing]
    pyc = IMPORTER_PYC.read_bytes()
    # An unchecked-hash pyc: magic (4 bytes), flags 0b01 (4), the source's keyed hash (8).
    key = int.from_bytes(pyc[:4], "little")
    if pyc[4:8] != b"\x01\0\0\0" or _imp.source_hash(key, IMPORTER.read_bytes()) != pyc[8:16]:
        return [f"{IMPORTER_PYC.relative_to(ROOT)} is stale: run `make setup`"]
    try:
        shipped = bundleimport.sources(BUNDLE.read_bytes())
    except bundleimport.BundleError as exc:
        return [str(exc)]
    found = []
    sources = {
        "wsclient" if p.stem == "__init__" else f"wsclient.{p.stem}": p.read_bytes()
        for p in sorted(SOURCE.glob("*.py"))
    }
    for name, text in sources.items():
        if name not in shipped:
            found.append(f"{name} is missing from the bundle")
        elif shipped[name] != text:
            found.append(f"{name} in the bundle is stale")
    extra = sorted(shipped.keys() - sources.keys())
    found += [f"{name} is in the bundle but not in src/wsclient" for name in extra]
    return found


def rebuild() -> None:
    """Build both with the page's own Pyodide (about 5 s)."""
    subprocess.run(["node", str(ROOT / "tools" / "build_package.mjs")], check=True, cwd=ROOT)
