"""The outbox: every message handed to ``send()`` or ``request()`` until it is safe to forget.

An `Outbound` is one message with a delivery ``id`` (unique for this browser: the session's
random prefix plus a counter). It stays in the `Outbox` until:

- a v2 server acknowledges its id (``ack``), or
- it was written on a v1 connection as a fire-and-forget send (then only the socket's
  ``bufferedAmount`` at close can bring it back, see ``core.Session``), or
- it is a request whose timeout passed, or
- it is dropped because the outbox is full.

The outbox keeps creation order, whatever happens: a message brought back after a failed write
goes back in its original place, so every connection sends in the order the page handed over.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Iterator
from typing import Literal, TypeAlias

logger = logging.getLogger("wsclient")

Kind: TypeAlias = Literal["send", "request"]

#: An empty JSON object, whitespace inside allowed: its id tag takes no comma.
_EMPTY_OBJECT = re.compile(r"\{[ \t\n\r]*\}[ \t\n\r]*\Z")


class Outbound:
    """One outbound message. ``text`` is its JSON without the delivery id; ``tagged`` says
    whether the id can go on the wire (a JSON object that has no ``id`` of its own)."""

    __slots__ = (
        "deadline",
        "id",
        "kind",
        "seq",
        "size",
        "tagged",
        "text",
        "timeout",
        "type",
        "written_on",
    )

    def __init__(
        self,
        id: str,
        seq: int,
        kind: Kind,
        text: str,
        *,
        tagged: bool,
        type: str | None = None,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> None:
        self.id = id
        self.seq = seq
        self.kind = kind
        self.text = text
        self.size = len(text.encode())  # UTF-8 bytes, for ``max_queue_bytes``
        self.tagged = tagged
        self.type = type
        self.timeout = timeout
        self.deadline = deadline
        self.written_on = 0  # the socket it was last written on (0: none)

    def wire(self, with_id: bool) -> str:
        """The text to send: with ``"id"`` as its first member when ``with_id`` and tagged."""
        if not (with_id and self.tagged):
            return self.text
        tag = f'{{"id":"{self.id}"'
        text = self.text
        return tag + text[1:] if _EMPTY_OBJECT.match(text) else tag + "," + text[1:]

    @property
    def retained(self) -> bool:
        """Kept until acknowledged on a v2 connection (a tagged send or any request)."""
        return self.tagged or self.kind == "request"

    def __repr__(self) -> str:
        return f"Outbound({self.id!r}, {self.kind}, {self.text!r})"


class QueueFull(Exception):
    """The outbox cannot keep a new message: it is full of requests, or the message alone is
    larger than ``max_queue_bytes``."""


def too_large(size: int, limit: int) -> str:
    """What a message of ``size`` UTF-8 bytes over ``max_queue_bytes`` (``limit``) is told
    (the page API says the same before the text crosses into Python)."""
    return (
        f"a message of {size} bytes is larger than max_queue_bytes ({limit}): "
        "send it in parts, or raise max_queue_bytes"
    )


class Outbox:
    """Outbound messages in creation order: at most ``limit`` of them and ``max_bytes`` of text.

    When full, ``add`` drops the oldest *sends* (counted in ``overflow``, the first drop of each
    overflow episode logged): the newest state of the page is worth more than the oldest. A
    request is never dropped to make room; if only requests are left, ``add`` raises `QueueFull`.
    """

    def __init__(self, limit: int, max_bytes: int = 1 << 62) -> None:
        if limit < 1:
            raise ValueError(f"the queue limit must be at least 1, got {limit}")
        self.limit = limit
        self.max_bytes = max_bytes
        self.overflow = 0
        self.bytes = 0
        self._entries: dict[str, Outbound] = {}
        self._overflowing = False

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Outbound]:
        """The entries in creation order (a copy: the outbox may change while iterating)."""
        return iter(list(self._entries.values()))

    def __contains__(self, id: object) -> bool:
        return id in self._entries

    def get(self, id: str) -> Outbound | None:
        return self._entries.get(id)

    def add(self, entry: Outbound) -> list[Outbound]:
        """Keep ``entry`` last; return the sends dropped to make room (oldest first). Raises
        `QueueFull`, changing nothing, when dropping every send would not make room."""
        count, size = len(self._entries) + 1, self.bytes + entry.size
        dropped: list[Outbound] = []
        if entry.size > self.max_bytes:  # stored under a larger limit, say
            raise QueueFull(too_large(entry.size, self.max_bytes))
        if count > self.limit or size > self.max_bytes:
            dropped, fits = self._oldest_sends_over(count, size)
            if not fits:
                raise QueueFull(
                    f"the outbox is full of unacknowledged requests ({len(self._entries)} "
                    f"messages, {self.bytes} bytes; max_queue {self.limit}, max_queue_bytes "
                    f"{self.max_bytes}): wait for some to settle, or raise the limits"
                )
            for old in dropped:
                self.remove(old.id)
            self.count_overflow(len(dropped))
        self._entries[entry.id] = entry
        self.bytes += entry.size
        return dropped

    def put_back(self, entries: list[Outbound]) -> list[Outbound]:
        """Return entries that had left the outbox (unsent after all) to their original places.
        If that puts the outbox over either bound, the oldest sends are dropped as in ``add``
        (counted; a request is never dropped): they are returned, oldest first."""
        if not entries:
            return []
        merged = [*self._entries.values(), *entries]
        merged.sort(key=lambda e: e.seq)
        self._entries = {e.id: e for e in merged}
        self.bytes = sum(e.size for e in merged)
        dropped, _ = self._oldest_sends_over(len(merged), self.bytes)
        for old in dropped:
            self.remove(old.id)
        self.count_overflow(len(dropped))
        return dropped

    def _oldest_sends_over(self, count: int, size: int) -> tuple[list[Outbound], bool]:
        """The oldest sends whose removal brings ``count`` entries of ``size`` bytes within both
        bounds, and whether it does (requests are never among them)."""
        dropped: list[Outbound] = []
        for old in self._entries.values():
            if count <= self.limit and size <= self.max_bytes:
                break
            if old.kind == "send":
                dropped.append(old)
                count -= 1
                size -= old.size
        return dropped, count <= self.limit and size <= self.max_bytes

    def count_overflow(self, lost: int) -> None:
        """Count ``lost`` sends dropped for a bound; the first drop of an episode is logged."""
        if lost <= 0:
            return
        self.overflow += lost
        if not self._overflowing:
            self._overflowing = True
            logger.warning(
                "outbound queue full (max_queue %d messages, max_queue_bytes %d): "
                "dropping the oldest",
                self.limit,
                self.max_bytes,
            )

    def remove(self, id: str) -> Outbound | None:
        entry = self._entries.pop(id, None)
        if entry is not None:
            self.bytes -= entry.size
        if not self._entries:
            self._overflowing = False
        return entry


class WireLog:
    """What one socket was given to write, so that its ``bufferedAmount`` at close can say which
    fire-and-forget sends never left this machine. Made with the socket, dropped with it.

    Every frame written counts in ``sent_bytes`` (UTF-8), and each fire-and-forget send is kept
    in ``written`` with the byte count at its end, so control frames and retained messages in
    the buffer are never taken for a send. ``written`` is bounded like the outbox; where the
    newest sends trimmed off it ended is kept in ``trimmed``: if the buffer reaches into them at
    close they were lost, and are counted as overflow.
    """

    __slots__ = ("failed", "sent_bytes", "trimmed", "written", "written_bytes")

    def __init__(self) -> None:
        self.sent_bytes = 0
        self.written: list[tuple[int, Outbound]] = []  # (sent_bytes at its end, the send)
        self.written_bytes = 0
        self.trimmed: deque[int] = deque(maxlen=64)
        self.failed: list[Outbound] = []  # fire-and-forget sends the socket refused

    def wrote(self, size: int) -> None:
        """A frame of ``size`` UTF-8 bytes was handed to the socket."""
        self.sent_bytes += size

    def left(self, entry: Outbound, limit: int, max_bytes: int) -> None:
        """``entry`` (just written) left the outbox: only this log can bring it back."""
        self.written.append((self.sent_bytes, entry))
        self.written_bytes += entry.size
        while len(self.written) > limit or self.written_bytes > max_bytes:
            end, old = self.written.pop(0)
            self.written_bytes -= old.size
            self.trimmed.append(end)

    def refused(self, outbound_id: str | None, size: int) -> bool:
        """The socket refused a write of ``size`` bytes; True if it was a logged send (it is
        then in ``failed``)."""
        self.sent_bytes -= size  # never written: not in bufferedAmount either
        for item in self.written[::-1]:
            if item[1].id == outbound_id:
                self.written.remove(item)
                self.written_bytes -= item[1].size
                self.failed.append(item[1])
                return True
        return False

    def unsent(self, unsent: int) -> tuple[list[Outbound], int]:
        """The sends whose last byte was still among the ``unsent`` buffered bytes at close, in
        order, and how many trimmed sends were lost with them. Forgets them."""
        if unsent <= 0:
            return [], 0
        left = self.sent_bytes - unsent  # bytes that did leave
        tail: list[Outbound] = []
        for end, entry in reversed(self.written):
            if end <= left:
                break
            tail.append(entry)
        tail.reverse()
        lost = sum(1 for end in self.trimmed if end > left)
        self.written, self.written_bytes = [], 0
        self.trimmed.clear()  # asked again (a second report of the close), nothing is counted twice
        return tail, lost

    def take_failed(self) -> list[Outbound]:
        failed, self.failed = self.failed, []
        return failed
