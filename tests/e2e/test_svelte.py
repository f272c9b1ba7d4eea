"""Real Svelte 5 components (svelte/*.svelte, compiled by `make setup` into build/svelte/) on the
Python client's stores: svelte.html mounts the story's ConnectionStatus.svelte and
ProjectEvents.svelte with Svelte's mount(); they use `$wsState`/`$wsMessages` on the stores of
window.wsclient. Every wait is on a condition.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from server import ServerThread

ROOT = Path(__file__).resolve().parents[2]
STATUS = "#svelte-status .connection-status"
PROJECT = "#svelte-project .project-events"
# Short retry windows so that the reconnect sequence takes well under a second per step.
FAST = {"backoff_initial": 300, "backoff_max": 600, "backoff_after_drop": 300, "min_uptime": 1}

# Installed before the page's scripts: records every distinct (class, text) the Svelte status
# component shows, read after each DOM change (Svelte flushes once per task, so every state the
# store passes through in its own task is seen).
STATUS_RECORDER_JS = """
(() => {
  const seen = [];
  window.__svelteTexts = seen;
  const read = () => {
    const root = document.querySelector("#svelte-status .connection-status");
    if (!root) return;
    const text = root.querySelector(".text").textContent.replace(/\\s+/g, " ").trim();
    const cls = root.className.replace(/\\s*svelte-\\w+/g, "").trim();
    const last = seen[seen.length - 1];
    if (!last || last[0] !== cls || last[1] !== text) seen.push([cls, text]);
  };
  new MutationObserver(read).observe(document, {
    subtree: true, childList: true, characterData: true, attributes: true,
  });
})();
"""

# Installed before the page's scripts: wraps the Python stores' subscribe (window.wsclient's
# store objects are plain objects) so the test can count, per store, the subscriptions that are
# open and the values delivered to each after it was closed.
STORE_COUNTER_JS = """
(() => {
  window.__stores = {};
  window.addEventListener("wsclient:ready", () => {
    for (const name of ["state", "messages", "health", "sync"]) {
      const store = window.wsclient[name];
      const original = store.subscribe.bind(store);
      const stats = { open: 0, calls: 0, callsAfterClose: 0 };
      window.__stores[name] = stats;
      store.subscribe = (run, invalidate) => {
        let closed = false;
        const counted = (value) => {
          stats.calls += 1;
          if (closed) stats.callsAfterClose += 1;
          run(value);
        };
        stats.open += 1;
        const off = original(counted, invalidate);
        return () => {
          if (!closed) { closed = true; stats.open -= 1; }
          off();
        };
      };
    }
  }, { once: true });
})();
"""


def open_svelte(app: Any, page: Page, **query: Any) -> Page:
    """Open svelte.html with the recorders and wait until both components are mounted."""
    page.add_init_script(STATUS_RECORDER_JS)
    page.add_init_script(STORE_COUNTER_JS)
    page = app("/svelte.html", **query)
    page.wait_for_function("() => window.svelteDemo !== undefined && window.svelteDemo.mounted")
    return page


def status_class(kind: str) -> re.Pattern[str]:
    """The status root's class: the story's two classes plus Svelte's scoping class."""
    return re.compile(rf"^connection-status {kind} svelte-\w+$")


def texts(page: Page) -> list[tuple[str, str]]:
    return [(c, t) for c, t in page.evaluate("window.__svelteTexts")]


def wait_text(page: Page, text: str, timeout: float = 10.0) -> None:
    expect(page.locator(f"{STATUS} .text")).to_have_text(text, timeout=timeout * 1000)


def subscribers(page: Page) -> dict[str, int]:
    """Python-side subscription count of each store (``wsclient.subscriberCount``)."""
    value = page.evaluate(
        "() => Object.fromEntries(['state', 'messages', 'health', 'sync']"
        ".map(n => [n, window.wsclient.subscriberCount(n)]))"
    )
    assert isinstance(value, dict)
    return value


@pytest.fixture(scope="module", autouse=True)
def _built() -> Iterator[None]:
    if not (ROOT / "build" / "svelte" / "ConnectionStatus.js").exists():
        pytest.fail("build/svelte/ is missing: run `make setup` (it compiles svelte/*.svelte)")
    yield


