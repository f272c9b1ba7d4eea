"""Route inbound frames into typed listeners and domain stores.

Theory of operation
-------------------
`EventRouter.handle` takes one text frame, `parse`s it, and then, in this order: appends it to
``messages``, applies it to the domain stores (``projects``, ``files``, ``processes``: the
message's own ``apply``, declared with its type in messages.py), calls the listeners registered
for its type, then the ``"*"`` listeners. The stores it changed are set by
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
from typing import Any, Final, TypeAlias

from wsclient.core import State
from wsclient.messages import (
    MAX_FRAME_CHARS,
    AddListener,
    Drop,
    FileInfo,
    Message,
    ProcessInfo,
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
class DropStats(Record):
    """How many frames of one drop kind were dropped, and why the last one was."""

    count: int
    last_reason: str


Listener: TypeAlias = Callable[[Any], object]

# Bits of _DomainState.dirty: domain stores changed by handle() and not yet published.
_PROJECTS: Final = 1
_FILES: Final = 2
_PROCESSES: Final = 4


class _DomainState:
    """The dicts behind ``projects``, ``files`` and ``processes``, changed in place by each
    message's ``apply`` (this is the `messages.Domain` they see); ``dirty`` says which stores
    ``publish`` must set."""

    __slots__ = (
        "completed",
        "dirty",
        "files",
        "files_views",
        "keep_completed",
        "processes",
        "processes_views",
        "projects",
    )

    def __init__(self, keep_completed: int) -> None:
        self.keep_completed = keep_completed
        self.dirty = 0
        self.projects: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, FileInfo]] = {}
        self.files_views: dict[str, Mapping[str, FileInfo]] = {}
        self.processes: dict[str, dict[str, ProcessInfo]] = {}
        self.processes_views: dict[str, Mapping[str, ProcessInfo]] = {}
        # Completed processes, oldest completion first: beyond keep_completed the oldest go.
        self.completed: OrderedDict[tuple[str, str], None] = OrderedDict()

    def set_project(self, project_id: str, data: dict[str, Any]) -> None:
        self.projects[project_id] = data
        self.dirty |= _PROJECTS

    def forget_project(self, project_id: str) -> None:
        """Remove the project and its files and processes from the stores."""
        if self.projects.pop(project_id, None) is not None:
            self.dirty |= _PROJECTS
        if self.files.pop(project_id, None) is not None:
            del self.files_views[project_id]
            self.dirty |= _FILES
        processes = self.processes.pop(project_id, None)
        if processes is not None:
            del self.processes_views[project_id]
            for process_id in processes:
                self.completed.pop((project_id, process_id), None)
            self.dirty |= _PROCESSES

    def put_file(self, project_id: str, file: FileInfo) -> None:
        files = self.files.get(project_id)
        if files is None:
            files = self.files[project_id] = {}
            self.files_views[project_id] = MappingProxyType(files)
        files[file.path] = file
        self.dirty |= _FILES

    def remove_file(self, project_id: str, path: str) -> None:
        files = self.files.get(project_id)
        if files is None or files.pop(path, None) is None:
            return
        if not files:
            del self.files[project_id]
            del self.files_views[project_id]
        self.dirty |= _FILES

    def process(self, project_id: str, process_id: str) -> ProcessInfo | None:
        processes = self.processes.get(project_id)
        return None if processes is None else processes.get(process_id)

    def put_process(self, info: ProcessInfo) -> None:
        """Store ``info``; beyond ``keep_completed`` completed processes the oldest go."""
        project_id = info.project_id
        processes = self.processes.get(project_id)
        if processes is None:
            processes = self.processes[project_id] = {}
            self.processes_views[project_id] = MappingProxyType(processes)
        processes[info.process_id] = info
        key = (project_id, info.process_id)
        if info.status == "completed":
            self.completed[key] = None
            self.completed.move_to_end(key)
            while len(self.completed) > self.keep_completed:
                (old_project, old_process), _ = self.completed.popitem(last=False)
                held = self.processes[old_project]
                del held[old_process]
                if not held:
                    del self.processes[old_project]
                    del self.processes_views[old_project]
        else:
            self.completed.pop(key, None)
        self.dirty |= _PROCESSES


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
        self._listeners: dict[str, tuple[_Registration, ...]] = {}
        self._log: deque[Message] = deque(maxlen=max_messages)

        self._messages: Writable[tuple[Message, ...]] = writable(())
        self._domain = domain = _DomainState(keep_completed)
        self._projects_store: Writable[Mapping[str, dict[str, Any]]] = writable(
            MappingProxyType(domain.projects)
        )
        self._files_store: Writable[Mapping[str, Mapping[str, FileInfo]]] = writable(
            MappingProxyType(domain.files_views)
        )
        self._processes_store: Writable[Mapping[str, Mapping[str, ProcessInfo]]] = writable(
            MappingProxyType(domain.processes_views)
        )
        self._dropped: dict[str, DropStats] = {}
        self._dropped_store: Writable[Mapping[str, DropStats]] = writable(
            MappingProxyType(self._dropped)
        )
        # What handle() changed and publish() has not set yet.
        self._new_messages = False

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

        #: ``on(type_, callback)``: call ``callback(message)`` for each message of ``type_``
        #: (typed by `messages.AddListener`); see `add_listener`.
        self.on: AddListener = self.add_listener

    # --- listeners ---------------------------------------------------------------------------

    def add_listener(self, type_: str, callback: Listener) -> Callable[[], None]:
        """Call ``callback(message)`` for each message of ``type_`` (``"*"``: every message).

        Returns the function that removes this listener (calling it again does nothing).
        Listeners of a type run in the order they were added, before the ``"*"`` listeners.
        ``on`` is this function, typed per message type.
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
        message.apply(self._domain)  # its reducer (messages.message): most types change nothing
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
        domain = self._domain
        dirty = domain.dirty
        if dirty:
            domain.dirty = 0
            if dirty & _PROJECTS:
                self._projects_store.set(MappingProxyType(domain.projects))
            if dirty & _FILES:
                self._files_store.set(MappingProxyType(domain.files_views))
            if dirty & _PROCESSES:
                self._processes_store.set(MappingProxyType(domain.processes_views))

    def forget(self, project_id: str) -> None:
        """Drop everything held for a project (its last local subscriber left)."""
        self._domain.forget_project(project_id)

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
