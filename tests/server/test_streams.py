"""The sans-I/O cores: project streams (offsets, history, replay, state) and the ack ledger."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server import HOLD
from server.acks import AckLedger, request_id
from server.streams import HistoryLimits, ProjectState, ProjectStream, Streams

PATHS = st.sampled_from([f"/p/{n}" for n in "abcd"])
PIDS = st.sampled_from(["j1", "j2"])
EVENTS = st.one_of(
    st.builds(
        lambda t, n: {"type": t, "data": {"n": n}},
        st.sampled_from(["project.created", "project.updated"]),
        st.integers(0, 9),
    ),
    st.just({"type": "project.deleted", "data": {}}),
    st.builds(
        lambda t, p: {"type": t, "file": {"name": p[3:], "path": p, "size": 1, "asset_type": "x"}},
        st.sampled_from(["file.uploaded", "file.deleted"]),
        PATHS,
    ),
    st.builds(
        lambda t, pid, progress: {
            "type": t,
            "process_id": pid,
            **({} if progress is None else {"progress": progress}),
        },
        st.sampled_from(["process.started", "process.progress", "process.completed"]),
        PIDS,
        st.none() | st.floats(0, 1),
    ),
)


def stream(size: int = 10_000, age: float = 180.0) -> ProjectStream:
    return ProjectStream("p", "E", HistoryLimits(size, age))


def fold(events: list[dict[str, Any]]) -> dict[str, Any]:
    state = ProjectState()
    for event in events:
        state.apply(event)
    return state.as_dict()


@given(st.lists(EVENTS, max_size=40), st.integers(0, 12), st.data())
def test_replay_after_any_offset_is_exact_or_refused(
    events: list[dict[str, Any]], size: int, data: st.DataObject
) -> None:
    """`since` k gets offsets k+1..top when the history reaches back to k+1, else None."""
    s = stream(size=size)
    for event in events:
        s.append(event, now=0.0)
    top = len(events)
    assert s.top == top and len(s.history) == min(size, top)
    since = data.draw(st.integers(-2, top + 2))
    replay = s.replay("E", since, now=0.0)
    if 0 <= since <= top and top - since <= size:
        assert replay is not None
        assert [e.offset for e in replay] == list(range(since + 1, top + 1))
        assert [e.event["type"] for e in replay] == [e["type"] for e in events[since:]]
    else:
        assert replay is None
    assert s.replay("other", top, now=0.0) is None


@given(st.lists(EVENTS, max_size=40), st.data())
def test_snapshot_then_replay_rebuilds_the_state(
    events: list[dict[str, Any]], data: st.DataObject
) -> None:
    """State at offset k (what a snapshot carried) + the events after k = the final state."""
    s = stream()
    for event in events:
        s.append(event, now=0.0)
    k = data.draw(st.integers(0, len(events)))
    replay = s.replay("E", k, now=0.0)
    assert replay is not None
    assert fold(events[:k] + [e.event for e in replay]) == s.state.as_dict()


@given(st.lists(EVENTS, max_size=30))
def test_snapshot_lists_what_the_state_holds(events: list[dict[str, Any]]) -> None:
    s = stream()
    for event in events:
        s.append(event, now=0.0)
    snap = s.snapshot()
    state = s.state.as_dict()
    assert snap["offset"] == len(events) and snap["data"] == state["data"]
    assert {f["path"]: f for f in snap["files"]} == state["files"]
    assert {p.pop("process_id"): p for p in snap["processes"]} == state["processes"]
    for process in state["processes"].values():
        assert process["status"] in ("running", "completed")


def test_history_expires_by_age_at_the_given_now() -> None:
    s = stream(age=10.0)
    for t in (0.0, 4.0, 8.0):
        s.append({"type": "project.updated", "data": {}}, now=t)
    assert s.replay("E", 0, now=9.0) is not None
    assert s.replay("E", 0, now=10.5) is None  # offset 1 (t=0) is gone
    assert [e.offset for e in s.replay("E", 1, now=10.5) or []] == [2, 3]
    assert [e.offset for e in s.history] == [2, 3]


def test_restart_changes_the_epoch_and_keeps_state() -> None:
    epochs = iter(["E1", "E1", "E2"])
    streams = Streams(epochs=lambda: next(epochs))
    s = streams.get("p")
    s.append({"type": "project.created", "data": {"a": 1}}, now=0.0)
    streams.restart("p")
    assert s.epoch == "E2" and s.history == () and s.top == 1  # a repeated epoch is skipped
    assert streams.state("p")["data"] == {"a": 1}
    assert streams.state("unknown") == {"data": None, "files": {}, "processes": {}}


def test_trim_keeps_the_newest() -> None:
    s = stream()
    for _ in range(5):
        s.append({"type": "project.updated", "data": {}}, now=0.0)
    s.trim(2)
    assert [e.offset for e in s.history] == [4, 5]
    with pytest.raises(ValueError):
        s.trim(-1)


def test_ledger_answers_repeats_without_applying_again() -> None:
    ledger = AckLedger(window=10.0)
    msg = {"type": "x", "id": "a"}
    ack, repeat = ledger.answer("a", msg, 0.0, None)
    assert ack == {"type": "ack", "id": "a", "ok": True, "data": {"type": "x"}} and not repeat
    assert ledger.answer("a", msg, 9.0, None) == (ack, True)
    assert [a.id for a in ledger.applied] == ["a"]
    assert ledger.answer("a", msg, 10.5, None) == (ack, False)  # forgotten after the window
    assert len(ledger.applied) == 2


def test_ledger_hold_is_not_remembered() -> None:
    ledger = AckLedger(window=10.0)
    assert ledger.answer("a", {"type": "x"}, 0.0, lambda m: HOLD) == (None, False)
    assert ledger.answer("a", {"type": "x"}, 0.0, lambda m: "no")[0] == {
        "type": "ack",
        "id": "a",
        "ok": False,
        "error": "no",
    }
    assert ledger.applied == []


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"type": "x", "id": "a"}, "a"),
        ({"type": "x", "id": 1}, None),
        ({"type": "x"}, None),
        ({"type": "ping", "id": "a"}, None),
        ({"type": "subscribe", "id": "a"}, None),
        ({"type": "unsubscribe", "id": "a"}, None),
    ],
)
def test_request_id(message: dict[str, Any], expected: str | None) -> None:
    assert request_id(message) == expected
