"""The durable outbox over a fake Web Storage: what survives a reload, and how a full or blocked
storage degrades to memory without breaking a send or resending what was delivered."""

from __future__ import annotations

import json
import logging

import pytest

from wsclient.durable import DurableOutbox
from wsclient.outbound import Outbound

URL = "ws://example.test/ws"


class FakeStorage:
    """``localStorage`` with a quota in characters (keys + values), like the browser's."""

    def __init__(self, quota: int = 1 << 30) -> None:
        self.items: dict[str, str] = {}
        self.quota = quota
        self.broken = False  # every call throws, as where storage access is revoked

    def _check(self) -> None:
        if self.broken:
            raise RuntimeError("SecurityError: access denied")

    @property
    def length(self) -> int:
        self._check()
        return len(self.items)

    def key(self, index: int) -> str | None:
        self._check()
        keys = list(self.items)
        return keys[index] if index < len(keys) else None

    def getItem(self, key: str) -> str | None:
        self._check()
        return self.items.get(key)

    def setItem(self, key: str, value: str) -> None:
        self._check()
        used = sum(len(k) + len(v) for k, v in self.items.items() if k != key)
        if used + len(key) + len(value) > self.quota:
            raise RuntimeError("QuotaExceededError: the quota has been exceeded")
        self.items[key] = value

    def removeItem(self, key: str) -> None:
        self._check()
        self.items.pop(key, None)


def send(seq: int, size: int = 10) -> Outbound:
    text = json.dumps({"type": "m", "pad": "x" * size})
    return Outbound(f"t-{seq}", seq, "send", text, tagged=True, type="m")


def outbox(storage: FakeStorage | None, wall: float = 1_000.0) -> DurableOutbox:
    return DurableOutbox(URL, storage, lambda: wall)


def test_a_reload_finds_what_was_not_forgotten_in_order() -> None:
    storage = FakeStorage()
    first = outbox(storage)
    for seq in (1, 2, 3):
        first.save(send(seq), now=0.0)
    first.forget("t-2")
    later = outbox(storage, wall=2_000.0)
    assert [e.id for e in later.load(now=0.0)] == ["t-1", "t-3"]


def test_a_request_keeps_its_deadline_across_a_reload() -> None:
    storage = FakeStorage()
    entry = Outbound("t-1", 1, "request", '{"type":"r"}', tagged=True, type="r", timeout=30.0)
    entry.deadline = 130.0  # 30 s after now=100
    outbox(storage, wall=50_000.0).save(entry, now=100.0)
    (loaded,) = outbox(storage, wall=60_000.0).load(now=7.0)  # 10 s later, a new clock
    assert loaded.deadline == pytest.approx(7.0 + 20.0)


def test_a_full_storage_keeps_the_message_in_memory_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A message too big for the quota is not stored (one warning, counted); smaller ones still
    are, and acks still remove what was stored: the next page resends nothing delivered."""
    storage = FakeStorage(quota=2_000)
    durable = outbox(storage)
    with caplog.at_level(logging.WARNING, logger="wsclient"):
        durable.save(send(1), now=0.0)
        durable.save(send(2, size=5_000), now=0.0)
        durable.save(send(3, size=5_000), now=0.0)
        durable.save(send(4), now=0.0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "memory only" in warnings[0]
    assert "QuotaExceededError: the quota has been exceeded" in warnings[0]
    assert durable.unsaved == 2 and durable.available
    durable.forget("t-1")  # delivered
    assert [e.id for e in outbox(storage).load(now=0.0)] == ["t-4"]
    durable.forget("t-4")
    assert storage.items == {}


def test_a_failed_save_removes_an_older_copy_of_the_same_entry() -> None:
    """A message put back after a failed write is saved again; if that save fails, the copy
    stored earlier (with an older place in the queue) must not come back on its own."""
    storage = FakeStorage(quota=400)
    durable = outbox(storage)
    entry = send(1)
    durable.save(entry, now=0.0)
    storage.quota = 10
    durable.save(entry, now=0.0)
    assert storage.items == {}


def test_blocked_storage_means_memory_only_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="wsclient"):
        durable = DurableOutbox(URL, None, lambda: 0.0, why="SecurityError: blocked")
        durable.save(send(1), now=0.0)
        durable.forget("t-1")
        assert durable.load(now=0.0) == []
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "SecurityError: blocked" in warning and "memory only" in warning
    assert not durable.available


def test_storage_that_starts_throwing_is_given_up_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = FakeStorage()
    durable = outbox(storage)
    durable.save(send(1), now=0.0)
    storage.broken = True
    with caplog.at_level(logging.WARNING, logger="wsclient"):
        durable.forget("t-1")
        durable.save(send(2), now=0.0)
        durable.forget("t-2")
        assert durable.load(now=0.0) == []
    assert len(caplog.records) == 1 and not durable.available


def test_unreadable_entries_are_removed_and_the_rest_load() -> None:
    storage = FakeStorage()
    durable = outbox(storage)
    durable.save(send(1), now=0.0)
    storage.items[f"wsclient:outbox:{URL}:junk"] = "{not json"
    storage.items["wsclient:outbox:ws://other/ws:t-9"] = "{}"  # another server's: left alone
    assert [e.id for e in outbox(storage).load(now=0.0)] == ["t-1"]
    assert f"wsclient:outbox:{URL}:junk" not in storage.items
    assert "wsclient:outbox:ws://other/ws:t-9" in storage.items
