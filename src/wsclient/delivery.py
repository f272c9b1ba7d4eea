"""The outbox's delivery rules: ids, bounds, writing, acknowledgements, timeouts, and what a
closed socket gives back.

Theory of operation
-------------------
Every ``send()``/``request()`` becomes an `Outbound` with an id unique for this browser (a random
prefix plus a counter) and stays in the `Outbox` (``outbound.py``: order and bounds) until it is
safe to forget. `Delivery` writes entries on a ready link, in order, and decides from
``_AFTER_WRITE`` what a write means:

==========================  ==================================================================
written on                  then
==========================  ==================================================================
v2, tagged send or request  kept until its ``ack`` (re-sent with the same id on every new link)
v2, untagged send           forgotten (it cannot carry an id: sent once, with one warning)
v1, send                    forgotten, but logged on the link's `WireLog`: if the socket still
                            had it buffered at close, it goes back to its place in the outbox
v1, request                 refused at once (v1 never acknowledges)
==========================  ==================================================================

Requests also settle on timeout (a heap of deadlines) or when the outbox is full of requests.
Everything the page must hear or store comes out as actions (``Settle``, ``Persist``,
``Forget``, ``SendText``) on the list it shares with the session.
"""

from __future__ import annotations

import heapq
import logging
import math
from enum import Enum
from typing import Final, Literal

from .actions import Action, Forget, Persist, SendText, Settle
from .link import Link
from .outbound import Outbound, Outbox, QueueFull, too_large

logger = logging.getLogger("wsclient")


class AfterWrite(Enum):
    KEEP = "kept until acknowledged"
    FORGET = "sent once"
    LOG = "fire-and-forget, logged on the link"
    REFUSE = "refused: no acks on v1"


#: (protocol, kind, retained) -> what the write means.
_AFTER_WRITE: Final[dict[tuple[int, str, bool], AfterWrite]] = {
    (2, "send", True): AfterWrite.KEEP,
    (2, "request", True): AfterWrite.KEEP,
    (2, "send", False): AfterWrite.FORGET,
    (1, "send", True): AfterWrite.LOG,
    (1, "send", False): AfterWrite.LOG,
    (1, "request", True): AfterWrite.REFUSE,
}


