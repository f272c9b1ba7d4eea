"""What the connection core reads of an inbound message: its role and a few protocol fields.

The core (``core.py`` and the objects it composes) never imports a message type: it needs only
to know which frames are protocol frames (``hello``, ``pong``, ``ack``, ``subscribed``) and which
are positions in a project's stream (``event``, ``snapshot``), and reads those through the
structural types below. Each message class says its ``role`` once (``messages.py``); a type the
core has no business with has the role ``""``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Protocol, TypeAlias

Role: TypeAlias = Literal["event", "snapshot", "hello", "pong", "ack", "subscribed", "auth_ok", ""]


class Inbound(Protocol):
    """Any parsed inbound message."""

    role: ClassVar[Role]


class StreamItem(Protocol):
    """A project event (``event``) or snapshot (``snapshot``): a position in a project's stream."""

    @property
    def project_id(self) -> str: ...
    @property
    def offset(self) -> int | None: ...


class HelloFrame(Protocol):
    @property
    def protocol(self) -> int: ...


class PongFrame(Protocol):
    @property
    def id(self) -> str | None: ...


class AckFrame(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def data(self) -> Any: ...
    @property
    def error(self) -> str | None: ...


class SubscribedFrame(Protocol):
    @property
    def project_id(self) -> str: ...
    @property
    def epoch(self) -> str: ...
    @property
    def offset(self) -> int: ...
    @property
    def recovered(self) -> bool: ...


class AuthOkFrame(Protocol):
    @property
    def expires_in(self) -> float | None: ...
