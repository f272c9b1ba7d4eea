"""Tabs of one browser share one connection (docs/protocol.md, "Sharing"): 2-4 pages of one
Playwright context share Web Locks and a BroadcastChannel like the tabs of one browser.

Every wait is on a condition (the server's snapshot, the pages' stores); nothing sleeps.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page

from server import ServerThread
from tests.e2e.conftest import BOOT_TIMEOUT_MS
from tests.e2e.helpers import CONSOLE_RECORDER_JS, wait_server
from tests.e2e.recovery_helpers import FAST, STORES_STATE_JS

HEALTH_JS = """() => {
  let value;
  window.wsclient.health.subscribe((h) => { value = h; })();
  return value;
}"""

# Counts, per page, every frame its "*" listeners were given, by project (and "" for none).
LISTEN_JS = r"""() => {
  const seen = { byProject: {}, types: [] };
  window.__seen = seen;
  window.wsclient.on("*", (m) => {
    const p = m.project_id ?? "";
    const event = /^(project|file|process)\./.test(m.type) && m.type !== "project.snapshot";
    const offset = event ? m.offset ?? null : null;
    if (offset !== null) (seen.items = seen.items || []).push([m.type, offset]);
    (seen.byProject[p] = seen.byProject[p] || []).push(offset);
    seen.types.push(m.type);
  });
}"""

Tab = Callable[..., Page]


@pytest.fixture
def tab(context: BrowserContext, server: ServerThread) -> Tab:
    """Open one more tab of the client (index.html) in the test's browser context."""

    def open_tab(**query: Any) -> Page:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.__dict__["errors"] = errors
        params = {"project": "", **FAST, **query}  # sharing is on by default
        page.goto(f"{server.url}index.html?{urllib.parse.urlencode(params)}")
        page.wait_for_function("() => window.wsclient !== undefined", timeout=BOOT_TIMEOUT_MS)
        page.evaluate(LISTEN_JS)
        return page

    return open_tab


def health(page: Page) -> dict[str, Any]:
    value = page.evaluate(HEALTH_JS)
    assert isinstance(value, dict)
    return value


def wait_health(page: Page, condition: str, timeout: float = 15.0) -> None:
    """Wait until ``condition`` (a JS expression over ``h``, the health) holds in ``page``."""
    page.wait_for_function(
        f"() => {{ const h = ({HEALTH_JS})(); return {condition}; }}", timeout=timeout * 1000
    )


def connected(*pages: Page) -> None:
    for page in pages:
        wait_health(page, "h.status === 'connected'")


def roles(pages: list[Page]) -> list[tuple[str, int]]:
    return [(h["role"], h["tabs"]) for h in map(health, pages)]


def stores(page: Page, project: str) -> dict[str, Any]:
    value = page.evaluate(STORES_STATE_JS, project)
    assert isinstance(value, dict)
    return value


def wait_stores_equal(page: Page, server: ServerThread, project: str) -> None:
    """Wait until the page's stores hold ``project`` exactly as the server does."""
    want = json.loads(json.dumps(server.project_state(project)))
    page.wait_for_function(
        f"""(want) => {{
          const got = ({STORES_STATE_JS})({json.dumps(project)});
          return JSON.stringify(got) === JSON.stringify(want);
        }}""",
        arg=want,
        timeout=15_000,
    )
    assert stores(page, project) == want


def subscribe(page: Page, server: ServerThread, project: str) -> None:
    """Subscribe in ``page`` and wait until the project's snapshot is applied there."""
    page.evaluate("(p) => window.wsclient.subscribe(p)", project)
    page.wait_for_function(
        "(p) => window.__seen.types.includes('project.snapshot') && "
        "(window.__seen.byProject[p] || []).length > 0",
        arg=project,
        timeout=15_000,
    )


def leader_of(pages: list[Page]) -> Page:
    leaders = [p for p in pages if health(p)["role"] == "leader"]
    assert len(leaders) == 1, roles(pages)
    return leaders[0]


def test_three_tabs_hold_one_socket(tab: Tab, server: ServerThread) -> None:
    """Three tabs of one browser, default options: one socket at the server, one leader, every
    tab connected and counting three tabs. (The first tab led alone on its own socket until the
    second opened; then the shared socket replaced it.)"""
    pages = [tab(), tab(), tab()]
    connected(*pages)
    for page in pages:
        wait_health(page, "h.tabs === 3")
    snap = server.snapshot()
    assert (snap.sockets_open, snap.sockets_opened) == (1, 2)
    first = snap.connections[0]
    assert (first.close_code, first.closed_by) == (1000, "client")  # the server keeps no reason
    assert sorted(roles(pages)) == [("follower", 3), ("follower", 3), ("leader", 3)]
    assert all(not p.__dict__["errors"] for p in pages)


