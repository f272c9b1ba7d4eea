"""EventRouter: listeners, error isolation, drops, and the domain and connection stores."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fakes import feed

from wsclient.messages import FileInfo, Message, Pong, ProcessEvent, ProjectEvent
from wsclient.router import (
    ConnectionState,
    DropStats,
    EventRouter,
    ProcessInfo,
)
from wsclient.stores import derived, get

TS = "2024-05-01T12:00:00Z"


def frame(type_: str, **fields: Any) -> str:
    return json.dumps({"type": type_, "timestamp": TS, **fields})


def file_frame(type_: str, project_id: str, path: str, size: int = 1) -> str:
    info = {"name": path.rsplit("/", 1)[-1], "path": path, "size": size, "asset_type": "doc"}
    return frame(type_, project_id=project_id, file=info)


def process_frame(type_: str, process_id: str = "x", **fields: Any) -> str:
    return frame(type_, project_id="p", process_id=process_id, **fields)


@pytest.fixture
def router() -> EventRouter:
    return EventRouter()


# --- listeners -----------------------------------------------------------------------------


def test_listener_gets_the_typed_message(router: EventRouter) -> None:
    """on(type, cb) calls cb with the parsed dataclass."""
    got: list[ProjectEvent] = []
    router.on("project.created", got.append)
    feed(router, frame("project.created", project_id="p", data={"n": 1}))
    assert got == [ProjectEvent("project.created", TS, "p", {"n": 1})]


def test_listeners_only_hear_their_type(router: EventRouter) -> None:
    """A pong listener does not hear heartbeats."""
    got: list[Message] = []
    router.on("pong", got.append)
    feed(router, frame("system.heartbeat"))
    assert got == []


def test_several_listeners_per_type_run_in_order(router: EventRouter) -> None:
    """All listeners of a type run, in registration order."""
    order: list[str] = []
    router.on("pong", lambda _: order.append("first"))
    router.on("pong", lambda _: order.append("second"))
    feed(router, frame("pong"))
    assert order == ["first", "second"]


def test_star_listeners_hear_every_message_after_typed_ones(router: EventRouter) -> None:
    """'*' gets every message, after that type's own listeners."""
    order: list[str] = []
    router.on("*", lambda m: order.append(f"* {m.type}"))
    router.on("pong", lambda _: order.append("pong"))
    feed(router, frame("pong"))
    feed(router, frame("custom.thing"))
    assert order == ["pong", "* pong", "* custom.thing"]


def test_a_message_typed_star_reaches_star_listeners_once(router: EventRouter) -> None:
    """A server message with type "*" is not delivered twice."""
    got: list[Message] = []
    router.on("*", got.append)
    feed(router, frame("*"))
    assert len(got) == 1


def test_unsubscribe_removes_only_that_listener(router: EventRouter) -> None:
    """The function on() returns removes its own registration, even of a shared callback."""
    got: list[Message] = []
    off_first = router.on("pong", got.append)
    router.on("pong", got.append)
    off_first()
    off_first()
    feed(router, frame("pong"))
    assert len(got) == 1


def test_unsubscribing_during_dispatch_does_not_skip_others(router: EventRouter) -> None:
    """A listener that removes itself mid-dispatch does not disturb the others."""
    got: list[str] = []
    offs: list[Any] = []
    offs.append(router.on("pong", lambda _: offs[0]()))
    router.on("pong", lambda _: got.append("second"))
    feed(router, frame("pong"))
    feed(router, frame("pong"))
    assert got == ["second", "second"]


def test_generic_message_reaches_its_listeners(router: EventRouter) -> None:
    """Unknown types are delivered to listeners of that type."""
    got: list[Message] = []
    router.on("chat.message", got.append)
    feed(router, frame("chat.message", text="hi"))
    assert got[0].type == "chat.message"


def test_on_rejects_a_non_callable(router: EventRouter) -> None:
    """Caller misuse raises at once with what to pass."""
    with pytest.raises(TypeError, match="callable"):
        router.on("pong", "not a function")  # type: ignore[call-overload]


# --- error isolation -----------------------------------------------------------------------


