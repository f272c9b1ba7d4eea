"""Project streams (protocol v2): per-project epoch, offsets, bounded history, authoritative state.

Theory of operation: every project event the server makes goes through `Streams.append`, which
numbers it (offset = previous + 1 within that project), applies it to the project's state, and
keeps it in a history bounded by count and by age. A subscriber that names a position
(`since`: epoch + last offset applied) either gets every event after it from the history, or, when
the epoch differs or the history no longer reaches back that far, a snapshot built from the state.

No I/O and no clock reads: callers pass `now` (seconds, any monotonic origin). Streams are
server-wide: every connection subscribed to a project sees the same offsets.
"""

from __future__ import annotations

import copy
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

#: A busy project makes ~3 events/s; 10,000 events and 180 s both cover a 2-minute outage.
DEFAULT_HISTORY_SIZE: Final = 10_000
DEFAULT_HISTORY_AGE: Final = 180.0

#: Prefixes of the event types that belong to a project stream and carry an offset.
STREAM_PREFIXES: Final = ("project.", "file.", "process.")
SNAPSHOT_TYPE: Final = "project.snapshot"


def is_stream_type(type_: str) -> bool:
    return type_.startswith(STREAM_PREFIXES) and type_ != SNAPSHOT_TYPE


def new_epoch_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True)
class HistoryLimits:
    """How much history each project keeps: at most `size` events, none older than `age` s."""

    size: int = DEFAULT_HISTORY_SIZE
    age: float = DEFAULT_HISTORY_AGE

    def __post_init__(self) -> None:
        if self.size < 0 or self.age < 0:
            raise ValueError("history limits must not be negative")


@dataclass(frozen=True)
class Entry:
    """One numbered event in a project's history."""

    t: float
    offset: int
    event: dict[str, Any]


@dataclass
class ProjectState:
    """What a project looks like after applying its events in order."""

    data: dict[str, Any] | None = None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # by path, in upload order
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)  # by process_id

    def apply(self, event: dict[str, Any]) -> None:
        """Fold one event in. Missing `progress`/`message` keep their previous value."""
        type_ = event["type"]
        if type_ in ("project.created", "project.updated"):
            self.data = copy.deepcopy(event["data"])
        elif type_ == "project.deleted":
            # A deleted project has no files or processes left either.
            self.data = None
            self.files.clear()
            self.processes.clear()
        elif type_ == "file.uploaded":
            file = copy.deepcopy(event["file"])
            self.files.pop(file["path"], None)  # a re-upload moves to the end
            self.files[file["path"]] = file
        elif type_ == "file.deleted":
            self.files.pop(event["file"]["path"], None)
        elif type_ in ("process.started", "process.progress", "process.completed"):
            self._apply_process(type_, event)

    def _apply_process(self, type_: str, event: dict[str, Any]) -> None:
        """The rules the client applies too (docs/protocol.md): a start resets the process; a
        missing ``progress``/``message`` keeps the previous value; ``completed`` without a
        progress means 1.0; a late ``progress`` never reopens a completed process."""
        pid = event["process_id"]
        previous = self.processes.get(pid)
        completed = previous is not None and previous["status"] == "completed"
        if completed and type_ == "process.progress":
            return
        if previous is None or type_ == "process.started":
            progress, message = event.get("progress"), event.get("message")
        else:
            progress = event.get("progress", previous["progress"])
            message = event.get("message", previous["message"])
        if type_ == "process.completed" and event.get("progress") is None:
            progress = 1.0
        self.processes[pid] = {
            "status": "completed" if type_ == "process.completed" else "running",
            "progress": progress,
            "message": message,
        }

    def as_dict(self) -> dict[str, Any]:
        """{"data", "files": {path: file}, "processes": {id: {status, progress, message}}}."""
        return copy.deepcopy({"data": self.data, "files": self.files, "processes": self.processes})

    def snapshot_fields(self) -> dict[str, Any]:
        """The state as a `project.snapshot` carries it: lists instead of maps."""
        return copy.deepcopy(
            {
                "data": self.data,
                "files": list(self.files.values()),
                "processes": [{"process_id": pid, **p} for pid, p in self.processes.items()],
            }
        )


