"""Authentication on its own (no Session): ``Auth``, the memory across sockets (the ``4401``
streak, waiting because of auth), token checks, and the ``Authenticator`` (begin, answered,
failed, opened, auth_ok, closed, due, refresh).

(Named test_authenticator.py, not test_auth.py: tests/e2e/test_auth.py has that basename, and
pytest cannot import two rootless test modules of one name in one run.)
"""

from __future__ import annotations

import itertools
import json

import pytest

from wsclient.actions import Action, GetToken, OpenSocket, SendText
from wsclient.auth import (
    CLOSE_UNAUTHORIZED,
    Auth,
    Authenticator,
    auth_frame,
    check_token,
)
from wsclient.backoff import Ladder
from wsclient.link import Due, Link, LinkError, Phase, RefreshPhase
from wsclient.options import Options

OPTIONS = Options()  # connect_timeout 10 s, pong_timeout 4 s, backoff_initial 1 s
NOT_A_STRING = (
    "the token provider returned {}, not a string: return the token, or null when signed out"
)


def make(
    enabled: bool = True, random: float = 0.5
) -> tuple[Authenticator, list[Action], list[int]]:
    """An authenticator whose retry delay is the session's: the ladder from its first step,
    every delay its whole window (1, 2, 4... s); the attempts it was asked for are recorded."""
    actions: list[Action] = []
    asked: list[int] = []
    ladder = Ladder(lambda: 1.0)

    def retry_delay(attempt: int) -> float:
        asked.append(attempt)
        return ladder.delay(attempt, OPTIONS.backoff_initial)

    return Authenticator(enabled, actions, lambda: random, retry_delay), actions, asked


def new_link(actions: list[Action], now: float = 0.0, socket_id: int = 1) -> Link:
    return Link(socket_id, now, actions, itertools.count(1))


def phase(link: Link) -> Phase:
    return link.phase


def refresh_phase(link: Link) -> RefreshPhase | None:
    return link.refresh.phase if link.refresh is not None else None


def signed_in(
    auth: Authenticator, actions: list[Action], expires_in: float | None = 100.0, now: float = 0.0
) -> Link:
    """A link through token, open and ``auth.ok`` at ``now``; the actions are cleared."""
    link = new_link(actions, now)
    auth.begin(link, 0)
    assert auth.answered(link, link.token_request, "tok", now) == "none"
    assert auth.opened(link, now) is True
    assert auth.auth_ok(link, expires_in, now) is True
    actions.clear()
    return link


# -- token checks -------------------------------------------------------------------------------


def test_a_string_is_the_token() -> None:
    assert check_token("abc") == "abc"


@pytest.mark.parametrize("answer", [None, ""])
def test_none_and_empty_mean_signed_out(answer: object) -> None:
    assert check_token(answer) is None


@pytest.mark.parametrize(
    ("answer", "type_name"), [(42, "int"), (b"tok", "bytes"), ({"token": "t"}, "dict"), (0, "int")]
)
def test_anything_else_is_a_type_error_with_a_clear_text(answer: object, type_name: str) -> None:
    with pytest.raises(TypeError) as info:
        check_token(answer)
    assert str(info.value) == NOT_A_STRING.format(type_name)


def test_the_auth_frame() -> None:
    assert json.loads(auth_frame("s3cret")) == {"type": "auth", "token": "s3cret"}


# -- Auth: memory across sockets -----------------------------------------------------------------


def test_a_new_memory() -> None:
    on, off = Auth(True), Auth(False)
    assert (on.status, on.reason, on.streak, on.waiting) == ("signing_in", "connect", False, False)
    assert (off.status, off.enabled) == ("none", False)


def test_4401_retries_then_refuses_on_the_second_in_a_row_before_auth_ok() -> None:
    memory = Auth(True)
    assert memory.refused(before_auth_ok=True) is True
    assert (memory.reason, memory.streak, memory.waiting) == ("expired", True, False)
    assert memory.refused(before_auth_ok=True) is False
    assert (memory.streak, memory.waiting, memory.status) == (False, True, "signed_out")


def test_4401_after_auth_ok_starts_a_streak_the_next_socket_can_end() -> None:
    """A token that expired on an open connection: retry; the fresh one refused too (before
    auth.ok): stop."""
    memory = Auth(True)
    assert memory.refused(before_auth_ok=False) is True
    assert memory.refused(before_auth_ok=True) is False


def test_4401_after_auth_ok_never_stops_the_client() -> None:
    memory = Auth(True)
    assert [memory.refused(before_auth_ok=False) for _ in range(3)] == [True, True, True]
    assert not memory.waiting


