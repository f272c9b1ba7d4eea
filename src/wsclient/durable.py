"""The durable outbox: the outbox's entries in Web Storage, so that a reload loses nothing.

One key per entry (``wsclient:outbox:<url>:<id>``): a send costs one small ``setItem`` and its
ack one ``removeItem``, never a rewrite of the whole queue. ``localStorage`` was chosen over
IndexedDB because it is synchronous: an entry is stored before ``send()`` returns, so a reload
right after it cannot lose it (bench/results/STORAGE.md has the figures).

Storage can fail in two ways, and neither may break a send:

- **Unavailable** (a private window or sandboxed frame where touching storage throws): one
  warning, and the outbox lives in memory only for the rest of the page.
- **Full** (``setItem`` throws ``QuotaExceededError``): that entry stays in memory only (the
  first time with a warning, then at debug level). Storage stays in use: later entries are
  saved when they fit, and every acknowledged entry is still removed, so nothing already
  delivered is sent again by the next page.

Pure Python: the browser adapter hands over ``window.localStorage`` and a wall clock; the unit
tests hand over a dict.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from .outbound import Outbound

log = logging.getLogger("wsclient")


def _reason(exc: BaseException) -> str:
    """One line on what storage threw: the DOMException's own text where a JS error was
    wrapped ("... Its toString returns \"\"\"QuotaExceededError: ...\"\"\"")."""
    text = str(exc)
    quoted = text.split('"""')
    return quoted[1] if len(quoted) >= 3 else text.splitlines()[0] if text else type(exc).__name__


class Storage(Protocol):
    """The part of the Web Storage API this module uses."""

    @property
    def length(self) -> int: ...

    def key(self, index: int) -> str | None: ...

    def getItem(self, key: str) -> str | None: ...

    def setItem(self, key: str, value: str) -> None: ...

    def removeItem(self, key: str) -> None: ...


class DurableOutbox:
    """The entries of one server URL's outbox in ``storage`` (None: storage is unavailable, and
    ``why`` says why). ``wall_ms()`` is the wall clock in milliseconds (``Date.now``): request
    deadlines are stored as wall times, since the monotonic clock starts again on each page."""

    def __init__(
        self,
        url: str,
        storage: Storage | None,
        wall_ms: Callable[[], float],
        *,
        why: str = "no storage",
    ) -> None:
        self._prefix = f"wsclient:outbox:{url}:"
        self._wall_ms = wall_ms
        self._page = int(wall_ms())  # orders this page's entries after older pages'
        self._storage = storage
        #: How many entries could not be stored (kept in memory only; the first is warned of).
        self.unsaved = 0
        if storage is None:
            self._warn_unavailable(why)

    @property
    def available(self) -> bool:
        return self._storage is not None

    def _warn_unavailable(self, why: object) -> None:
        log.warning(
            "durable outbox unavailable (%s): queued messages are kept in memory only and will "
            "not survive a reload",
            why,
        )

    def _lost_storage(self, exc: BaseException) -> None:
        if self._storage is not None:
            self._storage = None
            self._warn_unavailable(_reason(exc))

    def save(self, entry: Outbound, now: float) -> None:
        """Store ``entry`` (``now`` is the monotonic time its deadline is relative to)."""
        storage = self._storage
        if storage is None:
            return
        record: dict[str, Any] = {
            "order": [self._page, entry.seq],
            "kind": entry.kind,
            "type": entry.type,
            "text": entry.text,
            "tagged": entry.tagged,
            "timeout": entry.timeout,
            "expires": None
            if entry.deadline is None
            else self._wall_ms() + (entry.deadline - now) * 1000.0,
        }
        try:
            storage.setItem(self._prefix + entry.id, json.dumps(record))
        except Exception as exc:  # QuotaExceededError (or storage revoked)
            self.unsaved += 1
            log.log(
                logging.DEBUG if self.unsaved > 1 else logging.WARNING,
                "durable outbox: could not store a message of %d bytes (%s); it is kept in memory "
                "only and will not survive a reload",
                entry.size,
                _reason(exc),
            )
            try:
                storage.removeItem(self._prefix + entry.id)  # an older copy must not outlive it
            except Exception as exc2:
                self._lost_storage(exc2)

    def forget(self, id: str) -> None:
        """Remove entry ``id`` (acknowledged, written as fire-and-forget, or dropped)."""
        storage = self._storage
        if storage is not None:
            try:
                storage.removeItem(self._prefix + id)
            except Exception as exc:
                self._lost_storage(exc)

    def load(self, now: float) -> list[Outbound]:
        """What earlier pages left for this URL, oldest first; unreadable entries are removed."""
        storage = self._storage
        if storage is None:
            return []
        found: list[tuple[list[int], Outbound]] = []
        wall = float(self._wall_ms())
        try:
            keys = [storage.key(i) for i in range(storage.length)]
            for key in keys:
                if key is None or not key.startswith(self._prefix):
                    continue
                try:
                    record = json.loads(storage.getItem(key) or "")
                    entry = Outbound(
                        key[len(self._prefix) :],
                        0,
                        record["kind"],
                        record["text"],
                        tagged=bool(record["tagged"]),
                        type=record["type"],
                        timeout=record["timeout"],
                    )
                    if record["expires"] is not None:
                        entry.deadline = now + (float(record["expires"]) - wall) / 1000.0
                    found.append((list(record["order"]), entry))
                except (TypeError, ValueError, KeyError) as exc:
                    log.warning("dropping an unreadable outbox entry %s: %s", key, exc)
                    storage.removeItem(key)
        except Exception as exc:
            self._lost_storage(exc)
            return []
        found.sort(key=lambda item: item[0])
        return [entry for _, entry in found]
