"""parse() turns frames into typed messages or explained drops; serialize() refuses non-JSON."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import math
from collections.abc import Iterator
from typing import Any, ClassVar, Literal, get_args

import pytest
from fakes import feed

from wsclient import messages
from wsclient.envelope import Role
from wsclient.messages import (
    KNOWN_TYPES,
    MAX_DEPTH,
    MESSAGE_TYPES,
    Ack,
    AddListener,
    AuthOk,
    Domain,
    Drop,
    FileEvent,
    FileInfo,
    GenericMessage,
    Heartbeat,
    Hello,
    Message,
    MessageRecord,
    Pong,
    ProcessEvent,
    ProcessState,
    ProjectEvent,
    ProjectSnapshot,
    Subscribed,
    message,
    parse,
    serialize,
    to_wire,
)
from wsclient.router import EventRouter
from wsclient.stores import get

TS = "2024-05-01T12:00:00Z"
#: Every class declared with @message in wsclient.messages.
DECLARED = [
    ProjectEvent,
    FileEvent,
    ProcessEvent,
    Heartbeat,
    Pong,
    Hello,
    Subscribed,
    ProjectSnapshot,
    Ack,
    AuthOk,
]
PROC = {"type": "process.progress", "project_id": "p", "process_id": "x"}
FILE = {"name": "a.png", "path": "/img/a.png", "size": 12, "asset_type": "image"}


def frame(**fields: Any) -> str:
    return json.dumps(fields)


def drop_of(text: object) -> Drop:
    result = parse(text)
    assert isinstance(result, Drop), result
    return result


# --- valid frames --------------------------------------------------------------------------


@pytest.mark.parametrize("type_", ["project.created", "project.updated", "project.deleted"])
def test_project_events_parse(type_: str) -> None:
    """Project events carry project_id and data."""
    text = frame(type=type_, timestamp=TS, project_id="p1", data={"name": "Demo"})
    assert parse(text) == ProjectEvent(type_, TS, "p1", {"name": "Demo"})  # type: ignore[arg-type]


@pytest.mark.parametrize("type_", ["file.uploaded", "file.deleted"])
def test_file_events_parse_with_their_file_info(type_: str) -> None:
    """File events carry a FileInfo."""
    text = frame(type=type_, timestamp=TS, project_id="p1", file=FILE)
    expected = FileEvent(type_, TS, "p1", FileInfo("a.png", "/img/a.png", 12, "image"))  # type: ignore[arg-type]
    assert parse(text) == expected


@pytest.mark.parametrize("type_", ["process.started", "process.progress", "process.completed"])
def test_process_events_parse(type_: str) -> None:
    """Process events carry ids, and progress and message when sent."""
    text = frame(
        type=type_, timestamp=TS, project_id="p1", process_id="x", progress=0.5, message="hi"
    )
    assert parse(text) == ProcessEvent(type_, TS, "p1", "x", 0.5, "hi")  # type: ignore[arg-type]


def test_process_progress_and_message_are_optional() -> None:
    """Missing progress and message are None."""
    result = parse(frame(type="process.started", timestamp=TS, project_id="p", process_id="x"))
    assert result == ProcessEvent("process.started", TS, "p", "x", None, None)


def test_integer_progress_becomes_float() -> None:
    """progress 1 is 1.0."""
    result = parse(frame(type="process.completed", project_id="p", process_id="x", progress=1))
    assert isinstance(result, ProcessEvent)
    assert result.progress == 1.0
    assert type(result.progress) is float


def test_heartbeat_parses() -> None:
    """system.heartbeat is a Heartbeat."""
    assert parse(frame(type="system.heartbeat", timestamp=TS)) == Heartbeat(timestamp=TS)


def test_pong_parses_with_and_without_id() -> None:
    """pong echoes the ping's id when it had one."""
    assert parse(frame(type="pong", timestamp=TS, id="7")) == Pong(timestamp=TS, id="7")
    assert parse(frame(type="pong")) == Pong()


def test_unknown_type_is_a_generic_message_with_every_field() -> None:
    """Any other type keeps the whole object in fields."""
    obj = {"type": "chat.message", "timestamp": TS, "text": "hi", "n": [1, 2]}
    assert parse(json.dumps(obj)) == GenericMessage("chat.message", TS, obj)


def test_missing_timestamp_is_none() -> None:
    """A server that omits timestamp still works (documented leniency)."""
    assert parse(frame(type="system.heartbeat")) == Heartbeat(timestamp=None)


