"""Fuzz: over 10,000 arbitrary and near-valid frames never raise, and valid ones land right."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from fakes import feed
from hypothesis import given, settings
from hypothesis import strategies as st

from wsclient.messages import KNOWN_TYPES, Drop, FileInfo, Message, parse
from wsclient.router import EventRouter
from wsclient.stores import get

FRAMES_REQUIRED = 10_000

PROJECT_TYPES = ["project.created", "project.updated", "project.deleted"]
FILE_TYPES = ["file.uploaded", "file.deleted"]
PROCESS_TYPES = ["process.started", "process.progress", "process.completed"]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
ids = st.text(max_size=6)
timestamps = st.none() | st.just("2024-05-01T12:00:00Z") | st.text(max_size=12)
unit_floats = st.floats(min_value=0, max_value=1) | st.sampled_from([0, 1])


def _is_str(v: Any) -> bool:
    return type(v) is str


def _is_optional_str(v: Any) -> bool:
    return v is None or type(v) is str


def _is_size(v: Any) -> bool:
    return type(v) is int and v >= 0


def _is_progress(v: Any) -> bool:
    return v is None or (type(v) in (int, float) and 0 <= v <= 1)


def _is_data(v: Any) -> bool:
    return v is None or type(v) is dict


# (field path, accepts(value), required): the oracle for near-valid frames, written apart from
# the parser it checks.
RULES: dict[str, list[tuple[tuple[str, ...], Callable[[Any], bool], bool]]] = {
    "project": [
        (("project_id",), _is_str, True),
        (("data",), _is_data, False),
        (("timestamp",), _is_optional_str, False),
    ],
    "file": [
        (("project_id",), _is_str, True),
        (("file",), lambda v: type(v) is dict, True),
        (("file", "name"), _is_str, True),
        (("file", "path"), _is_str, True),
        (("file", "size"), _is_size, True),
        (("file", "asset_type"), _is_str, True),
        (("timestamp",), _is_optional_str, False),
    ],
    "process": [
        (("project_id",), _is_str, True),
        (("process_id",), _is_str, True),
        (("progress",), _is_progress, False),
        (("message",), _is_optional_str, False),
        (("timestamp",), _is_optional_str, False),
    ],
    "pong": [(("id",), _is_optional_str, False), (("timestamp",), _is_optional_str, False)],
    "system": [(("timestamp",), _is_optional_str, False)],
}


def _with_optional(obj: dict[str, Any], **optional: Any) -> dict[str, Any]:
    return {**obj, **{k: v for k, v in optional.items() if v is not None}}


def _project(type_: str, ts: str | None, pid: str, data: Any) -> dict[str, Any]:
    return _with_optional({"type": type_, "project_id": pid}, timestamp=ts, data=data)


def _file(type_: str, ts: str | None, pid: str, info: dict[str, Any]) -> dict[str, Any]:
    return _with_optional({"type": type_, "project_id": pid, "file": info}, timestamp=ts)


def _process(
    type_: str, ts: str | None, pid: str, proc: str, progress: float | None, msg: str | None
) -> dict[str, Any]:
    obj = {"type": type_, "project_id": pid, "process_id": proc}
    return _with_optional(obj, timestamp=ts, progress=progress, message=msg)


def _simple(type_: str, ts: str | None, id_: str | None) -> dict[str, Any]:
    return _with_optional({"type": type_}, timestamp=ts, id=id_ if type_ == "pong" else None)


def _generic(type_: str, ts: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    return _with_optional({**extra, "type": type_}, timestamp=ts)


small_dicts = st.dictionaries(st.text(max_size=5), json_values, max_size=3)
project_events = st.builds(
    _project, st.sampled_from(PROJECT_TYPES), timestamps, ids, st.none() | small_dicts
)
file_infos = st.fixed_dictionaries(
    {"name": ids, "path": ids, "size": st.integers(min_value=0), "asset_type": ids}
)
file_events = st.builds(_file, st.sampled_from(FILE_TYPES), timestamps, ids, file_infos)
process_events = st.builds(
    _process,
    st.sampled_from(PROCESS_TYPES),
    timestamps,
    ids,
    st.sampled_from(["a", "b", "c"]),
    st.none() | unit_floats,
    st.none() | st.text(max_size=8),
)
simple_events = st.builds(
    _simple, st.sampled_from(["pong", "system.heartbeat"]), timestamps, st.none() | ids
)
generic_events = st.builds(
    _generic, st.text(max_size=12).filter(lambda t: t not in KNOWN_TYPES), timestamps, small_dicts
)
valid_events = project_events | file_events | process_events | simple_events | generic_events


def _group(type_: str) -> str:
    return type_.split(".", 1)[0]


@st.composite
def broken_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid known-type event with exactly one field made wrong (by type or by absence)."""
    obj = draw(project_events | file_events | process_events | simple_events)
    path, accepts, required = draw(st.sampled_from(RULES[_group(obj["type"])]))
    obj = copy.deepcopy(obj)
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    if required and draw(st.booleans()):
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = draw(json_values.filter(lambda v: not accepts(v)))
    return obj


