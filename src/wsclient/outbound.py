"""The bounded queue of messages sent while the connection is down."""

from __future__ import annotations

import logging
from collections import deque

logger = logging.getLogger("wsclient")


class OutboundQueue:
    """Texts waiting for a connection, oldest first, at most ``limit`` of them.

    When full, ``push`` drops the oldest text and counts it in ``overflow``: the newest state of
    the page is worth more than the oldest. The first drop of each overflow episode (until the next
    ``drain``) is logged as a warning, so a page that floods the queue does not flood the log.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the queue limit must be at least 1, got {limit}")
        self.limit = limit
        self.overflow = 0
        self._texts: deque[str] = deque()
        self._overflowing = False

    def __len__(self) -> int:
        return len(self._texts)

    def push(self, text: str) -> None:
        """Queue ``text``; drop (and count) the oldest text if the queue is full."""
        if len(self._texts) >= self.limit:
            self._texts.popleft()
            self.overflow += 1
            if not self._overflowing:
                self._overflowing = True
                logger.warning("outbound queue full (%d messages): dropping the oldest", self.limit)
        self._texts.append(text)

    def drain(self) -> list[str]:
        """Remove and return every queued text, oldest first."""
        texts = list(self._texts)
        self._texts.clear()
        self._overflowing = False
        return texts
