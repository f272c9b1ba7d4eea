"""The dashboard and the status component, driven like a user would, against our server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from server import ServerThread
from tests.e2e.helpers import CONSOLE_RECORDER_JS

BOOT_TIMEOUT_MS = 60_000  # a cold Pyodide boot (conftest.py allows the same)
ROOT = Path(__file__).resolve().parents[2]
XSS = '<img src=x onerror="window.__xss=1">'
STATUS = "[data-ws-status] .connection-status"
#: A feed row's type that only the demo's event generator produces: a file, process or project
#: event, not the hello / subscribed / project.snapshot a subscription itself brings.
DOMAIN_EVENT = re.compile(r"^(?:file\.|process\.|project\.(?!snapshot$))")


def test_status_follows_drop_and_recovery(app: Any, server: ServerThread) -> None:
    """Connected → server drop → "Reconnecting... (Attempt 1)" → Connected, with seed texts."""
    page: Page = app(backoff_initial=100, backoff_after_drop=1500, min_uptime=60000)
    status = page.locator(STATUS)
    expect(status).to_have_attribute("data-status", "connected")
    expect(status).to_have_attribute("role", "status")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status).to_have_class("connection-status success")
    # Every (class, text) the widget shows: a busy machine may stall past Attempt 1's 1.5 s.
    page.evaluate(
        """() => {
            const seen = (window.__statusTexts = []);
            const root = document.querySelector("[data-ws-status] .connection-status");
            new MutationObserver(() => {
                const shown = [root.className, root.querySelector(".text").textContent.trim()];
                const last = seen[seen.length - 1];
                if (!last || last[0] !== shown[0] || last[1] !== shown[1]) seen.push(shown);
            }).observe(root, { subtree: true, childList: true, characterData: true,
                               attributes: true });
        }"""
    )
    server.refuse(True)
    server.drop()
    expect(status).to_have_attribute("data-status", "reconnecting")
    page.wait_for_function(
        """() => window.__statusTexts.some(([c, t]) =>
            c === "connection-status warning" && t === "Reconnecting... (Attempt 1)")"""
    )
    expect(status.locator(".detail")).to_contain_text("retrying")
    server.wait_for_attempts(2, timeout=10)  # the accepted one, then a refused retry
    # At least the second attempt (a busy machine may already be past it when the text is read).
    expect(status.locator(".text")).to_have_text(
        re.compile(r"^Reconnecting\.\.\. \(Attempt ([2-9]|\d{2,})\)$")
    )
    server.refuse(False)
    expect(status).to_have_attribute("data-status", "connected", timeout=15_000)
    expect(status.locator(".text")).to_have_text("Connected")


def test_subscribing_in_the_ui_fills_every_view(app: Any, server: ServerThread) -> None:
    """Subscribe → demo events show in the feed, projects, files and processes; bars move."""
    server.set_demo(True)
    page: Page = app()
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected")
    page.fill("#project-input", "alpha")
    page.click("#subscribe-form button[type=submit]")
    expect(page.locator("#subscriptions li")).to_have_count(1)
    server.wait_for_frame(lambda f: '"subscribe"' in (f.text or "") and "alpha" in f.text)
    expect(page.locator("#feed li").first).to_be_visible(timeout=10_000)
    expect(page.locator("#projects li[data-project=alpha]")).to_be_visible(timeout=10_000)
    expect(page.locator("#files li").first).to_be_visible(timeout=15_000)
    bar = page.locator("#processes progress").first
    expect(bar).to_be_visible(timeout=15_000)
    first = float(bar.evaluate("b => b.value"))
    page.wait_for_function(
        "v => [...document.querySelectorAll('#processes progress')].some(b => b.value !== v)",
        arg=first,
        timeout=15_000,
    )
    rows = page.eval_on_selector_all("#feed li", "els => els.map(e => e.textContent)")
    project_rows = [row for row in rows if '"project_id"' in row]
    assert project_rows and all('"project_id": "alpha"' in row for row in project_rows), rows
    # Unsubscribing from the chip tells the server and removes the chip.
    page.click("#subscriptions button[data-unsubscribe=alpha]")
    expect(page.locator("#subscriptions li")).to_have_count(0)
    server.wait_for_frame(lambda f: '"unsubscribe"' in (f.text or ""))


def test_feed_is_newest_first_and_bounded(app: Any, server: ServerThread) -> None:
    """The feed shows the newest event first and never more than 50 rows."""
    page: Page = app()
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected")
    frames = [json.dumps({"type": "chat.message", "n": n}) for n in range(120)]
    server.burst(frames)
    page.wait_for_function("() => document.querySelector('#feed li')?.textContent.includes('119')")
    assert page.locator("#feed li").count() == 50
    assert '"n": 119' in page.locator("#feed li").first.inner_text()


def test_send_box_and_queue_count(app: Any, server: ServerThread, page_errors: list[str]) -> None:
    """A message typed while down is queued (count shown), then delivered on reconnect; text
    that cannot be sent (not JSON, or nested too deep for the interpreter) says why in the form
    and raises nothing on the page."""
    page: Page = app(backoff_initial=100, backoff_after_drop=200)
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected")
    page.click("#disconnect-btn")
    expect(page.locator(STATUS)).to_have_attribute("data-status", "disconnected")
    expect(page.locator(f"{STATUS} .text")).to_have_text("Disconnected")
    page.fill("#send-input", '{"type": "note", "text": "typed while down"}')
    page.click("#send-form button[type=submit]")
    expect(page.locator("#queue-depth")).to_have_text("1")
    page.fill("#send-input", "{not json")
    page.click("#send-form button[type=submit]")
    expect(page.locator("#send-error")).to_contain_text("Not sent")
    expect(page.locator("#queue-depth")).to_have_text("1")
    page.fill("#send-input", "[" * 2000 + "]" * 2000)
    page.click("#send-form button[type=submit]")
    expect(page.locator("#send-error")).to_contain_text("Not sent: cannot send JSON nested deeper")
    expect(page.locator("#queue-depth")).to_have_text("1")
    page.click("#connect-btn")
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected")
    server.wait_for_frame(lambda f: "typed while down" in (f.text or ""))
    expect(page.locator("#queue-depth")).to_have_text("0")
    assert page_errors == []


def test_strings_from_the_server_render_as_text(
    app: Any, server: ServerThread, page_errors: list[str]
) -> None:
    """A close reason and event fields carrying HTML show as text; nothing executes."""
    page: Page = app(backoff_initial=100)
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected")
    page.evaluate("() => window.wsclient.subscribe('p1')")
    server.wait_for_frame(lambda f: '"subscribe"' in (f.text or ""))
    events = [
        {
            "type": "project.created",
            "timestamp": "2026-01-01T00:00:00Z",
            "project_id": "p1",
            "data": {"name": XSS, "status": XSS},
        },
        {
            "type": "file.uploaded",
            "timestamp": "2026-01-01T00:00:00Z",
            "project_id": "p1",
            "file": {"name": XSS, "path": "/x", "size": 1, "asset_type": XSS},
        },
        {
            "type": "process.started",
            "timestamp": "2026-01-01T00:00:00Z",
            "project_id": "p1",
            "process_id": XSS,
            "message": XSS,
        },
        {"type": XSS, "timestamp": "2026-01-01T00:00:00Z"},
    ]
    server.burst([json.dumps(e) for e in events])
    expect(page.locator("#projects li strong")).to_have_text(XSS)
    expect(page.locator("#files li").first).to_contain_text(XSS)
    expect(page.locator("#processes li").first).to_contain_text(XSS)
    expect(page.locator("#feed li .type").first).to_have_text(XSS)
    server.close(4401, XSS)
    expect(page.locator(f"{STATUS} .text")).to_have_text(f"Connection Error: {XSS}")
    expect(page.locator(STATUS)).to_have_attribute("data-status", "error")
    assert page.locator("img").count() == 0
    assert page.evaluate("() => window.__xss") is None
    assert page_errors == []


def test_widget_embeds_in_another_page(app: Any, server: ServerThread) -> None:
    """The README's embedding snippet: every [data-ws-status] gets the component, no dashboard."""
    page: Page = app("/tests/e2e/pages/embed.html", backoff_initial=100)
    widgets = page.locator(STATUS)
    expect(widgets).to_have_count(2)
    for element_id in ("top", "bottom"):
        widget = page.locator(f"#{element_id} .connection-status")
        expect(widget).to_have_attribute("data-status", "connected")
        expect(widget.locator(".text")).to_have_text("Connected")
    page.evaluate("() => window.wsclient.disconnect()")
    expect(widgets.nth(0)).to_have_attribute("data-status", "disconnected")
    expect(widgets.nth(1)).to_have_attribute("data-status", "disconnected")