def test_missing_project_data_is_an_empty_dict() -> None:
    """project.deleted without data is accepted with data {}."""
    assert parse(frame(type="project.deleted", project_id="p")) == ProjectEvent(
        "project.deleted", None, "p", {}
    )


def test_extra_fields_of_known_types_are_ignored() -> None:
    """A server adding fields does not break parsing."""
    result = parse(frame(type="pong", id="1", server="eu-1"))
    assert result == Pong(id="1")


def test_messages_are_frozen() -> None:
    """A message cannot be changed after parsing."""
    message = parse(frame(type="pong"))
    assert isinstance(message, Pong)
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.id = "x"  # type: ignore[misc]


# --- drops ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "not_json"),
        ("{", "not_json"),
        ("not json", "not_json"),
        ('{"type": "pong"} trailing', "not_json"),
        ('{"type": "x", "v": NaN}', "not_json"),
        ('{"type": "x", "v": Infinity}', "not_json"),
        ('{"type": "x", "v": -Infinity}', "not_json"),
        ("[" * 100_000 + "]" * 100_000, "not_json"),
        ("[]", "not_object"),
        ('"pong"', "not_object"),
        ("null", "not_object"),
        ("42", "not_object"),
        ("{}", "no_type"),
        ('{"type": 5}', "no_type"),
        ('{"type": null}', "no_type"),
        ('{"type": "pong", "timestamp": 5}', "bad_field"),
        ('{"type": "x", "timestamp": {}}', "bad_field"),
    ],
)
def test_bad_frames_are_dropped_with_a_kind(text: str, kind: str) -> None:
    """Each kind of bad frame is a Drop of that kind, never an exception."""
    assert drop_of(text).kind == kind


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"type": "project.created", "data": {}}, "project_id"),
        ({"type": "project.created", "project_id": 1, "data": {}}, "project_id"),
        ({"type": "project.updated", "project_id": "p", "data": [1]}, "data"),
        ({"type": "file.uploaded", "project_id": "p"}, "file"),
        ({"type": "file.uploaded", "project_id": "p", "file": "a.png"}, "file"),
        ({"type": "file.uploaded", "project_id": "p", "file": {**FILE, "name": 1}}, "file.name"),
        ({"type": "file.uploaded", "project_id": "p", "file": {**FILE, "path": None}}, "file.path"),
        ({"type": "file.uploaded", "project_id": "p", "file": {**FILE, "size": "1"}}, "file.size"),
        ({"type": "file.uploaded", "project_id": "p", "file": {**FILE, "size": 1.5}}, "file.size"),
        ({"type": "file.uploaded", "project_id": "p", "file": {**FILE, "size": -1}}, "file.size"),
        ({"type": "file.uploaded", "project_id": "p", "file": {**FILE, "size": True}}, "file.size"),
        (
            {"type": "file.deleted", "project_id": "p", "file": {**FILE, "asset_type": 3}},
            "file.asset_type",
        ),
        ({"type": "process.started", "process_id": "x"}, "project_id"),
        ({"type": "process.started", "project_id": "p"}, "process_id"),
        ({**PROC, "progress": "50%"}, "progress"),
        ({**PROC, "progress": 1.5}, "progress"),
        ({**PROC, "progress": -0.1}, "progress"),
        ({**PROC, "progress": True}, "progress"),
        ({**PROC, "progress": 10**400}, "progress"),
        ({**PROC, "message": 3}, "message"),
        ({"type": "pong", "id": 7}, "id"),
    ],
)  # fmt: skip
def test_known_type_with_wrong_field_is_dropped_naming_the_field(
    fields: dict[str, Any], where: str
) -> None:
    """A known type with a wrong field is a bad_field drop whose reason names type and field."""
    drop = drop_of(json.dumps(fields))
    assert drop.kind == "bad_field"
    assert drop.reason.startswith(f"{fields['type']}: {where} must be")


def test_huge_float_progress_is_dropped() -> None:
    """1e400 reads as inf, which is out of 0..1."""
    text = '{"type":"process.progress","project_id":"p","process_id":"x","progress":1e400}'
    assert drop_of(text).kind == "bad_field"


# --- numbers as JSON.parse reads them ------------------------------------------------------

LONG = "9" * 5000  # past Python's int-digit limit (sys.get_int_max_str_digits(): 4,300)