def test_share_0_gives_each_tab_its_own_socket(tab: Tab, server: ServerThread) -> None:
    """``?share=0``: three tabs, three sockets, each tab alone."""
    pages = [tab(share=0), tab(share=0), tab(share=0)]
    connected(*pages)
    server.wait_for(lambda s: s.sockets_open == 3)
    assert roles(pages) == [("alone", 1)] * 3


def test_each_tab_gets_its_own_projects_and_every_message_without_one(
    tab: Tab, server: ServerThread
) -> None:
    """A tab's stores and listeners hold only the projects it subscribed; a message without a
    project reaches every tab once."""
    a, b, c = tab(), tab(), tab()
    connected(a, b, c)
    subscribe(a, server, "alpha")
    subscribe(b, server, "beta")
    server.emit_many("alpha", 5)
    server.emit_many("beta", 5)
    wait_stores_equal(a, server, "alpha")
    wait_stores_equal(b, server, "beta")
    server.send(text=json.dumps({"type": "notice", "text": "maintenance at noon"}))
    for page in (a, b, c):
        page.wait_for_function("() => window.__seen.types.includes('notice')")
    assert stores(a, "beta")["data"] is None and stores(b, "alpha")["data"] is None
    assert stores(c, "alpha")["data"] is None and stores(c, "beta")["data"] is None
    seen = [p.evaluate("() => window.__seen") for p in (a, b, c)]
    assert "beta" not in seen[0]["byProject"] and "alpha" not in seen[1]["byProject"]
    assert [s["types"].count("notice") for s in seen] == [1, 1, 1]
    subs = [
        m["project_id"] for m in server.snapshot().connections[-1].messages_of_type("subscribe")
    ]
    assert sorted(subs) == ["alpha", "beta"]


def test_a_followers_send_and_request_reach_the_server_once(tab: Tab, server: ServerThread) -> None:
    """A follower's send and request are applied once; the request settles in its own tab."""
    a, b = tab(), tab()
    connected(a, b)
    follower = b if leader_of([a, b]) is a else a
    outcome = follower.evaluate(
        """async () => {
          window.wsclient.send({ type: "chat.message", text: "hi" });
          return await window.wsclient.request({ type: "save", doc: 1 }, { timeout: 5000 });
        }"""
    )
    assert outcome == {"type": "save"}
    server.wait_for_applied(2)
    applied = server.applied()
    assert sorted(a.message["type"] for a in applied) == ["chat.message", "save"]
    assert len({a.id for a in applied}) == 2
    snap = server.snapshot()
    assert (snap.sockets_open, snap.sockets_opened) == (1, 2)


def test_leader_closed_under_traffic_another_leads_and_nothing_is_lost(
    tab: Tab, server: ServerThread
) -> None:
    """The leader tab closes while events flow: another tab leads at once on a new socket, and
    every remaining tab's stores equal the server's, no event applied twice."""
    pages = [tab(), tab(), tab()]
    connected(*pages)
    for page in pages:
        subscribe(page, server, "alpha")
    server.emit_many("alpha", 10)
    for page in pages:
        wait_stores_equal(page, server, "alpha")
    old = leader_of(pages)
    rest = [p for p in pages if p is not old]
    server.flood(json.dumps({"type": "system.heartbeat"}), 50, rate=200)
    old.close()
    server.emit_many("alpha", 20)
    for page in rest:
        wait_health(page, "h.tabs === 2 && h.status === 'connected'")
    new = leader_of(rest)
    assert new in rest
    server.emit_many("alpha", 5)
    for page in rest:
        wait_stores_equal(page, server, "alpha")
        offsets = page.evaluate("() => window.__seen.byProject.alpha.filter((o) => o !== null)")
        items = page.evaluate("() => window.__seen.items")
        assert len(offsets) == len(set(offsets)), f"an event applied twice: {items}"
        assert health(page)["duplicates"] == 0
    snap = server.snapshot()
    assert (snap.sockets_open, snap.sockets_opened) == (1, 3)  # alone, shared, handed over


