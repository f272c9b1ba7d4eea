"""Project streams: each subscribed project's position, its recovery and its sync status.

Theory of operation
-------------------
A v2 server numbers each project's events (``offset``, +1 per event) within an ``epoch``. A
`Stream` remembers the last offset applied, so that a reconnect can ask for what was missed
(``subscribe`` with ``since``) and an event is never applied twice. `Streams` holds one per
locally subscribed project (and its subscriber count) and answers the connection's questions:
what to send when subscribing, whether to deliver an event, what a ``subscribed`` reply or a
snapshot means, which projects lost events for good (they need a ``resync``).

Sync status changes only through ``_SYNC`` below (an event the table does not list leaves the
status as it is):

============  ================================================================================
live          applied in order since the last subscribe was answered
recovering    subscribed across a reconnect (or a gap): waiting for ``subscribed`` + replay
reset         the last recovery came from a snapshot (events of the gap were not replayed)
stale         events may be missing and cannot be recovered (a v1 server, or an unusable
              replay): the page is told to ``resync`` the project
============  ================================================================================

What belongs to one socket (the reply deadline, the replay target, a pending snapshot or gap
resubscribe) lives in a `_Pending` record that is replaced when the socket goes, so no reset can
forget a field.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from enum import Enum
from typing import Final, Literal, TypeAlias

from .actions import Action, Resync
from .envelope import SubscribedFrame
from .link import Link

logger = logging.getLogger("wsclient")

#: Sync status of a subscribed project (docs/protocol.md, "Project streams").
SyncStatus: TypeAlias = Literal["live", "recovering", "reset", "stale"]


class SyncEvent(Enum):
    RESUBSCRIBED = "resubscribed across a reconnect"
    GAP = "gap in the live stream"
    NOT_RECOVERED = "no recovery from the server"  # v1 server, or no reply in time
    UNUSABLE_REPLAY = "replay from a position not held"
    FIRST_SNAPSHOT = "first snapshot"
    SNAPSHOT = "snapshot"
    CAUGHT_UP = "replay complete"


_V = SyncEvent
#: status -> {event: next status}; events not listed change nothing.
_SYNC: Final[dict[SyncStatus, dict[SyncEvent, SyncStatus]]] = {
    "live": {
        _V.RESUBSCRIBED: "recovering",
        _V.GAP: "recovering",
        _V.UNUSABLE_REPLAY: "stale",
        _V.SNAPSHOT: "reset",
        _V.FIRST_SNAPSHOT: "live",
    },
    "reset": {
        _V.RESUBSCRIBED: "recovering",
        _V.GAP: "recovering",
        _V.UNUSABLE_REPLAY: "stale",
        _V.SNAPSHOT: "reset",
        _V.FIRST_SNAPSHOT: "live",
    },
    "recovering": {
        _V.RESUBSCRIBED: "recovering",
        _V.GAP: "recovering",
        _V.NOT_RECOVERED: "stale",
        _V.UNUSABLE_REPLAY: "stale",
        _V.SNAPSHOT: "reset",
        _V.FIRST_SNAPSHOT: "live",
        _V.CAUGHT_UP: "live",
    },
    "stale": {
        _V.RESUBSCRIBED: "recovering",
        _V.GAP: "recovering",
        _V.SNAPSHOT: "reset",
        _V.FIRST_SNAPSHOT: "live",
        _V.CAUGHT_UP: "live",  # its reply came late after all
    },
}


class _Pending:
    """What one socket is waiting for on a stream; replaced when the socket goes."""

    __slots__ = ("refetched", "reply_due", "resubscribing", "snapshot_due", "target")

    def __init__(self) -> None:
        self.reply_due: float | None = None  # a subscribe awaits ``subscribed`` until then
        self.target: int | None = None  # a replay runs up to this offset
        self.snapshot_due = False  # ``subscribed`` said a snapshot follows
        self.resubscribing = False  # a gap: a subscribe with ``since`` is out on this socket
        self.refetched = False  # asked afresh after an unusable replay (once per socket)


class Stream:
    """One subscribed project's position and sync status."""

    __slots__ = ("announced", "epoch", "first", "offset", "pending", "status")

    def __init__(self) -> None:
        self.epoch: str | None = None
        self.offset: int | None = None  # the last offset applied
        self.status: SyncStatus = "live"
        self.first = True  # no subscribe has been answered yet: its snapshot is not a reset
        self.announced = False  # a subscribe was sent on some socket
        self.pending = _Pending()