def test_the_feed_hides_heartbeats_until_asked(app: Any, server: ServerThread) -> None:
    """Pongs and server heartbeats stay out of the feed, and do not push real events out of it
    (the client's shared window keeps only the last 100 messages); "Show heartbeats" brings
    them in."""
    page: Page = app()
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected")
    heartbeat = json.dumps({"type": "system.heartbeat"})
    server.burst(
        [heartbeat, json.dumps({"type": "pong"})] * 20
        + [json.dumps({"type": "chat.message", "n": 1})]
    )
    page.wait_for_function(
        "() => document.querySelector('#feed li .type')?.textContent === 'chat.message'"
    )
    types = page.eval_on_selector_all("#feed li .type", "els => els.map(e => e.textContent)")
    assert "pong" not in types and "system.heartbeat" not in types
    # A quiet project: more heartbeats than the shared window holds, then the next event.
    server.burst([heartbeat] * 150 + [json.dumps({"type": "chat.message", "n": 2})])
    page.wait_for_function(
        "() => document.querySelector('#feed li')?.textContent.includes('\"n\": 2')"
    )
    shared = page.evaluate(
        """() => { let window_; window.wsclient.messages.subscribe((w) => (window_ = w))();
                   return window_.map((m) => m.n ?? null); }"""
    )
    assert 1 not in shared  # the event left the shared window...
    rows = page.eval_on_selector_all("#feed li", "els => els.map(e => e.textContent)")
    assert [row for row in rows if row.startswith("chat.message")] == [
        'chat.message{"n": 2}',
        'chat.message{"n": 1}',
    ]  # ...but not the feed, where no heartbeat shows
    page.check("#feed-heartbeats")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#feed li .type')]"
        ".some(e => e.textContent === 'system.heartbeat')"
    )