def test_reaching_auth_ok_or_ending_otherwise_ends_the_streak() -> None:
    memory = Auth(True)
    memory.refused(before_auth_ok=True)
    memory.signed_in()
    assert (memory.streak, memory.reason, memory.status) == (False, "connect", "signed_in")
    assert memory.refused(before_auth_ok=True) is True
    memory.socket_ended_otherwise()
    assert (memory.streak, memory.reason) == (False, "connect")
    assert memory.refused(before_auth_ok=True) is True


def test_set_enabled_returns_whether_the_client_waits_because_of_auth() -> None:
    memory = Auth(False)
    assert memory.set_enabled(True) is False
    memory.signed_out()
    assert (memory.waiting, memory.status) == (True, "signed_out")
    assert memory.set_enabled(True) is True
    memory.restart()
    assert memory.set_enabled(True) is False


def test_set_enabled_after_the_4401_stop_resumes() -> None:
    memory = Auth(True)
    memory.refused(before_auth_ok=True)
    memory.refused(before_auth_ok=True)
    assert memory.set_enabled(True) is True


def test_removing_the_provider_shows_none() -> None:
    memory = Auth(True)
    memory.set_enabled(False)
    assert (memory.enabled, memory.status) == (False, "none")
    memory.attempt_started()
    assert memory.status == "none"  # no provider: never signing in


def test_restart_forgets_waiting_and_the_streak() -> None:
    memory = Auth(True)
    memory.refused(before_auth_ok=True)
    memory.refused(before_auth_ok=True)
    memory.restart()
    assert (memory.waiting, memory.streak, memory.reason) == (False, False, "connect")


# -- Authenticator: an attempt -------------------------------------------------------------------


def test_without_a_provider_the_socket_opens_at_once() -> None:
    auth, actions, _ = make(enabled=False)
    link = new_link(actions)
    auth.begin(link, 3)
    assert actions == [OpenSocket(1)]
    assert link.phase is Phase.OPENING
    assert auth.opened(link, 1.0) is False
    assert phase(link) is Phase.OPEN
    assert actions == [OpenSocket(1)]  # no auth frame


def test_with_a_provider_a_token_is_asked_for_first() -> None:
    auth, actions, _ = make()
    link = new_link(actions)
    auth.begin(link, 3)
    assert actions == [GetToken(1, "connect", 3)]
    assert (link.phase, link.token_request) == (Phase.TOKEN, 1)
    assert auth.memory.status == "signing_in"
    second = new_link(actions, socket_id=2)
    auth.begin(second, 4)
    assert actions[-1] == GetToken(2, "connect", 4)  # a new request id per attempt


def test_after_a_4401_the_token_is_asked_for_as_expired() -> None:
    auth, actions, _ = make()
    auth.closed(CLOSE_UNAUTHORIZED, True)
    auth.begin(new_link(actions), 1)
    assert actions == [GetToken(1, "expired", 1)]


def test_the_token_opens_the_socket_and_restarts_the_clock() -> None:
    auth, actions, _ = make()
    link = new_link(actions, 0.0)
    auth.begin(link, 0)
    actions.clear()
    assert auth.answered(link, 1, "tok", 2.5) == "none"
    assert actions == [OpenSocket(1)]
    assert (link.phase, link.token, link.started_at) == (Phase.OPENING, "tok", 2.5)


def test_opening_presents_the_token_once_and_waits_for_auth_ok() -> None:
    auth, actions, _ = make()
    link = new_link(actions)
    auth.begin(link, 0)
    auth.answered(link, 1, "tok", 1.0)
    actions.clear()
    assert auth.opened(link, 2.0) is True
    assert actions == [SendText(1, auth_frame("tok"))]
    assert "tok" not in repr(actions[0])  # the token is never shown
    assert (link.phase, link.opened_at, link.token) == (Phase.AUTHENTICATING, 2.0, None)


@pytest.mark.parametrize("answer", [None, ""])
def test_signed_out_answer(answer: object) -> None:
    auth, actions, _ = make()
    link = new_link(actions)
    auth.begin(link, 0)
    actions.clear()
    assert auth.answered(link, 1, answer, 1.0) == "signed_out"
    assert actions == [] and link.phase is Phase.TOKEN


def test_a_non_string_answer_is_a_failed_attempt_with_a_clear_text() -> None:
    auth, actions, _ = make()
    link = new_link(actions)
    auth.begin(link, 0)
    actions.clear()
    assert auth.answered(link, 1, 42, 1.0) == "failed"
    assert auth.error == NOT_A_STRING.format("int")
    assert actions == [] and link.phase is Phase.TOKEN


def test_a_provider_failure_is_a_failed_attempt() -> None:
    auth, actions, _ = make()
    link = new_link(actions)
    auth.begin(link, 0)
    assert auth.failed(link, 1, "network down", 1.0) == "failed"
    assert auth.error == "network down"