class Streams:
    """Every locally subscribed project: subscriber counts, positions, recovery, sync status.

    The methods that take a ``link`` write the frames they mean on it and put a ``Resync``
    action on the list they share with the session for every project whose events are lost
    for good; the others answer questions and return what they found. ``version`` grows
    whenever a status changes (or a project comes or goes), so a publisher can skip work.
    """

    def __init__(self, reply_timeout: float, actions: list[Action] | None = None) -> None:
        self.reply_timeout = reply_timeout
        self._actions: list[Action] = actions if actions is not None else []
        self.version = 0
        self.duplicates = 0  # events dropped because their offset was already applied
        self._counts: dict[str, int] = {}
        self._streams: dict[str, Stream] = {}
        self.reply_deadline: float | None = None  # the earliest ``_Pending.reply_due``

    # -- who is subscribed -----------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Projects and their local subscriber counts, in first-subscribed order (a copy)."""
        return dict(self._counts)

    def __contains__(self, project_id: object) -> bool:
        return project_id in self._streams

    def __iter__(self) -> Iterator[str]:
        return iter(self._streams)

    def statuses(self) -> dict[str, SyncStatus]:
        return {project: stream.status for project, stream in self._streams.items()}

    def positions(self) -> dict[str, tuple[str, int]]:
        """``project -> (epoch, offset)`` for every project with a known position."""
        return {
            p: (s.epoch, s.offset)
            for p, s in self._streams.items()
            if s.epoch is not None and s.offset is not None
        }

    def add(self, project_id: str) -> bool:
        """One more local subscriber; True for the first (a new stream)."""
        count = self._counts.get(project_id, 0)
        self._counts[project_id] = count + 1
        if count:
            return False
        self._streams[project_id] = Stream()
        self.version += 1
        return True

    def remove(self, project_id: str) -> bool | None:
        """One local subscriber fewer: True when it was the last (the position is forgotten),
        False when others remain, None when there was none."""
        count = self._counts.get(project_id, 0)
        if count == 0:
            return None
        if count > 1:
            self._counts[project_id] = count - 1
            return False
        del self._counts[project_id]
        del self._streams[project_id]
        self.version += 1
        self._update_reply_deadline()
        return True

    # -- on the connection's link -------------------------------------------------------------

    def subscribe(self, project_id: str, link: Link | None, now: float) -> None:
        """One more local subscriber; the first one subscribes on ``link`` (the usable link, if
        there is one)."""
        if self.add(project_id) and link is not None:
            self.subscribe_on(link, project_id, now)

    def unsubscribe(self, project_id: str, link: Link | None) -> bool:
        """One local subscriber fewer; the last one unsubscribes on ``link`` (if the project was
        subscribed on it). False when there was no subscriber."""
        last = self.remove(project_id)
        if last and link is not None and project_id in link.subscribed:
            link.subscribed.discard(project_id)
            link.send(json.dumps({"type": "unsubscribe", "project_id": project_id}))
        return last is not None

    def subscribe_on(self, link: Link, project_id: str, now: float) -> None:
        link.subscribed.add(project_id)
        link.send(self.subscribe_text(project_id, now))

    def link_usable(self, link: Link, now: float) -> None:
        """A new link is usable: subscribe every project on it (see `reopened`)."""
        for project_id in self.reopened():
            self.subscribe_on(link, project_id, now)

    def protocol_known(self, protocol: int) -> None:
        """On a v1 server, recovering projects are stale (see `not_recovering`)."""
        if protocol == 1:
            self._resync(self.not_recovering())

    def reply(self, link: Link, frame: SubscribedFrame, now: float) -> None:
        """A ``subscribed`` reply on ``link`` (see `subscribed`)."""
        outcome = self.subscribed(frame.project_id, frame.epoch, frame.offset, frame.recovered)
        if outcome == "refetch":
            self.subscribe_on(link, frame.project_id, now)
        elif outcome == "resync":
            self._resync([frame.project_id])

    def expire(self, now: float) -> None:
        """Replies overdue by ``now`` (see `replies_overdue`)."""
        if self.reply_deadline is not None and self.reply_deadline <= now:
            self._resync(self.replies_overdue(now))

    def _resync(self, project_ids: list[str]) -> None:
        self._actions.extend(Resync(project_id) for project_id in project_ids)

    # -- what to send ----------------------------------------------------------------------

    def subscribe_text(self, project_id: str, now: float) -> str:
        """The ``subscribe`` frame for ``project_id`` (with ``since`` when a position is held);
        its ``subscribed`` reply is due within the reply timeout."""
        stream = self._streams[project_id]
        message: dict[str, object] = {"type": "subscribe", "project_id": project_id}
        if stream.epoch is not None and stream.offset is not None:
            message["since"] = {"epoch": stream.epoch, "offset": stream.offset}
        stream.announced = True
        stream.pending.reply_due = now + self.reply_timeout
        self._update_reply_deadline()
        return json.dumps(message)

    def reopened(self) -> list[str]:
        """A new connection is up: every project to subscribe, in order; those subscribed
        before may have missed events (they are recovering)."""
        for stream in self._streams.values():
            if stream.announced:
                self._apply(stream, _V.RESUBSCRIBED)
        return list(self._streams)

    def socket_gone(self) -> None:
        """The socket went: what it was waiting for is void."""
        for stream in self._streams.values():
            stream.pending = _Pending()
        self.reply_deadline = None

    # -- what came back ----------------------------------------------------------------------

    def not_recovering(self) -> list[str]:
        """The server does not recover streams (v1): recovering projects become stale."""
        lost = []
        for project_id, stream in self._streams.items():
            stream.pending.reply_due = None
            if stream.status == "recovering":
                self._apply(stream, _V.NOT_RECOVERED)
                lost.append(project_id)
        self.reply_deadline = None
        return lost

    def replies_overdue(self, now: float) -> list[str]:
        """Subscribes whose ``subscribed`` did not come in time: the server does not recover
        streams; those that were recovering are stale."""
        lost = []
        for project_id, stream in self._streams.items():
            due = stream.pending.reply_due
            if due is not None and due <= now:
                stream.pending.reply_due = None
                if stream.status == "recovering":
                    self._apply(stream, _V.NOT_RECOVERED)
                    lost.append(project_id)
        self._update_reply_deadline()
        return lost

    def subscribed(
        self, project_id: str, epoch: str, offset: int, recovered: bool
    ) -> Literal["ok", "refetch", "resync"]:
        """A ``subscribed`` reply. "refetch": subscribe again without ``since`` (a replay from a
        position this client does not hold); "resync": events are lost for good."""
        stream = self._streams.get(project_id)
        if stream is None:
            return "ok"
        pending = stream.pending
        pending.reply_due = None
        pending.resubscribing = False
        self._update_reply_deadline()
        outcome: Literal["ok", "refetch", "resync"] = "ok"
        if recovered and stream.offset is not None and stream.epoch == epoch:
            pending.target = offset
            self._caught_up(stream)
        elif recovered:
            logger.warning(
                "project %r: the server replays from a position this client does not hold",
                project_id,
            )
            stream.epoch = stream.offset = None
            if not pending.refetched:
                pending.refetched = True
                pending.snapshot_due = True
                return "refetch"  # a v2 server answers a plain subscribe with a snapshot
            stream.offset = offset
            pending.snapshot_due = False
            self._apply(stream, _V.UNUSABLE_REPLAY)
            outcome = "resync"
        else:
            pending.snapshot_due = True
        stream.epoch = epoch
        return outcome

    def snapshot(self, project_id: str, offset: int | None) -> bool:
        """A snapshot replaces the project: True to deliver it (False if not subscribed)."""
        stream = self._streams.get(project_id)
        if stream is None:
            return False
        stream.offset = offset
        stream.pending.snapshot_due = False
        stream.pending.target = None
        self._apply(stream, _V.FIRST_SNAPSHOT if stream.first else _V.SNAPSHOT)
        stream.first = False
        return True

    def event(self, project_id: str, offset: int | None, recovering: bool) -> str:
        """A project event: "deliver", "drop" (a duplicate, or held back for a snapshot or a
        gap's replay), or "gap" (drop it and resubscribe from the last offset; only when the
        server ``recovering`` streams can fill it)."""
        if offset is None:
            return "deliver"
        stream = self._streams.get(project_id)
        if stream is None:
            return "deliver"  # not tracked: no local subscriber
        if stream.pending.snapshot_due:
            return "drop"  # the snapshot that follows replaces it
        last = stream.offset
        if last is None or offset == last + 1:
            stream.offset = offset
            if stream.pending.target is not None:
                self._caught_up(stream)
            return "deliver"
        if offset <= last:
            self.duplicates += 1
            return "drop"
        if stream.pending.resubscribing or not recovering:
            return "drop"
        logger.warning(
            "project %r: offset %d after %d, a gap: resubscribing from %d",
            project_id,
            offset,
            last,
            last,
        )
        stream.pending.resubscribing = True
        self._apply(stream, _V.GAP)
        return "gap"

    # -- internals ---------------------------------------------------------------------------

    def _apply(self, stream: Stream, event: SyncEvent) -> None:
        status = _SYNC[stream.status].get(event, stream.status)
        if status != stream.status:
            stream.status = status
            self.version += 1

    def _caught_up(self, stream: Stream) -> None:
        """A replay is through once the stream reaches the offset ``subscribed`` announced."""
        target = stream.pending.target
        if target is not None and stream.offset is not None and stream.offset >= target:
            stream.pending.target = None
            stream.first = False
            self._apply(stream, _V.CAUGHT_UP)

    def _update_reply_deadline(self) -> None:
        dues = [
            s.pending.reply_due for s in self._streams.values() if s.pending.reply_due is not None
        ]
        self.reply_deadline = min(dues) if dues else None
