"""Typed server messages: one declaration per message type, one `parse` for inbound text frames,
one `serialize` for outbound.

One declaration per message type
--------------------------------
A message type is one class decorated with `message` (how to add one: docs/messages.md). The
class is the record the type parses into; its ``type`` field's ``Literal`` names the type strings
it stands for; its ``read`` validates a decoded frame; its ``apply`` is its reducer on the domain
stores (a `Domain`: ``router.EventRouter`` holds them); ``role`` says what the connection core
does with it (``envelope.py``). Its wire form is derived from its fields (`to_wire`). The
`Message` union and the `AddListener` overloads (the typing of ``on()``) are the two static
lists mypy needs written out: tests/unit/test_messages.py checks they cover exactly the declared
types.

Inbound (`parse`)
-----------------
``parse`` never raises on what the network sends. A frame it cannot use becomes a `Drop` with a
short ``kind`` (for counting and once-per-kind logging) and a ``reason`` that says what was wrong:

=============  =====================================================================
kind           when
=============  =====================================================================
binary         the frame is not text (the adapter reports binary frames itself)
too_large      longer than ``max_chars`` (``Options.max_frame_size``, 16 Mi by default)
not_json       not JSON (includes NaN/Infinity and too deep nesting)
not_object     JSON, but not an object
no_type        an object without a string ``type``
bad_field      a known ``type`` whose fields have the wrong types or values
=============  =====================================================================

Unknown types are not errors: they become a `GenericMessage` holding the whole object.

Leniency, decided here once: ``timestamp`` may be missing or null (servers that omit it still
work; it is then None), but if present it must be a string, kept as sent (ISO-8601 is not
parsed, which would cost more than the rest of the frame). Project ``data`` may be missing or
null (it is then ``{}``). Fields a known type does not define are not validated, but ``to_wire``
still gives them to the page (it returns the frame's own object). ``progress`` must be a
number from 0 to 1. Numbers are read as JavaScript's ``JSON.parse`` reads them where Python
would otherwise refuse them: a numeral too large for a float is ``inf``, and an integer of more
digits than Python converts (``sys.get_int_max_str_digits()``, 4,300) is a float (``inf`` beyond
~1.8e308), not a dropped frame.

The hot path is one ``json`` decode, one dict lookup on ``type`` and a small validator that checks
exact types (``type(x) is str``): no regex, no copies of the decoded object.

Outbound (`serialize`)
----------------------
``serialize`` takes a message record or plain JSON data (dict with str keys, list, tuple, str,
int, float, bool, None) and raises a `TypeError` or `ValueError` naming the path of the first
value JSON cannot hold (NaN, a set, a non-str key, a cycle...), so nothing broken is ever queued.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections.abc import Callable, KeysView, Mapping
from types import MappingProxyType
from typing import (
    Any,
    ClassVar,
    Final,
    Literal,
    Protocol,
    TypeAlias,
    TypeVar,
    cast,
    dataclass_transform,
    get_args,
    overload,
)

from .envelope import Role
from .records import Record, field, fields, record

__all__ = [
    "KNOWN_TYPES",
    "MAX_DEPTH",
    "MAX_FRAME_CHARS",
    "MESSAGE_TYPES",
    "Ack",
    "AddListener",
    "AuthOk",
    "Domain",
    "Drop",
    "DropKind",
    "FileEvent",
    "FileInfo",
    "GenericMessage",
    "Heartbeat",
    "Hello",
    "Message",
    "MessageRecord",
    "Pong",
    "ProcessEvent",
    "ProcessInfo",
    "ProcessState",
    "ProjectEvent",
    "ProjectSnapshot",
    "StreamEvent",
    "Subscribed",
    "decode_joined",
    "from_value",
    "message",
    "parse",
    "serialize",
    "to_wire",
    "too_deep",
]

#: Frames longer than this many characters are dropped unread (``Options.max_frame_size``).
MAX_FRAME_CHARS: Final = 16 << 20
#: Deeper JSON is dropped unread. In Pyodide the C JSON scanner overflows the browser's stack (a
#: fatal RangeError that kills the interpreter) between 5,000 and 8,000 levels, before Python's
#: recursion check can raise; no real message nests anywhere near this.
MAX_DEPTH: Final = 512
# A JSON string (skipped whole, so brackets inside it don't count) or one bracket.
_NESTING: Final = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')

DropKind: TypeAlias = Literal[
    "binary", "too_large", "not_json", "not_object", "no_type", "bad_field"
]


@record
class Drop(Record):
    """A frame that was not used: ``kind`` groups drops for counting, ``reason`` explains it."""

    kind: DropKind
    reason: str


# --- what a declaration is made of ---------------------------------------------------------

_MISSING: Final = object()
_JSON_NAMES: Final[dict[type, str]] = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def _describe(value: object) -> str:
    if value is _MISSING:
        return "nothing (the field is missing)"
    name = _JSON_NAMES.get(type(value), type(value).__name__)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{name} ({value!r:.40})"
    return name


def _bad(type_: str, where: str, expected: str, value: object) -> Drop:
    return Drop("bad_field", f"{type_}: {where} must be {expected}, got {_describe(value)}")


@record
class ProcessInfo(Record):
    """The latest known state of one server-side process (the ``processes`` store's values)."""

    project_id: str
    process_id: str
    status: Literal["running", "completed"]
    progress: float | None = None
    message: str | None = None


class Domain(Protocol):
    """The domain stores as a message's ``apply`` changes them (``router.EventRouter`` holds
    them and tells the stores' subscribers once per batch)."""

    def set_project(self, project_id: str, data: dict[str, Any]) -> None: ...
    def forget_project(self, project_id: str) -> None:
        """Remove the project and its files and processes."""

    def put_file(self, project_id: str, file: FileInfo) -> None: ...
    def remove_file(self, project_id: str, path: str) -> None: ...
    def process(self, project_id: str, process_id: str) -> ProcessInfo | None: ...
    def put_process(self, info: ProcessInfo) -> None:
        """Store ``info``; beyond ``keep_completed`` completed processes the oldest go."""


class MessageRecord(Record):
    """What every typed message is: a record with ``type`` and ``timestamp`` fields, a ``role``
    for the connection core, and (declared types) the rest of the declaration."""

    #: What the connection core does with it (``envelope.py``); ``""``: nothing.
    role: ClassVar[Role] = ""
    #: The type strings it stands for: its ``type`` field's ``Literal`` (set by `message`).
    types: ClassVar[tuple[str, ...]] = ()
    type: str
    timestamp: str | None

    def apply(self, domain: Domain) -> None:
        """Change the domain stores for this message (the reducer; most types change none)."""


_M = TypeVar("_M", bound=MessageRecord)
_Reader: TypeAlias = Callable[[dict[str, Any], str, "str | None"], "Message | Drop"]
_READERS: Final[dict[str, _Reader]] = {}
_BY_TYPE: Final[dict[str, type[MessageRecord]]] = {}


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def message(cls: type[_M]) -> type[_M]:
    """Declare a message type: ``cls`` becomes a record, and `parse`, `to_wire` and the router
    know it by the strings of its ``type`` field's ``Literal``.

    ``cls`` must define ``read(obj, type_, timestamp)``, a staticmethod that returns the message
    for a decoded frame ``obj`` (a dict whose ``type`` is ``type_``) or a `Drop` naming the bad
    field (`_bad`); it may override ``apply`` (its reducer) and ``role``.
    """
    annotation = cls.__annotations__.get("type")  # its own (classes do not inherit them)
    if isinstance(annotation, str):  # as written (``from __future__ import annotations``)
        annotation = eval(annotation, vars(sys.modules[cls.__module__]))
    types = get_args(annotation)
    if not types or not all(isinstance(t, str) for t in types):
        raise TypeError(f"@message {cls.__qualname__}: annotate its 'type' field with a Literal")
    read = cls.__dict__.get("read")
    if not isinstance(read, staticmethod):
        raise TypeError(f"@message {cls.__qualname__}: define read() as a staticmethod")
    for type_ in types:
        if type_ in _BY_TYPE:
            raise TypeError(
                f"@message {cls.__qualname__}: {type_!r} is already {_BY_TYPE[type_].__name__}'s"
            )
    record(cls)
    type.__setattr__(cls, "types", types)
    for type_ in types:
        _BY_TYPE[type_] = cls
        _READERS[type_] = read.__func__
    return cls


# --- the message types ---------------------------------------------------------------------

ProjectEventType: TypeAlias = Literal["project.created", "project.updated", "project.deleted"]
FileEventType: TypeAlias = Literal["file.uploaded", "file.deleted"]
ProcessEventType: TypeAlias = Literal["process.started", "process.progress", "process.completed"]


@message
class ProjectEvent(MessageRecord):
    """``project.created | project.updated | project.deleted``."""

    role: ClassVar[Role] = "event"
    type: ProjectEventType
    timestamp: str | None
    project_id: str
    data: dict[str, Any] = field(default_factory=dict)
    offset: int | None = None  # position in the project's stream (protocol v2)

    @staticmethod
    def read(obj: dict[str, Any], type_: str, timestamp: str | None) -> ProjectEvent | Drop:
        project_id = obj.get("project_id", _MISSING)
        if type(project_id) is not str:
            return _bad(type_, "project_id", "a string", project_id)
        data = obj.get("data")
        if data is None:
            data = {}
        elif type(data) is not dict:
            return _bad(type_, "data", "an object", data)
        offset = obj.get("offset")
        if offset is not None and (type(offset) is not int or offset < 0):
            return _bad(type_, "offset", "a non-negative integer", offset)
        return ProjectEvent(cast(ProjectEventType, type_), timestamp, project_id, data, offset)

    def apply(self, domain: Domain) -> None:
        if self.type == "project.deleted":
            domain.forget_project(self.project_id)
        else:
            domain.set_project(self.project_id, self.data)


@record
class FileInfo(Record):
    """The ``file`` object of a file event."""

    name: str
    path: str
    size: int
    asset_type: str


def _file_info(type_: str, where: str, info: object) -> FileInfo | Drop:
    if type(info) is not dict:
        return _bad(type_, where, "an object", info)
    name = info.get("name", _MISSING)
    if type(name) is not str:
        return _bad(type_, f"{where}.name", "a string", name)
    path = info.get("path", _MISSING)
    if type(path) is not str:
        return _bad(type_, f"{where}.path", "a string", path)
    size = info.get("size", _MISSING)
    if type(size) is not int or size < 0:
        return _bad(type_, f"{where}.size", "a non-negative integer", size)
    asset_type = info.get("asset_type", _MISSING)
    if type(asset_type) is not str:
        return _bad(type_, f"{where}.asset_type", "a string", asset_type)
    return FileInfo(name, path, size, asset_type)


@message
class FileEvent(MessageRecord):
    """``file.uploaded | file.deleted``."""

    role: ClassVar[Role] = "event"
    type: FileEventType
    timestamp: str | None
    project_id: str
    file: FileInfo
    offset: int | None = None  # position in the project's stream (protocol v2)

    @staticmethod
    def read(obj: dict[str, Any], type_: str, timestamp: str | None) -> FileEvent | Drop:
        project_id = obj.get("project_id", _MISSING)
        if type(project_id) is not str:
            return _bad(type_, "project_id", "a string", project_id)
        offset = obj.get("offset")
        if offset is not None and (type(offset) is not int or offset < 0):
            return _bad(type_, "offset", "a non-negative integer", offset)
        info = _file_info(type_, "file", obj.get("file", _MISSING))
        if isinstance(info, Drop):
            return info
        return FileEvent(cast(FileEventType, type_), timestamp, project_id, info, offset)

    def apply(self, domain: Domain) -> None:
        if self.type == "file.deleted":
            domain.remove_file(self.project_id, self.file.path)
        else:
            domain.put_file(self.project_id, self.file)


@message
class ProcessEvent(MessageRecord):
    """``process.started | process.progress | process.completed``; progress is 0..1."""

    role: ClassVar[Role] = "event"
    type: ProcessEventType
    timestamp: str | None
    project_id: str
    process_id: str
    progress: float | None = None
    message: str | None = None
    offset: int | None = None  # position in the project's stream (protocol v2)

    @staticmethod
    def read(obj: dict[str, Any], type_: str, timestamp: str | None) -> ProcessEvent | Drop:
        project_id = obj.get("project_id", _MISSING)
        if type(project_id) is not str:
            return _bad(type_, "project_id", "a string", project_id)
        process_id = obj.get("process_id", _MISSING)
        if type(process_id) is not str:
            return _bad(type_, "process_id", "a string", process_id)
        progress = obj.get("progress")
        if progress is not None:
            kind = type(progress)
            if (kind is not float and kind is not int) or not 0 <= progress <= 1:
                return _bad(type_, "progress", "a number from 0 to 1", progress)
            progress = float(progress)
        text = obj.get("message")
        if text is not None and type(text) is not str:
            return _bad(type_, "message", "a string", text)
        offset = obj.get("offset")
        if offset is not None and (type(offset) is not int or offset < 0):
            return _bad(type_, "offset", "a non-negative integer", offset)
        return ProcessEvent(
            cast(ProcessEventType, type_),
            timestamp,
            project_id,
            process_id,
            progress,
            text,
            offset,
        )

    def apply(self, domain: Domain) -> None:
        type_ = self.type
        previous = domain.process(self.project_id, self.process_id)
        if previous is None or type_ == "process.started":
            progress, text = self.progress, self.message
        elif previous.status == "completed" and type_ == "process.progress":
            return  # a late progress report must not reopen a finished process
        else:
            progress = previous.progress if self.progress is None else self.progress
            text = previous.message if self.message is None else self.message
        if type_ == "process.completed":
            status: Literal["running", "completed"] = "completed"
            if self.progress is None:
                progress = 1.0
        else:
            status = "running"
        domain.put_process(ProcessInfo(self.project_id, self.process_id, status, progress, text))


@message
class Heartbeat(MessageRecord):
    """``system.heartbeat``, sent periodically by the server."""

    type: Literal["system.heartbeat"] = "system.heartbeat"
    timestamp: str | None = None

    @staticmethod
    def read(obj: dict[str, Any], type_: str, timestamp: str | None) -> Heartbeat | Drop:
        return Heartbeat("system.heartbeat", timestamp)


@message
class Pong(MessageRecord):
    """``pong``, a server's answer to a ping, echoing the ping's ``id`` if it had one."""

    role: ClassVar[Role] = "pong"
    type: Literal["pong"] = "pong"
    timestamp: str | None = None
    id: str | None = None

    @staticmethod
    def read(obj: dict[str, Any], type_: str, timestamp: str | None) -> Pong | Drop:
        id_ = obj.get("id")
        if id_ is not None and type(id_) is not str:
            return _bad(type_, "id", "a string", id_)
        return Pong("pong", timestamp, id_)


@message
class Hello(MessageRecord):
    """``hello``: a v2 server's first frame on every connection."""

    role: ClassVar[Role] = "hello"
    type: Literal["hello"]
    timestamp: str | None
    protocol: int

    @staticmethod
    def read(obj: dict[str, Any], type_: str, timestamp: str | None) -> Hello | Drop:
        protocol = obj.get("protocol", _MISSING)
        if type(protocol) is not int:
            return _bad(type_, "protocol", "an integer", protocol)
        return Hello("hello", timestamp, protocol)


@message
class Subscribed(MessageRecord):
    """``subscribed``: a v2 server's answer to every subscribe. ``recovered``: the missed events
    follow; otherwise a `ProjectSnapshot` does."""

    role: ClassVar[Role] = "subscribed"
    type: Literal["subscribed"]
    timestamp: str | None
    project_id: str
    epoch: str
    offset: int
    recovered: bool

    @staticmethod
    def read(obj: dict[str, Any], type_: str, timestamp: str | None) -> Subscribed | Drop:
        project_id = obj.get("project_id", _MISSING)
        if type(project_id) is not str:
            return _bad(type_, "project_id", "a string", project_id)
        epoch = obj.get("epoch", _MISSING)
        if type(epoch) is not str:
            return _bad(type_, "epoch", "a string", epoch)
        offset = obj.get("offset", _MISSING)
        if type(offset) is not int or offset < 0:
            return _bad(type_, "offset", "a non-negative integer", offset)
        recovered = obj.get("recovered", _MISSING)
        if type(recovered) is not bool:
            return _bad(type_, "recovered", "true or false", recovered)
        return Subscribed("subscribed", timestamp, project_id, epoch, offset, recovered)


@record
class ProcessState(Record):
    """One process in a `ProjectSnapshot`."""

    process_id: str
    status: Literal["running", "completed"]
    progress: float | None = None
    message: str | None = None


def _process_state(type_: str, where: str, raw: object) -> ProcessState | Drop:
    if type(raw) is not dict:
        return _bad(type_, where, "an object", raw)
    process_id = raw.get("process_id", _MISSING)
    if type(process_id) is not str:
        return _bad(type_, f"{where}.process_id", "a string", process_id)
    status = raw.get("status", _MISSING)
    if status != "running" and status != "completed":
        return _bad(type_, f"{where}.status", '"running" or "completed"', status)
    progress = raw.get("progress")
    if progress is not None:
        if type(progress) not in (int, float) or not 0 <= progress <= 1:
            return _bad(type_, f"{where}.progress", "a number from 0 to 1", progress)
        progress = float(progress)
    text = raw.get("message")
    if text is not None and type(text) is not str:
        return _bad(type_, f"{where}.message", "a string", text)
    return ProcessState(process_id, status, progress, text)


@message
class ProjectSnapshot(MessageRecord):
    """``project.snapshot``: everything the server holds for a project at ``offset``; the client
    replaces its own slice with it. ``data`` None: the project has no data (deleted)."""

    role: ClassVar[Role] = "snapshot"
    type: Literal["project.snapshot"]
    timestamp: str | None
    project_id: str
    offset: int
    data: dict[str, Any] | None
    files: tuple[FileInfo, ...]
    processes: tuple[ProcessState, ...]

    @staticmethod
    def read(obj: dict[str, Any], type_: str, timestamp: str | None) -> ProjectSnapshot | Drop:
        project_id = obj.get("project_id", _MISSING)
        if type(project_id) is not str:
            return _bad(type_, "project_id", "a string", project_id)
        offset = obj.get("offset", _MISSING)
        if type(offset) is not int or offset < 0:
            return _bad(type_, "offset", "a non-negative integer", offset)
        data = obj.get("data")
        if data is not None and type(data) is not dict:
            return _bad(type_, "data", "an object or null", data)
        raw_files = obj.get("files", [])
        if type(raw_files) is not list:
            return _bad(type_, "files", "a list", raw_files)
        files: list[FileInfo] = []
        for index, raw in enumerate(raw_files):
            info = _file_info(type_, f"files[{index}]", raw)
            if isinstance(info, Drop):
                return info
            files.append(info)
        raw_processes = obj.get("processes", [])
        if type(raw_processes) is not list:
            return _bad(type_, "processes", "a list", raw_processes)
        processes: list[ProcessState] = []
        for index, raw in enumerate(raw_processes):
            state = _process_state(type_, f"processes[{index}]", raw)
            if isinstance(state, Drop):
                return state
            processes.append(state)
        return ProjectSnapshot(
            "project.snapshot", timestamp, project_id, offset, data, tuple(files), tuple(processes)
        )

    def apply(self, domain: Domain) -> None:
        """Replace everything held for the project with the server's snapshot."""
        project_id = self.project_id
        domain.forget_project(project_id)
        if self.data is not None:
            domain.set_project(project_id, self.data)
        for file in self.files:
            domain.put_file(project_id, file)
        for state in self.processes:
            domain.put_process(
                ProcessInfo(
                    project_id, state.process_id, state.status, state.progress, state.message
                )
            )


@message
class Ack(MessageRecord):
    """``ack``: the server applied (``ok``) or refused a message that carried ``id``."""

    role: ClassVar[Role] = "ack"
    type: Literal["ack"]
    timestamp: str | None
    id: str
    ok: bool
    data: Any = None
    error: str | None = None

    @staticmethod
    def read(obj: dict[str, Any], type_: str, timestamp: str | None) -> Ack | Drop:
        id_ = obj.get("id", _MISSING)
        if type(id_) is not str:
            return _bad(type_, "id", "a string", id_)
        ok = obj.get("ok", _MISSING)
        if type(ok) is not bool:
            return _bad(type_, "ok", "true or false", ok)
        error = obj.get("error")
        if error is not None and type(error) is not str:
            return _bad(type_, "error", "a string", error)
        return Ack("ack", timestamp, id_, ok, obj.get("data"), error)


@message
class AuthOk(MessageRecord):
    """``auth.ok`` (protocol v3): the server accepted the token, which expires ``expires_in``
    seconds after this frame arrived (None: the server did not say; no refresh is scheduled)."""

    role: ClassVar[Role] = "auth_ok"
    type: Literal["auth.ok"]
    timestamp: str | None
    expires_in: float | None = None

    @staticmethod
    def read(obj: dict[str, Any], type_: str, timestamp: str | None) -> AuthOk | Drop:
        expires_in = obj.get("expires_in")
        if expires_in is None:
            return AuthOk("auth.ok", timestamp)
        if type(expires_in) not in (int, float) or not 0 < expires_in < float("inf"):
            return _bad(type_, "expires_in", "a positive number of seconds", expires_in)
        return AuthOk("auth.ok", timestamp, float(expires_in))


@record
class GenericMessage(MessageRecord):
    """A message of a type this client has no declaration for; ``fields`` is the whole object."""

    type: str
    timestamp: str | None
    fields: dict[str, Any]


# --- the static lists mypy needs (tests/unit/test_messages.py checks them against the table) --

Message: TypeAlias = (
    ProjectEvent
    | FileEvent
    | ProcessEvent
    | Heartbeat
    | Pong
    | Hello
    | Subscribed
    | ProjectSnapshot
    | Ack
    | AuthOk
    | GenericMessage
)
#: The events of a project's stream: each carries an ``offset`` on a v2 server.
StreamEvent: TypeAlias = ProjectEvent | FileEvent | ProcessEvent
_Off: TypeAlias = Callable[[], None]


class AddListener(Protocol):
    """The signature of ``on(type_, callback)`` (``router.EventRouter.on``): a listener of a
    declared type gets that type's record; any other type (and ``"*"``), a `Message`."""

    @overload
    def __call__(
        self, type_: ProjectEventType, callback: Callable[[ProjectEvent], object]
    ) -> _Off: ...
    @overload
    def __call__(self, type_: FileEventType, callback: Callable[[FileEvent], object]) -> _Off: ...
    @overload
    def __call__(
        self, type_: ProcessEventType, callback: Callable[[ProcessEvent], object]
    ) -> _Off: ...
    @overload
    def __call__(
        self, type_: Literal["system.heartbeat"], callback: Callable[[Heartbeat], object]
    ) -> _Off: ...
    @overload
    def __call__(self, type_: Literal["pong"], callback: Callable[[Pong], object]) -> _Off: ...
    @overload
    def __call__(self, type_: Literal["hello"], callback: Callable[[Hello], object]) -> _Off: ...
    @overload
    def __call__(
        self, type_: Literal["subscribed"], callback: Callable[[Subscribed], object]
    ) -> _Off: ...
    @overload
    def __call__(
        self, type_: Literal["project.snapshot"], callback: Callable[[ProjectSnapshot], object]
    ) -> _Off: ...
    @overload
    def __call__(self, type_: Literal["ack"], callback: Callable[[Ack], object]) -> _Off: ...
    @overload
    def __call__(self, type_: Literal["auth.ok"], callback: Callable[[AuthOk], object]) -> _Off: ...
    @overload
    def __call__(self, type_: str, callback: Callable[[Message], object]) -> _Off: ...


#: type string -> the class declared for it (`message`).
MESSAGE_TYPES: Final[Mapping[str, type[MessageRecord]]] = MappingProxyType(_BY_TYPE)
#: The message types `parse` turns into typed records; others become `GenericMessage`.
KNOWN_TYPES: Final[KeysView[str]] = MESSAGE_TYPES.keys()


# --- parse ---------------------------------------------------------------------------------


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _int_as_javascript(digits: str) -> int | float:
    """An integer numeral as ``JSON.parse`` reads it when Python would refuse it: past
    ``sys.get_int_max_str_digits()`` digits, a float (``inf`` beyond ~1.8e308)."""
    try:
        return int(digits)
    except ValueError:
        return float(digits)


# Same C scanner as json.loads, but NaN/Infinity/-Infinity are refused instead of becoming floats.
_decoder: Final = json.JSONDecoder(parse_constant=_reject_constant)
_decode: Final = _decoder.decode
# The scanner itself: ``decode`` minus its two whitespace regex matches and two Python frames.
# A frame it does not read whole (leading or trailing whitespace, errors) goes through ``decode``.
_scan: Final[Callable[[str, int], tuple[Any, int]]] = _decoder.scan_once  # type: ignore[attr-defined]
# Only for the rare frame with an integer over the digit limit (a Python call per integer).
_decode_long_ints: Final = json.JSONDecoder(
    parse_constant=_reject_constant, parse_int=_int_as_javascript
).decode

# Between two frames in ``decode_joined``'s array: a string no frame holds by chance. (Not a
# secret: a page booted from the memory snapshot has the one made with the snapshot.)
_SEPARATOR: Final = f"x{random.getrandbits(96):024x}"
_JOIN: Final = f',"{_SEPARATOR}",'


def parse(text: object, max_chars: int = MAX_FRAME_CHARS) -> Message | Drop:
    """Turn one inbound text frame into a typed message, or a `Drop` saying why not.

    Never raises, whatever ``text`` holds: the caller counts and logs drops and carries on.
    """
    if not isinstance(text, str):
        return Drop(
            "binary", f"got a {type(text).__name__} frame; this client reads JSON text frames"
        )
    if len(text) > max_chars:
        return Drop(
            "too_large",
            f"a frame of {len(text)} characters exceeds the limit of {max_chars}: raise the "
            "max_frame_size option to accept it",
        )
    if len(text) > MAX_DEPTH and too_deep(text):
        return Drop("not_json", f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        obj, end = _scan(text, 0)
    except (StopIteration, ValueError, RecursionError):
        end = -1
    if end != len(text):
        obj = _decode_slowly(text)
        if type(obj) is Drop:
            return obj
    return from_value(obj)


def from_value(obj: object) -> Message | Drop:
    """The typed message a decoded frame stands for, or a `Drop` saying why not (``parse`` minus
    the decoding)."""
    if type(obj) is not dict:
        return Drop("not_object", f"a JSON message must be an object, got {_describe(obj)}")
    type_ = obj.get("type", _MISSING)
    if type(type_) is not str:
        return Drop("no_type", f"the message's 'type' must be a string, got {_describe(type_)}")
    timestamp = obj.get("timestamp")
    if timestamp is not None and type(timestamp) is not str:
        return _bad(type_, "timestamp", "an ISO-8601 string", timestamp)
    read = _READERS.get(type_)
    if read is None:
        return GenericMessage(type_, timestamp, obj)
    message = read(obj, type_, timestamp)
    if type(message) is not Drop:
        # The frame's object, for to_wire: the page sees every field the server sent (fields
        # this client has no use for too), in the server's order. Not a record field, so
        # equality and repr stay those of the typed message.
        message.__dict__["_source"] = obj
    return message


def decode_joined(batch: str, max_chars: int = MAX_FRAME_CHARS) -> list[object] | None:
    """The decoded values of a batch of text frames joined with U+001E, decoded in one pass of the
    C scanner; or None: read this batch frame by frame (``parse`` on each).

    One pass saves the per-frame call into the scanner (a tenth of the hot path in Pyodide). The
    result is exactly what ``parse`` would read from each frame, or None: the batch holds no
    frame over ``max_chars`` and no more brackets than ``MAX_DEPTH`` (so no frame nests too deep),
    and the frames are decoded as the items of one array with a random string between each two.
    A frame that is not one JSON value (``1,2``; ``[1`` then ``2]``; an unterminated string) either
    breaks the array or moves a separator off the array's odd places (the separator is 96 random
    bits that no frame holds by chance), and the batch is read frame by frame.
    """
    if len(batch) > max_chars or batch.count("[") + batch.count("{") > MAX_DEPTH:
        return None
    text = "[" + batch.replace("\x1e", _JOIN) + "]"
    try:
        values, end = _scan(text, 0)
    except (StopIteration, ValueError, RecursionError):
        return None
    gaps = batch.count("\x1e")
    if end != len(text) or len(values) != 2 * gaps + 1 or values.count(_SEPARATOR) != gaps:
        return None
    return cast(list[object], values[::2])


def too_deep(text: str) -> bool:
    """Whether ``text`` nests arrays/objects more than ``MAX_DEPTH`` deep (strings skipped)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False  # the common case, at C speed: too few brackets to nest that deep
    depth = 0
    for match in _NESTING.finditer(text):
        token = match.group()
        if token == "[" or token == "{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif token == "]" or token == "}":
            depth -= 1
    return False


def _decode_slowly(text: str) -> object:
    """The decoded value, or a `Drop` saying why ``decode`` could not read the frame."""
    try:
        return _decode(text)
    except RecursionError:
        return Drop("not_json", "JSON nested too deeply to read")
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, an integer over the digit limit
        if "integer string conversion" not in str(exc):
            return Drop("not_json", f"not valid JSON: {exc}")
    try:
        return _decode_long_ints(text)
    except (ValueError, RecursionError) as exc:
        return Drop("not_json", f"not valid JSON: {exc}")


# --- serialize -----------------------------------------------------------------------------


def to_wire(message: Message) -> dict[str, Any]:
    """The JSON object a message stands for: for a parsed frame, the frame's own object (every
    field it held, in its order; do not mutate it); for a message built in Python, its fields in
    order, nested records as objects and tuples as arrays, fields that are None left out (`parse`
    reads a missing field as None, so ``parse(serialize(m)) == m``)."""
    if type(message) is GenericMessage:
        return dict(message.fields)
    source: dict[str, Any] | None = message.__dict__.get("_source")
    if source is not None:
        return source
    return _wire(message)


def _wire(value: Record) -> dict[str, Any]:
    wire: dict[str, Any] = {}
    for name in fields(value):
        item = getattr(value, name)
        if item is None:
            continue
        if isinstance(item, Record):
            item = _wire(item)
        elif type(item) is tuple:
            item = [_wire(i) if isinstance(i, Record) else i for i in item]
        wire[name] = item
    return wire


_encode_compact: Final = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":")
).encode
_encode_ascii: Final = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode


def _check_json(value: object, path: str, parents: list[int]) -> None:
    """Raise if ``value`` (found at ``path``) is not plain JSON data."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(
                f"cannot send {path} = {value!r}: JSON has no NaN or Infinity; "
                "send null or a string instead"
            )
        return
    if isinstance(value, dict | list | tuple):
        if id(value) in parents:
            raise ValueError(
                f"cannot send {path}: it contains itself (a cycle); send a copy without the cycle"
            )
        parents.append(id(value))
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TypeError(
                        f"cannot send {path}: key {key!r} is a {type(key).__name__}, "
                        "JSON object keys must be str; convert the keys with str()"
                    )
                _check_json(item, f"{path}.{key}", parents)
        else:
            for index, item in enumerate(value):
                _check_json(item, f"{path}[{index}]", parents)
        parents.pop()
        return
    hint = "convert it to a list" if isinstance(value, set | frozenset) else "convert it first"
    if isinstance(value, MessageRecord):
        hint = "convert it with to_wire()"
    raise TypeError(
        f"cannot send {path}: a {type(value).__name__} is not JSON "
        f"(only dict, list, tuple, str, int, float, bool and None are); {hint}"
    )


def serialize(obj: object) -> str:
    """The JSON text for an outbound message: a message dataclass or plain JSON data.

    Raises `TypeError` or `ValueError`, naming the path of the offending value (``$`` is the
    top), for anything JSON cannot hold exactly.
    """
    if isinstance(obj, MessageRecord):
        obj = to_wire(cast(Message, obj))
    try:
        _check_json(obj, "$", [])
    except RecursionError:
        raise ValueError(
            "cannot send a value nested this deeply; flatten it before sending"
        ) from None
    try:
        text = _encode_compact(obj)
    except ValueError as exc:  # e.g. an int over the digit limit
        raise ValueError(f"cannot send this value as JSON: {exc}") from exc
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: escape them so the text is valid UTF-8
            text = _encode_ascii(obj)
    return text