def test_a_raising_listener_does_not_stop_the_others_or_the_stores(
    router: EventRouter, caplog: pytest.LogCaptureFixture
) -> None:
    """The error is counted and logged; later listeners and the stores still run."""

    def broken(_: Message) -> None:
        raise RuntimeError("listener bug")

    got: list[Message] = []
    router.on("project.created", broken)
    router.on("project.created", got.append)
    before = get(router.errors).count
    with caplog.at_level(logging.ERROR, logger="wsclient"):
        result = feed(router, frame("project.created", project_id="p", data={}))
    assert result is not None
    assert got == [result]
    assert "p" in get(router.projects)
    errors = get(router.errors)
    assert errors.count == before + 1
    assert errors.last is not None and "RuntimeError: listener bug" in errors.last
    assert "broken" in caplog.text


def test_a_raising_listener_is_logged_once_and_counted_every_time(
    router: EventRouter, caplog: pytest.LogCaptureFixture
) -> None:
    """Ten failures: one log record, a count of ten."""

    def broken(_: Message) -> None:
        raise ValueError("again")

    router.on("pong", broken)
    before = get(router.errors).count
    with caplog.at_level(logging.ERROR, logger="wsclient"):
        for _ in range(10):
            feed(router, frame("pong"))
    assert len(caplog.records) == 1
    assert get(router.errors).count == before + 10


def test_a_raising_store_subscriber_does_not_stop_listeners(router: EventRouter) -> None:
    """A broken UI subscriber of a domain store is reported; listeners still run."""

    def broken(value: Any) -> None:
        if value:
            raise KeyError("ui bug")

    router.projects.subscribe(broken)
    got: list[Message] = []
    router.on("project.created", got.append)
    before = get(router.errors).count
    feed(router, frame("project.created", project_id="p", data={}))
    assert len(got) == 1
    assert get(router.errors).count == before + 1


def test_feed_never_raises_into_the_caller_even_with_a_broken_errors_subscriber(
    router: EventRouter,
) -> None:
    """Even a failing `errors` subscriber cannot make feed raise."""

    def broken_errors(stats: Any) -> None:
        if stats.count:
            raise RuntimeError("errors ui bug")

    router.errors.subscribe(broken_errors)
    router.on("pong", lambda _: 1 / 0)
    assert feed(router, frame("pong")) == Pong(timestamp=TS)


# --- drops ---------------------------------------------------------------------------------


def test_bad_frames_are_counted_per_kind_with_the_last_reason(router: EventRouter) -> None:
    """dropped maps each kind to its count and last reason; feed returns None."""
    assert feed(router, "nope") is None
    feed(router, "[1]")
    feed(router, "{oops")
    dropped = get(router.dropped)
    assert dropped["not_json"].count == 2
    assert dropped["not_object"] == DropStats(1, "a JSON message must be an object, got an array")


def test_drops_are_logged_once_per_kind(
    router: EventRouter, caplog: pytest.LogCaptureFixture
) -> None:
    """Five bad frames of one kind and one of another log two warnings."""
    with caplog.at_level(logging.WARNING, logger="wsclient.router"):
        for _ in range(5):
            feed(router, "nope")
        feed(router, "{}")
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]


def test_drop_binary_counts_a_binary_drop(router: EventRouter) -> None:
    """The adapter reports binary frames with their size."""
    router.drop_binary(2048)
    stats = get(router.dropped)["binary"]
    assert stats.count == 1
    assert "2048 bytes" in stats.last_reason


def test_a_drop_does_not_stop_later_frames(router: EventRouter) -> None:
    """A valid frame after a bad one is handled normally."""
    feed(router, "\x00garbage")
    assert feed(router, frame("pong")) == Pong(timestamp=TS)
    assert len(get(router.messages)) == 1


def test_frames_over_max_frame_chars_are_dropped(router: EventRouter) -> None:
    """The router's size limit reaches the parser."""
    small = EventRouter(max_frame_chars=20)
    assert feed(small, frame("pong")) is None
    assert "too_large" in get(small.dropped)


def test_dropped_frames_reach_no_listener(router: EventRouter) -> None:
    """A bad process.progress is not delivered."""
    got: list[Message] = []
    router.on("*", got.append)
    feed(router, process_frame("process.progress", progress="half"))
    assert got == []


