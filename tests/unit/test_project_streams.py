"""The project ``Streams`` on their own (no Session): the sync-status table, event verdicts,
``subscribed`` outcomes, snapshots, reply deadlines, and the frames and ``Resync`` actions they
put on a link.

(Named test_project_streams.py, not test_streams.py: tests/server/test_streams.py has that
basename, and pytest cannot import two rootless test modules of one name in one run.)
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import pytest

from wsclient.actions import Action, Resync, SendText
from wsclient.link import Link
from wsclient.streams import _SYNC, Stream, Streams, SyncEvent, SyncStatus

V = SyncEvent
REPLY = 4.0  # the reply timeout (the session passes pong_timeout)

#: status -> event -> the next status, every cell written out by hand ("=" cells: unchanged).
SYNC: dict[SyncStatus, dict[SyncEvent, SyncStatus]] = {
    "live": {
        V.RESUBSCRIBED: "recovering",
        V.GAP: "recovering",
        V.NOT_RECOVERED: "live",
        V.UNUSABLE_REPLAY: "stale",
        V.FIRST_SNAPSHOT: "live",
        V.SNAPSHOT: "reset",
        V.CAUGHT_UP: "live",
    },
    "reset": {
        V.RESUBSCRIBED: "recovering",
        V.GAP: "recovering",
        V.NOT_RECOVERED: "reset",
        V.UNUSABLE_REPLAY: "stale",
        V.FIRST_SNAPSHOT: "live",
        V.SNAPSHOT: "reset",
        V.CAUGHT_UP: "reset",
    },
    "recovering": {
        V.RESUBSCRIBED: "recovering",
        V.GAP: "recovering",
        V.NOT_RECOVERED: "stale",
        V.UNUSABLE_REPLAY: "stale",
        V.FIRST_SNAPSHOT: "live",
        V.SNAPSHOT: "reset",
        V.CAUGHT_UP: "live",
    },
    "stale": {
        V.RESUBSCRIBED: "recovering",
        V.GAP: "recovering",
        V.NOT_RECOVERED: "stale",
        V.UNUSABLE_REPLAY: "stale",
        V.FIRST_SNAPSHOT: "live",
        V.SNAPSHOT: "reset",
        V.CAUGHT_UP: "live",
    },
}
CELLS = [(status, event) for status in SYNC for event in SyncEvent]


@dataclass(frozen=True)
class Subscribed:
    """A ``subscribed`` reply (``envelope.SubscribedFrame``)."""

    project_id: str
    epoch: str
    offset: int
    recovered: bool


def new_link(actions: list[Action], socket_id: int = 1) -> Link:
    """Streams only write frames on a link and read its ``subscribed`` set."""
    return Link(socket_id, 0.0, actions, itertools.count(1))


def frames(actions: list[Action]) -> list[object]:
    """What was written (JSON decoded) and the resyncs, in order; then forgotten."""
    out: list[object] = []
    for action in actions:
        if isinstance(action, SendText):
            out.append(json.loads(action.text))
        else:
            out.append(action)
    actions.clear()
    return out


def setup(*projects: str, epoch: str = "e1", offset: int = 5) -> tuple[Streams, list[Action], Link]:
    """``projects`` subscribed on link 1 and answered with a snapshot at ``epoch``/``offset``
    (live, a position held); the actions so far are cleared."""
    actions: list[Action] = []
    streams = Streams(REPLY, actions)
    link = new_link(actions)
    for project in projects:
        streams.subscribe(project, link, 0.0)
        assert streams.subscribed(project, epoch, offset, False) == "ok"
        assert streams.snapshot(project, offset)
    actions.clear()
    return streams, actions, link


def subscribe(project: str, since: tuple[str, int] | None = None) -> dict[str, object]:
    frame: dict[str, object] = {"type": "subscribe", "project_id": project}
    if since is not None:
        frame["since"] = {"epoch": since[0], "offset": since[1]}
    return frame


def reconnect(streams: Streams, actions: list[Action], now: float = 10.0) -> Link:
    """The socket went; a new one (id 2) became usable: every project is subscribed on it."""
    streams.socket_gone()
    link = new_link(actions, 2)
    streams.link_usable(link, now)
    return link


# -- the sync table --------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "event"), CELLS)
def test_every_sync_cell(status: SyncStatus, event: SyncEvent) -> None:
    """Each status x event reaches the hand-written target; ``version`` grows only on a change
    (events the table does not list change nothing, by design: they never raise)."""
    streams, stream = Streams(REPLY), Stream()
    stream.status = status
    streams._apply(stream, event)
    assert stream.status == SYNC[status][event]
    assert streams.version == (0 if SYNC[status][event] == status else 1)


def test_the_table_lists_exactly_the_changing_cells_and_the_self_loops_it_names() -> None:
    listed = {(status, event) for status, row in _SYNC.items() for event in row}
    unlisted_here = {(s, e) for s, e in CELLS if (s, e) not in listed}
    assert unlisted_here == {
        ("live", V.NOT_RECOVERED),
        ("live", V.CAUGHT_UP),
        ("reset", V.NOT_RECOVERED),
        ("reset", V.CAUGHT_UP),
        ("stale", V.NOT_RECOVERED),
        ("stale", V.UNUSABLE_REPLAY),
    }


# -- subscribers and the frames they cause ---------------------------------------------------


def test_the_first_subscriber_subscribes_on_the_link_the_second_does_not() -> None:
    actions: list[Action] = []
    streams, link = Streams(REPLY, actions), new_link(actions)
    streams.subscribe("p", link, 1.0)
    streams.subscribe("p", link, 2.0)
    assert frames(actions) == [subscribe("p")]
    assert streams.counts() == {"p": 2}
    assert link.subscribed == {"p"}
    assert streams.reply_deadline == 1.0 + REPLY
    assert streams.statuses() == {"p": "live"}


def test_subscribing_while_down_writes_nothing_and_a_new_project_is_not_recovering() -> None:
    actions: list[Action] = []
    streams = Streams(REPLY, actions)
    streams.subscribe("p", None, 1.0)
    assert actions == [] and streams.reply_deadline is None
    link = new_link(actions, 2)
    streams.link_usable(link, 3.0)
    assert frames(actions) == [subscribe("p")]
    assert streams.statuses() == {"p": "live"}  # never announced: nothing to recover


def test_a_reconnect_subscribes_everything_in_order_with_the_positions_held() -> None:
    streams, actions, _ = setup("a", "b")
    streams.subscribe("c", None, 1.0)
    reconnect(streams, actions)
    assert frames(actions) == [subscribe("a", ("e1", 5)), subscribe("b", ("e1", 5)), subscribe("c")]
    assert streams.statuses() == {"a": "recovering", "b": "recovering", "c": "live"}


def test_the_last_subscriber_leaving_unsubscribes_on_the_link_it_was_subscribed_on() -> None:
    streams, actions, link = setup("p")
    streams.subscribe("p", link, 1.0)  # a second local subscriber
    version = streams.version
    assert streams.unsubscribe("p", link) is True
    assert actions == [] and streams.counts() == {"p": 1}
    assert streams.unsubscribe("p", link) is True
    assert frames(actions) == [{"type": "unsubscribe", "project_id": "p"}]
    assert link.subscribed == set()
    assert streams.counts() == {} and streams.positions() == {} and "p" not in streams
    assert streams.version == version + 1


def test_unsubscribe_writes_nothing_where_the_project_was_not_subscribed() -> None:
    streams, actions, _ = setup("p", "q")
    fresh = new_link(actions, 2)  # a new link, no subscribe written on it yet
    assert streams.unsubscribe("p", fresh) is True
    assert streams.unsubscribe("q", None) is True  # while down
    assert actions == []
    assert streams.counts() == {}


def test_unsubscribe_without_a_subscriber_is_false() -> None:
    streams, actions, link = setup()
    assert streams.unsubscribe("p", link) is False
    assert actions == []


def test_unsubscribing_clears_its_reply_deadline() -> None:
    actions: list[Action] = []
    streams, link = Streams(REPLY, actions), new_link(actions)
    streams.subscribe("p", link, 1.0)
    streams.subscribe("q", link, 2.0)
    streams.unsubscribe("p", link)
    assert streams.reply_deadline == 2.0 + REPLY


# -- event verdicts --------------------------------------------------------------------------


def test_events_in_order_are_delivered_and_move_the_position() -> None:
    streams, _, _ = setup("p")
    assert [streams.event("p", offset, True) for offset in (6, 7, 8)] == ["deliver"] * 3
    assert streams.positions() == {"p": ("e1", 8)}
    assert streams.duplicates == 0


def test_an_event_at_or_below_the_position_is_a_counted_duplicate() -> None:
    streams, _, _ = setup("p")
    assert streams.event("p", 5, True) == "drop"
    assert streams.event("p", 2, True) == "drop"
    assert streams.event("p", 5, False) == "drop"  # v1 or v2 alike
    assert streams.duplicates == 3
    assert streams.positions() == {"p": ("e1", 5)}


def test_a_gap_is_reported_once_then_events_past_it_are_dropped_until_filled() -> None:
    streams, _, _ = setup("p")
    assert streams.event("p", 8, True) == "gap"  # 6 and 7 missing
    assert streams.statuses() == {"p": "recovering"}
    assert streams.event("p", 9, True) == "drop"  # resubscribing: no second gap
    assert streams.event("p", 12, True) == "drop"
    assert streams.duplicates == 0  # held back, not duplicates
    assert streams.event("p", 6, True) == "deliver"  # the replay fills it
    assert streams.positions() == {"p": ("e1", 6)}


def test_a_gap_resubscribe_and_its_replay_bring_the_project_back_live() -> None:
    streams, actions, link = setup("p")
    assert streams.event("p", 8, True) == "gap"
    streams.subscribe_on(link, "p", 1.0)  # what the session does on "gap"
    assert frames(actions) == [subscribe("p", ("e1", 5))]
    streams.reply(link, Subscribed("p", "e1", 8, True), 1.5)
    assert actions == []
    assert [streams.event("p", o, True) for o in (6, 7)] == ["deliver", "deliver"]
    assert streams.statuses() == {"p": "recovering"}
    assert streams.event("p", 8, True) == "deliver"
    assert streams.statuses() == {"p": "live"}
    assert streams.event("p", 10, True) == "gap"  # a new gap is a gap again


def test_without_recovery_a_gap_is_dropped_and_nothing_else_changes() -> None:
    """v1 (or a server that does not recover): the event past the gap is dropped, no
    resubscribe is started, and the status stays."""
    streams, _, _ = setup("p")
    assert streams.event("p", 8, False) == "drop"
    assert streams.statuses() == {"p": "live"}
    assert streams.event("p", 8, True) == "gap"  # not marked as resubscribing


def test_events_without_offset_or_project_are_delivered() -> None:
    streams, _, _ = setup("p")
    assert streams.event("p", None, True) == "deliver"
    assert streams.event("other", 99, True) == "deliver"
    assert streams.positions() == {"p": ("e1", 5)}


def test_the_first_offset_of_a_project_without_a_position_is_taken() -> None:
    actions: list[Action] = []
    streams = Streams(REPLY, actions)
    streams.add("p")
    assert streams.event("p", 40, True) == "deliver"
    assert streams.event("p", 41, True) == "deliver"
    assert streams.event("p", 41, True) == "drop"


# -- subscribed outcomes -----------------------------------------------------------------------


def test_a_replay_from_the_position_held_is_ok_and_live_once_through() -> None:
    streams, actions, _ = setup("p")
    link = reconnect(streams, actions)
    actions.clear()
    assert streams.subscribed("p", "e1", 7, True) == "ok"
    assert streams.statuses() == {"p": "recovering"}
    assert streams.reply_deadline is None
    assert streams.event("p", 6, True) == "deliver"
    assert streams.event("p", 7, True) == "deliver"
    assert streams.statuses() == {"p": "live"}
    assert link.subscribed == {"p"}


def test_a_replay_with_nothing_missed_is_live_at_once() -> None:
    streams, actions, _ = setup("p")
    reconnect(streams, actions)
    assert streams.subscribed("p", "e1", 5, True) == "ok"
    assert streams.statuses() == {"p": "live"}


def test_no_recovery_means_a_snapshot_follows_and_events_wait_for_it() -> None:
    streams, actions, _ = setup("p")
    reconnect(streams, actions)
    assert streams.subscribed("p", "e2", 30, False) == "ok"
    assert streams.event("p", 31, True) == "drop"  # the snapshot replaces it
    assert streams.duplicates == 0
    assert streams.snapshot("p", 30) is True
    assert streams.statuses() == {"p": "reset"}
    assert streams.positions() == {"p": ("e2", 30)}
    assert streams.event("p", 31, True) == "deliver"


def test_a_replay_from_a_position_not_held_is_refetched_once_then_resynced() -> None:
    streams, actions, _ = setup("p")
    link = reconnect(streams, actions)
    actions.clear()
    streams.reply(link, Subscribed("p", "e9", 50, True), 11.0)  # another epoch, yet "recovered"
    assert frames(actions) == [subscribe("p")]  # asked afresh, without since
    assert streams.positions() == {}
    assert streams.event("p", 51, True) == "drop"  # a snapshot is due
    streams.reply(link, Subscribed("p", "e9", 50, True), 12.0)  # the same again
    assert frames(actions) == [Resync("p")]
    assert streams.statuses() == {"p": "stale"}
    assert streams.positions() == {"p": ("e9", 50)}
    assert streams.event("p", 51, True) == "deliver"


def test_a_new_socket_may_refetch_again() -> None:
    streams, actions, _ = setup("p")
    reconnect(streams, actions)
    assert streams.subscribed("p", "e9", 50, True) == "refetch"
    reconnect(streams, actions)
    assert streams.subscribed("p", "e9", 50, True) == "refetch"


def test_a_reply_for_a_project_no_longer_subscribed_is_ok() -> None:
    streams, actions, link = setup()
    streams.reply(link, Subscribed("gone", "e1", 3, True), 1.0)
    assert streams.subscribed("gone", "e1", 3, False) == "ok"
    assert actions == []


# -- snapshots -------------------------------------------------------------------------------


def test_the_first_snapshot_leaves_a_project_live_a_later_one_is_a_reset() -> None:
    actions: list[Action] = []
    streams, link = Streams(REPLY, actions), new_link(actions)
    streams.subscribe("p", link, 0.0)
    streams.subscribed("p", "e1", 5, False)
    assert streams.snapshot("p", 5) is True
    assert streams.statuses() == {"p": "live"}
    assert streams.snapshot("p", 9) is True
    assert streams.statuses() == {"p": "reset"}


def test_a_snapshot_resets_the_position() -> None:
    streams, _, _ = setup("p")
    streams.event("p", 6, True)
    assert streams.snapshot("p", 3) is True  # back in time: the server's word
    assert streams.positions() == {"p": ("e1", 3)}
    assert streams.event("p", 4, True) == "deliver"
    assert streams.snapshot("p", None) is True  # no offset: no position
    assert streams.positions() == {}


def test_a_snapshot_ends_a_replay_in_progress() -> None:
    streams, actions, _ = setup("p")
    reconnect(streams, actions)
    streams.subscribed("p", "e1", 9, True)  # replay to 9
    streams.snapshot("p", 20)
    assert streams.event("p", 21, True) == "deliver"
    assert streams.statuses() == {"p": "reset"}  # not caught up to 9 later by mistake


def test_a_snapshot_of_a_project_not_subscribed_is_not_delivered() -> None:
    streams, _, _ = setup("p")
    assert streams.snapshot("other", 1) is False


# -- reply deadlines and servers that do not recover -------------------------------------------


def test_no_reply_in_time_resyncs_the_recovering_projects_only() -> None:
    streams, actions, _ = setup("a")
    streams.subscribe("b", None, 1.0)  # new while down: nothing to recover
    reconnect(streams, actions, now=10.0)
    actions.clear()
    assert streams.reply_deadline == 10.0 + REPLY
    streams.expire(13.9)
    assert actions == []
    streams.expire(14.0)
    assert frames(actions) == [Resync("a")]
    assert streams.statuses() == {"a": "stale", "b": "live"}
    assert streams.reply_deadline is None
    streams.expire(100.0)
    assert actions == []  # once


def test_a_reply_in_time_leaves_the_other_deadlines() -> None:
    streams, actions, link = setup("a", "b")
    reconnect(streams, actions, now=10.0)
    actions.clear()
    streams.reply(link, Subscribed("a", "e1", 5, True), 11.0)
    assert streams.reply_deadline == 14.0
    streams.expire(14.0)
    assert frames(actions) == [Resync("b")]
    assert streams.statuses() == {"a": "live", "b": "stale"}


def test_a_stale_project_whose_reply_comes_late_is_live_again() -> None:
    streams, actions, link = setup("a")
    reconnect(streams, actions, now=10.0)
    streams.expire(14.0)
    assert streams.statuses() == {"a": "stale"}
    streams.reply(link, Subscribed("a", "e1", 5, True), 15.0)
    assert streams.statuses() == {"a": "live"}


def test_a_v1_server_makes_recovering_projects_stale_with_a_resync() -> None:
    streams, actions, _ = setup("a", "b")
    streams.subscribe("c", None, 1.0)
    reconnect(streams, actions, now=10.0)
    actions.clear()
    streams.protocol_known(1)
    assert frames(actions) == [Resync("a"), Resync("b")]
    assert streams.statuses() == {"a": "stale", "b": "stale", "c": "live"}
    assert streams.reply_deadline is None
    streams.expire(100.0)
    assert actions == []


def test_a_v2_server_changes_nothing_when_its_protocol_is_known() -> None:
    streams, actions, _ = setup("a")
    reconnect(streams, actions, now=10.0)
    actions.clear()
    streams.protocol_known(2)
    assert actions == []
    assert streams.statuses() == {"a": "recovering"}
    assert streams.reply_deadline == 14.0


def test_socket_gone_voids_what_it_waited_for() -> None:
    streams, actions, link = setup("p")
    streams.subscribe_on(link, "p", 1.0)
    assert streams.reply_deadline == 5.0
    streams.socket_gone()
    assert streams.reply_deadline is None
    streams.expire(100.0)
    assert actions[1:] == []  # only the subscribe written before


def test_version_grows_on_every_status_change_and_membership_change() -> None:
    actions: list[Action] = []
    streams = Streams(REPLY, actions)
    streams.add("p")
    assert streams.version == 1
    streams.add("p")
    assert streams.version == 1
    streams.snapshot("p", 1)  # first snapshot: live -> live
    assert streams.version == 1
    streams.snapshot("p", 2)  # live -> reset
    assert streams.version == 2
    streams.remove("p")
    streams.remove("p")
    assert streams.version == 3
    assert streams.remove("p") is None