def test_answers_to_older_requests_or_without_an_attempt_are_ignored() -> None:
    auth, actions, _ = make()
    old, link = new_link(actions), new_link(actions, socket_id=2)
    auth.begin(old, 0)
    auth.begin(link, 1)
    actions.clear()
    assert auth.answered(link, 1, "tok", 1.0) == "none"
    assert auth.answered(link, 1, None, 1.0) == "none"
    assert auth.answered(link, 1, 42, 1.0) == "none"
    assert auth.failed(link, 1, "late", 1.0) == "none"
    assert auth.answered(None, 2, "tok", 1.0) == "none"
    assert auth.failed(None, 2, "late", 1.0) == "none"
    assert actions == [] and link.phase is Phase.TOKEN and auth.error is None


def test_a_token_answer_after_the_socket_opened_is_ignored() -> None:
    auth, actions, _ = make()
    link = new_link(actions)
    auth.begin(link, 0)
    auth.answered(link, 1, "tok", 1.0)
    actions.clear()
    assert auth.answered(link, 1, "again", 1.5) == "none"
    assert actions == [] and link.token == "tok"


def test_the_token_timeout_is_a_failed_attempt() -> None:
    auth, actions, _ = make()
    link = new_link(actions)
    auth.begin(link, 0)
    assert link.due(10.0, OPTIONS) is Due.TOKEN_TIMEOUT
    assert auth.due(link, Due.TOKEN_TIMEOUT, OPTIONS, 10.0) == "failed"
    assert auth.error == "the token provider did not answer within 10000 ms"


def test_auth_ok_makes_the_link_usable_and_signs_in() -> None:
    auth, actions, _ = make()
    auth.closed(CLOSE_UNAUTHORIZED, True)  # a streak under way
    link = new_link(actions)
    auth.begin(link, 0)
    auth.answered(link, 1, "tok", 0.0)
    auth.opened(link, 0.0)
    assert auth.auth_ok(link, None, 1.0) is True
    assert link.phase is Phase.OPEN
    assert (auth.memory.status, auth.memory.streak, auth.memory.reason) == (
        "signed_in",
        False,
        "connect",
    )
    assert link.refresh is None  # no expires_in: no refresh


def test_an_auth_ok_nobody_waits_for_changes_nothing() -> None:
    auth, actions, _ = make()
    link = signed_in(auth, actions, expires_in=None)
    assert auth.auth_ok(link, 100.0, 5.0) is False
    assert link.refresh is None and link.phase is Phase.OPEN


# -- closes and the 4401 rule --------------------------------------------------------------------


def test_closed_4401_retries_then_is_refused_on_the_second_in_a_row() -> None:
    auth, _, _ = make()
    assert auth.closed(CLOSE_UNAUTHORIZED, True) == "retry"
    assert auth.closed(CLOSE_UNAUTHORIZED, True) == "refused"
    assert auth.memory.waiting and auth.memory.status == "signed_out"


@pytest.mark.parametrize("code", [1000, 1006, 4000, 4403, 1008])
def test_closed_with_another_code_ends_the_streak(code: int) -> None:
    auth, _, _ = make()
    assert auth.closed(CLOSE_UNAUTHORIZED, True) == "retry"
    assert auth.closed(code, True) is None
    assert auth.memory.reason == "connect"
    assert auth.closed(CLOSE_UNAUTHORIZED, True) == "retry"  # a new streak, not the second


def test_without_a_provider_4401_is_no_auth_matter() -> None:
    auth, _, _ = make(enabled=False)
    assert auth.closed(CLOSE_UNAUTHORIZED, True) is None
    assert auth.closed(CLOSE_UNAUTHORIZED, True) is None
    assert not auth.memory.waiting


# -- refresh ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("random", "at"), [(0.0, 50.0), (0.5, 70.0), (1.0, 90.0)])
def test_refresh_is_scheduled_between_50_and_90_percent_of_expires_in(
    random: float, at: float
) -> None:
    auth, actions, _ = make(random=random)
    link = signed_in(auth, actions, expires_in=100.0, now=10.0)
    assert link.refresh is not None
    assert (link.refresh.phase, link.refresh.at) == (RefreshPhase.SCHEDULED, 10.0 + at)


@pytest.mark.parametrize("expires_in", [None, 0.0, -5.0, float("inf"), float("nan")])
def test_no_refresh_without_a_usable_expires_in(expires_in: float | None) -> None:
    auth, actions, _ = make()
    link = signed_in(auth, actions, expires_in=expires_in)
    assert link.refresh is None


