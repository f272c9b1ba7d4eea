"""Protocol v3 in the core: the token provider, the auth handshake, 4401, refresh and secrecy
(docs/protocol.md, "Authentication"). Each test is one rule, driven by the real driver on a
fake port with a fake clock."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from test_core_harness import HELLO, FakeBrowser

from wsclient.actions import CloseSocket, OpenSocket, Persist, SendText
from wsclient.core import State
from wsclient.options import Options

TOKEN = "tok-Zq81-secret"
AUTH_OK = '{"type": "auth.ok"}'


def auth_ok(expires_in: float | None = None) -> str:
    return json.dumps({"type": "auth.ok", "expires_in": expires_in})


class Provider:
    """A scripted token provider: answers from ``answers`` (a value, an exception to raise, or
    ``LATER`` for an async answer the test settles), and records each call's argument."""

    LATER = object()

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.calls: list[dict[str, object]] = []

    def __call__(self, ctx: dict[str, object]) -> object:
        self.calls.append(dict(ctx))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        if answer is Provider.LATER:
            return _Later()
        return answer


class _Later:
    def __await__(self) -> Any:
        yield None


def browser(provider: Callable[[dict[str, object]], object], **options: Any) -> FakeBrowser:
    return FakeBrowser(Options(**options) if options else None, provider=provider)


def texts(b: FakeBrowser, socket_id: int | None = None) -> list[dict[str, Any]]:
    return [json.loads(t) for t in b.sent[b.socket if socket_id is None else socket_id]]


def open_socket(b: FakeBrowser) -> None:
    b.port.open.add(b.socket)
    b.driver.socket_opened(b.socket)


def signed_in(b: FakeBrowser, *, protocol: int = 2, expires_in: float | None = None) -> None:
    """Connect, open, hear auth.ok (and a hello for v2)."""
    b.connect()
    open_socket(b)
    b.frame(auth_ok(expires_in))
    if protocol == 2:
        b.frame(HELLO)


# -- the provider ---------------------------------------------------------------------------


def test_the_provider_is_asked_before_the_socket_opens_and_the_token_is_the_first_frame() -> None:
    """connect asks for a token ({reason: connect, attempt: 0}); the socket opens after it and
    its first frame is the auth frame."""
    provider = Provider(TOKEN)
    b = browser(provider)
    actions = b.connect()
    assert provider.calls == [{"reason": "connect", "attempt": 0}]
    assert actions == [OpenSocket(1)]
    open_socket(b)
    assert texts(b) == [{"type": "auth", "token": TOKEN}]


def test_nothing_but_the_auth_frame_goes_out_until_auth_ok_and_connected_means_authenticated() -> (
    None
):
    """Before auth.ok: no subscribe, no ping, no queued send; the state stays connecting."""
    b = browser(Provider(TOKEN))
    b.subscribe("alpha")
    b.send('{"type": "note"}')
    b.connect()
    open_socket(b)
    b.frame(HELLO)  # a v2 server may greet before auth.ok
    b.advance(3.0)
    assert [m["type"] for m in texts(b)] == ["auth"]
    assert b.core.state is State.CONNECTING
    b.frame(AUTH_OK)
    assert b.core.state is State.CONNECTED
    sent = [m["type"] for m in texts(b)]
    assert sent == ["auth", "subscribe", "ping", "note"]  # hello before auth.ok counted: v2


def test_hello_after_auth_ok_decides_v2_and_the_v1_wait_starts_at_auth_ok() -> None:
    """The protocol decision waits for the first frame other than auth.ok, at most pong_timeout
    from auth.ok; a server silent after auth.ok is v1."""
    b = browser(Provider(TOKEN), pong_timeout=4.0)
    b.send('{"type": "note"}')
    b.connect()
    open_socket(b)
    b.advance(3.0)  # time before auth.ok does not count towards the v1 wait
    b.frame(AUTH_OK)
    b.advance(3.9)
    assert "note" not in [m["type"] for m in texts(b)]
    b.advance(0.2)
    notes = [m for m in texts(b) if m["type"] == "note"]
    assert notes == [{"type": "note"}]  # v1: no id
    assert b.core.health().protocol == 1


