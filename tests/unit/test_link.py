"""One socket's ``Link`` on its own (no Session): the phase table, the token ``Refresh`` table,
the one deadline per phase, what ``due()`` finds at each deadline, pings, pongs and probes; and
``Sockets``, which says which link is the current one."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest

from wsclient.actions import Action, CloseSocket, SendText
from wsclient.link import (
    RTT_SAMPLE_INTERVAL,
    Due,
    Link,
    LinkError,
    LinkEvent,
    Phase,
    Refresh,
    RefreshEvent,
    RefreshPhase,
    Sockets,
)
from wsclient.options import Options

P = Phase
L = LinkEvent
R = RefreshPhase
RE = RefreshEvent
OPTIONS = Options()  # connect 10 s, ping_interval 5 s, pong_timeout 4 s, probe 2.5 s

#: Every allowed (phase, event) and its target, written out by hand.
PHASES: dict[tuple[Phase, LinkEvent], Phase] = {
    (P.TOKEN, L.TOKEN): P.OPENING,
    (P.OPENING, L.OPENED): P.OPEN,
    (P.OPENING, L.OPENED_AUTH): P.AUTHENTICATING,
    (P.AUTHENTICATING, L.AUTH_OK): P.OPEN,
    (P.OPEN, L.PING): P.AWAITING_PONG,
    (P.AWAITING_PONG, L.PING): P.AWAITING_PONG,
    (P.AWAITING_PONG, L.ANSWERED): P.OPEN,
}
PHASES_REFUSED = [(p, e) for p in Phase for e in LinkEvent if (p, e) not in PHASES]

REFRESH: dict[tuple[RefreshPhase, RefreshEvent], RefreshPhase] = {
    (R.SCHEDULED, RE.DUE): R.FETCHING,
    (R.FETCHING, RE.TOKEN): R.SENT,
    (R.FETCHING, RE.FAILED): R.SCHEDULED,
    (R.SENT, RE.AUTH_OK): R.SCHEDULED,
    (R.SENT, RE.FAILED): R.SCHEDULED,
}
REFRESH_REFUSED = [(p, e) for p in RefreshPhase for e in RefreshEvent if (p, e) not in REFRESH]


def new_link(
    now: float = 0.0,
    actions: list[Action] | None = None,
    pings: Iterator[int] | None = None,
    socket_id: int = 1,
) -> Link:
    return Link(
        socket_id,
        now,
        actions if actions is not None else [],
        pings if pings is not None else itertools.count(1),
    )


def open_link(now: float = 0.0, *, protocol: int = 2, actions: list[Action] | None = None) -> Link:
    """A usable link opened at ``now`` (no auth), its round trip being measured, as the session
    leaves it."""
    link = new_link(now, actions)
    link.fire(L.TOKEN)
    link.fire(L.OPENED)
    link.became_usable(now)
    link.measure(now)
    link.protocol = protocol
    return link


def pings(actions: list[Action]) -> list[str | None]:
    """The ids of the pings among ``actions``."""
    frames = [json.loads(a.text) for a in actions if isinstance(a, SendText)]
    return [f["id"] for f in frames if f["type"] == "ping"]


# -- the phase table ----------------------------------------------------------------------


@pytest.mark.parametrize(("phase", "event"), list(PHASES))
def test_every_allowed_phase_change_reaches_its_target(phase: Phase, event: LinkEvent) -> None:
    link = new_link()
    link.phase = phase
    link.fire(event)
    assert link.phase is PHASES[(phase, event)]


@pytest.mark.parametrize(("phase", "event"), PHASES_REFUSED)
def test_every_other_phase_change_raises_naming_socket_event_and_phase(
    phase: Phase, event: LinkEvent
) -> None:
    link = new_link(socket_id=7)
    link.phase = phase
    with pytest.raises(LinkError) as info:
        link.fire(event)
    assert str(info.value) == f"socket 7: {event.value} is not allowed while {phase.value}"
    assert link.phase is phase


def test_the_phase_table_size() -> None:
    assert (len(PHASES), len(PHASES_REFUSED)) == (7, 23)


def test_a_new_link_waits_for_a_token() -> None:
    link = new_link(3.0)
    assert link.phase is Phase.TOKEN
    assert (link.started_at, link.opened_at, link.last_rx) == (3.0, 3.0, 3.0)
    assert (link.protocol, link.writable, link.usable, link.ready) == (0, True, False, False)
    assert link.refresh is None and link.subscribed == set()


@pytest.mark.parametrize(
    ("phase", "usable"),
    [
        (P.TOKEN, False),
        (P.OPENING, False),
        (P.AUTHENTICATING, False),
        (P.OPEN, True),
        (P.AWAITING_PONG, True),
    ],
)
def test_usable_phases(phase: Phase, usable: bool) -> None:
    link = new_link()
    link.phase = phase
    link.protocol = 2
    assert link.usable is usable
    assert link.ready is usable


def test_ready_needs_the_protocol_and_a_writable_socket() -> None:
    link = open_link(protocol=0)
    assert link.usable and not link.ready
    link.protocol = 1
    assert link.ready
    link.writable = False
    assert not link.ready


# -- the refresh table --------------------------------------------------------------------


@pytest.mark.parametrize(("phase", "event"), list(REFRESH))
def test_every_allowed_refresh_step_reaches_its_target(
    phase: RefreshPhase, event: RefreshEvent
) -> None:
    refresh = Refresh(10.0)
    refresh.phase = phase
    refresh.fire(event, 12.5)
    assert refresh.phase is REFRESH[(phase, event)]
    assert refresh.since == 12.5


@pytest.mark.parametrize(("phase", "event"), REFRESH_REFUSED)
def test_every_other_refresh_step_raises_naming_event_and_phase(
    phase: RefreshPhase, event: RefreshEvent
) -> None:
    refresh = Refresh(10.0)
    refresh.phase = phase
    with pytest.raises(ValueError) as info:
        refresh.fire(event, 12.5)
    assert str(info.value) == f"token refresh: {event.value} is not allowed while {phase.value}"
    assert (refresh.phase, refresh.since) == (phase, 10.0)


def test_the_refresh_table_size() -> None:
    assert (len(REFRESH), len(REFRESH_REFUSED)) == (5, 7)


def test_refresh_deadline_per_phase() -> None:
    """SCHEDULED: ``at``; FETCHING: since + connect_timeout; SENT: since + the answer timeout."""
    refresh = Refresh(100.0)
    assert (refresh.phase, refresh.failures, refresh.request_id) == (R.SCHEDULED, 0, 0)
    assert refresh.deadline(10.0, 4.0) == 100.0
    refresh.fire(RE.DUE, 100.5)
    assert refresh.deadline(10.0, 4.0) == 110.5
    refresh.fire(RE.TOKEN, 101.0)
    assert refresh.deadline(10.0, 4.0) == 105.0


# -- deadlines and what is due ------------------------------------------------------------


def test_token_phase_times_out_after_connect_timeout() -> None:
    link = new_link(5.0)
    assert link.deadline(OPTIONS) == 15.0
    assert link.due(14.999, OPTIONS) is Due.NOTHING
    assert link.due(15.0, OPTIONS) is Due.TOKEN_TIMEOUT


def test_opening_times_out_after_connect_timeout_from_its_start() -> None:
    """The token came at 8 s (the session restarts the clock then): open by 18 s."""
    link = new_link(5.0)
    link.fire(L.TOKEN)
    link.started_at = 8.0
    assert link.deadline(OPTIONS) == 18.0
    assert link.due(17.9, OPTIONS) is Due.NOTHING
    assert link.due(18.0, OPTIONS) is Due.CONNECT_TIMEOUT


def test_authenticating_times_out_after_connect_timeout_from_the_open() -> None:
    link = new_link(0.0)
    link.fire(L.TOKEN)
    link.fire(L.OPENED_AUTH)
    link.opened_at = 3.0
    assert link.deadline(OPTIONS) == 13.0
    assert link.due(12.0, OPTIONS) is Due.NOTHING
    assert link.due(13.0, OPTIONS) is Due.AUTH_TIMEOUT


def test_silence_after_becoming_usable_means_v1() -> None:
    """No first frame within pong_timeout (4 s) of becoming usable: the server speaks v1."""
    link = open_link(10.0, protocol=0)
    assert link.deadline(OPTIONS) == 14.0
    assert link.due(13.9, OPTIONS) is Due.NOTHING
    assert link.due(14.0, OPTIONS) is Due.V1


def test_a_known_protocol_has_no_v1_deadline() -> None:
    link = open_link(10.0, protocol=2)
    assert link.deadline(OPTIONS) == 15.0  # the ping, at last_rx + ping_interval
    assert link.due(14.0, OPTIONS) is Due.NOTHING


def test_ping_after_ping_interval_of_silence() -> None:
    actions: list[Action] = []
    link = open_link(0.0, actions=actions)
    actions.clear()
    link.last_rx = 2.0
    assert link.deadline(OPTIONS) == 7.0
    assert link.due(6.9, OPTIONS) is Due.NOTHING
    assert actions == []
    assert link.due(7.0, OPTIONS) is Due.NOTHING
    assert actions == [SendText(1, '{"type": "ping", "id": "2"}')]
    assert link.phase is Phase.AWAITING_PONG
    assert (link.pong_deadline, link.rx_since_ping, link.probing) == (11.0, False, False)
    assert link.deadline(OPTIONS) == 11.0


def test_no_frame_within_pong_timeout_is_a_dead_link() -> None:
    link = open_link(0.0)
    link.due(5.0, OPTIONS)  # the ping, pong due at 9 s
    assert link.due(8.9, OPTIONS) is Due.NOTHING
    assert link.due(9.0, OPTIONS) is Due.DEAD
    assert link.due(9.5, OPTIONS) is Due.DEAD  # still dead: the caller closes it


def test_a_frame_after_the_ping_keeps_the_link_open() -> None:
    actions: list[Action] = []
    link = open_link(0.0, actions=actions)
    link.due(5.0, OPTIONS)
    link.last_rx, link.rx_since_ping = 6.0, True  # what Session.frame_received does
    actions.clear()
    assert link.due(9.0, OPTIONS) is Due.NOTHING
    assert link.phase is Phase.OPEN
    assert actions == []  # heard at 6 s: the next ping at 11 s
    assert link.deadline(OPTIONS) == 11.0


def test_answered_and_silent_again_pings_at_once() -> None:
    actions: list[Action] = []
    link = open_link(0.0, actions=actions)
    link.due(5.0, OPTIONS)
    link.rx_since_ping = True  # heard at 5 s (last_rx not moved): silence since
    link.last_rx = 5.0
    actions.clear()
    assert link.due(10.0, OPTIONS) is Due.NOTHING
    assert pings(actions) == ["3"]
    assert link.phase is Phase.AWAITING_PONG
    assert link.pong_deadline == 14.0


def test_traffic_means_no_heartbeat_but_a_round_trip_sample_every_30_s() -> None:
    actions: list[Action] = []
    link = open_link(0.0, actions=actions)
    actions.clear()
    for now in range(1, 30):
        link.last_rx = float(now)  # a frame every second
        assert link.deadline(OPTIONS) == min(now + 5.0, RTT_SAMPLE_INTERVAL)
        assert link.due(float(now), OPTIONS) is Due.NOTHING
    assert actions == []
    link.last_rx = 30.0
    assert link.due(30.0, OPTIONS) is Due.NOTHING
    assert actions == [SendText(1, '{"type": "ping", "id": "2"}')]
    assert link.phase is Phase.OPEN  # a sample, not a heartbeat: no pong deadline
    assert link.deadline(OPTIONS) == 35.0


def test_refresh_is_due_at_its_deadline() -> None:
    link = open_link(0.0)
    link.last_rx = 100.0  # traffic: no ping in the way
    link.ping_sent_at = 100.0
    link.refresh = Refresh(103.0)
    assert link.deadline(OPTIONS) == 103.0
    assert link.due(102.9, OPTIONS) is Due.NOTHING
    assert link.due(103.0, OPTIONS) is Due.REFRESH
    link.refresh.fire(RE.DUE, 103.0)  # fetching: the provider has connect_timeout
    assert link.deadline(OPTIONS) == 105.0  # the ping comes first now
    link.last_rx = 112.0
    link.ping_sent_at = 112.0
    assert link.deadline(OPTIONS) == 113.0
    assert link.due(113.0, OPTIONS) is Due.REFRESH


def test_a_refresh_is_not_looked_at_before_the_link_is_usable() -> None:
    link = new_link(0.0)
    link.refresh = Refresh(1.0)
    assert link.deadline(OPTIONS) == 10.0
    assert link.due(5.0, OPTIONS) is Due.NOTHING


# -- pings, pongs, probes -------------------------------------------------------------------


def test_measure_sends_a_ping_with_the_next_shared_id() -> None:
    """Ping ids come from one counter shared by every link of the session."""
    actions: list[Action] = []
    shared = itertools.count(1)
    first, second = new_link(0.0, actions, shared, 1), new_link(0.0, actions, shared, 2)
    first.measure(1.0)
    second.measure(2.0)
    first.measure(3.0)
    assert actions == [
        SendText(1, '{"type": "ping", "id": "1"}'),
        SendText(2, '{"type": "ping", "id": "2"}'),
        SendText(1, '{"type": "ping", "id": "3"}'),
    ]
    assert (first.ping_id, first.ping_sent_at) == ("3", 3.0)


def test_pong_gives_the_round_trip_only_for_our_ping_id_and_only_once() -> None:
    link = new_link(0.0)
    assert link.pong("1", 1.0) is None  # no ping yet
    link.measure(10.0)
    assert link.pong("9", 10.5) is None  # someone else's
    assert link.pong(None, 10.5) is None  # a pong without an id
    assert link.pong("1", 10.25) == 0.25
    assert link.pong("1", 10.75) is None  # already measured


def test_a_newer_ping_makes_the_older_pong_give_nothing() -> None:
    link = new_link(0.0)
    link.measure(1.0)
    link.measure(2.0)
    assert link.pong("1", 2.5) is None
    assert link.pong("2", 2.5) == 0.5


def test_probe_on_an_open_link_expects_a_frame_within_probe_timeout() -> None:
    actions: list[Action] = []
    link = open_link(0.0, actions=actions)
    actions.clear()
    link.probe(1.0, OPTIONS.probe_timeout)
    assert pings(actions) == ["2"]
    assert link.phase is Phase.AWAITING_PONG
    assert (link.pong_deadline, link.probing, link.suspected) == (3.5, True, True)
    assert link.due(3.5, OPTIONS) is Due.DEAD


def test_an_answered_probe_is_no_longer_suspected_and_ends_at_its_deadline() -> None:
    link = open_link(0.0)
    link.probe(1.0, 2.5)
    link.last_rx, link.rx_since_ping = 1.5, True
    assert not link.suspected
    assert link.due(3.5, OPTIONS) is Due.NOTHING
    assert (link.phase, link.probing) == (Phase.OPEN, False)


def test_a_probe_never_pushes_a_pending_ping_deadline_later() -> None:
    link = open_link(0.0)
    link.due(5.0, OPTIONS)  # a heartbeat ping, due at 9 s
    link.probe(8.0, 2.5)  # would be 10.5
    assert link.pong_deadline == 9.0
    link.probe(8.5, 0.1)  # an earlier one wins
    assert link.pong_deadline == 8.6


def test_a_probe_after_an_answered_ping_gets_its_own_deadline() -> None:
    link = open_link(0.0)
    link.due(5.0, OPTIONS)  # ping, due at 9 s
    link.rx_since_ping = True  # answered
    link.probe(8.0, 2.5)
    assert link.pong_deadline == 10.5


def test_send_writes_on_this_socket_and_counts_utf8_bytes() -> None:
    actions: list[Action] = []
    link = new_link(0.0, actions, socket_id=4)
    link.send('{"a": "é"}')
    assert actions == [SendText(4, '{"a": "é"}')]
    assert link.log.sent_bytes == 11  # 10 characters, é is two bytes


# -- Sockets: which link is current --------------------------------------------------------


def opened(sockets: Sockets, now: float = 0.0) -> Link:
    """A new attempt whose socket is being opened (no token needed)."""
    link = sockets.start(now)
    link.fire(L.TOKEN)
    return link


def test_each_attempt_gets_a_new_socket_id_and_ping_ids_never_repeat_across_them() -> None:
    actions: list[Action] = []
    sockets = Sockets(actions)
    first = sockets.start(0.0)
    assert (first.id, first.phase, sockets.current) == (1, P.TOKEN, first)
    assert sockets.socket_id is None, "no socket while the token is awaited"
    first.fire(L.TOKEN)
    assert sockets.socket_id == 1
    first.measure(0.0)
    sockets.drop()
    second = sockets.start(1.0)
    second.measure(1.0)
    assert second.id == 2
    assert [json.loads(a.text)["id"] for a in actions if isinstance(a, SendText)] == ["1", "2"]


def test_get_answers_the_current_socket_and_none_for_a_stale_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sockets = Sockets([])
    first = opened(sockets)
    sockets.drop()
    second = opened(sockets)
    assert sockets.get(2, "socket_opened") is second
    with caplog.at_level("DEBUG", logger="wsclient"):
        assert sockets.get(1, "socket_closed") is None
    assert "socket_closed from stale socket 1 ignored" in caplog.text
    assert first is not second


@pytest.mark.parametrize("socket_id", [0, -1, 3])
def test_get_of_a_socket_never_opened_is_a_caller_bug(socket_id: int) -> None:
    sockets = Sockets([])
    opened(sockets)
    opened(sockets)
    with pytest.raises(LinkError, match=f"socket_error for socket {socket_id}, never opened"):
        sockets.get(socket_id, "socket_error")


def test_an_attempt_without_a_socket_yet_has_no_socket_to_answer_for() -> None:
    """While its token is awaited, events naming its id are stale (it has no socket)."""
    sockets = Sockets([])
    sockets.start(0.0)
    assert sockets.get(1, "socket_opened") is None


def test_drop_keeps_the_last_socket_for_late_reports_and_find_finds_both() -> None:
    sockets = Sockets([])
    first = opened(sockets)
    assert sockets.drop() is first
    assert (sockets.current, sockets.dropped) == (None, first)
    second = opened(sockets)
    assert sockets.find(1) is first and sockets.find(2) is second and sockets.find(3) is None
    sockets.drop()
    assert sockets.find(1) is None, "only the last socket let go is remembered"
    assert sockets.dropped is second


def test_dropping_an_attempt_that_had_no_socket_keeps_the_last_socket() -> None:
    sockets = Sockets([])
    first = opened(sockets)
    sockets.drop()
    sockets.start(1.0)  # waiting for a token
    sockets.drop()
    assert sockets.dropped is first


def test_close_sends_a_close_for_a_socket_and_drops_an_attempt_without_one() -> None:
    actions: list[Action] = []
    sockets = Sockets(actions)
    sockets.start(0.0)
    assert sockets.close(1000, "bye") is False
    assert sockets.current is None and actions == []
    link = opened(sockets)
    assert sockets.close(4000, "heartbeat timeout") is True
    assert actions == [CloseSocket(2, 4000, "heartbeat timeout")]
    assert sockets.current is link, "the caller drops it (and hands back what it carried)"


def test_drop_and_close_without_an_attempt_are_caller_bugs() -> None:
    sockets = Sockets([])
    with pytest.raises(AssertionError, match="no attempt to drop"):
        sockets.drop()
    with pytest.raises(AssertionError, match="no attempt to close"):
        sockets.close(1000, "")