@pytest.mark.parametrize(
    ("numeral", "value"),
    [(LONG, math.inf), ("-" + LONG, -math.inf), ("1" + "0" * 4300, math.inf)],
)
def test_an_integer_over_the_digit_limit_reads_as_javascript_reads_it(
    numeral: str, value: float
) -> None:
    """A 5,000-digit integer is a float (inf here), as JSON.parse reads it: the frame is kept."""
    message = parse('{"type": "x", "big": ' + numeral + ', "small": [7, 2.5]}')
    assert message == GenericMessage("x", None, {"type": "x", "big": value, "small": [7, 2.5]})
    assert isinstance(message, GenericMessage)
    assert type(message.fields["small"][0]) is int


def test_a_long_integer_inside_a_known_type_is_read_too() -> None:
    """Project data may hold one; the event still lands, with the number as a float."""
    text = '{"type":"project.updated","project_id":"p","data":{"n":' + LONG + ',"m":3}}'
    assert parse(text) == ProjectEvent("project.updated", None, "p", {"n": math.inf, "m": 3})


def test_a_long_integer_where_an_integer_is_required_is_a_bad_field() -> None:
    """An offset of 5,000 digits is a float once read, so not an integer: a bad_field drop."""
    text = '{"type":"project.updated","project_id":"p","offset":' + LONG + "}"
    drop = drop_of(text)
    assert drop.kind == "bad_field" and "offset" in drop.reason


def test_a_long_integer_does_not_excuse_invalid_json() -> None:
    """A frame that is broken JSON is still a not_json drop."""
    assert drop_of('{"type": "x", "v": ' + LONG + ",}").kind == "not_json"


def test_drop_reason_says_what_was_missing() -> None:
    """A missing field is reported as missing, not as null."""
    reason = drop_of('{"type": "process.started", "project_id": "p"}').reason
    assert (
        reason == "process.started: process_id must be a string, got nothing (the field is missing)"
    )


def test_frames_over_the_size_limit_are_dropped_unread() -> None:
    """max_chars bounds the work done on one frame."""
    result = parse(frame(type="pong", pad="x" * 100), max_chars=50)
    assert isinstance(result, Drop)
    assert result.kind == "too_large"


@pytest.mark.parametrize(
    "data", [b'{"type": "pong"}', bytearray(b"{}"), memoryview(b"{}"), None, 5]
)
def test_non_text_frames_are_dropped_as_binary(data: object) -> None:
    """bytes or anything that is not a str is a binary drop."""
    assert drop_of(data).kind == "binary"


def test_lone_surrogates_in_strings_parse() -> None:
    """JSON escapes for lone surrogates are kept, not fatal."""
    result = parse('{"type": "chat", "text": "\\ud800"}')
    assert isinstance(result, GenericMessage)
    assert result.fields["text"] == "\ud800"


# --- serialize -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        ProjectEvent("project.created", TS, "p1", {"name": "Demo"}),
        ProjectEvent("project.deleted", None, "p1", {}),
        FileEvent("file.uploaded", TS, "p1", FileInfo("a", "/a", 1, "image")),
        ProcessEvent("process.progress", TS, "p1", "x", 0.25, "going"),
        ProcessEvent("process.started", None, "p1", "x"),
        Heartbeat(timestamp=TS),
        Pong(id="3"),
        GenericMessage("chat", TS, {"type": "chat", "timestamp": TS, "text": "hi"}),
        Hello("hello", TS, 2),
        Subscribed("subscribed", TS, "p1", "e1", 4, True),
        ProjectSnapshot(
            "project.snapshot",
            TS,
            "p1",
            9,
            None,
            (FileInfo("a", "/a", 1, "image"),),
            (ProcessState("x", "completed", 1.0, "done"), ProcessState("y", "running")),
        ),
        Ack("ack", TS, "r1", True, {"n": 1}),
        Ack("ack", None, "r2", False, error="refused"),
        ProcessEvent("process.progress", TS, "p1", "x", 0.5, None, 12),
    ],
)
def test_messages_round_trip_through_serialize_and_parse(message: Message) -> None:
    """parse(serialize(m)) == m for every message type."""
    assert parse(serialize(message)) == message


def test_serialize_plain_data_is_compact_json() -> None:
    """Dicts serialize without spaces, keeping non-ASCII text as is."""
    assert serialize({"type": "subscribe", "project_id": "é"}) == (
        '{"type":"subscribe","project_id":"é"}'
    )


def test_serialize_escapes_lone_surrogates_so_the_text_is_valid_utf8() -> None:
    """A lone surrogate is written as a \\u escape."""
    text = serialize({"text": "\ud800"})
    text.encode("utf-8")
    assert json.loads(text) == {"text": "\ud800"}