def test_structured_project_names_read_as_json_not_python(app: Any, server: ServerThread) -> None:
    """A project whose data.name is an object shows JSON, never a Python repr."""
    page: Page = app()
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected")
    data = {"name": {"en": "Alpha", "ok": True}, "status": ["a", None]}
    server.send(text=json.dumps({"type": "project.updated", "project_id": "p1", "data": data}))
    item = page.locator('#projects li[data-project="p1"]')
    expect(item.locator("strong")).to_have_text('{"en": "Alpha", "ok": true}')
    expect(item).to_contain_text('["a", null]')


def test_lists_stay_bounded_whatever_the_store_sizes(app: Any, server: ServerThread) -> None:
    """2,000 files and 300 finished processes: 50 rows each in the DOM, the newest first, a
    footer counting the rest, and "show more" adding 50; completed processes are retained up to
    keep_completed."""
    page: Page = app(keep_completed=100)
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected")
    files = [
        json.dumps(
            {
                "type": "file.uploaded",
                "project_id": "big",
                "file": {"name": f"f{n}.txt", "path": f"/f{n}.txt", "size": n, "asset_type": "doc"},
            }
        )
        for n in range(2000)
    ]
    done = [
        json.dumps({"type": t, "project_id": "big", "process_id": f"p{n}"})
        for n in range(300)
        for t in ("process.started", "process.completed")
    ]
    server.burst(files + done)
    footer = page.locator("#files + .list-footer button")
    expect(footer).to_have_text("1950 more \u2013 show 50 more", timeout=20_000)
    assert page.locator("#files li").count() == 50
    expect(page.locator("#files li").first).to_contain_text("f1999.txt")
    expect(page.locator("#processes + .list-footer button")).to_have_text(
        "50 more \u2013 show 50 more"
    )
    assert page.locator("#processes li").count() == 50
    footer.click()
    expect(page.locator("#files li")).to_have_count(100)
    expect(page.locator("#files li").last).to_contain_text("f1900.txt")


def test_a_deleted_file_leaves_the_list_and_the_next_one_takes_its_row(
    app: Any, server: ServerThread
) -> None:
    """Removing a shown row frees its place for the next most recent one (no gap, no stale row)."""
    page: Page = app()
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected")

    def file(type_: str, n: int) -> str:
        info = {"name": f"f{n}.txt", "path": f"/f{n}.txt", "size": 1, "asset_type": "doc"}
        return json.dumps({"type": type_, "project_id": "p", "file": info})

    server.burst([file("file.uploaded", n) for n in range(60)])
    expect(page.locator("#files li").first).to_contain_text("f59.txt")
    server.burst([file("file.deleted", 59), file("file.deleted", 30)])
    expect(page.locator("#files li").first).to_contain_text("f58.txt")
    texts = page.eval_on_selector_all("#files li", "els => els.map(e => e.textContent)")
    assert len(texts) == 50
    assert not any("f59.txt" in t or "f30.txt" in t for t in texts)
    assert "f8.txt" in texts[-1]