@pytest.mark.parametrize("answer", [None, ""])
def test_signed_out_opens_no_socket_and_shows_not_signed_in(answer: object) -> None:
    """null/""/None: no socket, error "not signed in", and the client waits (no retry)."""
    b = browser(Provider(answer))
    actions = b.connect()
    assert not [a for a in actions if isinstance(a, OpenSocket)]
    health = b.core.health()
    assert (health.state, health.error, health.auth) == (State.ERROR, "not signed in", "signed_out")
    assert b.core.next_deadline is None
    assert b.advance(600) == []


def test_set_auth_resumes_a_client_waiting_because_it_was_signed_out() -> None:
    provider = Provider(None, TOKEN)
    b = browser(provider)
    b.connect()
    b.driver.set_auth(provider)
    assert b.core.state is State.CONNECTING
    assert provider.calls[-1] == {"reason": "connect", "attempt": 0}
    assert b.port.alive == {b.socket}


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (RuntimeError("backend down"), "token provider failed: RuntimeError: backend down"),
        (123, "the token provider returned int, not a string"),
    ],
)
def test_a_provider_failure_is_a_failed_attempt_on_the_backoff_ladder(
    answer: object, error: str
) -> None:
    """A throw or a non-string: no socket, reconnecting with a backoff wait, the error's text
    in health.last_error; the next call carries the next attempt number."""
    provider = Provider(answer, TOKEN)
    b = browser(provider, backoff_initial=1.0)
    actions = b.connect()
    assert not [a for a in actions if isinstance(a, OpenSocket)]
    health = b.core.health()
    assert health.state is State.RECONNECTING
    assert health.attempt == 1
    assert health.next_retry_at is not None and health.next_retry_at > 0
    assert health.last_error is not None and health.last_error.startswith(error)
    b.until_deadline()
    assert provider.calls[-1] == {"reason": "connect", "attempt": 1}
    assert b.port.alive == {b.socket}


def test_a_provider_that_does_not_answer_within_connect_timeout_fails_and_its_late_answer_is_dropped() -> (  # noqa: E501
    None
):
    provider = Provider(Provider.LATER)
    b = browser(provider, connect_timeout=2.0, backoff_initial=1.0)
    b.connect()
    b.advance(2.0)
    health = b.core.health()
    assert health.state is State.RECONNECTING
    assert health.last_error == "the token provider did not answer within 2000 ms"
    b.port.answer(True, TOKEN)  # the first call's answer, late
    assert b.port.alive == set()
    assert b.core.state is State.RECONNECTING


def test_an_answer_that_arrives_after_disconnect_is_discarded() -> None:
    b = browser(Provider(Provider.LATER))
    b.connect()
    b.disconnect()
    b.port.answer(True, TOKEN)
    assert b.port.alive == set()
    assert b.core.state is State.DISCONNECTED


def test_an_async_token_opens_the_socket_when_it_arrives() -> None:
    b = browser(Provider(Provider.LATER))
    b.connect()
    assert b.port.alive == set()
    b.port.answer(True, TOKEN)
    assert b.port.alive == {1}


def test_no_auth_ok_within_connect_timeout_closes_4000_auth_timeout_and_backs_off() -> None:
    b = browser(Provider(TOKEN), connect_timeout=2.0)
    b.connect()
    open_socket(b)
    actions = b.advance(2.0)
    assert CloseSocket(1, 4000, "auth timeout") in actions
    assert b.core.state is State.RECONNECTING
    assert b.core.health().next_retry_at is not None


# -- 4401 and the other refusals -------------------------------------------------------------


def test_4401_asks_for_a_fresh_token_and_retries_at_once() -> None:
    """A 4401 (token expired) on an open connection: the provider is asked with reason
    "expired" and the next socket opens with no backoff wait."""
    provider = Provider(TOKEN)
    b = browser(provider)
    signed_in(b)
    b.advance(3.0)
    actions = b.closed(4401, "token expired")
    assert provider.calls[-1] == {"reason": "expired", "attempt": 1}
    assert OpenSocket(2) in actions
    assert b.core.state is State.RECONNECTING


