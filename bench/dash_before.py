"""The dashboard as it is vs the dashboard as it was before the dashboard issue (#14).

    PYTHONPATH=src:. python -m bench.dash_before      # writes bench/results/dashboard-vs-before.md
    python -m bench --only dashbefore                 # the same section in RESULTS.md

The dashboard issue added a connection timeline, a round-trip sparkline, messages/s and a
per-process ETA (``src/wsclient/activity.py``, drawn by ``src/wsclient/dashboard.py``). The
dashboard draws them only where the page has the activity figure (``Dashboard._activity``), so
the "before" page is ``index.html`` without that figure and the Messages/s row, made at run time
into a temporary folder under bench/ (removed after): the same client and dashboard code, with
none of the issue's work done per event or per second.

Both pages then run ``dashflood`` (``bench/dashboard.py``), the new dashboard vs this baseline.
Goal (the issue's): throughput >= 0.95x.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import dashboard
from .harness import Bench, Section

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "dashboard-vs-before.md"
#: index.html's start script (its ``./`` made ``/`` by ``without_activity``).
INLINE_START = (
    '<script type="py" config="/pyscript.toml">from wsclient import app; app.start()</script>'
)


def without_activity(html: str) -> str:
    """``index.html`` without its activity figure and messages/s row; paths made root-absolute
    (the copy lives in a subfolder)."""
    html = re.sub(r'\s*<figure class="activity">.*?</figure>', "", html, flags=re.S)
    html = re.sub(r'\s*<dt>Messages/s</dt><dd id="rate">0</dd>', "", html)
    return html.replace('"./', '"/')


@contextmanager
def before_page() -> Iterator[str]:
    """The before page, made from index.html; yields its path."""
    folder = Path(tempfile.mkdtemp(prefix="_tmp-dash-before-", dir=ROOT / "bench"))
    try:
        html = without_activity((ROOT / "index.html").read_text())
        if INLINE_START not in html:
            raise RuntimeError("dash_before: index.html's inline start script not found")
        assert 'id="timeline"' not in html and 'id="rate"' not in html
        (folder / "dash-before.html").write_text(html)
        yield f"/bench/{folder.name}/dash-before.html"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def baseline(path: str) -> dashboard.Baseline:
    return dashboard.Baseline(
        key="before",
        path=path,
        label="dashboard before the dashboard issue (`dash-before.html`: no timeline, "
        "sparkline, messages/s, ETA)",
        prefix="New dashboard vs before the dashboard issue",
        title="the dashboard as before the dashboard issue (no timeline, sparkline, "
        "messages/s, ETA)",
        goal=0.95,
        about="`dash-before.html`, made at run time by `bench/dash_before.py`: `index.html` "
        "without the activity figure and the Messages/s row, so the dashboard draws no "
        "timeline, sparkline, messages/s or ETA (`Dashboard._activity`). Everything else "
        "(client, stores, lists, feed) is the same code.",
        check_js='document.getElementById("timeline") === null',
    )


def flood(bench: Bench) -> Section:
    """``dashflood``: ``index.html`` vs the before page."""
    # The goal is judged on the median of per-pair ratios: more pairs than dashflood's three.
    reps = 2 if bench.settings.quick else max(5, bench.settings.reps)
    with before_page() as path:
        return dashboard.dash_flood(bench, baseline(path), reps=reps)


def run() -> None:
    from .__main__ import main

    main(
        ["--only", "dashbefore", "--out", str(OUT)],
        heading=(
            "The dashboard vs the dashboard before the dashboard issue",
            "Reproduce: `PYTHONPATH=src:. .venv/bin/python -m bench.dash_before` (or "
            "`.venv/bin/python -m bench --only dashbefore`, which writes the same section into "
            "RESULTS.md). The baseline is `dash-before.html` (see `bench/dash_before.py`), the "
            "dashboard without the issue's timeline, sparkline, messages/s and ETA.",
        ),
    )


if __name__ == "__main__":
    run()