# --- messages store ------------------------------------------------------------------------


def test_messages_keeps_the_last_100_oldest_first(router: EventRouter) -> None:
    """After 250 messages the store holds messages 150..249."""
    for i in range(250):
        feed(router, frame("pong", id=str(i)))
    window = get(router.messages)
    assert len(window) == 100
    assert [m.id for m in window if isinstance(m, Pong)] == [str(i) for i in range(150, 250)]


def test_messages_limit_is_configurable() -> None:
    """max_messages bounds the window."""
    router = EventRouter(max_messages=3)
    for i in range(10):
        feed(router, frame("pong", id=str(i)))
    assert [m.id for m in get(router.messages) if isinstance(m, Pong)] == ["7", "8", "9"]


def test_a_kept_messages_value_never_changes(router: EventRouter) -> None:
    """Windows are immutable: one kept across 1000 later messages still shows what it showed."""
    for i in range(5):
        feed(router, frame("pong", id=str(i)))
    kept = get(router.messages)
    before = list(kept)
    for i in range(1000):
        feed(router, frame("pong", id=f"later {i}"))
    assert list(kept) == before


def test_messages_subscribers_hear_each_message(router: EventRouter) -> None:
    """Each message notifies messages subscribers once."""
    lengths: list[int] = []
    router.messages.subscribe(lambda w: lengths.append(len(w)))
    feed(router, frame("pong"))
    feed(router, frame("system.heartbeat"))
    assert lengths == [0, 1, 2]


# --- domain stores -------------------------------------------------------------------------


def test_projects_follow_created_updated_deleted(router: EventRouter) -> None:
    """projects maps project_id to the latest data; deleted removes it."""
    feed(router, frame("project.created", project_id="p", data={"v": 1}))
    feed(router, frame("project.created", project_id="q", data={"v": 1}))
    feed(router, frame("project.updated", project_id="p", data={"v": 2}))
    assert dict(get(router.projects)) == {"p": {"v": 2}, "q": {"v": 1}}
    feed(router, frame("project.deleted", project_id="p"))
    assert dict(get(router.projects)) == {"q": {"v": 1}}


def test_projects_store_is_read_only(router: EventRouter) -> None:
    """The mapping a subscriber gets cannot be modified."""
    feed(router, frame("project.created", project_id="p", data={}))
    with pytest.raises(TypeError):
        get(router.projects)["x"] = {}  # type: ignore[index]


def test_deleting_an_unknown_project_notifies_nobody(router: EventRouter) -> None:
    """No change, no notification."""
    calls: list[object] = []
    router.projects.subscribe(calls.append)
    feed(router, frame("project.deleted", project_id="ghost"))
    assert len(calls) == 1


def test_each_project_change_is_a_new_value(router: EventRouter) -> None:
    """Subscribers see a new object per change, so identity checks notice it."""
    seen: list[object] = []
    router.projects.subscribe(seen.append)
    feed(router, frame("project.created", project_id="p", data={}))
    feed(router, frame("project.updated", project_id="p", data={}))
    assert len(seen) == 3
    assert len({id(v) for v in seen}) == 3


def test_files_follow_uploads_and_deletes_per_project(router: EventRouter) -> None:
    """files maps project_id -> path -> FileInfo."""
    feed(router, file_frame("file.uploaded", "p", "/a.txt"))
    feed(router, file_frame("file.uploaded", "p", "/b.txt", size=5))
    feed(router, file_frame("file.uploaded", "q", "/a.txt"))
    feed(router, file_frame("file.deleted", "p", "/a.txt"))
    files = get(router.files)
    assert dict(files["p"]) == {"/b.txt": FileInfo("b.txt", "/b.txt", 5, "doc")}
    assert list(files["q"]) == ["/a.txt"]


def test_a_project_without_files_leaves_the_files_store(router: EventRouter) -> None:
    """Deleting the last file removes the project's entry."""
    feed(router, file_frame("file.uploaded", "p", "/a.txt"))
    feed(router, file_frame("file.deleted", "p", "/a.txt"))
    assert dict(get(router.files)) == {}


