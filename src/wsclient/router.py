"""Route inbound frames into typed listeners and domain stores.

Theory of operation
-------------------
`EventRouter.handle` takes one text frame, `parse`s it, and then, in this order: appends it to
``messages``, applies it to its domain store (``projects``, ``files`` or ``processes``), calls the
listeners registered for its type, then the ``"*"`` listeners. The stores it changed are set by
``publish``: the driver ``handle``s each frame of a batch (listeners run per message), then
``publish``es once, so store subscribers are notified once per batch with the final state, not
once per frame. A frame that cannot be used is
counted in ``dropped`` (and logged the first time each kind occurs) and goes no further.

Nothing raised by a listener or a store subscriber escapes: each error is counted in ``errors``
(``stores.callback_errors``, the package's one count of user-callback errors), logged with its
traceback the first time each listener (or subscriber) fails, and the rest of the
frame's work goes on. So one broken listener stops neither the others, nor the stores, nor the
connection.

Store values, and how each update stays O(1)
--------------------------------------------
- ``messages``: a tuple of the last ``max_messages`` messages, oldest first, made once per
  ``publish`` (i.e. per batch of frames, not per message) from a bounded deque.
- ``projects`` (project_id -> data), ``files`` (project_id -> path -> `FileInfo`) and
  ``processes`` (project_id -> process_id -> `ProcessInfo`: ids are per project): read-only
  *live* views (``MappingProxyType``) of dicts the router updates in place. Each change sets a
  new view object, so subscribers are notified (and identity checks see a change), but no dict
  is copied. A kept view shows the
  latest state, not the state at notification time: copy it (``dict(view)``) to keep a snapshot.
- ``state``: a frozen `ConnectionState`, set by the connection adapter; ``is_connected`` is
  derived from it and only notifies when it flips.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias, overload

from wsclient.core import State
from wsclient.messages import (
    MAX_FRAME_CHARS,
    Drop,
    FileEvent,
    FileInfo,
    Heartbeat,
    Message,
    Pong,
    ProcessEvent,
    ProjectEvent,
    ProjectSnapshot,
    decode_joined,
    from_value,
    parse,
)
from wsclient.records import Record, record
from wsclient.stores import (
    CallbackErrors,
    Readable,
    Writable,
    callback_errors,
    derived,
    readonly,
    report_callback_error,
    writable,
)

__all__ = [
    "ConnectionState",
    "DropStats",
    "EventRouter",
    "ProcessInfo",
]

logger = logging.getLogger("wsclient.router")


_STATUS_VALUES: Final = frozenset(state.value for state in State)


@record
class ConnectionState(Record):
    """What the connection-status component shows."""

    status: State = State.DISCONNECTED  # a str enum: compares equal to its value
    reconnect_attempts: int = 0
    error: str | None = None

    def __post_init__(self) -> None:
        if self.status not in _STATUS_VALUES:
            raise ValueError(
                f"unknown connection status {self.status!r}; use one of {sorted(_STATUS_VALUES)}"
            )
        if self.reconnect_attempts < 0:
            raise ValueError(f"reconnect_attempts must be >= 0, got {self.reconnect_attempts}")

    def to_page(self) -> dict[str, Any]:
        """The ``{status, reconnectAttempts, error}`` object the page API promises."""
        return {
            "status": str(self.status),
            "reconnectAttempts": self.reconnect_attempts,
            "error": self.error,
        }


@record
class ProcessInfo(Record):
    """The latest known state of one server-side process."""

    project_id: str
    process_id: str
    status: Literal["running", "completed"]
    progress: float | None = None
    message: str | None = None


@record
class DropStats(Record):
    """How many frames of one drop kind were dropped, and why the last one was."""

    count: int
    last_reason: str


Listener: TypeAlias = Callable[[Any], object]

# Bits of EventRouter._dirty: domain stores changed by handle() and not yet published.
_PROJECTS: Final = 1
_FILES: Final = 2
_PROCESSES: Final = 4


class _Registration:
    """One `EventRouter.on` call; identity-compared so one callback may be registered twice."""

    __slots__ = ("callback",)

    def __init__(self, callback: Listener) -> None:
        self.callback = callback


class EventRouter:
    """Parses inbound frames and feeds the domain stores and the listeners.

    ``max_messages`` bounds the ``messages`` store; frames longer than ``max_frame_chars`` are
    dropped unread; ``processes`` keeps every running process and the ``keep_completed`` most
    recently completed ones (older completed processes are removed).
    """

    def __init__(
        self,
        max_messages: int = 100,
        max_frame_chars: int = MAX_FRAME_CHARS,
        keep_completed: int = 200,
    ) -> None:
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {max_messages}")
        self._max_frame_chars = max_frame_chars
        self._keep_completed = keep_completed
        # Completed processes, oldest completion first: beyond keep_completed the oldest go.
        self._completed: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._listeners: dict[str, tuple[_Registration, ...]] = {}
        self._log: deque[Message] = deque(maxlen=max_messages)

        self._messages: Writable[tuple[Message, ...]] = writable(())
        self._projects: dict[str, dict[str, Any]] = {}
        self._projects_store: Writable[Mapping[str, dict[str, Any]]] = writable(
            MappingProxyType(self._projects)
        )
        self._files: dict[str, dict[str, FileInfo]] = {}
        self._files_views: dict[str, Mapping[str, FileInfo]] = {}
        self._files_store: Writable[Mapping[str, Mapping[str, FileInfo]]] = writable(
            MappingProxyType(self._files_views)
        )
        self._processes: dict[str, dict[str, ProcessInfo]] = {}
        self._processes_views: dict[str, Mapping[str, ProcessInfo]] = {}
        self._processes_store: Writable[Mapping[str, Mapping[str, ProcessInfo]]] = writable(
            MappingProxyType(self._processes_views)
        )
        self._dropped: dict[str, DropStats] = {}
        self._dropped_store: Writable[Mapping[str, DropStats]] = writable(
            MappingProxyType(self._dropped)
        )
        # What handle() changed and publish() has not set yet.
        self._new_messages = False
        self._dirty = 0

        #: Session state, set by the connection adapter.
        self.state: Writable[ConnectionState] = writable(ConnectionState())
        #: True while ``state.status == "connected"``.
        self.is_connected: Readable[bool] = derived(self.state, _is_connected)
        #: The last ``max_messages`` messages, oldest first.
        self.messages: Readable[tuple[Message, ...]] = readonly(self._messages)
        #: project_id -> the ``data`` of its latest created/updated event.
        self.projects: Readable[Mapping[str, dict[str, Any]]] = readonly(self._projects_store)
        #: project_id -> path -> `FileInfo` of the files uploaded and not deleted.
        self.files: Readable[Mapping[str, Mapping[str, FileInfo]]] = readonly(self._files_store)
        #: project_id -> process_id -> `ProcessInfo` (process ids are per project).
        self.processes: Readable[Mapping[str, Mapping[str, ProcessInfo]]] = readonly(
            self._processes_store
        )
        #: drop kind -> `DropStats`.
        self.dropped: Readable[Mapping[str, DropStats]] = readonly(self._dropped_store)
        #: Errors raised by listeners, store subscribers and derived functions (the package's
        #: one count: ``stores.callback_errors``).
        self.errors: Readable[CallbackErrors] = callback_errors

        self._apply: dict[str, Callable[[Any], None]] = {
            "project.created": self._apply_project,
            "project.updated": self._apply_project,
            "project.deleted": self._apply_project,
            "file.uploaded": self._apply_file,
            "file.deleted": self._apply_file,
            "process.started": self._apply_process,
            "process.progress": self._apply_process,
            "process.completed": self._apply_process,
            "project.snapshot": self._apply_snapshot,
        }

    # --- listeners ---------------------------------------------------------------------------

    @overload
    def on(
        self,
        type_: Literal["project.created", "project.updated", "project.deleted"],
        callback: Callable[[ProjectEvent], object],
    ) -> Callable[[], None]: ...
    @overload
    def on(
        self,
        type_: Literal["file.uploaded", "file.deleted"],
        callback: Callable[[FileEvent], object],
    ) -> Callable[[], None]: ...
    @overload
    def on(
        self,
        type_: Literal["process.started", "process.progress", "process.completed"],
        callback: Callable[[ProcessEvent], object],
    ) -> Callable[[], None]: ...
    @overload
    def on(
        self, type_: Literal["system.heartbeat"], callback: Callable[[Heartbeat], object]
    ) -> Callable[[], None]: ...
    @overload
    def on(
        self, type_: Literal["pong"], callback: Callable[[Pong], object]
    ) -> Callable[[], None]: ...
    @overload
    def on(self, type_: str, callback: Callable[[Message], object]) -> Callable[[], None]: ...
    def on(self, type_: str, callback: Listener) -> Callable[[], None]:
        """Call ``callback(message)`` for each message of ``type_`` (``"*"``: every message).

        Returns the function that removes this listener (calling it again does nothing).
        Listeners of a type run in the order they were added, before the ``"*"`` listeners.
        """
        if not isinstance(type_, str):
            raise TypeError(f"on() needs a message type string, got {type_!r}")
        if not callable(callback):
            raise TypeError(f"on({type_!r}, ...) needs a callable listener, got {callback!r}")
        registration = _Registration(callback)
        # Tuples are replaced, never mutated, so handle() can iterate one without copying it.
        self._listeners[type_] = (*self._listeners.get(type_, ()), registration)

        def off() -> None:
            current = self._listeners.get(type_, ())
            if registration in current:
                remaining = tuple(r for r in current if r is not registration)
                if remaining:
                    self._listeners[type_] = remaining
                else:
                    del self._listeners[type_]

        return off

    # --- input -------------------------------------------------------------------------------

    def handle(self, text: object) -> Message | None:
        """``parse`` then ``dispatch``: one inbound text frame; returns its message, or None if it
        was dropped."""
        message = self.parse(text)
        if message is not None:
            self.dispatch(message)
        return message

    def parse(self, text: object) -> Message | None:
        """The message in one inbound text frame, or None: a frame that cannot be used is
        counted in ``dropped`` (and logged the first time each kind occurs). Never raises."""
        message = parse(text, self._max_frame_chars)
        if isinstance(message, Drop):
            self._record_drop(message)
            return None
        return message

    def parse_joined(self, batch: str) -> list[Message | None]:
        """``parse`` of each frame in a batch joined with U+001E, in order: decoded in one pass
        when ``messages.decode_joined`` can, frame by frame when not (the same result)."""
        values = decode_joined(batch, self._max_frame_chars)
        if values is None:
            return [self.parse(frame) for frame in batch.split("\x1e")]
        messages: list[Message | None] = []
        for value in values:
            message = from_value(value)
            if isinstance(message, Drop):
                self._record_drop(message)
                messages.append(None)
            else:
                messages.append(message)
        return messages

    def dispatch(self, message: Message) -> None:
        """Deliver one message: ``messages``, its domain store, then its listeners.

        Never raises: failing listeners are counted in ``errors``. Listeners run at once; the
        stores it changes are only *marked*, and ``publish()`` sets them. For a batch of frames
        (the driver's hot path): ``dispatch`` each message, then ``publish`` once, so a burst of
        N frames notifies each store's subscribers once, with the state after the last frame,
        instead of N times. The dicts behind ``projects``/``files``/``processes`` are live, so a
        listener sees them up to date; ``messages`` shows the new messages after ``publish``.
        """
        type_ = message.type
        self._log.append(message)
        self._new_messages = True
        apply = self._apply.get(type_)
        if apply is not None:
            apply(message)
        listeners = self._listeners
        registrations = listeners.get(type_)
        if registrations is not None:
            for registration in registrations:
                try:
                    registration.callback(message)
                except Exception as exc:
                    self._report_listener_error(registration, type_, exc)
        # A message whose type is literally "*" must not reach "*" listeners twice.
        if type_ != "*":
            registrations = listeners.get("*")
            if registrations is not None:
                for registration in registrations:
                    try:
                        registration.callback(message)
                    except Exception as exc:
                        self._report_listener_error(registration, "*", exc)

    def publish(self) -> None:
        """Set every store that ``handle`` changed since the last ``publish``. Never raises."""
        if self._new_messages:
            self._new_messages = False
            self._messages.set(tuple(self._log))
        dirty = self._dirty
        if dirty:
            self._dirty = 0
            if dirty & _PROJECTS:
                self._projects_store.set(MappingProxyType(self._projects))
            if dirty & _FILES:
                self._files_store.set(MappingProxyType(self._files_views))
            if dirty & _PROCESSES:
                self._processes_store.set(MappingProxyType(self._processes_views))

    def forget(self, project_id: str) -> None:
        """Drop everything held for a project (its last local subscriber left)."""
        self._forget_project(project_id)

    def drop_binary(self, size: int) -> None:
        """Count a binary frame of ``size`` bytes: this client only reads JSON text frames."""
        self._record_drop(
            Drop("binary", f"binary frame of {size} bytes; this client reads JSON text frames")
        )

    def drop_too_large(self, length: int) -> None:
        """Count a text frame of ``length`` characters that was dropped unread for being over
        ``max_frame_chars`` (static/wsclient.js drops those before they are copied into Wasm
        memory); the reason says how to raise the limit, as ``parse``'s does."""
        self._record_drop(
            Drop(
                "too_large",
                f"a frame of {length} characters exceeds the limit of {self._max_frame_chars}: "
                "raise the max_frame_size option to accept it",
            )
        )

    # --- domain stores -----------------------------------------------------------------------

    def _apply_project(self, event: ProjectEvent) -> None:
        project_id = event.project_id
        if event.type == "project.deleted":
            self._forget_project(project_id)
            return
        self._projects[project_id] = event.data
        self._dirty |= _PROJECTS

    def _forget_project(self, project_id: str) -> None:
        """Remove the project and its files and processes from the stores."""
        if self._projects.pop(project_id, None) is not None:
            self._dirty |= _PROJECTS
        if self._files.pop(project_id, None) is not None:
            del self._files_views[project_id]
            self._dirty |= _FILES
        processes = self._processes.pop(project_id, None)
        if processes is not None:
            del self._processes_views[project_id]
            for process_id in processes:
                self._completed.pop((project_id, process_id), None)
            self._dirty |= _PROCESSES

    def _apply_snapshot(self, snapshot: ProjectSnapshot) -> None:
        """Replace everything held for the project with the server's snapshot."""
        project_id = snapshot.project_id
        self._forget_project(project_id)
        if snapshot.data is not None:
            self._projects[project_id] = snapshot.data
        if snapshot.files:
            files = self._files[project_id] = {f.path: f for f in snapshot.files}
            self._files_views[project_id] = MappingProxyType(files)
        for state in snapshot.processes:
            self._put_process(
                ProcessInfo(
                    project_id, state.process_id, state.status, state.progress, state.message
                )
            )
        self._dirty |= _PROJECTS | _FILES | _PROCESSES

    def _apply_file(self, event: FileEvent) -> None:
        project_id = event.project_id
        files = self._files.get(project_id)
        if event.type == "file.deleted":
            if files is None or files.pop(event.file.path, None) is None:
                return
            if not files:
                del self._files[project_id]
                del self._files_views[project_id]
        else:
            if files is None:
                files = self._files[project_id] = {}
                self._files_views[project_id] = MappingProxyType(files)
            files[event.file.path] = event.file
        self._dirty |= _FILES

    def _apply_process(self, event: ProcessEvent) -> None:
        processes = self._processes.get(event.project_id)
        previous = processes.get(event.process_id) if processes is not None else None
        if previous is None or event.type == "process.started":
            progress, message = event.progress, event.message
        elif previous.status == "completed" and event.type == "process.progress":
            return  # a late progress report must not reopen a finished process
        else:
            progress = previous.progress if event.progress is None else event.progress
            message = previous.message if event.message is None else event.message
        if event.type == "process.completed":
            status: Literal["running", "completed"] = "completed"
            if event.progress is None:
                progress = 1.0
        else:
            status = "running"
        self._put_process(
            ProcessInfo(event.project_id, event.process_id, status, progress, message)
        )
        self._dirty |= _PROCESSES

    def _put_process(self, info: ProcessInfo) -> None:
        """Store ``info``; beyond ``keep_completed`` completed processes the oldest go."""
        project_id = info.project_id
        processes = self._processes.get(project_id)
        if processes is None:
            processes = self._processes[project_id] = {}
            self._processes_views[project_id] = MappingProxyType(processes)
        processes[info.process_id] = info
        key = (project_id, info.process_id)
        if info.status == "completed":
            self._completed[key] = None
            self._completed.move_to_end(key)
            while len(self._completed) > self._keep_completed:
                (old_project, old_process), _ = self._completed.popitem(last=False)
                held = self._processes[old_project]
                del held[old_process]
                if not held:
                    del self._processes[old_project]
                    del self._processes_views[old_project]
        else:
            self._completed.pop(key, None)

    # --- drops and errors --------------------------------------------------------------------

    def _record_drop(self, drop: Drop) -> None:
        stats = self._dropped.get(drop.kind)
        if stats is None:
            logger.warning(
                "dropped a frame (%s): %s; further %r drops are counted in `dropped`, not logged",
                drop.kind,
                drop.reason,
                drop.kind,
            )
            count = 1
        else:
            count = stats.count + 1
        self._dropped[drop.kind] = DropStats(count, drop.reason)
        self._dropped_store.set(MappingProxyType(self._dropped))

    def _report_listener_error(
        self, registration: _Registration, type_: str, exc: Exception
    ) -> None:
        name = getattr(registration.callback, "__qualname__", repr(registration.callback))
        report_callback_error(f"the listener {name} for {type_!r}", exc, registration)


def _is_connected(state: ConnectionState) -> bool:
    return state.status == "connected"
