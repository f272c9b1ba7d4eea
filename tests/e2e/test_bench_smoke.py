"""Smoke test of the benchmark harness: the CLI runs and writes a results table (the core's storm
simulation only, ~10 s; the browser benchmarks are too slow for the test suite)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_cli_writes_a_results_table(tmp_path: Path) -> None:
    """`python -m bench --only storm` writes a markdown table with the storm's row."""
    out = tmp_path / "RESULTS.md"
    subprocess.run(
        [sys.executable, "-m", "bench", "--only", "storm", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    text = out.read_text()
    assert "| benchmark | baseline |" in text
    assert "Storm: peak attempts in any 100 ms" in text
    assert "Chromium" in text
