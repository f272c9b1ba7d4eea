"""Real Svelte 5 components (svelte/*.svelte, compiled by `make setup` into build/svelte/) on the
Python client's stores: svelte.html mounts the story's ConnectionStatus.svelte and one
ProjectEvents.svelte per project of `?project=` with Svelte's mount(); they use `$wsState`,
`$wsProjects`, `$wsFiles`, `$wsProcesses` and `$wsMessages` on the stores of window.wsclient.
Every wait is on a condition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from server import ServerThread
from wsclient.config import projects_from_query, query_parameters

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

STORES = ("state", "messages", "health", "sync", "projects", "files", "processes")
DOMAIN_STORES = ("projects", "files", "processes")

# Installed before the page's scripts: wraps the Python stores' subscribe (window.wsclient's
# store objects are plain objects) so the test can count, per store, the subscriptions that are
# open and the values delivered to each after it was closed; and notes each store's Python-side
# subscriber count before svelte/main.js mounts anything (window.__before).
STORE_COUNTER_JS = """
(() => {
  window.__stores = {};
  window.addEventListener("wsclient:ready", () => {
    window.__before = Object.fromEntries(
      NAMES.map((name) => [name, window.wsclient.debug.subscriberCount(name)]));
    for (const name of NAMES) {
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
""".replace("NAMES", repr(list(STORES)))

# The rendered state of one ProjectEvents section, sorted by path and by process id: its data's
# name, its files [path, name, type, size text] and processes [id, state, progress, message].
READ_PROJECT_JS = """
(root) => {
  const byKey = (a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  const text = (el, sel) => el.querySelector(sel).textContent;
  return {
    data: root.querySelector(".data .name")?.textContent ?? null,
    files: [...root.querySelectorAll(".file")].map((li) => [
      li.dataset.path, text(li, ".name"), text(li, ".type"), text(li, ".size"),
    ]).sort(byKey),
    processes: [...root.querySelectorAll(".process")].map((li) => [
      li.dataset.process,
      li.classList.contains("completed") ? "completed" : "running",
      li.querySelector("progress").value,
      text(li, ".message"),
    ]).sort(byKey),
  };
}
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
    """Python-side subscription count of each store (``wsclient.debug.subscriberCount``)."""
    value = page.evaluate(
        "(names) => Object.fromEntries("
        "names.map(n => [n, window.wsclient.debug.subscriberCount(n)]))",
        list(STORES),
    )
    assert isinstance(value, dict)
    return value


def store_value(page: Page, name: str) -> Any:
    """The current value of the Python store ``window.wsclient[name]`` (subscribe, read, end)."""
    return page.evaluate(
        "(name) => { let v; const off = window.wsclient[name].subscribe((x) => { v = x; });"
        " off(); return v; }",
        name,
    )


def view(data: Any, files: dict[str, Any], processes: dict[str, Any]) -> dict[str, Any]:
    """What ProjectEvents should show for a project's data, files and processes (READ_PROJECT_JS's
    shape)."""
    return {
        "data": data.get("name") if isinstance(data, dict) else None,
        "files": sorted(
            [path, f["name"], f["asset_type"], f"{f['size']} bytes"] for path, f in files.items()
        ),
        "processes": sorted(
            [pid, p["status"], p["progress"], p["message"]] for pid, p in processes.items()
        ),
    }


def stores_view(page: Page, project_id: str) -> dict[str, Any]:
    """What the browser's Python domain stores hold for ``project_id``, as ``view``."""
    return view(
        store_value(page, "projects").get(project_id),
        store_value(page, "files").get(project_id, {}),
        store_value(page, "processes").get(project_id, {}),
    )


def server_view(server: ServerThread, project_id: str) -> dict[str, Any]:
    """The server's authoritative state of ``project_id``, as ``view``."""
    state = server.project_state(project_id)
    return view(state["data"], state["files"], state["processes"])


def rendered(page: Page, project_id: str) -> dict[str, Any]:
    section = page.locator(f'{PROJECT}[data-project="{project_id}"]')
    value: dict[str, Any] = section.evaluate(READ_PROJECT_JS)
    return value


def wait_rendered(page: Page, project_id: str, expected: dict[str, Any]) -> None:
    """Wait until the project's section shows ``expected`` (a ``view``)."""
    page.wait_for_function(
        f"""([id, expected]) => {{
            const root = document.querySelector(
                `{PROJECT}[data-project="${{CSS.escape(id)}}"]`);
            return root !== null
                && JSON.stringify(({READ_PROJECT_JS})(root)) === JSON.stringify(expected);
        }}""",
        arg=[project_id, expected],
    )


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
    page = open_svelte(app, page, **FAST)  # with `?project=`: no project named, none shown
    wait_text(page, "Connected")
    expect(page.locator(STATUS)).to_have_class(status_class("success"))
    expect(page.locator(PROJECT)).to_have_count(0)
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


SCENE = {"name": "scene.glb", "path": "/a/scene.glb", "size": 2048, "asset_type": "model"}


def test_project_events_render_domain_events_live(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """ProjectEvents shows what the Python domain stores hold for its project (`$wsProjects`,
    `$wsFiles`, `$wsProcesses`): the state the subscribe's snapshot brought, then uploads,
    deletions, process progress and completion live, with the stores' rules (a late progress
    never reopens a process, project.deleted clears it all), and after a burst of the demo's
    mixed events exactly the server's state; its counter follows the Python messages store."""
    # History from before the page: the client learns it only through the snapshot.
    server.emit("alpha", "project.created", data={"name": "Alpha Launch", "status": "active"})
    server.emit(
        "alpha",
        "file.uploaded",
        file={"name": "old.png", "path": "/old.png", "size": 10, "asset_type": "texture"},
    )
    server.emit("alpha", "process.started", process_id="bake-0", progress=0.5, message="Half")

    page = open_svelte(app, page, project="alpha")
    server.wait_for_frame(lambda f: '"subscribe"' in (f.text or "") and "alpha" in f.text)
    root = page.locator(PROJECT)
    expect(root).to_have_count(1)
    expect(root).to_have_attribute("data-project", "alpha")
    expect(root.locator(".data .name")).to_have_text("Alpha Launch")
    expect(root.locator(".data .status")).to_have_text("active")
    wait_rendered(page, "alpha", server_view(server, "alpha"))
    expect(root.locator('.process[data-process="bake-0"] .percent')).to_have_text("50%")
    assert rendered(page, "alpha") == stores_view(page, "alpha")

    server.emit("alpha", "file.uploaded", file=SCENE)
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
    expect(process.locator("progress")).to_have_js_property("value", 0.3)
    expect(process.locator(".message")).to_have_text("Frame 12/40")
    server.emit("alpha", "process.completed", process_id="render-1")
    expect(process.locator(".percent")).to_have_text("100%")
    expect(process).to_have_class(re.compile(r"^process completed( svelte-\w+)?$"))
    expect(process.locator(".message")).to_have_text("Frame 12/40")  # kept: none was given

    # A late progress report is ignored by the store; the deletion after it shows it was read.
    server.emit("alpha", "process.progress", process_id="render-1", progress=0.5, message="late")
    server.emit("alpha", "file.deleted", file=SCENE)
    expect(item).to_have_count(0)
    expect(process.locator(".percent")).to_have_text("100%")
    expect(process.locator(".message")).to_have_text("Frame 12/40")
    expect(root.locator(".seen")).to_have_text("6 recent events")
    assert rendered(page, "alpha") == stores_view(page, "alpha") == server_view(server, "alpha")

    # The demo's mix (project updates, uploads, deletions, processes): the page ends on the
    # server's state, and shows exactly what the stores hold.
    server.emit_many("alpha", 60)
    wait_rendered(page, "alpha", server_view(server, "alpha"))
    assert rendered(page, "alpha") == stores_view(page, "alpha")
    assert rendered(page, "alpha")["files"] or rendered(page, "alpha")["processes"]

    server.emit("alpha", "project.deleted")
    expect(root.locator(".empty")).to_have_text(["No files yet", "No processes yet"])
    expect(root.locator(".data")).to_have_count(0)
    assert stores_view(page, "alpha") == {"data": None, "files": [], "processes": []}
    assert page_errors == []


# Query strings whose `project` svelte/lib/query.js must read exactly as the Python client does.
PROJECT_QUERIES = [
    "project=alpha,beta",
    "project=+beta+,%20alpha,,beta",
    "project=a&project=b,c",
    "project=",
    "project",
    "x=1",
    "",
    "project=a%2Cb%2C%2Ca",
    "project=%E2%80%83em%E2%80%83,%1Cfs%1F,%C2%85nel",
    "project=%EF%BB%BFbom",
    "project=%C3%28,%zz,%e2%82",
    "pro%6Aect=encoded+name&project=last",
    "project=a=b,c",
]


def test_project_query_names_several_projects(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """`?project= beta , alpha,,beta` mounts one ProjectEvents per named project (trimmed,
    empty names and repeats left out, in order), each subscribed and showing only its own
    project; svelte.html reads `?project=` exactly as the Python client does."""
    page = open_svelte(app, page, project=" beta , alpha,,beta")
    assert page.evaluate("[...window.svelteDemo.projectIds]") == ["beta", "alpha"]
    sections = page.locator(PROJECT)
    expect(sections).to_have_count(2)
    assert sections.evaluate_all("els => els.map(e => e.dataset.project)") == ["beta", "alpha"]
    for name in ("beta", "alpha"):
        server.wait_for_frame(
            lambda f, name=name: '"subscribe"' in (f.text or "") and f'"{name}"' in f.text
        )

    server.emit("beta", "file.uploaded", file=SCENE)
    server.emit("alpha", "process.started", process_id="render-1", progress=0.25)
    beta = page.locator(f'{PROJECT}[data-project="beta"]')
    alpha = page.locator(f'{PROJECT}[data-project="alpha"]')
    expect(beta.locator('.file[data-path="/a/scene.glb"] .name')).to_have_text("scene.glb")
    expect(alpha.locator('.process[data-process="render-1"] .percent')).to_have_text("25%")
    expect(alpha.locator(".file")).to_have_count(0)
    expect(beta.locator(".process")).to_have_count(0)

    got = page.evaluate(
        """async (queries) => {
            const { projectsFromQuery } = await import("./svelte/lib/query.js");
            return queries.map((q) => projectsFromQuery("?" + q));
        }""",
        PROJECT_QUERIES,
    )
    want = [projects_from_query(query_parameters(f"http://h/p?{q}")) for q in PROJECT_QUERIES]
    assert dict(zip(PROJECT_QUERIES, got, strict=True)) == dict(
        zip(PROJECT_QUERIES, want, strict=True)
    )
    assert want[:3] == [["alpha", "beta"], ["beta", "alpha"], ["b", "c"]]
    assert want[3:7] == [[], [], None, None]
    assert page_errors == []


def test_unmount_leaves_no_live_subscription(
    app: Any, page: Page, server: ServerThread, page_errors: list[str]
) -> None:
    """Svelte's unmount() ends every subscription the components hold on the Python stores
    (Python's own count of each store, the domain stores included, returns to its value before
    the mount; no value reaches an ended subscriber) and unsubscribes their project;
    mount/unmount cycles leak nothing."""
    page = open_svelte(app, page, project="alpha", **FAST)
    wait_text(page, "Connected")
    server.wait_for_frame(lambda f: '"subscribe"' in (f.text or "") and "alpha" in f.text)
    before = page.evaluate("window.__before")
    assert set(before) == set(STORES), before
    mounted = subscribers(page)
    assert mounted["state"] >= 1 and mounted["messages"] >= 1, mounted
    for name in DOMAIN_STORES:  # ProjectEvents reads each domain store once: $wsFiles...
        assert mounted[name] == before[name] + 1, (name, before, mounted)
    for name in STORES:
        assert page.evaluate(f"window.__stores.{name}.open") == mounted[name] - before[name]

    page.evaluate("() => window.svelteDemo.unmount()")
    expect(page.locator(STATUS)).to_have_count(0)
    expect(page.locator(PROJECT)).to_have_count(0)
    assert subscribers(page) == before
    for name in STORES:
        assert page.evaluate(f"window.__stores.{name}.open") == 0, name
    server.wait_for_frame(lambda f: '"unsubscribe"' in (f.text or "") and "alpha" in f.text)
    proxies = page.evaluate("() => window.wsclient.debug.liveProxies()")

    # Changes after the unmount: a reconnect, messages, project events. A fresh subscriber sees
    # them; the ended ones get nothing.
    page.evaluate(
        """() => {
        window.__after = { states: [], texts: [], files: [] };
        const ws = window.wsclient;
        window.__offAfter = [
            ws.state.subscribe(s => window.__after.states.push(s.status)),
            ws.messages.subscribe(m => window.__after.texts.push(...m.map(x => x.text))),
            ws.files.subscribe(f => window.__after.files.push(...Object.keys(f.alpha ?? {}))),
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
    for name in STORES:
        assert page.evaluate(f"window.__stores.{name}.callsAfterClose") == 0, name
    expect(page.locator("#svelte-status *")).to_have_count(0)
    expect(page.locator("#svelte-project *")).to_have_count(0)

    # Twenty mount/unmount cycles: every count comes back to where it was.
    for _ in range(20):
        page.evaluate("() => window.svelteDemo.mount()")
        expect(page.locator(f"{STATUS} .text")).to_have_text("Connected")
        expect(page.locator(f'{PROJECT} .file[data-path="/n"]')).to_have_count(1)
        page.evaluate("() => window.svelteDemo.unmount()")
        expect(page.locator(STATUS)).to_have_count(0)
    assert subscribers(page) == before
    for name in STORES:
        assert page.evaluate(f"window.__stores.{name}.open") == 0, name
        assert page.evaluate(f"window.__stores.{name}.callsAfterClose") == 0, name
    assert page.evaluate("() => window.wsclient.debug.liveProxies()") == proxies
    assert page_errors == []


# Installed before the page's scripts: the time (ms since navigation began) at which the Svelte
# status first shows a text, and whether window.wsclient existed then.
FIRST_PAINT_JS = """
(() => {
  window.__firstStatus = null;
  const read = () => {
    const text = document.querySelector("#svelte-status .connection-status .text");
    if (!text || window.__firstStatus) return;
    window.__firstStatus = {
      at: performance.now(),
      text: text.textContent.trim(),
      pythonReady: window.wsclient !== undefined,
    };
  };
  new MutationObserver(read).observe(document, { subtree: true, childList: true });
})();
"""

# Run as soon as the page is parsed, before Python is up: calls on $stores/websocket's client.
EARLY_CALLS_JS = """
async () => {
  const { getWebSocketClient } = await import("$stores/websocket");
  const ready = window.wsclient !== undefined;
  const ws = getWebSocketClient();
  ws.subscribe("beta");
  ws.send({ type: "early", n: 1 });
  const reply = ws.request({ type: "early.request", n: 2 });
  ws.send({ type: "early", n: 3 });
  window.__notes = [];
  window.__offNote = ws.on("note", (m) => window.__notes.push(m.n));
  const dropped = ws.on("note", () => window.__notes.push("removed listener"));
  dropped();
  window.__reply = null;
  reply.then((v) => { window.__reply = ["resolved", v ?? null]; },
             (e) => { window.__reply = ["rejected", e.message]; });
  return ready;
}
"""


def _sent(server: ServerThread) -> list[tuple[str, Any]]:
    """What the client sent the server, in order, as (type, project_id or n); no pings."""
    sent: list[tuple[str, Any]] = []
    for conn in server.snapshot().connections:
        for frame in conn.frames:
            got = frame.json() if frame.kind == "text" else None
            if not isinstance(got, dict) or got.get("type") == "ping":
                continue
            sent.append((got["type"], got.get("project_id", got.get("n"))))
    return sent


def test_components_mount_on_load_and_early_calls_run_once_in_order(
    page: Page, server: ServerThread, page_errors: list[str], outside_requests: list[str]
) -> None:
    """svelte.html mounts its components before Python is up: the status shows `Connecting...`
    within 300 ms of navigation; calls made on getWebSocketClient() before `wsclient:ready`
    reach the server once each, in order, once the client is up (an early request settles, an
    early listener hears, an early remover worked), and the status never goes back."""
    page.add_init_script(FIRST_PAINT_JS)
    page.add_init_script(STATUS_RECORDER_JS)
    page.goto(f"{server.url}svelte.html?project=alpha", wait_until="domcontentloaded")
    page.wait_for_function("() => window.__firstStatus !== null")
    first = page.evaluate("window.__firstStatus")
    assert first["text"] == "Connecting..." and not first["pythonReady"], first
    assert first["at"] < 300, f"the status appeared {first['at']:.0f} ms after navigation"
    assert page.evaluate(EARLY_CALLS_JS) is False, "Python was up before the early calls"

    page.wait_for_function("() => window.__reply !== null", timeout=30_000)
    assert page.evaluate("window.__reply")[0] == "resolved"
    wait_text(page, "Connected")
    expected = [
        ("subscribe", "alpha"),
        ("subscribe", "beta"),
        ("early", 1),
        ("early.request", 2),
        ("early", 3),
    ]
    server.wait_for(lambda _s: len(_sent(server)) >= len(expected))
    assert sorted(_sent(server)[:2]) == expected[:2]  # subscribes first (in either order)
    assert _sent(server)[2:] == expected[2:]

    server.send(text=json.dumps({"type": "note", "timestamp": "2024-01-01T00:00:00Z", "n": 1}))
    page.wait_for_function("() => window.__notes.length === 1")
    page.evaluate("() => window.__offNote()")
    server.send(text=json.dumps({"type": "note", "timestamp": "2024-01-01T00:00:01Z", "n": 2}))
    server.send(text=json.dumps({"type": "early.done", "timestamp": "2024-01-01T00:00:02Z"}))
    page.wait_for_function(
        """() => {
        let done = false;
        window.wsclient.messages.subscribe((list) => {
          done = list.some((m) => m.type === "early.done");
        })();
        return done;
    }"""
    )
    assert page.evaluate("window.__notes") == [1]
    assert texts(page)[:2] == [
        ("connection-status warning", "Connecting..."),
        ("connection-status success", "Connected"),
    ]
    assert _sent(server)[2:] == expected[2:], "nothing was sent twice"
    assert page_errors == [] and outside_requests == []
