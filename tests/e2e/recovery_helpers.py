"""Helpers for the recovery tests: a page-side recorder of project streams, requests and sync
status, a re-derivation of each project's state from what the page was given, and a reading of
the dashboard DOM to compare with the server's authoritative state.

Nothing here sleeps: every wait is on a condition (the page's recorder or DOM, the server).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from playwright.sync_api import Page

from demo.activity import human_size
from server import ServerThread
from server.streams import ProjectState

#: Small timings that keep reconnect cycles fast (milliseconds, as query parameters).
FAST = {"backoff_initial": 50, "backoff_max": 200, "backoff_after_drop": 100, "min_uptime": 1}

# Installed before the page's scripts: keeps the newest WebSocket the page made as
# window.__lastSocket (to drive it into CLOSING from the test).
LAST_SOCKET_JS = """
(() => {
  const Native = window.WebSocket;
  class KeptWebSocket extends Native {
    constructor(...args) {
      super(...args);
      window.__lastSocket = this;
    }
  }
  window.WebSocket = KeptWebSocket;
})();
"""

# Installed after boot. Records, per project, every stream event and snapshot the page's "*"
# listeners get (in delivery order), every `resync` (through on("resync")), every sync-store
# value, and the outcome of every request made through window.__fire.
STREAM_RECORDER_JS = """
() => {
  const r = {
    log: {}, snapshots: {}, resyncs: [], resyncStar: 0, sync: {}, syncLog: [],
    lastEventAt: 0, settled: {}, outcomes: {}, firedAt: {},
  };
  window.__rr = r;
  const STREAM = /^(project|file|process)\\./;
  const api = window.wsclient;
  api.on("*", (m) => {
    if (m.type === "resync") { r.resyncStar += 1; return; }
    const p = m.project_id;
    if (typeof p !== "string" || !STREAM.test(m.type)) return;
    (r.log[p] ||= []).push(m);
    r.lastEventAt = performance.now();
  });
  api.on("project.snapshot", (m) => {
    r.snapshots[m.project_id] = (r.snapshots[m.project_id] || 0) + 1;
  });
  api.on("resync", (m) => r.resyncs.push({ project_id: m.project_id, t: performance.now() }));
  api.sync.subscribe((s) => {
    r.sync = s;
    r.syncLog.push({ t: performance.now(), s });
  });
  // Requests: `seq` -> how many times its promise settled, and how.
  window.__fire = (type, from, n, timeout) => {
    for (let seq = from; seq < from + n; seq++) {
      r.firedAt[seq] = performance.now();
      const done = (outcome) => {
        r.settled[seq] = (r.settled[seq] || 0) + 1;
        r.outcomes[seq] = { ...outcome, ms: performance.now() - r.firedAt[seq] };
      };
      api.request({ type, seq }, { timeout }).then(
        (data) => done({ ok: true, data }),
        (err) => done({
          ok: false, error: String(err && err.message), isError: err instanceof Error,
        }),
      );
    }
  };
}
"""

# The dashboard's view of one project: files (path -> row text), processes (id -> [state,
# progress, message]) and the project row ([name, detail]) or null.
DOM_STATE_JS = """
(p) => {
  const files = {};
  // Rows carry data-project (text ending " · <project>"), or sit in a group headed by it.
  for (const li of document.querySelectorAll("#files li[title]")) {
    const project = li.dataset.project
      ?? li.closest(".files-project")?.querySelector("h3")?.textContent;
    if (project !== p) continue;
    const suffix = ` \u00b7 ${p}`;
    const text = li.textContent;
    const tagged = li.dataset.project !== undefined && text.endsWith(suffix);
    files[li.getAttribute("title")] = tagged ? text.slice(0, -suffix.length) : text;
  }
  const processes = {};
  for (const li of document.querySelectorAll("#processes li[data-process]")) {
    if (!li.firstChild.textContent.includes(`(${p})`)) continue;
    const msg = li.querySelector("div.muted");
    processes[li.dataset.process] = [
      li.dataset.state, li.querySelector("progress").value, msg ? msg.textContent : null,
    ];
  }
  const row = document.querySelector(`#projects li[data-project="${CSS.escape(p)}"]`);
  const project = row
    ? [row.querySelector("strong").textContent, row.querySelector("span").textContent]
    : null;
  const chip = document.querySelector(`#subscriptions button[data-unsubscribe="${CSS.escape(p)}"]`);
  const sync = chip ? chip.parentElement.getAttribute("data-sync") : null;
  const note = chip ? chip.parentElement.querySelector(".sync-note") : null;
  return { files, processes, project, sync, note: note ? note.textContent : null };
}
"""

_DOM_EQUALS_JS = """
(arg) => {
  const dom = (DOM_STATE)(arg.p);
  const eq = (a, b) => {
    if (typeof a === "number" && typeof b === "number") return Math.abs(a - b) < 1e-9;
    if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return a === b;
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => k in b && eq(a[k], b[k]));
  };
  return eq(dom, arg.want);
}
""".replace("DOM_STATE", DOM_STATE_JS)


def install(page: Page) -> None:
    """Start the stream recorder (after boot, before subscribing)."""
    page.evaluate(STREAM_RECORDER_JS)


def report(scenario: str, **figures: Any) -> None:
    """Print the measured figures of one scenario (visible with ``pytest -s``)."""
    shown = ", ".join(f"{k}={v}" for k, v in figures.items())
    print(f"\n[recovery] {scenario}: {shown}")


def ms(seconds: float) -> int:
    return round(seconds * 1000)


# --- what the page was given ------------------------------------------------------------------


def log(page: Page, project: str) -> list[dict[str, Any]]:
    """Every stream event and snapshot of ``project`` the page's "*" listener got, in order."""
    value = page.evaluate("(p) => window.__rr.log[p] || []", project)
    assert isinstance(value, list)
    return value