class Delivery:
    """The outbox concern of one session (see the module docstring)."""

    def __init__(
        self, max_queue: int, max_queue_bytes: int, id_prefix: str, actions: list[Action]
    ) -> None:
        self.outbox = Outbox(max_queue, max_queue_bytes)
        self.id_prefix = id_prefix
        self._actions = actions
        self._seq = 0
        self._deadlines: list[tuple[float, str]] = []  # requests' timeouts, a heap
        self._warned_untagged = False  # the once-per-page warning of an untagged v2 send

    def new(
        self,
        kind: Literal["send", "request"],
        text: str,
        *,
        tagged: bool,
        type_: str | None = None,
        timeout: float | None = None,
    ) -> Outbound:
        """A new entry for ``text``; ``ValueError`` if it could never fit the outbox."""
        size = len(text.encode())
        limit = self.outbox.max_bytes
        if size > limit:
            raise ValueError(too_large(size, limit))
        self._seq += 1
        return Outbound(
            f"{self.id_prefix}-{self._seq}",
            self._seq,
            kind,
            text,
            tagged=tagged and text.startswith("{"),
            type=type_,
            timeout=timeout,
        )

    def send(self, text: str, tagged: bool, link: Link | None) -> str:
        """A new send of ``text``, kept (written now if ``link`` is ready); its id."""
        entry = self.new("send", text, tagged=tagged)
        self.enqueue(entry, link)
        return entry.id

    def request(self, text: str, type_: str, timeout: float, now: float, link: Link | None) -> str:
        """A new request of ``text``, settled by ``now + timeout`` at the latest; its id."""
        if not (isinstance(timeout, int | float) and 0 < timeout < math.inf):
            raise ValueError(f"a request timeout must be a positive number, got {timeout!r}")
        entry = self.new("request", text, tagged=True, type_=type_, timeout=timeout)
        entry.deadline = now + timeout
        self.enqueue(entry, link)
        return entry.id

    def enqueue(self, entry: Outbound, link: Link | None, *, persist: bool = True) -> bool:
        """Keep ``entry`` (write it now if ``link`` is ready); False if it was refused.
        ``persist=False``: it is in storage already (restored); if refused, it leaves there too,
        and a send is dropped (counted) as the bounds drop sends instead of raising."""
        try:
            dropped = self.outbox.add(entry)
        except QueueFull as exc:
            if not persist:
                self._actions.append(Forget(entry.id))
            if entry.kind == "request":
                self._actions.append(Settle(entry.id, False, error=str(exc)))
                return False
            if not persist:
                self.outbox.count_overflow(1)
                return False
            raise
        for old in dropped:
            self._actions.append(Forget(old.id))
        if persist:
            self._actions.append(Persist(entry))
        if entry.deadline is not None:
            heapq.heappush(self._deadlines, (entry.deadline, entry.id))
        if link is not None and link.ready:
            self.write(entry, link)
        return True

    def restore(self, entries: list[Outbound], now: float, link: Link | None = None) -> None:
        """Entries a previous page (or a tab that is gone) left in storage, in their order:
        kept, and written at once if ``link`` is ready."""
        for entry in entries:
            if entry.id in self.outbox:
                continue
            self._seq += 1
            entry.seq = self._seq
            entry.written_on = 0
            if entry.kind == "request" and entry.deadline is None:
                entry.deadline = now + (entry.timeout or 0.0)
            self.enqueue(entry, link, persist=False)

    def flush(self, link: Link) -> None:
        """Write everything not yet written on ``link``, in order."""
        for entry in self.outbox:
            if entry.written_on != link.id and link.writable:
                self.write(entry, link)

    def write(self, entry: Outbound, link: Link) -> None:
        after = _AFTER_WRITE[(link.protocol, entry.kind, entry.retained)]
        if after is AfterWrite.REFUSE:
            self._forget(entry)
            self._actions.append(
                Settle(
                    entry.id,
                    False,
                    error=f"request {entry.type} refused: the server speaks protocol v1, which "
                    "does not acknowledge requests (use send(), or a v2 server)",
                )
            )
            return
        entry.written_on = link.id
        wire = entry.wire(link.protocol == 2 or entry.kind == "request")
        link.log.wrote(entry.size + len(wire) - len(entry.text))  # an id tag is ASCII
        self._actions.append(SendText(link.id, wire, entry.id))
        if after is AfterWrite.KEEP:
            return
        if after is AfterWrite.FORGET and not self._warned_untagged:
            self._warned_untagged = True
            logger.warning(
                'send(): a message that is not a JSON object, or has an "id" of its own, '
                "cannot carry a delivery id: it is sent once and not kept until acknowledged "
                '(send an object without "id" to have it delivered exactly once)'
            )
        self._forget(entry)
        link.log.left(entry, self.outbox.limit, self.outbox.max_bytes)

    def write_failed(self, link: Link, outbound_id: str | None, size: int, gone: bool) -> None:
        """``link`` refused a write (it is closing): nothing more is written on it. When its
        socket is already ``gone``, what it refused goes back to the outbox at once."""
        link.writable = False
        if not link.log.refused(outbound_id, size):
            entry = self.outbox.get(outbound_id) if outbound_id else None
            if entry is not None:
                entry.written_on = 0
        if gone:
            self.put_back(link.log.take_failed())

    def link_gone(self, link: Link, unsent: int) -> None:
        """``link``'s socket is gone with ``unsent`` bytes still buffered: what it could not
        send goes back to the outbox, in order."""
        tail, lost = link.log.unsent(unsent)
        self.outbox.count_overflow(lost)
        self.put_back([*tail, *link.log.take_failed()])

    def put_back(self, entries: list[Outbound]) -> None:
        """Return unsent entries to the outbox (and storage); what the bounds drop is forgotten."""
        if not entries:
            return
        for entry in entries:
            entry.written_on = 0
        dropped = {old.id for old in self.outbox.put_back(entries)}
        for entry in entries:
            if entry.id not in dropped:
                self._actions.append(Persist(entry))
        returned = {entry.id for entry in entries}
        for id_ in dropped - returned:
            self._actions.append(Forget(id_))

    def acked(self, id_: str, ok: bool, data: object, error: str | None) -> None:
        entry = self.outbox.remove(id_)
        if entry is None:
            return  # a repeated ack, or one for another page
        self._actions.append(Forget(entry.id))
        if entry.kind == "request":
            self._actions.append(Settle(entry.id, ok, data, error))

    def next_deadline(self) -> float | None:
        heap = self._deadlines
        while heap and heap[0][1] not in self.outbox:
            heapq.heappop(heap)  # settled or dropped already
        return heap[0][0] if heap else None

    def expire(self, now: float) -> None:
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            _, id_ = heapq.heappop(heap)
            entry = self.outbox.get(id_)
            if entry is not None:
                self._forget(entry)
                ms = round((entry.timeout or 0.0) * 1000)
                self._actions.append(
                    Settle(id_, False, error=f"request {entry.type} timed out after {ms} ms")
                )

    def pending_requests(self) -> list[tuple[str, str]]:
        return [(e.id, e.text) for e in self.outbox if e.kind == "request"]

    def _forget(self, entry: Outbound) -> None:
        self.outbox.remove(entry.id)
        self._actions.append(Forget(entry.id))
