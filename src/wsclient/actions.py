"""What the connection core asks its driver to do: the actions it drains with ``take_actions``.

Each is a small frozen record; the driver carries them out in order (``driver.py``).
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from .outbound import Outbound
from .records import Record, record

#: Why the token provider is asked (docs/protocol.md, "Authentication").
TokenReason: TypeAlias = Literal["connect", "expired", "refresh"]


@record
class GetToken(Record):
    """Call the token provider with ``{reason, attempt}``; report its answer with
    ``token_received(request_id, ...)`` or ``token_failed(request_id, ...)``. An answer to an
    older request is ignored, so a late one needs no care."""

    request_id: int
    reason: TokenReason
    attempt: int


@record
class OpenSocket(Record):
    """Open a WebSocket and report its events under ``socket_id``."""

    socket_id: int


@record
class SendText(Record):
    """Send ``text`` as one text frame on socket ``socket_id``. ``outbound_id`` names the outbox
    entry it carries, if any: report a write the socket refused with ``write_failed``."""

    socket_id: int
    text: str
    outbound_id: str | None = None

    def __repr__(self) -> str:  # an auth frame carries a token: never show it
        text = "<auth frame>" if self.text.startswith('{"type": "auth", ') else self.text
        return f"SendText({self.socket_id}, {text!r}, {self.outbound_id!r})"


@record
class CloseSocket(Record):
    """Close socket ``socket_id`` with ``code``/``reason``; its later events no longer matter.
    Report what it still had buffered with ``unsent``."""

    socket_id: int
    code: int
    reason: str


@record
class Settle(Record):
    """A request is over: acknowledged (``ok`` with ``data``), refused or timed out (``error``)."""

    id: str
    ok: bool
    data: object = None
    error: str | None = None


@record
class Resync(Record):
    """Events of ``project_id`` may have been missed and cannot be recovered: reload it."""

    project_id: str


@record
class Persist(Record):
    """Keep ``entry`` in durable storage (it survives a reload until ``Forget``)."""

    entry: Outbound


@record
class Forget(Record):
    """Remove the outbox entry ``id`` from durable storage."""

    id: str


Action: TypeAlias = (
    GetToken | OpenSocket | SendText | CloseSocket | Settle | Resync | Persist | Forget
)