def test_a_second_4401_in_a_row_before_auth_ok_stops_with_the_servers_reason() -> None:
    provider = Provider(TOKEN)
    b = browser(provider)
    signed_in(b)
    b.closed(4401, "token expired")
    open_socket(b)
    actions = b.closed(4401, "token revoked")
    assert not [a for a in actions if isinstance(a, OpenSocket)]
    health = b.core.health()
    assert (health.state, health.error) == (State.ERROR, "token revoked")
    assert b.advance(600) == []
    b.driver.set_auth(provider)  # setAuth resumes a client stopped by the 4401 rule
    assert b.core.state is State.CONNECTING


def test_connect_resumes_after_the_4401_rule_stopped_the_client() -> None:
    b = browser(Provider(TOKEN))
    b.connect()
    open_socket(b)
    b.closed(4401)
    open_socket(b)
    b.closed(4401)
    assert b.core.state is State.ERROR
    b.connect()
    assert b.core.state is State.CONNECTING


def test_a_provider_failure_between_two_4401s_neither_counts_nor_ends_the_streak() -> None:
    provider = Provider(TOKEN, RuntimeError("flaky"), TOKEN)
    b = browser(provider)
    b.connect()
    open_socket(b)
    b.closed(4401)  # first refusal: the immediate retry's provider call throws
    assert b.core.state is State.RECONNECTING and b.port.alive == set()
    b.until_deadline()
    open_socket(b)
    b.closed(4401)
    assert b.core.state is State.ERROR


def test_a_connection_that_ends_another_way_ends_the_4401_streak() -> None:
    b = browser(Provider(TOKEN))
    b.connect()
    open_socket(b)
    b.closed(4401)
    open_socket(b)
    b.closed(1006)  # not a 4401: the streak is over
    b.until_deadline()
    open_socket(b)
    actions = b.closed(4401)
    assert OpenSocket(b.core.socket_id or 0) in actions
    assert b.core.state is State.RECONNECTING


@pytest.mark.parametrize("code", [4403, 1008, 4400, 4499])
def test_forbidden_and_policy_closes_stop_and_set_auth_does_not_resume(code: int) -> None:
    provider = Provider(TOKEN)
    b = browser(provider)
    signed_in(b)
    b.closed(code, "forbidden")
    assert b.core.health().error == "forbidden"
    b.driver.set_auth(provider)
    assert b.core.state is State.ERROR
    assert b.port.alive == set()
    b.connect()
    assert b.core.state is State.CONNECTING


def test_without_a_provider_there_is_no_auth_frame_and_4401_stops() -> None:
    b = FakeBrowser()
    b.connect()
    open_socket(b)
    assert [m["type"] for m in texts(b)] == ["ping"]
    b.closed(4401, "unauthorized")
    assert b.core.state is State.ERROR
    assert b.core.health().auth == "none"


def test_a_4401_drop_loses_nothing_on_v2() -> None:
    """Unacknowledged sends go out again after the 4401 retry, with the same ids, in order."""
    b = browser(Provider(TOKEN))
    signed_in(b)
    b.send('{"type": "a"}')
    b.send('{"type": "b"}')
    first = [m for m in texts(b) if m["type"] in ("a", "b")]
    b.closed(4401)
    open_socket(b)
    b.frame(AUTH_OK)
    b.frame(HELLO)
    again = [m for m in texts(b) if m["type"] in ("a", "b")]
    assert again == first
    assert [m["type"] for m in again] == ["a", "b"]


# -- refresh --------------------------------------------------------------------------------


