"""The dashboard with its activity figure vs without it (the dashboard as before issue 14).

    PYTHONPATH=src:. python -m bench.dash_before

Runs ``dashflood`` (bench/dashboard.py) with its baseline page swapped for ``index.html`` minus
the timeline, sparkline and messages/s, made from ``index.html`` at run time into a temporary
folder under bench/ (the rows labelled "snippet" in the output are that page). Writes
``bench/results/dashboard-vs-before.md``.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from bench import dashboard
from bench.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def without_activity(html: str) -> str:
    """``index.html`` without its activity figure and messages/s row; paths made root-absolute
    (the copy lives in a subfolder)."""
    html = re.sub(r'\s*<figure class="activity">.*?</figure>', "", html, flags=re.S)
    html = re.sub(r'\s*<dt>Messages/s</dt><dd id="rate">0</dd>', "", html)
    return html.replace('"./', '"/')


def run() -> None:
    folder = Path(tempfile.mkdtemp(prefix="_tmp-dash-before-", dir=ROOT / "bench"))
    try:
        page = folder / "dash-before.html"
        page.write_text(without_activity((ROOT / "index.html").read_text()))
        assert "timeline" not in page.read_text() and 'id="rate"' not in page.read_text()
        dashboard.FLOOD_VARIANTS = {
            "dashboard": "/index.html",
            "snippet": f"/bench/{folder.name}/dash-before.html",
        }
        main(["--only", "dashflood", "--out", str(ROOT / "bench/results/dashboard-vs-before.md")])
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    run()
