"""Start-up without tricks: the README's embedding snippet vs a bare PyScript page, and the zip.

Three pages load, interleaved (bare, list, zip, bare, list, zip...), each in a fresh headless
Chromium with a fresh profile (a cold HTTP cache, nothing shared between loads):

- ``bare``: ``pages/bare.html``, PyScript + the same Pyodide, whose first Python line stamps
  ``window.__printedAt`` (then it prints): navigation -> the first Python line ran;
- ``list``: ``pages/embed.html``, exactly the README's embedding snippet (``pyscript.toml`` as
  shipped: the package module by module in ``[files]``): navigation -> an element has
  ``data-status="connected"``;
- ``zip``: the same snippet with a copy of the config whose ``[files]`` is one archive,
  ``"./build/wsclient.zip" = "./*"``, built here from ``src/wsclient/*.py`` into a temporary
  directory under ``bench/`` (the server serves only what lies under the repository root).

On localhost a request costs little, so the list and the zip are then also loaded, interleaved,
over a throttled link (20 Mbit/s, 40 ms latency, CDP network emulation), where a first visit pays
for every request: the zip is adopted if it buys >= 100 ms median either way.

No Playwright here: it enables the DevTools Network domain, whose per-request cost would
favour the page that makes fewer requests (the zip) on localhost. The harness speaks raw CDP to
each Chromium: ``Page.addScriptToEvaluateOnNewDocument`` (a MutationObserver that stamps the
first ``data-status="connected"``), ``Page.navigate``, then ``Runtime.evaluate`` polls for the
stamp. Only the throttled loads enable the Network domain (to emulate the link), on both pages.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import shutil
import tempfile
import tomllib
import zipfile
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from .harness import CHROMIUM, CHROMIUM_ARGS, ROOT, Bench, Row, Section, fmt, interleave, median

T = TypeVar("T")

GOAL_MS = 100.0  # what the client may add to a bare page; and what a device must buy to stay
LOAD_TIMEOUT_S = 60.0

MARKS_JS = """
(() => {
  const marks = (window.__benchMarks = {});
  addEventListener("py:progress", ({ detail }) => {
    if (detail === "Loaded interpreter") marks.loaded ??= performance.now();
  });
  const check = () => {
    if (marks.connected === undefined && document.querySelector('[data-status="connected"]')) {
      marks.connected = performance.now();
    }
  };
  new MutationObserver(check).observe(document, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"],
  });
})();
"""

READ_JS = """(() => {
  const m = window.__benchMarks || {};
  const done = m.connected ?? window.__printedAt;
  if (done === undefined) return null;
  const interp = performance.getEntriesByType("resource")
    .find((e) => e.name.endsWith("/pyodide.mjs"));
  const el = document.querySelector("[data-ws-status] [data-status]") ||
    document.querySelector("[data-status]");
  return {
    done,
    loaded: m.loaded ?? null,
    interpreter: interp ? interp.startTime : null,
    text: el ? (el.querySelector(".text") || el).textContent.trim() : null,
    requests: performance.getEntriesByType("resource").length,
  };
})()"""

VARIANTS = ("bare", "list", "zip")
#: The throttled link (20 Mbit/s, 40 ms): the device comparison here and bench/snapshot_boot.py.
THROTTLE = {
    "offline": False,
    "latency": 40,
    "downloadThroughput": 2_500_000,
    "uploadThroughput": 2_500_000,
}


class ZipVariant:
    """The candidate device: the package as one zip, in a temporary directory under bench/."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="_tmp-startup-", dir=ROOT / "bench"))
        modules = sorted((ROOT / "src" / "wsclient").glob("*.py"))
        build = self.dir / "build"
        build.mkdir()
        with zipfile.ZipFile(build / "wsclient.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            for module in modules:
                zf.write(module, f"wsclient/{module.name}")
        self.config = self.dir / "pyscript.toml"
        self.config.write_text(zip_config((ROOT / "pyscript.toml").read_text(), modules))
        page = (ROOT / "bench" / "pages" / "embed.html").read_text()
        self.page = self.dir / "embed-zip.html"
        self.page.write_text(
            page.replace("config=/pyscript.toml", f"config={self.url_of(self.config)}")
        )
        self.size = (build / "wsclient.zip").stat().st_size
        self.modules = len(modules)

    @staticmethod
    def url_of(path: Path) -> str:
        return "/" + path.relative_to(ROOT).as_posix()

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def zip_config(text: str, modules: list[Path]) -> str:
    """``pyscript.toml`` with its ``[files]`` table replaced by the one archive.

    The copy lives in another directory, so its one other relative path (the JS module) is made
    root-absolute: the same file, the same one request.
    """
    shipped = tomllib.loads(text)
    listed = {k.replace("{FROM}/", "") for k in shipped["files"] if k.startswith("{FROM}/")}
    if listed != {m.name for m in modules}:
        raise RuntimeError(f"pyscript.toml [files] is not src/wsclient/*.py: {sorted(listed)}")
    files = '[files]\n"./build/wsclient.zip" = "./*"\n\n'
    out, n = re.subn(r"(?ms)^\[files\]\n.*?(?=^\[)", files, text)
    if n != 1:
        raise RuntimeError("pyscript.toml has no [files] table followed by another table")
    out = out.replace('"./static/wsclient.js"', '"/static/wsclient.js"')
    parsed = tomllib.loads(out)
    if parsed["files"] != {"./build/wsclient.zip": "./*"} or not parsed.get("js_modules"):
        raise RuntimeError(f"unexpected zip config: {parsed}")
    return out


class Cdp:
    """One DevTools page session over a WebSocket (commands only; events are skipped)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._id = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        await self._ws.send_str(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = await self._ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"DevTools connection ended: {msg.type}")
            data = json.loads(msg.data)
            if data.get("id") == self._id:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                result: dict[str, Any] = data.get("result", {})
                return result


async def _load(url: str, throttle: dict[str, Any] | None = None) -> dict[str, Any]:
    """One cold load of ``url`` in a fresh Chromium: the page's marks (ms since navigation);
    over an emulated link if ``throttle`` (``Network.emulateNetworkConditions``' parameters)."""
    profile = tempfile.mkdtemp(prefix="bench-startup-")
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        *CHROMIUM_ARGS,
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    drain: asyncio.Task[None] | None = None
    try:
        port = await asyncio.wait_for(_devtools_port(proc.stderr), 30)
        drain = asyncio.create_task(_drain(proc.stderr))
        async with aiohttp.ClientSession() as http:
            targets = await (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
            page = next(t for t in targets if t.get("type") == "page")
            async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                cdp = Cdp(ws)
                await cdp.call("Page.enable")
                if throttle is not None:
                    await cdp.call("Network.enable")
                    await cdp.call("Network.emulateNetworkConditions", **throttle)
                await cdp.call("Page.addScriptToEvaluateOnNewDocument", source=MARKS_JS)
                await cdp.call("Page.navigate", url=url)
                deadline = asyncio.get_running_loop().time() + LOAD_TIMEOUT_S
                while True:
                    await asyncio.sleep(0.1)
                    got = await cdp.call("Runtime.evaluate", expression=READ_JS, returnByValue=True)
                    value = got.get("result", {}).get("value")
                    if value:
                        return dict(value)
                    if asyncio.get_running_loop().time() > deadline:
                        raise TimeoutError(f"{url}: not done after {LOAD_TIMEOUT_S:g} s")
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if drain is not None:
            drain.cancel()
        shutil.rmtree(profile, ignore_errors=True)


async def _devtools_port(stream: asyncio.StreamReader) -> int:
    while True:
        line = (await stream.readline()).decode(errors="replace")
        if not line:
            raise RuntimeError("Chromium exited before DevTools listened")
        found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
        if found:
            return int(found.group(1))


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


def _in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on its own loop in a worker thread (Playwright's sync API owns this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def run(bench: Bench) -> Section:
    reps = 3 if bench.settings.quick else max(8, bench.settings.reps)
    zipped = ZipVariant()
    urls = {
        "bare": bench.url("/bench/pages/bare.html"),
        "list": bench.url("/bench/pages/embed.html"),
        "zip": bench.url(ZipVariant.url_of(zipped.page)),
    }
    marks: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    throttled: dict[str, list[float]] = {"list": [], "zip": []}
    try:
        for _, variant in interleave(VARIANTS, reps):
            got = _in_thread(_load(urls[variant]))
            if variant != "bare" and got["text"] != "Connected":
                raise RuntimeError(f"{variant}: the status shows {got['text']!r}")
            marks[variant].append(got)
            print(f"  start-up {variant}: {got['done']:,.0f} ms", flush=True)
        for _, variant in interleave(tuple(throttled), 2 if bench.settings.quick else 6):
            got = _in_thread(_load(urls[variant], THROTTLE))
            throttled[variant].append(got["done"])
            print(f"  start-up {variant}, throttled: {got['done']:,.0f} ms", flush=True)
    finally:
        zipped.close()
    return section(marks, throttled, reps, zipped)


def bootstrap_ci(a: list[float], b: list[float], rounds: int = 2000) -> tuple[float, float]:
    """A 95 % interval for median(a) - median(b), resampling each variant's loads (seeded)."""
    rng = random.Random(0)
    diffs = sorted(
        median(rng.choices(a, k=len(a))) - median(rng.choices(b, k=len(b))) for _ in range(rounds)
    )
    return diffs[int(0.025 * rounds)], diffs[int(0.975 * rounds) - 1]


def section(
    marks: dict[str, list[dict[str, Any]]],
    throttled: dict[str, list[float]],
    reps: int,
    zipped: ZipVariant,
) -> Section:
    done = {v: [m["done"] for m in marks[v]] for v in VARIANTS}
    med = {v: median(done[v]) for v in VARIANTS}
    paired_client = median([a - b for a, b in zip(done["list"], done["bare"], strict=True)])
    paired_zip = median([a - b for a, b in zip(done["zip"], done["list"], strict=True)])
    added = med["list"] - med["bare"]
    slow = {v: median(throttled[v]) for v in throttled}
    paired_slow = median([a - b for a, b in zip(throttled["zip"], throttled["list"], strict=True)])
    ci_slow = bootstrap_ci(throttled["zip"], throttled["list"])
    bought = max(med["list"] - med["zip"], slow["list"] - slow["zip"])
    ci_client = bootstrap_ci(done["list"], done["bare"])
    ci_zip = bootstrap_ci(done["zip"], done["list"])
    after = {
        v: [m["done"] - m["loaded"] for m in marks[v] if m.get("loaded") is not None]
        for v in VARIANTS
    }
    after_med = {v: median(after[v]) for v in VARIANTS}
    sec = Section(f"Start-up ({reps} cold loads of each page, interleaved)")
    sec.rows.append(
        Row(
            "Start-up: README snippet, navigation -> connected",
            "bare PyScript page, navigation -> first Python line",
            med["bare"],
            med["list"],
            "ms",
            f"<= +{GOAL_MS:g} ms (median difference)",
            added <= GOAL_MS,
            ratio=med["list"] / med["bare"],
            note=f"{added:+,.0f} ms, 95% CI [{ci_client[0]:+,.0f}, {ci_client[1]:+,.0f}]; "
            f"paired median {paired_client:+,.0f} ms",
        )
    )
    sec.rows.append(
        Row(
            'Start-up: the same loads, from Pyodide up ("Loaded interpreter") to done',
            "bare page, Pyodide up -> first Python line",
            after_med["bare"],
            after_med["list"],
            "ms",
            "- (the client's own work, without the boot's noise)",
            None,
            ratio=after_med["list"] / after_med["bare"] if after_med["bare"] else None,
            note=f"{after_med['list'] - after_med['bare']:+,.0f} ms; zip "
            f"{after_med['zip']:,.0f} ms "
            f"({after_med['zip'] - after_med['list']:+,.0f} vs the list)",
        )
    )
    sec.rows.append(
        Row(
            "Start-up device: the package as one zip vs the [files] list, localhost",
            "[files] module by module (shipped)",
            med["list"],
            med["zip"],
            "ms",
            f"adopt the zip only if it buys >= {GOAL_MS:g} ms here or throttled",
            None,
            ratio=med["zip"] / med["list"],
            note=f"{med['zip'] - med['list']:+,.0f} ms, 95% CI [{ci_zip[0]:+,.0f}, "
            f"{ci_zip[1]:+,.0f}]; paired median {paired_zip:+,.0f} ms",
        )
    )
    sec.rows.append(
        Row(
            "Start-up device: the zip vs the list, throttled first visit (20 Mbit/s, 40 ms)",
            "[files] module by module (shipped)",
            slow["list"],
            slow["zip"],
            "ms",
            f"adopt the zip only if it buys >= {GOAL_MS:g} ms here or on localhost",
            None,
            ratio=slow["zip"] / slow["list"],
            note=f"{slow['zip'] - slow['list']:+,.0f} ms, 95% CI [{ci_slow[0]:+,.0f}, "
            f"{ci_slow[1]:+,.0f}]; paired median {paired_slow:+,.0f} ms; verdict: "
            + ("adopt the zip" if bought >= GOAL_MS else "keep the plain list"),
        )
    )
    interp = {
        v: median([m["interpreter"] for m in marks[v] if m["interpreter"] is not None])
        for v in VARIANTS
    }
    sec.details.append(
        "Navigation -> done, in load order (ms): "
        + "; ".join(f"{v}: " + ", ".join(fmt(x) for x in done[v]) for v in VARIANTS)
        + "; throttled: "
        + "; ".join(f"{v}: " + ", ".join(fmt(x) for x in throttled[v]) for v in throttled)
        + ". Navigation -> PyScript requests pyodide.mjs (median ms): "
        + ", ".join(f"{v} {fmt(interp[v])}" for v in VARIANTS)
        + ". Requests per load (median): "
        + ", ".join(f"{v} {fmt(median([m['requests'] for m in marks[v]]))}" for v in VARIANTS)
        + f". The zip holds the {zipped.modules} modules of src/wsclient ({zipped.size:,} bytes, "
        "deflated). Each load: a fresh headless Chromium and profile, driven over raw CDP (the "
        "Network domain only for the throttled loads); `paired` is the median of the "
        "differences between neighbouring loads; "
        "the CI resamples the loads (Pyodide's boot alone varies by seconds from load to load "
        "when other jobs share the cores)."
    )
    return sec