@pytest.mark.parametrize(("random", "at"), [(0.0, 50.0), (1.0, 90.0)])
def test_refresh_is_scheduled_between_50_and_90_percent_of_expires_in(
    random: float, at: float
) -> None:
    provider = Provider(TOKEN)
    b = FakeBrowser(Options(ping_interval=500.0), random=lambda: random, provider=provider)
    signed_in(b, expires_in=100)
    assert b.core.health().auth_refresh_at == at
    b.advance(at - 0.001)
    assert len(provider.calls) == 1
    b.advance(0.001)
    assert provider.calls[-1] == {"reason": "refresh", "attempt": 0}


def test_a_refresh_sends_the_new_token_on_the_open_socket_with_no_state_change() -> None:
    """No reconnect, no resubscribe, nothing sent twice; auth.ok schedules the next refresh."""
    provider = Provider(TOKEN, "tok-2")
    b = FakeBrowser(provider=provider)
    b.subscribe("alpha")
    signed_in(b, expires_in=10)
    b.send('{"type": "before"}')
    states = len(b.healths)
    b.advance(7.0)  # random 0.5: refresh at 7 s
    assert texts(b)[-1] == {"type": "auth", "token": "tok-2"}
    b.send('{"type": "during"}')  # traffic continues while the refresh is out
    b.frame(auth_ok(20))
    sent = [m["type"] for m in texts(b)]
    assert sent.count("subscribe") == 1 and sent.count("before") == 1
    assert "during" in sent
    assert b.port.alive == {1}
    assert all(h.state is State.CONNECTED for h in b.healths[states - 1 :])
    assert b.core.health().auth_refresh_at == pytest.approx(7.0 + 14.0)


def test_a_failed_refresh_is_retried_on_the_backoff_ladder_from_its_first_step() -> None:
    provider = Provider(TOKEN, RuntimeError("nope"), "tok-3")
    b = FakeBrowser(Options(backoff_initial=2.0), provider=provider)
    signed_in(b, expires_in=10)
    b.advance(7.0)  # refresh due; the provider throws
    health = b.core.health()
    assert health.last_error is not None and "nope" in health.last_error
    assert health.auth_refresh_at == pytest.approx(7.0 + 1.0)  # U[0, 2] with random 0.5
    b.advance(1.0)
    assert texts(b)[-1] == {"type": "auth", "token": "tok-3"}
    assert b.core.state is State.CONNECTED


def test_no_auth_ok_within_pong_timeout_of_a_refresh_retries_it() -> None:
    provider = Provider(TOKEN, "tok-2", "tok-3")
    b = FakeBrowser(Options(pong_timeout=4.0, backoff_initial=1.0), provider=provider)
    signed_in(b, expires_in=10)
    b.advance(7.0)
    b.frame()  # traffic, but no auth.ok
    b.advance(4.0)
    assert b.core.health().last_error == "no auth.ok within 4000 ms of a token refresh"
    b.advance(0.5)
    assert texts(b)[-1] == {"type": "auth", "token": "tok-3"}


def test_signed_out_during_a_refresh_closes_1000_and_shows_not_signed_in() -> None:
    b = FakeBrowser(provider=Provider(TOKEN, None))
    signed_in(b, expires_in=10)
    actions = b.advance(7.0)
    assert CloseSocket(1, 1000, "not signed in") in actions
    assert (b.core.state, b.core.health().error) == (State.ERROR, "not signed in")


# -- secrecy ----------------------------------------------------------------------------------


def test_the_token_is_never_in_health_logs_storage_or_an_action_repr(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="wsclient")
    provider = Provider(TOKEN, RuntimeError("refresh failed"), TOKEN)
    b = FakeBrowser(provider=provider)
    b.subscribe("alpha")
    signed_in(b, expires_in=10)
    b.send('{"type": "note"}')
    b.advance(8.0)
    b.closed(4401, "expired")
    open_socket(b)
    everything = [
        caplog.text,
        repr(b.healths),
        repr([a for _, a in b.history]),
        repr([a for _, a in b.history if isinstance(a, Persist)]),
        repr(b.port.stored),
    ]
    assert all(TOKEN not in text for text in everything)
    auth_frames = [a for _, a in b.history if isinstance(a, SendText) and TOKEN in a.text]
    assert auth_frames  # the token did go out, in auth frames only