def test_to_wire_omits_unset_optional_fields() -> None:
    """None progress/message/timestamp are left out of the wire object."""
    assert to_wire(ProcessEvent("process.started", None, "p", "x")) == {
        "type": "process.started",
        "project_id": "p",
        "process_id": "x",
    }


FRAMES_WITH_EXTRA_FIELDS = [
    '{"interval":3,"type":"system.heartbeat","timestamp":"2025-01-01T00:00:00Z"}',
    '{"type":"project.updated","project_id":"p","data":{"name":"A"},"meta":{"by":"ann"}}',
    '{"type":"file.uploaded","project_id":"p","file":{"name":"a","path":"/a","size":1,'
    '"asset_type":"image","mime":"image/png"},"offset":4}',
    '{"type":"pong","id":"1","server_time":1733400000.5}',
    '{"type":"process.progress","project_id":"p","process_id":"x","progress":0.5,"eta":12}',
    '{"type":"ack","id":"r1","ok":true,"data":{"n":1},"took_ms":3}',
]


@pytest.mark.parametrize("frame", FRAMES_WITH_EXTRA_FIELDS)
def test_to_wire_of_a_parsed_frame_is_the_frame_itself(frame: str) -> None:
    """The page gets what JSON.parse of the frame gives: fields this client does not model are
    kept, in the server's order; the typed message still compares by its own fields."""
    message = parse(frame)
    assert not isinstance(message, Drop)
    assert json.dumps(to_wire(message)) == json.dumps(json.loads(frame))
    assert list(to_wire(message)) == list(json.loads(frame))
    rebuilt = type(message)(*message._values())
    assert rebuilt == message and repr(rebuilt) == repr(message)
    assert "_source" not in repr(message)


def _cycle() -> dict[str, Any]:
    d: dict[str, Any] = {}
    d["self"] = d
    return d


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        ({"v": math.nan}, ValueError, r"\$\.v = nan.*null or a string"),
        ({"v": [math.inf]}, ValueError, r"\$\.v\[0\] = inf"),
        ({1: "a"}, TypeError, "key 1 is a int.*str"),
        ({"v": {None: 1}}, TypeError, r"\$\.v: key None"),
        ({"tags": {"a"}}, TypeError, r"\$\.tags: a set.*convert it to a list"),
        ({"when": object()}, TypeError, "a object is not JSON"),
        (b"bytes", TypeError, "a bytes is not JSON"),
        (_cycle(), ValueError, "cycle"),
        ({"m": Pong()}, TypeError, "to_wire"),
    ],
)
def test_serialize_refuses_what_json_cannot_hold(value: Any, error: type, words: str) -> None:
    """serialize raises naming the path and what to do instead."""
    with pytest.raises(error, match=words):
        serialize(value)


def test_serialize_refuses_overdeep_data_with_a_value_error() -> None:
    """Nesting deeper than the recursion limit is a ValueError, not a RecursionError."""
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested"):
        serialize(deep)


def test_serialize_accepts_shared_non_cyclic_values() -> None:
    """The same list twice is not a cycle."""
    shared = [1]
    assert serialize({"a": shared, "b": shared}) == '{"a":[1],"b":[1]}'


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_json_nested_too_deep_is_dropped_before_decoding(opener: str) -> None:
    """Nesting past MAX_DEPTH is a not_json drop (Pyodide's scanner would crash the page)."""
    closer = "]" if opener == "[" else "}"
    deep = opener * (MAX_DEPTH + 1) + "1" + closer * (MAX_DEPTH + 1)
    drop = parse(deep)
    assert isinstance(drop, Drop) and drop.kind == "not_json"
    assert f"deeper than {MAX_DEPTH}" in drop.reason


def test_nesting_up_to_the_limit_and_brackets_in_strings_are_fine() -> None:
    """MAX_DEPTH levels still parse; brackets inside strings do not count as nesting."""
    nested = "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1)
    message = parse(json.dumps({"type": "deep", "v": json.loads(nested), "s": "[{" * 5000}))
    assert isinstance(message, GenericMessage)
    assert message.fields["s"] == "[{" * 5000


# --- one declaration per message type ------------------------------------------------------


def test_every_declared_type_round_trips_and_every_type_string_is_known() -> None:
    """Each type string parses into its declared class, and nothing else is known."""
    declared = {t: cls for cls in DECLARED for t in cls.types}
    assert set(KNOWN_TYPES) == set(declared) == set(MESSAGE_TYPES)
    for type_, cls in declared.items():
        assert MESSAGE_TYPES[type_] is cls


