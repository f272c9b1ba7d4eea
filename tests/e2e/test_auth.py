"""Protocol v3 in Chromium: the page's token provider (JS and Python), refresh on the open
socket under traffic, a server restart that forgets every token, providers that fail, hang,
sign out and answer late, the close codes, and a token that appears nowhere it must not
(docs/protocol.md, "Authentication")."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from server import ServerThread
from tests.e2e.conftest import BOOT_TIMEOUT_MS
from tests.e2e.helpers import (
    changes,
    health,
    open_client,
    stays_false,
    wait_change,
    wait_server,
    wait_status,
)

STATUS = "[data-ws-status] .connection-status"

#: A provider that counts its calls and behaves as ``window.__authMode`` says: "ok" (a token
#: from the server's endpoint), "throw", "null", "hang" or "late" (answers 1 s later).
PROVIDER_JS = """
window.__authCalls = [];
window.__authMode = window.__authMode || "ok";
window.__provider = async (ctx) => {
  window.__authCalls.push(ctx);
  const mode = Array.isArray(window.__authMode) ? window.__authMode.shift() ?? "ok"
                                                : window.__authMode;
  if (mode === "throw") throw new Error("identity backend down");
  if (mode === "null") return null;
  if (mode === "hang") return new Promise(() => {});
  const fetchToken = async () =>
    (await (await fetch("/auth/token", {method: "POST"})).json()).token;
  if (mode === "late") {
    return new Promise((r) => setTimeout(async () => {
      r(await fetchToken());
      setTimeout(() => { window.__answered = true; }, 0);
    }, 1000));
  }
  return fetchToken();
};
window.wsclientAuth = window.__provider;
"""

FAST = {"backoff_initial": 200, "backoff_max": 400, "connect_timeout": 5000}
#: Token lifetime: the refresh comes at 50-90 % of it.
LIFETIME = 4.0


def provider_mode(page: Page, mode: str | list[str]) -> None:
    page.add_init_script(f"window.__authMode = {json.dumps(mode)};")
    page.add_init_script(PROVIDER_JS)


def calls(page: Page) -> list[dict[str, Any]]:
    value = page.evaluate("window.__authCalls")
    assert isinstance(value, list)
    return value


@pytest.fixture
def auth_server(server: ServerThread) -> ServerThread:
    server.set_auth(True)
    return server


def test_the_demo_signs_in_and_refreshes_on_the_open_socket_under_traffic(
    app: Any, page: Page, auth_server: ServerThread
) -> None:
    """?auth=1 (demo/auth.js): the first frame is the token, connected means authenticated;
    the token is refreshed at 50-90 % of its lifetime on the same socket while events flow: no
    reconnect, no state change, no event lost."""
    auth_server.set_token_lifetime(LIFETIME)
    page = open_client(app, page, auth="1", project="alpha")
    snap = auth_server.wait_for_open(1)
    first = snap.connections[0].frames[0].json()
    assert first["type"] == "auth" and first["token"] in auth_server.tokens_issued()
    assert health(page)["auth"] == "signed_in"
    expect(page.locator("#auth")).to_contain_text("signed in, refresh in")
    page.evaluate(  # a function body: the remover on() returns stays in the page
        "() => { window.__offsets = []; window.__off = window.wsclient.on('*', (m) => {"
        "  if (m.project_id === 'alpha' && /^(project|file|process)[.]/.test(m.type)"
        "      && m.type !== 'project.snapshot') window.__offsets.push(m.offset); }); }"
    )
    emitted = auth_server.emit_many("alpha", 40)
    wait_server(page, auth_server, lambda s: s.auth_frames >= 2, LIFETIME)  # refreshed meanwhile
    emitted += auth_server.emit_many("alpha", 40)
    offsets = [e["offset"] for e in emitted]
    page.wait_for_function(f"() => window.__offsets.length >= {len(offsets)}", timeout=10_000)
    assert page.evaluate("window.__offsets") == offsets  # each once, in order
    snap = auth_server.snapshot()
    assert snap.sockets_opened == 1
    statuses = [c["status"] for c in changes(page)]
    assert statuses[statuses.index("connected") :] == ["connected"]  # it never left connected
    assert snap.connections[0].auth_frames >= 2


def test_a_server_restart_that_forgets_every_token_heals_with_a_fresh_one(
    app: Any, page: Page, auth_server: ServerThread
) -> None:
    """Tokens forgotten and connections dropped: the next attempt asks the provider again
    ({reason: connect}) and connects; an expired token (4401) gets reason "expired"."""
    provider_mode(page, "ok")
    page = open_client(app, page, **FAST)
    auth_server.forget_tokens()
    auth_server.drop()
    wait_server(page, auth_server, lambda s: s.sockets_opened == 2 and s.sockets_open == 1, 10)
    wait_status(page, "connected")
    assert calls(page)[-1]["reason"] == "connect"
    auth_server.close(4401, "token expired")
    wait_change(page, "reconnecting", 0)
    wait_server(page, auth_server, lambda s: s.sockets_opened >= 3 and s.sockets_open == 1, 10)
    wait_status(page, "connected")
    assert calls(page)[-1]["reason"] == "expired"


def test_two_4401_in_a_row_stop_with_the_reason_until_set_auth(
    app: Any, page: Page, auth_server: ServerThread
) -> None:
    provider_mode(page, "ok")
    auth_server.reject_auth(code=4401, reason="token revoked", count=2)
    page = app(**FAST)
    expect(page.locator(STATUS)).to_have_attribute("data-status", "error", timeout=10_000)
    expect(page.locator(STATUS)).to_contain_text("Connection Error: token revoked")
    assert auth_server.snapshot().sockets_opened == 2
    page.evaluate("window.wsclient.setAuth(window.__provider)")
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected", timeout=10_000)


def test_4403_stops_and_only_connect_resumes(
    app: Any, page: Page, auth_server: ServerThread
) -> None:
    provider_mode(page, "ok")
    auth_server.reject_auth(code=4403, count=1)
    page = app(**FAST)
    expect(page.locator(STATUS)).to_have_attribute("data-status", "error", timeout=10_000)
    page.evaluate("window.wsclient.setAuth(window.__provider)")
    assert auth_server.snapshot().sockets_opened == 1
    page.evaluate("window.wsclient.connect()")
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected", timeout=10_000)


def test_a_provider_that_throws_is_a_failed_attempt_with_its_text_shown(
    app: Any, page: Page, auth_server: ServerThread
) -> None:
    provider_mode(page, ["throw", "ok"])
    page = open_client(app, page, **FAST)
    assert [c["attempt"] for c in calls(page)] == [0, 1]
    assert "identity backend down" in (health(page)["lastError"] or "")
    assert auth_server.snapshot().sockets_opened == 1  # no socket for the failed attempt


def test_a_provider_that_hangs_fails_after_connect_timeout(
    app: Any, page: Page, auth_server: ServerThread
) -> None:
    provider_mode(page, ["hang", "ok"])
    page = open_client(app, page, **{**FAST, "connect_timeout": 1000})
    assert health(page)["lastError"] == "the token provider did not answer within 1000 ms"
    assert auth_server.snapshot().sockets_opened == 1


def test_signed_out_shows_not_signed_in_and_set_auth_signs_in(
    app: Any, page: Page, auth_server: ServerThread
) -> None:
    provider_mode(page, "null")
    page = app(**FAST)
    expect(page.locator(STATUS)).to_contain_text(
        "Connection Error: not signed in", timeout=BOOT_TIMEOUT_MS
    )
    assert auth_server.snapshot().sockets_opened == 0
    page.evaluate("window.__authMode = 'ok'; window.wsclient.setAuth(window.__provider)")
    expect(page.locator(STATUS)).to_have_attribute("data-status", "connected", timeout=10_000)


def test_a_late_answer_after_disconnect_opens_nothing(
    app: Any, page: Page, auth_server: ServerThread
) -> None:
    provider_mode(page, "late")
    page = app(**FAST)
    page.wait_for_function("() => window.__authCalls.length === 1")
    page.evaluate("window.wsclient.disconnect()")
    page.wait_for_function("() => window.__answered === true")  # the answer has been handed over
    stays_false(auth_server, lambda s: s.sockets_opened > 0, 0.5)
    expect(page.locator(STATUS)).to_have_attribute("data-status", "disconnected")


def test_a_python_provider_given_to_app_start(page: Page, auth_server: ServerThread) -> None:
    """app.start(auth=fn) with an async Python function that fetches the token."""
    page.goto(f"{auth_server.url}tests/e2e/pages/auth_py.html")
    expect(page.locator(STATUS)).to_have_attribute(
        "data-status", "connected", timeout=BOOT_TIMEOUT_MS
    )
    page.wait_for_function("() => window.__pyAuthCalls && window.__pyAuthCalls.length >= 1")
    assert page.evaluate("window.__pyAuthCalls[0]") == {"reason": "connect", "attempt": 0}
    assert auth_server.snapshot().auth_frames == 1


def test_the_token_appears_nowhere_it_must_not(
    app: Any, page: Page, auth_server: ServerThread
) -> None:
    """Not in the URL, a console line, health, any store, localStorage (the durable outbox),
    the DOM, or an error text; only in auth frames."""
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    auth_server.set_token_lifetime(LIFETIME)
    page = open_client(app, page, auth="1", log="debug", project="alpha")
    page.evaluate("window.wsclient.send({type: 'note', text: 'hello'})")
    auth_server.close(1012, "restart")
    wait_server(page, auth_server, lambda s: s.auth_frames >= 3, LIFETIME + 5)
    wait_status(page, "connected")
    tokens = auth_server.tokens_issued()
    assert tokens
    seen = page.evaluate(
        """() => {
          const values = [];
          for (const name of ["state", "health", "messages", "sync", "projects", "files"]) {
            window.wsclient[name].subscribe((v) => values.push(JSON.stringify(v)))();
          }
          return [location.href, document.documentElement.outerHTML,
                  JSON.stringify({...localStorage}), ...values].join("\\n");
        }"""
    )
    everything = seen + "\n".join(console)
    assert not [t for t in tokens if t in everything]
    frames = [f for c in auth_server.snapshot().connections for f in c.frames]
    assert all(f.json().get("type") == "auth" for f in frames if any(t in f.text for t in tokens))