def offsets(entries: list[dict[str, Any]]) -> list[int]:
    """The offsets of the stream events (snapshots left out), in delivery order."""
    return [m["offset"] for m in entries if m["type"] != "project.snapshot"]


def fold(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The project state the delivered events and snapshots build, by the contract's rules."""
    state = ProjectState()
    for m in entries:
        if m["type"] == "project.snapshot":
            state = ProjectState(
                data=m["data"],
                files={f["path"]: f for f in m["files"]},
                processes={
                    p["process_id"]: {
                        "status": p["status"],
                        "progress": p["progress"],
                        "message": p["message"],
                    }
                    for p in m["processes"]
                },
            )
        else:
            state.apply(m)
    return state.as_dict()


def assert_exactly_once(got: list[int], top: int) -> None:
    """Offsets 1..top each delivered exactly once, in order."""
    counts = Counter(got)
    dupes = sorted(o for o, c in counts.items() if c > 1)
    missing = sorted(set(range(1, top + 1)) - set(counts))
    assert not dupes and not missing, f"duplicated offsets {dupes}, missing offsets {missing}"
    assert got == list(range(1, top + 1)), "offsets out of order"


def wait_top(page: Page, project: str, top: int, timeout: float = 10.0) -> None:
    """Wait until the page was given the event at offset ``top`` of ``project``."""
    page.wait_for_function(
        """([p, top]) => {
          const l = window.__rr.log[p] || [];
          return l.length > 0 && l[l.length - 1].offset >= top;
        }""",
        arg=[project, top],
        timeout=timeout * 1000,
    )


def wait_sync(page: Page, project: str, status: str, timeout: float = 10.0) -> None:
    """Wait until the sync store shows ``status`` for ``project``."""
    page.wait_for_function(
        "([p, s]) => window.__rr.sync[p] === s", arg=[project, status], timeout=timeout * 1000
    )


# --- the dashboard ----------------------------------------------------------------------------


def expected_dom(project: str, state: dict[str, Any], sync: str) -> dict[str, Any]:
    """What the dashboard must show for ``project`` holding ``state`` (a ``project_state``)."""
    files = {
        path: f"{f['name']} \u00b7 {f['asset_type']} \u00b7 {human_size(f['size'])}"
        for path, f in state["files"].items()
    }
    processes = {
        pid: [
            p["status"],
            1 if p["status"] == "completed" else (p["progress"] or 0),
            p["message"] or None,
        ]
        for pid, p in state["processes"].items()
    }
    data = state["data"]
    project_row = None
    if data is not None:
        name, status = data.get("name"), data.get("status")
        detail = f"  {project}" + (f" \u00b7 {status}" if status else "")
        project_row = [str(name or project), detail]
    return {
        "files": files,
        "processes": processes,
        "project": project_row,
        "sync": sync,
        "note": SYNC_NOTES.get(sync),
    }


#: What the dashboard's chip says next to a project in each sync status (None: nothing).
SYNC_NOTES = {
    "recovering": "catching up\u2026",
    "reset": "reloaded from snapshot",
    "stale": "may be out of date",
}

STORES_STATE_JS = """
(p) => {
  const now = (store) => {
    let value;
    store.subscribe((v) => { value = v; })();
    return value;
  };
  const ws = window.wsclient;
  const files = now(ws.files)[p] || {};
  const processes = {};
  for (const [id, proc] of Object.entries(now(ws.processes)[p] || {})) {
    processes[id] = { status: proc.status, progress: proc.progress, message: proc.message };
  }
  const data = now(ws.projects)[p];
  return { data: data === undefined ? null : data, files, processes };
}
"""


def stores_state(page: Page, project: str) -> dict[str, Any]:
    """``project`` as the client's Python stores hold it (read through ``window.wsclient``), in
    the shape of the server's ``project_state``."""
    value = page.evaluate(STORES_STATE_JS, project)
    assert isinstance(value, dict)
    return value


def dom_state(page: Page, project: str) -> dict[str, Any]:
    value = page.evaluate(DOM_STATE_JS, project)
    assert isinstance(value, dict)
    return value


def wait_dom(
    page: Page, server: ServerThread, project: str, sync: str = "live", timeout: float = 10.0
) -> float:
    """Wait until the dashboard shows the server's state of ``project`` (and its chip ``sync``);
    returns how long that took (seconds). On timeout, fails with the difference."""
    want = expected_dom(project, server.project_state(project), sync)
    started = time.monotonic()
    try:
        page.wait_for_function(
            _DOM_EQUALS_JS, arg={"p": project, "want": want}, timeout=timeout * 1000
        )
    except Exception:
        got = dom_state(page, project)
        raise AssertionError(
            f"dashboard of {project!r} differs from the server:\n got={got}\nwant={want}"
        ) from None
    return time.monotonic() - started


def settled(page: Page) -> dict[int, int]:
    """Request seq -> how many times its promise settled."""
    value = page.evaluate("window.__rr.settled")
    return {int(k): int(v) for k, v in value.items()}


def outcomes(page: Page) -> dict[int, dict[str, Any]]:
    value = page.evaluate("window.__rr.outcomes")
    return {int(k): v for k, v in value.items()}


def applied_seqs(server: ServerThread, type_: str) -> list[int]:
    """The ``seq`` of every applied request/send of ``type_``, in applied order."""
    return [a.message["seq"] for a in server.applied() if a.message.get("type") == type_]


def wire_seqs(server: ServerThread, type_: str) -> list[int]:
    """The ``seq`` of every frame of ``type_`` the server received, over all connections."""
    return [m["seq"] for c in server.snapshot().connections for m in c.messages_of_type(type_)]