def test_deleting_a_project_drops_its_files(router: EventRouter) -> None:
    """project.deleted removes the project's files too."""
    feed(router, frame("project.created", project_id="p", data={}))
    feed(router, file_frame("file.uploaded", "p", "/a.txt"))
    feed(router, frame("project.deleted", project_id="p"))
    assert "p" not in get(router.files)


def test_deleting_an_unknown_file_notifies_nobody(router: EventRouter) -> None:
    """No change, no notification."""
    calls: list[object] = []
    router.files.subscribe(calls.append)
    feed(router, file_frame("file.deleted", "p", "/nothing"))
    assert len(calls) == 1


def test_process_goes_started_progress_completed(router: EventRouter) -> None:
    """processes follows a process through its life, keeping its last progress and message."""
    feed(router, process_frame("process.started", message="queued"))
    assert get(router.processes)["p"]["x"] == ProcessInfo("p", "x", "running", None, "queued")
    feed(router, process_frame("process.progress", progress=0.4, message="rendering"))
    feed(router, process_frame("process.progress", progress=0.7))
    assert get(router.processes)["p"]["x"] == ProcessInfo("p", "x", "running", 0.7, "rendering")
    feed(router, process_frame("process.completed", message="done"))
    assert get(router.processes)["p"]["x"] == ProcessInfo("p", "x", "completed", 1.0, "done")


def test_progress_for_an_unseen_process_creates_it(router: EventRouter) -> None:
    """A client that joins mid-process still tracks it."""
    feed(router, process_frame("process.progress", progress=0.5))
    assert get(router.processes)["p"]["x"] == ProcessInfo("p", "x", "running", 0.5, None)


def test_late_progress_does_not_reopen_a_completed_process(router: EventRouter) -> None:
    """A progress report arriving after completed is ignored by the store."""
    feed(router, process_frame("process.completed", progress=1.0))
    feed(router, process_frame("process.progress", progress=0.9))
    assert get(router.processes)["p"]["x"].status == "completed"


def test_started_again_restarts_a_completed_process(router: EventRouter) -> None:
    """process.started resets the entry."""
    feed(router, process_frame("process.completed", message="old"))
    feed(router, process_frame("process.started"))
    assert get(router.processes)["p"]["x"] == ProcessInfo("p", "x", "running", None, None)


def test_listeners_see_the_stores_already_updated(router: EventRouter) -> None:
    """A listener reading a store sees its own event applied."""
    seen: list[float | None] = []

    def read_store(event: ProcessEvent) -> None:
        seen.append(get(router.processes)["p"][event.process_id].progress)

    router.on("process.progress", read_store)
    feed(router, process_frame("process.progress", progress=0.3))
    assert seen == [0.3]


# --- connection stores ---------------------------------------------------------------------


def test_state_starts_disconnected(router: EventRouter) -> None:
    """A new router shows a disconnected client with no attempts and no error."""
    assert get(router.state) == ConnectionState("disconnected", 0, None)


def test_is_connected_follows_state_and_notifies_only_on_flips(router: EventRouter) -> None:
    """is_connected is derived from state and skips equal booleans."""
    seen: list[bool] = []
    router.is_connected.subscribe(seen.append)
    router.state.set(ConnectionState("connecting"))
    router.state.set(ConnectionState("connected"))
    router.state.set(ConnectionState("connected"))
    router.state.set(ConnectionState("reconnecting", reconnect_attempts=1))
    assert seen == [False, True, False]


def test_connection_state_refuses_an_unknown_status() -> None:
    """A typo in a status raises, naming the valid ones."""
    with pytest.raises(ValueError, match="connecting"):
        ConnectionState("online")  # type: ignore[arg-type]


def test_connection_state_has_the_page_shape() -> None:
    """to_page() is the {status, reconnectAttempts, error} object the page promises."""
    state = ConnectionState("error", 3, "forbidden")
    assert state.to_page() == {"status": "error", "reconnectAttempts": 3, "error": "forbidden"}


def test_bad_frames_never_change_the_connection_state(router: EventRouter) -> None:
    """Drops touch only the dropped store."""
    router.state.set(ConnectionState("connected"))
    feed(router, "garbage")
    router.drop_binary(10)
    assert get(router.state) == ConnectionState("connected")


