"""The durable outbox's storage: localStorage vs IndexedDB on the send path, and after a reload.

    PYTHONPATH=src:. python -m bench.storage          # writes bench/results/STORAGE.md
    python -m bench --only storage                    # the same section in RESULTS.md

``DurableOutbox`` (src/wsclient/browser.py) writes one ``localStorage`` key per queued send
(``wsclient:outbox:<url>:<id>``, a small JSON record holding the message's wire text) and removes
it on the ack. This measures what that costs, and what IndexedDB would, in one run:

- pages: ``pages/storage.html`` (``pages/storage.js`` only) and ``pages/storage-py.html`` (the
  same plus Pyodide, ``pages/storage_py.py``: the loop in Python, one crossing into JS per send as
  the client makes), each in its own headless Chromium with a profile on disk, driven over raw CDP
  (``cdp.CdpPage``; a Playwright context would keep storage in memory);
- variants, interleaved (the order rotates every round): ``none`` (the record built and
  serialised, nothing stored: the baseline), ``ls`` (``setItem`` / ``removeItem``), ``idb`` (one
  readwrite transaction per entry, ``put`` / ``delete``, default durability) and ``idb-strict``
  (``{durability: "strict"}``);
- message texts of ~100 B, ~1 KB and ~4 KB; bursts of ``BURST`` sends: µs per send for the
  synchronous call (the send path's own cost), the main thread's busy time per send from before
  the burst to the last transaction's ``complete`` (CDP ``TaskDuration``: the completion events
  count), and µs per send until the last one completed; then the same for the removals;
- durability latency: one write at a time, each awaited, 5 ms apart;
- a reload: N entries written (one transaction each), then ``location.reload()`` in the same
  task; the new page counts what the store holds (twice, 0.5 s apart: the later count).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from .cdp import CdpPage
from .harness import Bench, Row, Section, median

SIZES = (100, 1_000, 4_000)
VARIANTS = ("none", "ls", "idb", "idb-strict")
STORING = VARIANTS[1:]
BURST = 300
LATENCY_WRITES = 20
RELOAD_COUNTS = (1, 10, 100)
RELOAD_SIZE = 1_000
LABEL = {
    "none": "no persistence",
    "ls": "localStorage",
    "idb": "IndexedDB",
    "idb-strict": "IndexedDB (strict)",
}
_tags = itertools.count(1)


def _size(size: int) -> str:
    return f"{size // 1000} KB" if size >= 1000 else f"{size} B"


class StoragePage(CdpPage):
    def __init__(self, bench: Bench, name: str, path: str, python: bool) -> None:
        super().__init__(bench, name, path, wait_ready=False)
        self.python = python
        self.wait_for("!!(window.__storage && window.__storage.db)")
        if python:
            self.wait_for("window.__pyReady === true", timeout=120)
        self.evaluate("__storage.clear()", await_promise=True)

    def burst(self, op: str, variant: str, size: int, tag: str) -> dict[str, float]:
        """``op`` = write | remove: µs per send (sync part, until completed, main-thread busy)."""
        fn = {"write": "writeBurst", "remove": "removeBurst"}[op] + ("Py" if self.python else "")
        args = (
            f'"{variant}", {size}, {BURST}, "{tag}"'
            if op == "write"
            else (f'"{variant}", {BURST}, "{tag}"')
        )
        before = self.metrics()["TaskDuration"]
        got: dict[str, float] = self.evaluate(f"__storage.{fn}({args})", await_promise=True)
        busy = self.metrics()["TaskDuration"] - before
        got["busyUs"] = busy * 1e6 / BURST
        return got

    def latency(self, variant: str, size: int) -> list[float]:
        tag = f"lat{next(_tags)}"
        args = f'"{variant}", {size}, {LATENCY_WRITES}, "{tag}"'
        return list(self.evaluate(f"__storage.latency({args})", await_promise=True))

    def reload_trial(self, variant: str, n: int) -> int:
        """Entries found after ``n`` writes and an immediate reload."""
        tag = f"reload{next(_tags)}"
        self.evaluate(f'__storage.writeThenReload("{variant}", {RELOAD_SIZE}, {n}, "{tag}")')
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.evaluate("!window.__stale && !!(window.__storage && window.__storage.db)"):
                    break
            except RuntimeError:  # the old document's context went away mid-call
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("storage: the page did not come back after its reload")
            time.sleep(0.02)
        count = f'__storage.count("{variant}", "{tag}")'
        found = int(self.evaluate(count, await_promise=True))
        time.sleep(0.5)  # a write still landing would show now: count again, keep the later
        later = int(self.evaluate(count, await_promise=True))
        if later != found:
            print(f"  storage: {variant} {found} then {later} of {n} after the reload", flush=True)
        self.evaluate("__storage.clear()", await_promise=True)
        return later


def _rotated(rep: int) -> tuple[str, ...]:
    k = rep % len(VARIANTS)
    return VARIANTS[k:] + VARIANTS[:k]


def run(bench: Bench) -> Section:
    reps = max(3, bench.settings.reps)
    if bench.settings.quick:
        reps = 2
    layers = ("js", "py")
    # results[layer][op][size][variant] -> list of bursts
    results: dict[str, dict[str, dict[int, dict[str, list[dict[str, float]]]]]] = {
        layer: {op: {s: {v: [] for v in VARIANTS} for s in SIZES} for op in ("write", "remove")}
        for layer in layers
    }
    latency: dict[int, dict[str, list[float]]] = {s: {v: [] for v in VARIANTS} for s in SIZES}
    survived: dict[str, dict[int, list[int]]] = {v: {n: [] for n in RELOAD_COUNTS} for v in STORING}
    pages = {
        "js": StoragePage(bench, "storage-js", "/bench/pages/storage.html", python=False),
    }
    try:
        pages["py"] = StoragePage(bench, "storage-py", "/bench/pages/storage-py.html", python=True)
        for layer in layers:  # warm-up, not counted
            for v in VARIANTS:
                tag = f"warm{next(_tags)}"
                pages[layer].burst("write", v, 1_000, tag)
                pages[layer].burst("remove", v, 1_000, tag)
        for rep in range(reps):
            for size in SIZES:
                for layer in layers if rep % 2 == 0 else layers[::-1]:
                    for v in _rotated(rep + SIZES.index(size)):
                        tag = f"b{next(_tags)}"
                        results[layer]["write"][size][v].append(
                            pages[layer].burst("write", v, size, tag)
                        )
                        results[layer]["remove"][size][v].append(
                            pages[layer].burst("remove", v, size, tag)
                        )
                for v in _rotated(rep):
                    latency[size][v] += pages["js"].latency(v, size)
            for n in RELOAD_COUNTS:
                for v in STORING if rep % 2 == 0 else STORING[::-1]:
                    survived[v][n].append(pages["js"].reload_trial(v, n))
            w, p = results["js"]["write"][1_000], results["py"]["write"][1_000]
            print(
                f"  storage round {rep + 1}/{reps}: 1 KB write, us/send main-thread busy (JS) "
                + ", ".join(f"{v} {w[v][-1]['busyUs']:.1f}" for v in VARIANTS)
                + "; sync call from Python "
                + ", ".join(f"{v} {p[v][-1]['issueUs']:.1f}" for v in VARIANTS)
                + "; found after reload (of 100): "
                + ", ".join(f"{v} {survived[v][100][-1]}" for v in STORING),
                flush=True,
            )
    finally:
        for page in pages.values():
            page.close()
    return _section(results, latency, survived, reps)


def _med(bursts: list[dict[str, float]], key: str) -> float:
    return median([b[key] for b in bursts])


def _section(
    results: dict[str, Any],
    latency: dict[int, dict[str, list[float]]],
    survived: dict[str, dict[int, list[int]]],
    reps: int,
) -> Section:
    sec = Section(
        f"Durable outbox storage: localStorage vs IndexedDB ({BURST} sends per burst, "
        f"{reps} rounds, interleaved)"
    )
    js, py = results["js"], results["py"]
    kb = 1_000
    base_w = _med(js["write"][kb]["none"], "busyUs")
    base_r = _med(js["remove"][kb]["none"], "busyUs")
    for v in STORING:
        busy = _med(js["write"][kb][v], "busyUs")
        sec.rows.append(
            Row(
                f"Outbox storage, 1 KB message: write, {LABEL[v]}, main-thread busy per send",
                "no persistence (record serialised only)",
                base_w,
                busy,
                "us",
                "- (a figure)",
                None,
                ratio=busy / base_w if base_w > 0 else None,
                note=f"sync call {_med(js['write'][kb][v], 'issueUs'):.1f} us; from Python "
                f"{_med(py['write'][kb][v], 'issueUs'):.1f} vs "
                f"{_med(py['write'][kb]['none'], 'issueUs'):.1f} us",
            )
        )
    for v in STORING:
        busy = _med(js["remove"][kb][v], "busyUs")
        sec.rows.append(
            Row(
                f"Outbox storage: remove on ack, {LABEL[v]}, main-thread busy per ack",
                "no persistence",
                base_r,
                busy,
                "us",
                "- (a figure)",
                None,
                ratio=busy / base_r if base_r > 0 else None,
            )
        )
    for v in STORING:
        got = survived[v][100]
        sec.rows.append(
            Row(
                f"Outbox storage: entries found after 100 writes + immediate reload, {LABEL[v]}",
                "written",
                100,
                median(got),
                "entries",
                "all",
                all(g == 100 for g in got),
                ratio=median(got) / 100,
                note="per trial: " + ", ".join(str(g) for g in got),
            )
        )
    sec.details.append(_tables(results, latency, survived))
    sec.details.append(verdict(results, latency, survived))
    sec.details.append(NOTES)
    sec.details.append(
        "Method: `bench/storage.py` (see its docstring). Busy per send: CDP `TaskDuration` of the "
        "renderer's main thread from before the burst to the last transaction's `complete`, "
        "divided by the sends (it includes one `Runtime.evaluate`, the same for every variant; "
        "IndexedDB's completion events count). Sync call: `performance.now()` around the loop "
        "(the send path's own delay). Until complete: from the burst's start to the last "
        "`complete` (localStorage: the sync call; its write reaches the browser process "
        "asynchronously, and the disk later). Python: the loop in Pyodide, one call into JS per "
        "send (`localStorage.setItem` through the proxy as `DurableOutbox.save` does; for "
        "IndexedDB a JS helper that opens the transaction). Ratios are against `none` in the "
        "same round; the medians are over the rounds."
    )
    return sec


def _ratio(value: float, base: float) -> str:
    return f" ({value / base:.2f}x)" if base > 0 else ""


NOTES = (
    "Notes. The reload test decides: an IndexedDB transaction still in flight when the "
    "document unloads is lost (as a send path would issue it: one per send, nothing awaited "
    "before the page goes), while `localStorage.setItem` has handed the entry to the browser "
    "process before it returns. Batching puts into one transaction would cut the per-send cost, "
    "not the loss. Not measured: a browser crash or power cut (localStorage reaches the disk "
    "later, lazily; strict IndexedDB flushes, once its transaction completed). IndexedDB would "
    "also make the start-up read of the outbox asynchronous (the client would have to hold new "
    "sends until it has read the older page's entries, to keep their order)."
)


def _tables(
    results: dict[str, Any],
    latency: dict[int, dict[str, list[float]]],
    survived: dict[str, dict[int, list[int]]],
) -> str:
    lines = [
        "µs per send (median of the rounds; ratio vs `none`, same size and layer).",
        "",
        "| op | layer | size | variant | sync call | main-thread busy | until complete |"
        " single write complete (ms, median / p90) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for op in ("write", "remove"):
        for layer in ("js", "py"):
            for size in SIZES:
                cell = results[layer][op][size]
                b_issue, b_busy = _med(cell["none"], "issueUs"), _med(cell["none"], "busyUs")
                for v in VARIANTS:
                    issue, busy = _med(cell[v], "issueUs"), _med(cell[v], "busyUs")
                    done = _med(cell[v], "doneUs")
                    lat = "-"
                    if op == "write" and layer == "js":
                        values = sorted(latency[size][v])
                        p90 = values[int(0.9 * (len(values) - 1))]
                        lat = f"{median(values):.2f} / {p90:.2f}"
                    lines.append(
                        f"| {op} | {'JS' if layer == 'js' else 'Python'} | {_size(size)} "
                        f"| {LABEL[v]} | {issue:.1f}{_ratio(issue, b_issue)} "
                        f"| {busy:.1f}{_ratio(busy, b_busy)} | {done:.1f} | {lat} |"
                    )
    lines += [
        "",
        "Entries found after N writes (~1 KB messages) then `location.reload()` in the same "
        "task, per trial:",
        "",
        "| N | " + " | ".join(LABEL[v] for v in STORING) + " |",
        "|---|" + "---|" * len(STORING),
    ]
    for n in RELOAD_COUNTS:
        lines.append(
            f"| {n} | "
            + " | ".join(", ".join(str(x) for x in survived[v][n]) for v in STORING)
            + " |"
        )
    return "\n".join(lines)


def verdict(
    results: dict[str, Any],
    latency: dict[int, dict[str, list[float]]],
    survived: dict[str, dict[int, list[int]]],
) -> str:
    js = results["js"]
    kb = 1_000

    def extra(v: str) -> float:
        return _med(js["write"][kb][v], "busyUs") - _med(js["write"][kb]["none"], "busyUs")

    def lost(v: str) -> int:
        return sum(n * len(survived[v][n]) - sum(survived[v][n]) for n in RELOAD_COUNTS)

    written = sum(n * len(survived["ls"][n]) for n in RELOAD_COUNTS)
    idb_lost = min(lost("idb"), lost("idb-strict"))
    cheaper = extra("ls") <= extra("idb")
    if lost("ls") == 0 and idb_lost > 0:
        reason = (
            f"every localStorage entry written just before a reload survived ({written} of "
            f"{written}), IndexedDB lost {lost('idb')} (strict: {lost('idb-strict')}) of "
            f"{written}"
        )
        choice = "keep localStorage"
    elif lost("ls") == 0 and cheaper:
        reason = "both survived an immediate reload and localStorage costs less"
        choice = "keep localStorage"
    elif lost("ls") == 0:
        reason = "both survived an immediate reload; IndexedDB costs the main thread less"
        choice = "IndexedDB is worth a look"
    else:
        reason = f"localStorage lost {lost('ls')} entries on a reload (unexpected: check)"
        choice = "no verdict"
    lat = median(latency[kb]["idb"])
    return (
        f"**Verdict: {choice}** — {reason}; a 1 KB send costs the main thread "
        f"{extra('ls'):+.1f} us with localStorage vs {extra('idb'):+.1f} us with an IndexedDB "
        f"put (its transaction completes {lat:.1f} ms later, strict "
        f"{median(latency[kb]['idb-strict']):.1f} ms), and localStorage lets the next page read "
        "the outbox synchronously at start-up."
    )


def main() -> None:
    from pathlib import Path

    from .__main__ import main as bench_main

    out = Path(__file__).resolve().parent / "results" / "STORAGE.md"
    bench_main(
        ["--only", "storage", "--out", str(out)],
        heading=(
            "Durable outbox storage: localStorage vs IndexedDB",
            "Reproduce: `PYTHONPATH=src:. .venv/bin/python -m bench.storage` (or "
            "`.venv/bin/python -m bench --only storage`, which writes the same section into "
            "RESULTS.md). Headless Chromium, profile on disk, 2 shared cores: read the ratios, "
            "not the absolute figures.",
        ),
    )


if __name__ == "__main__":
    main()