nasty_texts = st.sampled_from(
    [
        "",
        "NaN",
        '{"type":"x","v":NaN}',
        '{"type":"process.progress","project_id":"p","process_id":"a","progress":Infinity}',
        '{"type":"process.progress","project_id":"p","process_id":"a","progress":1e999}',
        "[" * 50_000,
        "[" * 3000 + "]" * 3000,
        '{"a":' * 3000 + "1" + "}" * 3000,
        '{"type":"pong","id":"\\ud800"}',
        '{"type":"pong","id":"\\udfff\\ud800"}',
        '{"type":"x","n":' + "7" * 5000 + "}",
        '{"type":"pong"}\x00',
        "\ufeff{}",
        '{"type":"pong","type":5}',
    ]
)

frames = st.one_of(
    st.tuples(st.just("valid"), valid_events),
    st.tuples(st.just("valid"), valid_events),
    st.tuples(st.just("broken"), broken_events()),
    st.tuples(st.just("text"), st.text(st.characters(codec=None), max_size=40)),
    st.tuples(st.just("text"), nasty_texts),
    st.tuples(st.just("json"), json_values),
    st.tuples(st.just("bytes"), st.binary(max_size=20)),
)


_SPLICE = '"{}[],:0-.e\\ \x00'


def near_misses(text: str, count: int = 8) -> tuple[list[str], list[str]]:
    """Cheap near-valid variants of a valid frame: (strict prefixes, one-character edits)."""
    step = max(1, len(text) // (count + 1))
    cuts = list(range(step, len(text), step))[:count]
    prefixes = [text[:cut] for cut in cuts]
    edits = [text[:cut] + _SPLICE[i % len(_SPLICE)] + text[cut + 1 :] for i, cut in enumerate(cuts)]
    return prefixes, edits


def check_landed(router: EventRouter, obj: dict[str, Any], message: Message | None) -> None:
    """A valid frame's message is the last in `messages` and is applied to its store."""
    assert message is not None, obj
    assert message.type == obj["type"]
    assert get(router.messages)[-1] is message
    type_ = obj["type"]
    group = _group(type_)
    if type_ in ("project.created", "project.updated"):
        assert get(router.projects)[obj["project_id"]] == (obj.get("data") or {})
    elif type_ == "project.deleted":
        assert obj["project_id"] not in get(router.projects)
        assert obj["project_id"] not in get(router.files)
    elif type_ == "file.uploaded":
        assert get(router.files)[obj["project_id"]][obj["file"]["path"]] == FileInfo(**obj["file"])
    elif type_ == "file.deleted":
        assert obj["file"]["path"] not in get(router.files).get(obj["project_id"], {})
    elif group == "process":
        info = get(router.processes)[obj["project_id"]][obj["process_id"]]
        if type_ == "process.completed":
            assert info.status == "completed"
            assert info.progress == obj.get("progress", 1.0)
        elif type_ == "process.started":
            assert (info.status, info.progress) == ("running", obj.get("progress"))
        if info.status == "running" and "progress" in obj:
            assert info.progress == obj["progress"]


def test_fuzzed_frames_never_raise_and_valid_ones_land_in_their_stores() -> None:
    """Feed >10k mixed frames: nothing escapes, bad ones are dropped, valid ones are applied."""
    fed = 0
    landed = 0
    router = EventRouter()  # one router for all: state carried across examples is more to survive
    heard: list[Message] = []
    router.on("*", heard.append)
    router.on("*", lambda _: 1 / 0)  # a broken listener must not matter

    def feed_consistently(text: str) -> None:
        """feed() drops exactly what parse() drops, and never raises."""
        nonlocal fed
        message = feed(router, text)
        assert (message is None) == isinstance(parse(text), Drop), text
        fed += 1

    @settings(max_examples=200, deadline=None, database=None)
    @given(st.lists(frames, min_size=10, max_size=20))
    def run(batch: list[tuple[Any, ...]]) -> None:
        nonlocal fed, landed
        for kind, value in batch:
            drops_before = sum(s.count for s in get(router.dropped).values())
            if kind == "valid":
                text = json.dumps(value)
                prefixes, edits = near_misses(text)
                for prefix in prefixes:
                    assert feed(router, prefix) is None, prefix
                for edit in edits:
                    feed_consistently(edit)
                fed += len(prefixes)
                message = feed(router, text)
                check_landed(router, value, message)
                assert heard[-1] is message
                landed += 1
            elif kind == "broken":
                assert feed(router, json.dumps(value)) is None, value
                after = sum(s.count for s in get(router.dropped).values())
                assert after == drops_before + 1
            elif kind == "bytes":
                assert feed(router, value) is None
            else:
                feed_consistently(value if kind == "text" else json.dumps(value))
                continue
            fed += 1

    run()
    assert fed >= FRAMES_REQUIRED, f"only {fed} frames were fed; raise max_examples"
    assert landed >= 500