def test_stores_compose_with_derived(router: EventRouter) -> None:
    """Router stores are ordinary stores: derived works over them."""
    running = derived(
        router.processes,
        lambda procs: sum(p.status == "running" for ps in procs.values() for p in ps.values()),
    )
    seen: list[int] = []
    running.subscribe(seen.append)
    feed(router, process_frame("process.started", "a"))
    feed(router, process_frame("process.started", "b"))
    feed(router, process_frame("process.completed", "a"))
    assert seen == [0, 1, 2, 1]


def test_a_batch_notifies_each_store_once_with_the_final_state(router: EventRouter) -> None:
    """handle() N frames then publish(): listeners get all N, subscribers one final value."""
    heard: list[str] = []
    router.on("process.progress", lambda m: heard.append(m.process_id))
    windows: list[int] = []
    processes: list[dict[str, Any]] = []
    router.messages.subscribe(lambda w: windows.append(len(w)))
    router.processes.subscribe(lambda p: processes.append(dict(p)))
    for n in range(50):
        router.handle(process_frame("process.progress", f"p{n % 3}", progress=n / 50))
    assert len(heard) == 50
    assert windows == [0] and processes == [{}]  # nothing published yet
    router.publish()
    assert windows == [0, 50]
    assert len(processes) == 2 and set(processes[-1]["p"]) == {"p0", "p1", "p2"}
    assert processes[-1]["p"]["p1"].progress == pytest.approx(49 / 50)
    router.publish()  # nothing changed since: no notification
    assert windows == [0, 50] and len(processes) == 2


def test_listeners_see_live_domain_state_inside_a_batch(router: EventRouter) -> None:
    """During handle(), the live view already holds the frame's change."""
    seen: list[bool] = []
    view = get(router.projects)
    router.on("project.created", lambda m: seen.append(m.project_id in view))
    router.handle(frame("project.created", project_id="a", data={}))
    assert seen == [True]


def test_a_raising_subscriber_in_publish_is_counted_not_raised(router: EventRouter) -> None:
    """publish() never raises: a broken store subscriber is counted in errors."""

    def broken(value: object) -> None:
        if len(value) > 0:  # type: ignore[arg-type]
            raise RuntimeError("boom")

    router.processes.subscribe(broken)
    before = get(router.errors).count
    router.handle(process_frame("process.started", "p1"))
    router.publish()
    assert get(router.errors).count == before + 1
    assert get(router.processes)["p"]["p1"].status == "running"


def test_only_the_most_recent_completed_processes_are_kept() -> None:
    """Running processes all stay; beyond keep_completed the oldest completed ones go."""
    router = EventRouter(keep_completed=2)
    for n in range(4):
        feed(router, process_frame("process.started", f"p{n}"))
    for n in range(3):
        feed(router, process_frame("process.completed", f"p{n}"))
    assert sorted(get(router.processes)["p"]) == ["p1", "p2", "p3"]
    feed(router, process_frame("process.started", "p1"))  # restarted: running again, kept
    feed(router, process_frame("process.completed", "p3"))
    assert sorted(get(router.processes)["p"]) == ["p1", "p2", "p3"]


def test_forgetting_a_project_drops_its_data_files_and_processes() -> None:
    """The last local subscriber left: nothing of the project stays in the stores."""
    router = EventRouter()
    feed(router, frame("project.created", project_id="p", data={"v": 1}))
    feed(router, file_frame("file.uploaded", "p", "a.txt"))
    feed(router, process_frame("process.started", "x"))
    feed(router, frame("project.created", project_id="q", data={}))
    router.forget("p")
    router.publish()
    assert dict(get(router.projects)) == {"q": {}}
    assert dict(get(router.files)) == {}
    assert dict(get(router.processes)) == {}


def test_process_ids_are_per_project() -> None:
    """The same process id in two projects is two processes."""
    router = EventRouter()
    feed(router, frame("process.started", project_id="a", process_id="render-1"))
    feed(router, frame("process.started", project_id="b", process_id="render-1", progress=0.5))
    feed(router, frame("process.completed", project_id="a", process_id="render-1"))
    processes = get(router.processes)
    assert processes["a"]["render-1"].status == "completed"
    assert processes["b"]["render-1"] == ProcessInfo("b", "render-1", "running", 0.5, None)