def test_leader_reload_hands_over_and_the_reloaded_tab_follows(
    tab: Tab, server: ServerThread
) -> None:
    """The leader reloads: the other tab leads; the reloaded tab joins it as a follower."""
    a, b = tab(), tab()
    connected(a, b)
    for page in (a, b):
        subscribe(page, server, "alpha")
    server.emit_many("alpha", 5)
    old = leader_of([a, b])
    other = b if old is a else a
    old.reload()
    old.wait_for_function("() => window.wsclient !== undefined", timeout=BOOT_TIMEOUT_MS)
    wait_health(other, "h.role === 'leader'")
    wait_health(old, "h.role === 'follower' && h.status === 'connected' && h.tabs === 2")
    old.evaluate(LISTEN_JS)
    subscribe(old, server, "alpha")
    server.emit_many("alpha", 5)
    for page in (a, b):
        wait_stores_equal(page, server, "alpha")
    assert server.snapshot().sockets_open == 1


def test_a_follower_disconnect_takes_only_that_tab_out(tab: Tab, server: ServerThread) -> None:
    """disconnect() in a follower: that tab is disconnected; the others stay on the one
    socket; connect() brings it back, with what it missed."""
    a, b = tab(), tab()
    connected(a, b)
    leader = leader_of([a, b])
    follower = b if leader is a else a
    subscribe(follower, server, "alpha")
    follower.evaluate("() => window.wsclient.disconnect()")
    wait_health(follower, "h.status === 'disconnected'")
    wait_health(leader, "h.tabs === 1 && h.status === 'connected'")
    server.emit_many("alpha", 4)
    assert server.snapshot().sockets_opened == 2  # the leader stays on the shared socket
    follower.evaluate("() => window.wsclient.connect()")
    connected(follower)
    wait_stores_equal(follower, server, "alpha")
    wait_health(leader, "h.tabs === 2")
    assert server.snapshot().sockets_opened == 2


def test_a_leader_disconnect_hands_the_connection_over(tab: Tab, server: ServerThread) -> None:
    """disconnect() in the leader: it is disconnected, the other tab leads on a new socket."""
    a, b = tab(), tab()
    connected(a, b)
    leader = leader_of([a, b])
    other = b if leader is a else a
    subscribe(other, server, "alpha")
    leader.evaluate("() => window.wsclient.disconnect()")
    wait_health(leader, "h.status === 'disconnected'")
    wait_health(other, "h.role === 'leader' && h.status === 'connected'")
    server.emit_many("alpha", 3)
    wait_stores_equal(other, server, "alpha")
    snap = server.snapshot()
    assert (snap.sockets_open, snap.sockets_opened) == (1, 3)


def test_a_server_kill_makes_one_reconnect_not_one_per_tab(tab: Tab, server: ServerThread) -> None:
    """The shared socket drops: the tabs reconnect through one new socket, and every tab's
    stores catch up."""
    pages = [tab(), tab(), tab()]
    connected(*pages)
    for page in pages:
        subscribe(page, server, "alpha")
    server.emit_many("alpha", 3)
    opened = server.snapshot().sockets_opened
    server.drop()
    server.emit_many("alpha", 3)
    wait_server(pages[0], server, lambda s: s.sockets_opened == opened + 1 and s.sockets_open == 1)
    connected(*pages)
    for page in pages:
        wait_stores_equal(page, server, "alpha")
    snap = server.snapshot()
    assert (snap.sockets_open, snap.sockets_opened) == (1, opened + 1)


def test_a_lone_tab_leads_on_one_socket_and_handles_each_frame_once(
    tab: Tab, server: ServerThread, context: BrowserContext
) -> None:
    """Default options, one tab: it leads on its own socket (one core: the protocol is logged
    once, each frame reaches the listeners once), and no socket more than a tab alone."""
    context.add_init_script(CONSOLE_RECORDER_JS)
    page = tab(log="debug")
    connected(page)
    wait_health(page, "h.role === 'leader' && h.tabs === 1")
    subscribe(page, server, "alpha")
    server.emit_many("alpha", 20)
    server.burst([json.dumps({"type": "chat.message", "n": n}) for n in range(50)])
    wait_stores_equal(page, server, "alpha")
    page.wait_for_function(
        "() => window.__seen.types.filter((t) => t === 'chat.message').length >= 50"
    )
    seen = page.evaluate("() => window.__seen")
    offsets = [o for o in seen["byProject"]["alpha"] if o is not None]
    assert offsets == list(range(1, 21))
    assert seen["types"].count("chat.message") == 50
    lines = page.evaluate("() => window.__wsclientLines")
    assert sum("speaks protocol" in line for line in lines) == 1, lines
    assert sum("disconnected -> connecting" in line for line in lines) == 1, lines
    snap = server.snapshot()
    assert (snap.sockets_open, snap.sockets_opened) == (1, 1)
    assert health(page)["duplicates"] == 0
    assert not page.__dict__["errors"]