def check_event(event: dict[str, Any]) -> None:
    """Raise ValueError unless `event` is a project event the state can apply."""
    type_ = event.get("type")
    if not isinstance(type_, str) or not is_stream_type(type_):
        raise ValueError(f"not a project event type: {type_!r}")
    if type_ in ("project.created", "project.updated") and not isinstance(event.get("data"), dict):
        raise ValueError(f"{type_} needs a dict `data`")
    if type_.startswith("file."):
        file = event.get("file")
        if not isinstance(file, dict) or not isinstance(file.get("path"), str):
            raise ValueError(f"{type_} needs a `file` dict with a str `path`")
    if type_.startswith("process.") and not isinstance(event.get("process_id"), str):
        raise ValueError(f"{type_} needs a str `process_id`")


class ProjectStream:
    """One project's numbered event stream and its state."""

    def __init__(self, project_id: str, epoch: str, limits: HistoryLimits) -> None:
        self.project_id = project_id
        self.epoch = epoch
        self.limits = limits
        self.top = 0  # offset of the last event; the first event is 1
        self.state = ProjectState()
        self._history: deque[Entry] = deque()

    @property
    def history(self) -> tuple[Entry, ...]:
        return tuple(self._history)

    def append(self, event: dict[str, Any], now: float) -> Entry:
        """Number `event` (a copy gets `offset`), apply it, keep it. Returns the entry."""
        check_event(event)
        self.top += 1
        numbered = {**event, "offset": self.top}
        self.state.apply(numbered)
        entry = Entry(now, self.top, numbered)
        self._history.append(entry)
        self.expire(now)
        return entry

    def replay(self, epoch: str, offset: int, now: float) -> list[Entry] | None:
        """Every event after `offset` of `epoch`, oldest first; None if they are not all here."""
        self.expire(now)
        if epoch != self.epoch or not 0 <= offset <= self.top:
            return None
        if offset == self.top:
            return []
        if not self._history or self._history[0].offset > offset + 1:
            return None
        return [e for e in self._history if e.offset > offset]

    def snapshot(self) -> dict[str, Any]:
        """A `project.snapshot` frame body (without timestamp) at the current top."""
        return {
            "type": SNAPSHOT_TYPE,
            "project_id": self.project_id,
            "offset": self.top,
            **self.state.snapshot_fields(),
        }

    def restart(self, epoch: str, reset_offset: bool = False) -> None:
        """Lose the history under a new epoch; the state stays (it feeds the snapshots)."""
        self.epoch = epoch
        self._history.clear()
        if reset_offset:
            self.top = 0

    def trim(self, keep: int = 0) -> None:
        """Keep only the newest `keep` events of the history."""
        if keep < 0:
            raise ValueError("keep must not be negative")
        while len(self._history) > keep:
            self._history.popleft()

    def expire(self, now: float) -> None:
        """Drop what the limits no longer allow at `now`."""
        while len(self._history) > self.limits.size:
            self._history.popleft()
        horizon = now - self.limits.age
        while self._history and self._history[0].t < horizon:
            self._history.popleft()


class Streams:
    """Every project's stream, created on first use."""

    def __init__(
        self,
        limits: HistoryLimits | None = None,
        epochs: Callable[[], str] = new_epoch_id,
    ) -> None:
        self.limits = limits or HistoryLimits()
        self._epochs = epochs
        self._streams: dict[str, ProjectStream] = {}

    def get(self, project_id: str) -> ProjectStream:
        stream = self._streams.get(project_id)
        if stream is None:
            stream = ProjectStream(project_id, self._epochs(), self.limits)
            self._streams[project_id] = stream
        return stream

    def state(self, project_id: str) -> dict[str, Any]:
        stream = self._streams.get(project_id)
        return (stream.state if stream is not None else ProjectState()).as_dict()

    def restart(self, project_id: str | None = None, reset_offset: bool = False) -> None:
        """New epoch and no history for one project, or for all of them (None)."""
        targets = list(self._streams.values()) if project_id is None else [self.get(project_id)]
        for stream in targets:
            epoch = self._epochs()
            while epoch == stream.epoch:
                epoch = self._epochs()
            stream.restart(epoch, reset_offset)

    def clear(self) -> None:
        self._streams.clear()
