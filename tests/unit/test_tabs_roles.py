"""A tab's role table, term fencing, and which stored outbox entries a tab may adopt."""

from __future__ import annotations

import json

import pytest
from test_tabs_world import World, assert_in_step

from wsclient.outbound import Outbound
from wsclient.tabs import (
    Follow,
    InvalidRoleEvent,
    Lead,
    Orphaned,
    Post,
    ReleaseLock,
    RequestLock,
    Resign,
    Role,
    Roles,
    StoreTerm,
)
from wsclient.tabs_hub import frames_text
from wsclient.tabs_outbox import Adoption, tab_lock_name


def test_a_shared_tab_asks_for_the_lock_and_who_leads() -> None:
    roles = Roles("a")
    assert roles.start(True) == [RequestLock(), Post({"k": "who", "from": "a"})]
    assert roles.role is Role.CANDIDATE


def test_without_sharing_a_tab_is_alone_and_asks_for_nothing() -> None:
    roles = Roles("a")
    assert roles.start(False) == []
    assert roles.role is Role.ALONE


def test_the_lock_makes_a_leader_with_the_stored_term_plus_one() -> None:
    roles = Roles("a")
    roles.start(True)
    assert roles.granted(stored_term=6) == [
        StoreTerm(7),
        Lead(7),
        Post({"k": "leader", "t": 7, "leader": "a"}),
    ]
    assert roles.role is Role.LEADER


def test_a_candidate_follows_the_announced_leader() -> None:
    roles = Roles("b")
    roles.start(True)
    assert roles.announced(3, "a") == [Follow(3, "a")]
    assert roles.role is Role.FOLLOWER and roles.current(3)


@pytest.mark.parametrize("term", [2, 3])
def test_an_old_or_repeated_announcement_is_ignored(term: int) -> None:
    roles = Roles("b")
    roles.start(True)
    roles.announced(3, "a")
    assert roles.announced(term, "c") == []
    assert roles.leader == "a" and not roles.current(2)


def test_a_leader_that_hears_a_newer_term_steps_down() -> None:
    roles = Roles("a")
    roles.start(True)
    roles.granted(1)
    assert roles.announced(5, "b") == [Resign(), Follow(5, "b")]
    assert roles.role is Role.FOLLOWER


def test_a_leader_stepping_out_hands_over_and_releases_the_lock() -> None:
    roles = Roles("a")
    roles.start(True)
    roles.granted(0)
    assert roles.stop() == [Resign(), Post({"k": "bye", "t": 1, "leader": "a"}), ReleaseLock()]
    assert roles.role is Role.STOPPED


def test_a_follower_whose_leader_leaves_is_a_candidate_again() -> None:
    roles = Roles("b")
    roles.start(True)
    roles.announced(2, "a")
    assert roles.left(1, "a") == []  # an older leader's goodbye
    assert roles.left(2, "a") == [Orphaned()]
    assert roles.role is Role.CANDIDATE


def test_a_lock_granted_after_stepping_out_is_handed_on() -> None:
    roles = Roles("a")
    roles.start(True)
    roles.stop()
    assert roles.granted(0) == [ReleaseLock()]


def test_a_call_the_table_does_not_allow_names_the_role_and_the_event() -> None:
    roles = Roles("a")
    roles.start(True)
    with pytest.raises(
        InvalidRoleEvent, match="start sharing is not allowed while the tab is 'candidate'"
    ):
        roles.start(True)


def test_frames_of_a_stale_leader_term_are_ignored() -> None:
    """A message tagged with an older term than the leader a tab follows changes nothing."""
    world = World()
    _a, b = world.open_tabs("a", "b")
    b.subscribe("alpha")
    world.server.emit("alpha")
    world.advance(0.0)
    term = b.share.roles.term
    stale = json.dumps(
        {"type": "project.updated", "project_id": "alpha", "data": {"n": 99}, "offset": 2}
    )
    b.share.message(frames_text(term - 1, {"b": b.core.socket_id}, {"b": stale}))
    b.share.message(
        {
            "k": "closed",
            "t": term - 1,
            "to": "b",
            "link": b.core.socket_id,
            "code": 4403,
            "reason": "x",
        }
    )
    b.share.message({"k": "leader", "t": term - 1, "leader": "zz"})
    world.run()
    assert b.share.roles.leader == "a"
    assert b.state.value == "connected"
    assert_in_step(b, "alpha", 1)


def entry(id_: str, n: int) -> Outbound:
    return Outbound(id_, n, "send", json.dumps({"type": "note", "n": n}), tagged=True)


def test_entries_of_a_live_tab_are_never_adopted() -> None:
    """The liveness lock of a live tab is not granted: its entries stay its own."""
    mine = Adoption("b")
    stored = [entry("a-1", 1), entry("b-1", 2)]
    assert mine.to_probe(e.id for e in stored) == ["a"]
    assert not mine.answered("a", granted=False)
    assert [e.id for e in mine.mine(stored)] == ["b-1"]


def test_entries_of_a_gone_tab_are_adopted_once() -> None:
    """The first tab granted a gone tab's lock adopts its entries; another live tab asking
    later is refused (the adopter holds the lock) and never sends them."""
    b, c = Adoption("b"), Adoption("c")
    stored = [entry("a-1", 1), entry("a-2", 2), entry("c-1", 3)]
    locks: set[str] = set()

    def ask(tab: str) -> bool:  # navigator.locks.request(name, {ifAvailable: true})
        name = tab_lock_name("ws://server/ws", tab)
        if name in locks:
            return False
        locks.add(name)
        return True

    locks.add(tab_lock_name("ws://server/ws", "c"))  # c is alive and holds its own lock
    for tab in b.to_probe(e.id for e in stored):
        b.answered(tab, ask(tab))
    for tab in c.to_probe(e.id for e in stored):
        c.answered(tab, ask(tab))
    assert [e.id for e in b.mine(stored)] == ["a-1", "a-2"]
    assert [e.id for e in c.mine(stored)] == ["c-1"]
    assert b.to_probe(e.id for e in stored) == ["c"]  # asked again only when answered


def test_a_tab_probes_each_owner_once_until_answered() -> None:
    mine = Adoption("b")
    assert mine.to_probe(["a-1", "a-2", "d-7"]) == ["a", "d"]
    assert mine.to_probe(["a-3"]) == []