def test_a_refresh_asks_sends_and_is_rescheduled_by_the_servers_auth_ok() -> None:
    auth, actions, _ = make()
    link = signed_in(auth, actions, expires_in=100.0)  # refresh at 70 s
    assert link.due(70.0, OPTIONS) is Due.REFRESH
    assert auth.due(link, Due.REFRESH, OPTIONS, 70.0) == "none"
    assert actions == [GetToken(2, "refresh", 0)]
    assert link.refresh is not None and link.refresh.phase is RefreshPhase.FETCHING
    actions.clear()
    assert auth.answered(link, 2, "fresh", 71.0) == "none"
    assert actions == [SendText(1, auth_frame("fresh"))]
    assert refresh_phase(link) is RefreshPhase.SENT
    assert link.phase is Phase.OPEN  # no state change, no new socket
    assert auth.auth_ok(link, 50.0, 72.0) is False
    assert (link.refresh.phase, link.refresh.at) == (RefreshPhase.SCHEDULED, 72.0 + 35.0)


def test_a_refresh_answered_signed_out_says_so() -> None:
    auth, actions, _ = make()
    link = signed_in(auth, actions)
    auth.refresh_due(link, 10.0, 4.0, 70.0)
    assert auth.answered(link, 2, None, 71.0) == "signed_out"
    assert auth.answered(link, 2, "", 71.0) == "signed_out"


def test_a_refresh_failure_retries_on_the_ladder_from_its_first_step() -> None:
    """No answer in time, a throw, a non-string, no auth.ok in time: each retries after the
    ladder's delay for one more failure in a row (1, 2, 4, 8 s); success starts over."""
    auth, actions, asked = make()
    link = signed_in(auth, actions)
    refresh = link.refresh
    assert refresh is not None
    auth.refresh_due(link, 10.0, 4.0, 70.0)  # fetching
    auth.refresh_due(link, 10.0, 4.0, 80.0)  # the provider's connect_timeout passed
    assert (refresh.phase, refresh.failures, refresh.at) == (RefreshPhase.SCHEDULED, 1, 81.0)
    assert auth.error == "the token provider did not answer within 10000 ms"
    auth.refresh_due(link, 10.0, 4.0, 81.0)
    assert auth.failed(link, refresh.request_id, "provider threw", 82.0) == "none"
    assert (refresh.failures, refresh.at, auth.error) == (2, 84.0, "provider threw")
    auth.refresh_due(link, 10.0, 4.0, 84.0)
    assert auth.answered(link, refresh.request_id, 7, 85.0) == "none"
    assert (refresh.failures, refresh.at) == (3, 89.0)
    assert auth.error == NOT_A_STRING.format("int")
    auth.refresh_due(link, 10.0, 4.0, 89.0)
    auth.answered(link, refresh.request_id, "fresh", 90.0)  # sent, but no auth.ok
    auth.refresh_due(link, 10.0, 4.0, 94.0)
    assert (refresh.failures, refresh.at) == (4, 102.0)
    assert auth.error == "no auth.ok within 4000 ms of a token refresh"
    assert asked == [1, 2, 3, 4]
    auth.refresh_due(link, 10.0, 4.0, 102.0)
    auth.answered(link, refresh.request_id, "fresh", 103.0)
    auth.auth_ok(link, 100.0, 104.0)
    assert (refresh.phase, refresh.failures, refresh.at) == (RefreshPhase.SCHEDULED, 0, 174.0)
    assert link.phase is Phase.OPEN


def test_a_late_answer_to_a_failed_refresh_is_ignored() -> None:
    auth, actions, _ = make()
    link = signed_in(auth, actions)
    auth.refresh_due(link, 10.0, 4.0, 70.0)
    auth.refresh_due(link, 10.0, 4.0, 80.0)  # failed
    actions.clear()
    assert auth.answered(link, 2, "late", 80.5) == "none"
    assert actions == []
    assert link.refresh is not None and link.refresh.phase is RefreshPhase.SCHEDULED


def test_refresh_token_requests_use_fresh_ids() -> None:
    auth, actions, _ = make()
    link = signed_in(auth, actions)
    auth.refresh_due(link, 10.0, 4.0, 70.0)
    auth.refresh_due(link, 10.0, 4.0, 80.0)
    auth.refresh_due(link, 10.0, 4.0, 81.0)
    assert [a for a in actions if isinstance(a, GetToken)] == [
        GetToken(2, "refresh", 0),
        GetToken(3, "refresh", 0),
    ]


def test_opened_without_a_token_phase_is_a_link_error() -> None:
    """The link's table guards the handshake: opened() twice is a bug in the caller."""
    auth, actions, _ = make()
    link = signed_in(auth, actions)
    with pytest.raises(LinkError, match="socket 1: socket opened is not allowed while open"):
        auth.opened(link, 1.0)