def test_the_message_union_holds_exactly_the_declared_types() -> None:
    """``Message`` (written out for mypy) lists every declared class, plus GenericMessage."""
    assert set(get_args(Message)) == set(DECLARED) | {GenericMessage}


def on_overloads() -> list[tuple[Any, type]]:
    """(``type_`` annotation, the callback's message class) of each ``AddListener`` overload
    (read from the source: the stubs of an overloaded Protocol method are not kept)."""
    namespace = vars(messages)
    tree = ast.parse(inspect.getsource(AddListener))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "__call__":
            hints = {a.arg: a.annotation for a in node.args.args if a.annotation is not None}
            callback = eval(ast.unparse(hints["callback"]), namespace)
            (listened,), _ = get_args(callback)
            found.append((eval(ast.unparse(hints["type_"]), namespace), listened))
    return found


def test_the_on_overloads_cover_exactly_the_declared_types() -> None:
    """Each type string has one overload of ``on`` typed with its class; any other string (and
    "*") gets a Message listener (``AddListener``, written out for mypy)."""
    typed: dict[str, type] = {}
    catch_all = []
    for type_hint, listened in on_overloads():
        if type_hint is str:
            catch_all.append(listened)
            continue
        for type_ in get_args(type_hint):
            assert type_ not in typed, f"{type_!r} has two overloads"
            typed[type_] = listened
    assert typed == dict(MESSAGE_TYPES)
    assert catch_all == [Message]


@pytest.fixture
def undeclare() -> Iterator[list[str]]:
    """Type strings a test declares, forgotten again after it (declarations are global)."""
    added: list[str] = []
    yield added
    for type_ in added:
        del messages._BY_TYPE[type_]
        del messages._READERS[type_]


def test_one_declaration_is_all_a_new_message_type_needs(undeclare: list[str]) -> None:
    """A class declared with @message is parsed, validated, sent and applied to the stores."""

    @message
    class Renamed(MessageRecord):
        """``project.renamed``: a project's new name."""

        role: ClassVar[Role] = "event"
        type: Literal["project.renamed"]
        timestamp: str | None
        project_id: str
        name: str
        offset: int | None = None

        @staticmethod
        def read(obj: dict[str, Any], type_: str, timestamp: str | None) -> Renamed | Drop:
            project_id, name = obj.get("project_id"), obj.get("name")
            if type(project_id) is not str or type(name) is not str:
                return Drop("bad_field", f"{type_}: project_id and name must be strings")
            return Renamed("project.renamed", timestamp, project_id, name, obj.get("offset"))

        def apply(self, domain: Domain) -> None:
            domain.set_project(self.project_id, {"name": self.name})

    undeclare.append("project.renamed")
    assert "project.renamed" in KNOWN_TYPES
    text = '{"type":"project.renamed","project_id":"p","name":"Beta","offset":3}'
    assert parse(text) == Renamed("project.renamed", None, "p", "Beta", 3)
    assert drop_of('{"type":"project.renamed","project_id":"p"}').kind == "bad_field"
    built = Renamed("project.renamed", TS, "p", "Beta")
    assert json.loads(serialize(built)) == {
        "type": "project.renamed",
        "timestamp": TS,
        "project_id": "p",
        "name": "Beta",
    }
    router = EventRouter()
    heard: list[Renamed] = []
    router.on("project.renamed", heard.append)
    assert feed(router, text) == heard[0]
    assert get(router.projects) == {"p": {"name": "Beta"}}


def test_a_type_string_is_declared_once() -> None:
    """Declaring a second class for "pong" is refused, naming the class that has it."""
    with pytest.raises(TypeError, match="'pong' is already Pong's"):

        @message
        class Pong2(MessageRecord):
            type: Literal["pong"]
            timestamp: str | None

            @staticmethod
            def read(obj: dict[str, Any], type_: str, timestamp: str | None) -> Pong2 | Drop:
                return Pong2("pong", timestamp)

    assert MESSAGE_TYPES["pong"] is Pong


def test_a_declaration_needs_a_literal_type_and_a_reader() -> None:
    """@message says what is missing instead of declaring half a type."""
    with pytest.raises(TypeError, match="Literal"):

        @message
        class NoLiteral(MessageRecord):
            type: str
            timestamp: str | None

    with pytest.raises(TypeError, match="read"):

        @message
        class NoReader(MessageRecord):
            type: Literal["no.reader"]
            timestamp: str | None

    assert "no.reader" not in KNOWN_TYPES
