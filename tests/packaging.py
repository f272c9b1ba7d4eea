"""The browser's copy of the package (build/wsclient.zip) and whether it matches src/wsclient."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "wsclient"
ZIP = ROOT / "build" / "wsclient.zip"


def problems() -> list[str]:
    """What is wrong with the built zip: missing, stale or extra modules (empty when fresh)."""
    if not ZIP.is_file():
        return [f"{ZIP.relative_to(ROOT)} does not exist: run `make setup`"]
    with zipfile.ZipFile(ZIP) as archive:
        shipped = {name: archive.read(name) for name in archive.namelist()}
    found = []
    sources = {f"wsclient/{p.name}": p.read_bytes() for p in sorted(SOURCE.glob("*.py"))}
    for name, text in sources.items():
        if name not in shipped:
            found.append(f"{name} is missing from the zip")
        elif shipped[name] != text:
            found.append(f"{name} in the zip is stale")
        if f"{name}c" not in shipped:  # zipimport reads `x.pyc` beside `x.py`
            found.append(f"{name} has no bytecode in the zip")
    extra = {n for n in shipped if n.endswith(".py")} - set(sources)
    found += [f"{name} is in the zip but not in src/wsclient" for name in sorted(extra)]
    return found


def rebuild() -> None:
    """Build the zip with the page's own Pyodide (about 5 s)."""
    subprocess.run(["node", str(ROOT / "tools" / "build_package.mjs")], check=True, cwd=ROOT)