def expect_live_demo_events(page: Page) -> None:
    """The demo's own generator is reaching the page: a file/process/project event in the feed
    (not what subscribing alone brings: hello, subscribed, project.snapshot)."""
    event = page.locator("#feed li .type").filter(has_text=DOMAIN_EVENT).first
    expect(event).to_be_visible(timeout=15_000)


def test_first_load_subscribes_the_default_project_and_shows_live_events(
    page: Page, server: ServerThread
) -> None:
    """index.html with no ?project= subscribes its default project (alpha): a newcomer sees
    demo events at once, and its chip is there."""
    server.set_demo(True)
    page.goto(f"{server.url}index.html")
    expect(page.locator("#subscriptions li")).to_have_count(1, timeout=BOOT_TIMEOUT_MS)
    expect(page.locator("#subscriptions li").first).to_contain_text("alpha")
    expect_live_demo_events(page)


@pytest.fixture
def demo_url() -> Iterator[str]:
    """The demo as `make demo` serves it (`python -m server --demo --auth` from the repository),
    on a free port; yields the page's address as the server prints it."""
    command = [
        *(sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", "0"),
        *("--demo", "--auth"),
    ]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("Serving demo at http://127.0.0.1:"), (line, proc.poll())
        yield line.split(" at ", 1)[1]
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_demo_shows_live_events_with_no_user_action(
    page: Page, demo_url: str, page_errors: list[str]
) -> None:
    """`make demo`, then open the address it prints: signed in and connected, subscribed to
    alpha, live events coming, with nothing clicked or typed and no error on the page."""
    assert demo_url.endswith("/?auth=1")
    page.goto(demo_url)
    expect(page.locator(STATUS)).to_have_attribute(
        "data-status", "connected", timeout=BOOT_TIMEOUT_MS
    )
    expect(page.locator("#subscriptions li").first).to_contain_text("alpha")
    expect_live_demo_events(page)
    expect(page.locator("#projects li[data-project=alpha]")).to_be_visible()
    expect(page.locator("#auth")).to_contain_text("signed in, refresh in")
    assert page_errors == []


def test_project_parameter_names_the_projects(app: Any, server: ServerThread) -> None:
    """?project=alpha,beta subscribes both, in order."""
    page: Page = app(project="alpha,beta")
    server.wait_for(
        lambda s: (
            [m["project_id"] for m in s.connections[-1].messages_of_type("subscribe")]
            == ["alpha", "beta"]
        )
    )
    expect(page.locator("#subscriptions li")).to_have_count(2)


def test_log_debug_prints_one_line_per_state_change_and_nothing_per_message(
    app: Any, page: Page, server: ServerThread
) -> None:
    """?log=debug: the console gets the state changes (and the few lines about the link: the
    protocol spoken, the retry planned), not the traffic: 500 messages add no line."""
    page.add_init_script(CONSOLE_RECORDER_JS)
    page = app(log="debug", backoff_initial=50, backoff_after_drop=50, min_uptime=1)
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected")
    page.wait_for_function(
        "() => window.__wsclientLines.some((l) => l.includes('speaks protocol'))"
    )
    server.burst([json.dumps({"type": "chat.message", "n": n}) for n in range(500)])
    page.wait_for_function(
        "() => document.querySelector('#feed li')?.textContent.includes('\"n\": 499')"
    )
    server.drop()
    page.wait_for_function(
        """() => window.__wsclientLines.filter((l) => l.includes('speaks protocol')).length === 2
                 && window.__wsclientLines.some((l) => l.includes('reconnecting -> connected'))"""
    )
    lines = page.evaluate("window.__wsclientLines")
    # A lone tab shares by default: it finds it leads (two lines), then runs one core on its
    # own socket, so every line about the connection appears once.
    expected = [
        r"wsclient INFO: tab [0-9a-f]{12}: stopped -> candidate \(start sharing\)",
        r"wsclient INFO: connection disconnected -> connecting \(connect\)",
        r"wsclient INFO: tab [0-9a-f]{12}: candidate -> leader \(lock granted\)",
        r"wsclient INFO: connection connecting -> connected \(socket_opened\)",
        r"wsclient INFO: the server speaks protocol 2",
        r"wsclient INFO: connection connected -> reconnecting \(connection lost\)",
        r"wsclient INFO: reconnect attempt 1 in 0\.0\d\d s",
        r"wsclient INFO: connection reconnecting -> connected \(socket_opened\)",
        r"wsclient INFO: the server speaks protocol 2",
    ]
    assert len(lines) == len(expected), lines
    assert all(re.fullmatch(p, line) for p, line in zip(expected, lines, strict=True)), lines


def test_activity_shows_round_trips_rate_reconnects_and_eta(
    app: Any, server: ServerThread, page_errors: list[str]
) -> None:
    """The first round trip draws a visible sparkline; traffic shows in messages/s; a running
    process has an ETA while connected, none while the server is gone; the drop is one
    reconnect, marked on the timeline and counted in words."""
    page: Page = app(backoff_initial=100, backoff_after_drop=100, min_uptime=1)
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected")
    # The ping sent on open is answered: the first sample (drawn in the same frame as the RTT
    # figure) is already a line, not an invisible point.
    expect(page.locator("#rtt")).to_have_text(re.compile(r"^\d+ ms$"))
    spark = page.locator("#rtt-spark polyline")
    assert spark.evaluate("p => p.points.numberOfItems") >= 1
    assert spark.evaluate("p => p.getBBox().width") > 0
    # Traffic: 300 messages in a burst read as some tens per second (heartbeats alone: < 1).
    server.burst([json.dumps({"type": "chat.message", "n": n}) for n in range(300)])
    page.wait_for_function("() => parseFloat(document.querySelector('#rate').textContent) >= 10")

    def process(type_: str, progress: float) -> str:
        return json.dumps(
            {"type": type_, "project_id": "p", "process_id": "job", "progress": progress}
        )

    row = page.locator('#processes li[data-process="job"]')
    server.send(text=process("process.started", 0.1))
    expect(row).to_contain_text("running")
    server.send(text=process("process.progress", 0.4))
    eta = re.compile(r"ETA \d+ s")
    expect(row).to_contain_text(eta)
    marks, count = page.locator("#timeline .mark"), page.locator("#reconnects")
    expect(marks).to_have_count(0)
    expect(count).to_have_text("")
    # The server goes away: the ETA goes with the link, the process row stays.
    server.refuse(True)
    server.drop()
    expect(page.locator(STATUS)).to_have_attribute("data-status", "reconnecting")
    expect(row).not_to_contain_text("ETA")
    expect(row).to_contain_text("running")
    server.refuse(False)
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected", timeout=15_000)
    expect(row).to_contain_text(eta)
    expect(marks).to_have_count(1)
    expect(count).to_have_text("1 reconnect")
    expect(page.locator("#timeline")).to_have_attribute(
        "aria-label", re.compile(r"reconnecting \d+%.*; 1 reconnect; connected now$")
    )
    box = marks.first.bounding_box()
    assert box is not None and box["width"] >= 2  # however short the outage, it can be seen
    assert page_errors == []


# A hidden tab runs no animation frame: requestAnimationFrame callbacks wait until it is shown.
HIDE_FRAMES_JS = """() => {
    const held = (window.__heldFrames = []);
    window.__realRAF = window.requestAnimationFrame;
    window.requestAnimationFrame = (callback) => held.push(callback);
    const states = (window.__states = []);
    window.wsclient.state.subscribe((s) => states.push(s.status));
}"""
SHOW_FRAMES_JS = """() => {
    window.requestAnimationFrame = window.__realRAF;
    for (const callback of window.__heldFrames.splice(0)) window.__realRAF(callback);
}"""


def test_a_reconnect_while_no_frame_runs_is_on_the_timeline(app: Any, server: ServerThread) -> None:
    """A drop and reconnect while the tab draws nothing (hidden) is recorded when it happens:
    shown again, the timeline has its mark and the count says "1 reconnect"."""
    page: Page = app(backoff_initial=50, backoff_after_drop=50, min_uptime=1)
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected")
    expect(page.locator("#timeline .segment.connected")).to_have_count(1)
    page.evaluate(HIDE_FRAMES_JS)
    server.drop()
    page.wait_for_function(
        "() => window.__states.includes('reconnecting') && window.__states.at(-1) === 'connected'",
        polling=50,
    )
    page.evaluate(SHOW_FRAMES_JS)
    expect(page.locator("#reconnects")).to_have_text("1 reconnect")
    expect(page.locator("#timeline .mark")).to_have_count(1)
    expect(page.locator("#timeline .segment.reconnecting")).to_have_count(1)