PUMP_JS = """() => {
  window.__made = 0;
  window.__settled = 0;
  window.__failed = [];
  window.__pump = setInterval(() => {
    const n = ++window.__made;
    window.wsclient.request({ type: "save", n }, { timeout: 30000 }).then(
      () => { window.__settled += 1; },
      (e) => { window.__failed.push(String(e)); },
    );
  }, 20);
}"""


def test_a_second_tab_moves_the_first_onto_the_shared_socket_and_nothing_is_lost(
    tab: Tab, server: ServerThread
) -> None:
    """A lone tab makes a request every 20 ms and gets events while a second tab opens: its
    socket closes with 1000 "sharing with another tab", it reconnects through the shared one at
    once, resubscribing from its offset; every request is applied once and settles, its stores
    end equal to the server's with no event twice, and both tabs are on one socket."""
    a = tab()
    connected(a)
    subscribe(a, server, "alpha")
    server.emit_many("alpha", 10)
    wait_stores_equal(a, server, "alpha")
    a.evaluate(PUMP_JS)
    server.flood(json.dumps({"type": "system.heartbeat"}), 100, rate=50)
    b = tab()
    server.emit_many("alpha", 10)
    connected(a, b)
    wait_health(a, "h.role === 'leader' && h.tabs === 2")
    wait_health(b, "h.role === 'follower' && h.tabs === 2")
    server.emit_many("alpha", 5)
    a.evaluate("() => clearInterval(window.__pump)")
    made = a.evaluate("() => window.__made")
    a.wait_for_function("(n) => window.__settled === n", arg=made, timeout=30_000)
    assert a.evaluate("() => window.__failed") == []
    saves = [x for x in server.applied() if x.message["type"] == "save"]
    assert sorted(x.message["n"] for x in saves) == list(range(1, made + 1))
    wait_stores_equal(a, server, "alpha")
    offsets = a.evaluate("() => window.__seen.byProject.alpha.filter((o) => o !== null)")
    assert len(offsets) == len(set(offsets)), "an event applied twice"
    assert health(a)["duplicates"] == 0 and health(a)["queueDepth"] == 0
    snap = server.snapshot()
    assert (snap.sockets_open, snap.sockets_opened) == (1, 2)
    first, shared = snap.connections
    assert (first.close_code, first.closed_by) == (1000, "client")  # the server keeps no reason
    (resubscribe,) = [
        m for m in shared.messages_of_type("subscribe") if m["project_id"] == "alpha"
    ][:1]
    assert resubscribe["since"]["offset"] >= 10  # from a's position, not from scratch
    assert not a.__dict__["errors"] and not b.__dict__["errors"]


RESYNC_JS = """() => {
  window.__resyncs = [];
  window.wsclient.on("resync", (m) => { window.__resyncs.push(m.project_id); });
}"""

SYNC_JS = """(p) => {
  let value;
  window.wsclient.sync.subscribe((v) => { value = v; })();
  return value[p];
}"""


def test_a_v1_server_gets_stale_and_resync_when_the_connection_moves_or_is_handed_over(
    tab: Tab, server: ServerThread
) -> None:
    """v1 has no recovery: when a lone tab's connection moves to the shared socket, and when the
    leader's tab closes, each tab's projects become honestly ``stale`` with one ``resync``;
    events keep flowing to them."""
    server.set_v1(True)
    a = tab()
    connected(a)
    a.evaluate(RESYNC_JS)
    a.evaluate("() => window.wsclient.subscribe('alpha')")
    a.wait_for_function(f"() => ({SYNC_JS})('alpha') === 'live'")
    b = tab()
    b.evaluate(RESYNC_JS)
    wait_health(a, "h.tabs === 2 && h.status === 'connected' && h.protocol === 1")
    a.wait_for_function("() => window.__resyncs.length === 1")
    assert a.evaluate(SYNC_JS, "alpha") == "stale"
    b.evaluate("() => window.wsclient.subscribe('alpha')")
    b.wait_for_function(f"() => ({SYNC_JS})('alpha') === 'live'")
    assert b.evaluate("() => window.__resyncs") == []
    a.close()
    wait_health(b, "h.role === 'leader' && h.status === 'connected' && h.protocol === 1")
    b.wait_for_function("() => window.__resyncs.length === 1")
    assert b.evaluate("() => window.__resyncs") == ["alpha"]
    assert b.evaluate(SYNC_JS, "alpha") == "stale"
    server.emit("alpha", "project.updated", data={"name": "still flowing"})
    b.wait_for_function("() => (window.__seen.byProject.alpha || []).length >= 1")
    assert all(c.protocol == 1 for c in server.snapshot().connections)
    assert not b.__dict__["errors"]
