"""Acknowledged client messages (protocol v2): apply each id once, answer repeats the same way.

A client message with a string `id` (other than subscribe/unsubscribe/ping) is a request. The
ledger decides its ack through the policy, records it as applied when accepted, and remembers the
ack (accepted or rejected) for `window` seconds so a retry after a reconnect gets the same `id` and
`ok` without being applied again. No I/O and no clock reads: callers pass `now`.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

from .records import Applied


class Hold(enum.Enum):
    HOLD = "hold"


#: An ack policy returning this never answers the message (and neither applies nor remembers it,
#: so a retry asks the policy again).
HOLD: Final = Hold.HOLD

#: fn(message) -> None (accept), an error text (reject) or HOLD (no answer); runs on the loop.
AckPolicy = Callable[[dict[str, Any]], str | Hold | None]

#: Types that are never acknowledged: the stream and liveness messages.
UNACKED_TYPES: Final = frozenset({"subscribe", "unsubscribe", "ping"})


def request_id(message: dict[str, Any]) -> str | None:
    """The id that makes `message` an acknowledged request, or None."""
    msg_id = message.get("id")
    if isinstance(msg_id, str) and message.get("type") not in UNACKED_TYPES:
        return msg_id
    return None


class AckLedger:
    """Ids answered in the last `window` seconds, and every message applied."""

    def __init__(self, window: float) -> None:
        if window < 0:
            raise ValueError("the dedup window must not be negative")
        self.window = window
        self.applied: list[Applied] = []
        self._answered: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    def answer(
        self, msg_id: str, message: dict[str, Any], now: float, policy: AckPolicy | None
    ) -> tuple[dict[str, Any] | None, bool]:
        """The ack for `message` (None: hold it) and whether it repeats an earlier answer."""
        self._expire(now)
        known = self._answered.get(msg_id)
        if known is not None:
            return dict(known[1]), True
        verdict = None if policy is None else _ask(policy, message)
        if verdict is HOLD:
            return None, False
        ack: dict[str, Any] = {"type": "ack", "id": msg_id}
        if verdict is None:
            self.applied.append(Applied(msg_id, message, now))
            ack.update(ok=True, data={"type": message.get("type")})
        else:
            ack.update(ok=False, error=verdict)
        self._answered[msg_id] = (now, ack)
        return dict(ack), False

    def clear(self) -> None:
        self.applied.clear()
        self._answered.clear()

    def _expire(self, now: float) -> None:
        horizon = now - self.window
        while self._answered:
            msg_id, (t, _) = next(iter(self._answered.items()))
            if t >= horizon:
                break
            del self._answered[msg_id]


def _ask(policy: AckPolicy, message: dict[str, Any]) -> str | Hold | None:
    # A broken policy is a test bug; answering with its error makes it visible in the client.
    try:
        verdict = policy(message)
    except Exception as exc:
        return f"ack policy failed: {exc!r}"
    if verdict is None or verdict is HOLD or isinstance(verdict, str):
        return verdict
    return f"ack policy returned {verdict!r}"