def test_the_compiled_modules_come_from_svelte_compiler() -> None:
    """build/svelte/ holds Svelte 5 client output, not hand-written JS."""
    code = (ROOT / "build" / "svelte" / "ConnectionStatus.js").read_text()
    assert "from 'svelte/internal/client'" in code
    assert "'$stores/websocket'" in code
    assert "$.store_get(" in code  # $wsState compiled to a store subscription


def test_connection_status_rerenders_on_every_state(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """connected -> disconnected -> connecting -> reconnecting (Attempt 1, 2) -> connected ->
    reconnecting after a drop -> connected -> error with the close reason, with the story's texts
    and classes."""
    page = open_svelte(app, page, **FAST)
    wait_text(page, "Connected")
    expect(page.locator(STATUS)).to_have_class(status_class("success"))
    expect(page.locator(f"{STATUS} .indicator")).to_have_count(1)

    page.evaluate("() => window.wsclient.disconnect()")
    wait_text(page, "Disconnected")

    server.refuse(on=True)
    page.evaluate("() => window.wsclient.connect()")
    # The recorder keeps every text shown: a busy machine may pass Attempt 2 between two polls.
    page.wait_for_function(
        "() => window.__svelteTexts.some(([, t]) => t === 'Reconnecting... (Attempt 2)')"
    )
    server.refuse(on=False)
    wait_text(page, "Connected")

    server.drop()
    wait_text(page, "Connected")  # after a reconnect
    page.wait_for_function(
        "() => window.__svelteTexts.filter(([, t]) => t === 'Connected').length >= 3"
    )

    server.close(code=4401, reason="token expired")
    wait_text(page, "Connection Error: token expired")
    expect(page.locator(STATUS)).to_have_class(status_class("error"))

    seen = texts(page)
    sequence = [t for _, t in seen]
    start = sequence.index("Disconnected")
    assert sequence[start : start + 4] == [
        "Disconnected",
        "Connecting...",
        "Reconnecting... (Attempt 1)",
        "Reconnecting... (Attempt 2)",
    ], sequence
    after_drop = sequence[sequence.index("Connected", start) + 1 :]
    assert after_drop[0] == "Reconnecting... (Attempt 1)", sequence
    assert sequence[-1] == "Connection Error: token expired"
    classes = {t: c for c, t in seen}
    assert classes["Connected"] == "connection-status success"
    assert classes["Connecting..."] == "connection-status warning"
    assert classes["Reconnecting... (Attempt 1)"] == "connection-status warning"
    assert classes["Disconnected"] == "connection-status error"
    assert classes["Connection Error: token expired"] == "connection-status error"
    assert page_errors == []


def test_project_events_render_domain_events_live(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """ProjectEvents subscribes its project on mount and renders uploads and process progress as
    the server emits them; its counter follows the Python messages store."""
    page = open_svelte(app, page, project="alpha")
    server.wait_for_frame(lambda f: '"subscribe"' in (f.text or "") and "alpha" in f.text)
    root = page.locator(PROJECT)
    expect(root).to_have_attribute("data-project", "alpha")
    expect(root.locator(".files + *, .empty").first).to_have_text("No files yet")

    server.emit(
        "alpha",
        "file.uploaded",
        file={"name": "scene.glb", "path": "/a/scene.glb", "size": 2048, "asset_type": "model"},
    )
    item = root.locator('.file[data-path="/a/scene.glb"]')
    expect(item.locator(".name")).to_have_text("scene.glb")
    expect(item.locator(".type")).to_have_text("model")
    expect(item.locator(".size")).to_have_text("2048 bytes")

    server.emit("alpha", "process.started", process_id="render-1", message="Queued")
    process = root.locator('.process[data-process="render-1"]')
    expect(process.locator(".percent")).to_have_text("0%")
    expect(process.locator(".message")).to_have_text("Queued")
    server.emit(
        "alpha", "process.progress", process_id="render-1", progress=0.3, message="Frame 12/40"
    )
    expect(process.locator(".percent")).to_have_text("30%")
    expect(process.locator(".message")).to_have_text("Frame 12/40")
    server.emit("alpha", "process.completed", process_id="render-1")
    expect(process.locator(".percent")).to_have_text("100%")
    expect(process).to_have_class(re.compile(r"^process completed( svelte-\w+)?$"))

    server.emit(
        "beta", "file.uploaded", file={"name": "x", "path": "/x", "size": 1, "asset_type": "t"}
    )
    server.emit(
        "alpha",
        "file.deleted",
        file={"name": "scene.glb", "path": "/a/scene.glb", "size": 2048, "asset_type": "model"},
    )
    expect(item).to_have_count(0)
    expect(root.locator(".seen")).to_have_text("5 recent events")
    assert page_errors == []


def test_unmount_leaves_no_live_subscription(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """Svelte's unmount() ends every subscription the components hold on the Python stores
    (Python's own count returns to zero, no value reaches an ended subscriber), removes their
    listeners and unsubscribes their project; mount/unmount cycles leak nothing."""
    page = open_svelte(app, page, project="alpha", **FAST)
    wait_text(page, "Connected")
    server.wait_for_frame(lambda f: '"subscribe"' in (f.text or "") and "alpha" in f.text)
    mounted = subscribers(page)
    assert mounted["state"] >= 1 and mounted["messages"] >= 1, mounted
    assert page.evaluate("window.__stores.state.open") == mounted["state"]
    assert page.evaluate("window.__stores.messages.open") == mounted["messages"]

    page.evaluate("() => window.svelteDemo.unmount()")
    expect(page.locator(STATUS)).to_have_count(0)
    expect(page.locator(PROJECT)).to_have_count(0)
    assert subscribers(page) == {"state": 0, "messages": 0, "health": 0, "sync": 0}
    assert page.evaluate("window.__stores.state.open") == 0
    assert page.evaluate("window.__stores.messages.open") == 0
    server.wait_for_frame(lambda f: '"unsubscribe"' in (f.text or "") and "alpha" in f.text)
    proxies = page.evaluate("() => window.wsclient.liveProxies()")

    # Changes after the unmount: a reconnect, messages, project events. A fresh subscriber sees
    # them; the ended ones get nothing.
    page.evaluate(
        """() => {
        window.__after = { states: [], texts: [], files: [] };
        const ws = window.wsclient;
        window.__offAfter = [
            ws.state.subscribe(s => window.__after.states.push(s.status)),
            ws.messages.subscribe(m => window.__after.texts.push(...m.map(x => x.text))),
            ws.on('file.uploaded', m => window.__after.files.push(m.file.path)),
        ];
        ws.subscribe('alpha');
    }"""
    )
    server.drop()
    page.wait_for_function(
        "() => window.__after.states.includes('reconnecting') "
        "&& window.__after.states.at(-1) === 'connected'"
    )
    server.send(text='{"type": "chat.message", "text": "after unmount"}')
    server.emit(
        "alpha", "file.uploaded", file={"name": "n", "path": "/n", "size": 1, "asset_type": "t"}
    )
    page.wait_for_function(
        "() => window.__after.texts.includes('after unmount') "
        "&& window.__after.files.includes('/n')"
    )
    page.evaluate(
        "() => { window.__offAfter.forEach(off => off()); wsclient.unsubscribe('alpha'); }"
    )
    assert page.evaluate("window.__stores.state.callsAfterClose") == 0
    assert page.evaluate("window.__stores.messages.callsAfterClose") == 0
    expect(page.locator("#svelte-status *")).to_have_count(0)
    expect(page.locator("#svelte-project *")).to_have_count(0)

    # Twenty mount/unmount cycles: every count comes back to where it was.
    for _ in range(20):
        page.evaluate("() => window.svelteDemo.mount()")
        expect(page.locator(f"{STATUS} .text")).to_have_text("Connected")
        page.evaluate("() => window.svelteDemo.unmount()")
        expect(page.locator(STATUS)).to_have_count(0)
    assert subscribers(page) == {"state": 0, "messages": 0, "health": 0, "sync": 0}
    assert page.evaluate("window.__stores.state.open") == 0
    assert page.evaluate("window.__stores.state.callsAfterClose") == 0
    assert page.evaluate("() => window.wsclient.liveProxies()") == proxies
    assert page_errors == []
