"""Invariants of the connection core over random sequences of inputs (hypothesis)."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_core_harness import FakeBrowser

from wsclient.actions import OpenSocket, SendText
from wsclient.core import State
from wsclient.options import Options

OPTIONS = Options(max_queue=4)
PROJECTS = ("a", "b", "c")
CLOSE_CODES = (1000, 1001, 1006, 1008, 1011, 1012, 4000, 4401, 4500)

steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["connect", "disconnect", "opened", "error", "frame"])),
        st.tuples(st.sampled_from(["connect", "opened"])),  # so that most runs get connected
        st.tuples(st.just("closed"), st.sampled_from(CLOSE_CODES)),
        st.tuples(st.just("advance"), st.floats(0, 40)),
        st.tuples(st.sampled_from(["subscribe", "unsubscribe"]), st.sampled_from(PROJECTS)),
        st.tuples(st.sampled_from(["send", "offline", "online", "hidden", "visible", "stale"])),
    ),
    max_size=60,
)


class Checked(FakeBrowser):
    """The fake browser plus the bookkeeping the invariants need."""

    def __init__(self, seed: int) -> None:
        super().__init__(OPTIONS, random=random.Random(seed).random)
        self.sends = 0
        self.stopped = True  # disconnected by the user (or never connected)
        self.active: Counter[str] = Counter()

    def apply(self, step: tuple[Any, ...]) -> None:
        name, *args = step
        core = self.core
        if name == "connect":
            self.stopped = False
            self.connect()
        elif name == "disconnect":
            self.stopped = True
            self.disconnect()
        elif name in ("opened", "closed", "error", "frame"):
            socket_id = core.socket_id
            if socket_id is None:
                return  # the browser only reports events a real socket could have
            if (name == "opened" and socket_id in self.open) or (
                name == "frame" and socket_id not in self.open
            ):
                return
            if name == "closed" or name == "error":
                getattr(self, name)(*args)
            else:
                getattr(self, name)()
        elif name == "advance":
            self.advance(args[0])
        elif name == "subscribe":
            self.active[args[0]] += 1
            self.subscribe(args[0])
        elif name == "unsubscribe":
            if self.active[args[0]]:
                self.active[args[0]] -= 1
            self.unsubscribe(args[0])
        elif name == "send":
            self.send(json.dumps({"type": "app", "n": self.sends}))
            self.sends += 1
        elif name == "stale":
            if core.socket_id is not None and core.socket_id > 1:
                core.socket_closed(core.socket_id - 1, 1006, "", self.now)
                core.frame_received(core.socket_id - 1, self.now)
        else:
            getattr(self, name)()


def check_invariants(b: Checked, retry_seen: set[float]) -> None:
    core = b.core
    # At most one socket alive (FakeBrowser.pump also checks it at every action).
    assert len(b.alive) <= 1
    # One deadline, never in the past.
    assert core.next_deadline is None or core.next_deadline >= b.now
    # The driver's one timer is never later than it (earlier is harmless: the wake re-arms).
    if core.next_deadline is not None:
        assert b.port.timer_at is not None and b.port.timer_at <= core.next_deadline
    # Every retry delay within [0, cap].
    health = core.health()
    if health.next_retry_at is not None and health.next_retry_at not in retry_seen:
        retry_seen.add(health.next_retry_at)
        assert 0 <= health.next_retry_at - b.now <= OPTIONS.backoff_max
    # No open after disconnect() until connect().
    if b.stopped:
        assert core.state is State.DISCONNECTED
        assert core.next_deadline is None
    # Every message either went out once, waits in the queue, or was counted as dropped.
    app = [
        json.loads(a.text)["n"]
        for _, a in b.history
        if isinstance(a, SendText) and json.loads(a.text)["type"] == "app"
    ]
    assert app == sorted(set(app)), "queue order kept, nothing sent twice"
    assert len(app) + health.queue_depth + health.queue_overflow == b.sends


def check_connection_texts(b: Checked) -> None:
    """Per connection: no text twice except re-subscribing after an unsubscribe."""
    for texts in b.sent.values():
        subscribed: set[str] = set()
        pings = [json.loads(t)["id"] for t in texts if json.loads(t)["type"] == "ping"]
        assert len(pings) == len(set(pings))
        for text in texts:
            message = json.loads(text)
            if message["type"] == "subscribe":
                assert message["project_id"] not in subscribed, "subscribed twice"
                subscribed.add(message["project_id"])
            elif message["type"] == "unsubscribe":
                assert message["project_id"] in subscribed, "stale unsubscribe"
                subscribed.discard(message["project_id"])


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(steps=steps, seed=st.integers(0, 2**16))
def test_invariants_hold_for_any_sequence_of_inputs(
    steps: list[tuple[Any, ...]], seed: int
) -> None:
    """At most one socket and one deadline, delays within [0, cap], queue order kept, nothing
    sent twice on one connection, no open after disconnect() until connect()."""
    b = Checked(seed)
    retry_seen: set[float] = set()
    for step in steps:
        before = len(b.history)
        b.apply(step)
        check_invariants(b, retry_seen)
        if b.stopped:
            assert not [a for _, a in b.history[before:] if isinstance(a, OpenSocket)]
    check_connection_texts(b)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(steps=steps, seed=st.integers(0, 2**16))
def test_each_open_subscribes_exactly_the_active_projects(
    steps: list[tuple[Any, ...]], seed: int
) -> None:
    """Right after every open, the subscribes sent are the projects with local subscribers."""
    b = Checked(seed)
    for step in steps:
        b.apply(step)
        if step[0] == "opened" and b.core.state is State.CONNECTED:
            texts = [json.loads(t) for t in b.sent[b.socket]]
            subscribed = [m["project_id"] for m in texts if m["type"] == "subscribe"]
            assert sorted(subscribed) == sorted(p for p, n in b.active.items() if n > 0)
