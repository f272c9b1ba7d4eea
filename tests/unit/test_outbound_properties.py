"""The outbound side of the protocol over a faulty network (hypothesis), docs/protocol.md.

The real client (``core.Session`` run by ``driver.Driver`` on ``fakes.FakePort`` and a fake
clock) talks to a small server written from docs/protocol.md alone (`Server`): v2 answers every
message with a string ``id`` by an ``ack``, applies each id once and answers a repeated id the
same way for a dedup window that survives its restarts; v1 applies whatever arrives and answers
nothing. Between them `World` plays the network: frames the client wrote reach the server only
when it reads them, a socket that goes away takes its unread frames with it (the last of them as
the browser's ``bufferedAmount``, the others delivered late or, on v2, lost in flight), a link can
go half-open (the server neither reads nor answers while TCP stays up), acks can be lost (the
server applied the message, the link died before the ack arrived), frames can be duplicated both
ways, and the server can restart.

After random interleavings of those faults with ``send()``, ``request()``, ``connect()``,
``disconnect()`` and time passing, the world settles (faults off, connect, let the link run until
the outbox is empty, within bounded fake time) and the contract is checked:

- every send is applied by the server at most once, in the order the page handed messages over
  (sends and requests share one order); one never applied was dropped for a bound and counted in
  ``queue_overflow`` (or, untagged on v2 and so fire and forget, was lost in flight);
- every request settles exactly once: with the server's ``data``, with the server's error text,
  with a timeout error naming its type and timeout (not before the timeout), or at once because
  the outbox was full of requests; none is applied twice or left pending;
- at every step the outbox holds at most ``max_queue`` messages and ``max_queue_bytes`` bytes,
  and the durable outbox holds exactly what the outbox holds;
- nothing is written to a socket that is not OPEN, nothing but subscribes and pings before the
  server's first frame, and on v2 every message carries its ``id`` first.

A ``GuardedSession`` fails a ``tick`` that spins instead of letting the run hang.

The focused tests at the end replay, in the fewest steps, the bugs an audit suspected (a request
cut by ``Outbox.put_back``, put-backs over ``max_queue_bytes``, buffered sends trimmed off
``link.written`` without being counted, events dropped for ever after an unusable ``recovered``
reply) and the ones the properties found (bytes of other frames in ``bufferedAmount`` taken for
fire-and-forget sends, so a delivered send goes out again; ``tick`` spinning when float rounding
makes a deadline never due).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Literal, TypeAlias

import pytest
from fakes import FakePort, Recorder
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_core_harness import FakeBrowser, connected

from wsclient.actions import Settle
from wsclient.core import Session, State
from wsclient.driver import Driver
from wsclient.options import Options
from wsclient.outbound import Outbox, QueueFull

Json: TypeAlias = dict[str, Any]
Step: TypeAlias = tuple[Any, ...]
Mode: TypeAlias = Literal["ok", "lost", "dup", "replay"]

PROJECT = "p"
#: The server's dedup window: far longer than any run, so every retry falls inside it.
DEDUP_WINDOW = 3600.0
#: How long the final settling may take (fake seconds) before the outbox counts as stuck.
SETTLE_LIMIT = 900.0
#: How a request is refused when the server turns out to speak v1 (it cannot acknowledge).
V1_REFUSAL = "request save refused: the server speaks protocol v1"
#: Messages the server never acknowledges (docs/protocol.md, "The reference server").
UNACKED = frozenset({"subscribe", "unsubscribe", "ping"})


def outbox(core: Session) -> Outbox:
    """The session's outbox (its byte count is not part of ``Health``)."""
    return core.delivery.outbox


class GuardedSession(Session):
    """A ``Session`` whose ``tick`` fails instead of spinning for ever: each call may handle
    its deadlines in at most ``MAX_ROUNDS`` rounds (a deadline that does not move when handled
    would freeze the page)."""

    MAX_ROUNDS = 100
    _rounds = 0

    def tick(self, now: float) -> None:
        self._rounds = 0
        super().tick(now)

    def _on_deadline(self, now: float) -> None:
        self._rounds += 1
        assert self._rounds <= self.MAX_ROUNDS, (
            f"tick({now!r}) spins: the deadline {self.next_deadline!r} does not move when handled"
        )
        super()._on_deadline(now)


def timeout_error(type_: str, timeout: float) -> str:
    return f"request {type_} timed out after {round(timeout * 1000)} ms"


# -- the server ---------------------------------------------------------------------------------


class Server:
    """A server that follows docs/protocol.md and nothing else. ``handle`` is what it does with
    one client frame; the frames it returns go back on the same connection (if it still can)."""

    def __init__(self, protocol: int) -> None:
        self.protocol = protocol
        self.epoch = 0
        # v2 dedup window: id -> (when answered, the ack); kept across restarts.
        self.answered: dict[str, tuple[float, Json]] = {}
        self.applied: list[int] = []  # the "n" of each message applied, in order
        self.v1_requests: list[int] = []  # requests a v1 server got (the client writes none)

    def restart(self) -> None:
        """A restart loses the stream histories (new epoch), not the dedup window."""
        self.epoch += 1

    def handle(self, message: Any, now: float) -> list[Json]:
        if isinstance(message, list):  # not an object: it cannot carry an id (fire and forget)
            self.applied.append(message[1])
            return []
        type_ = message.get("type")
        if type_ == "ping":
            return [{"type": "pong", "id": message.get("id")}]
        if type_ == "subscribe":
            if self.protocol == 1:
                return []
            epoch = f"e{self.epoch}"
            return [
                {
                    "type": "subscribed",
                    "project_id": message["project_id"],
                    "epoch": epoch,
                    "offset": 0,
                    "recovered": False,
                },
                {
                    "type": "project.snapshot",
                    "project_id": message["project_id"],
                    "offset": 0,
                    "data": None,
                    "files": [],
                    "processes": [],
                },
            ]
        if type_ in UNACKED:
            return []
        id_ = message.get("id")
        if self.protocol == 1:
            if id_ is not None:
                self.v1_requests.append(message["n"])
            else:
                self.applied.append(message["n"])
            return []
        if not isinstance(id_, str):
            self.applied.append(message["n"])  # fire and forget
            return []
        for old, (at, _) in list(self.answered.items()):
            if now - at > DEDUP_WINDOW:
                del self.answered[old]
        known = self.answered.get(id_)
        if known is not None:
            return [dict(known[1])]  # a repeat: the same answer, not applied again
        ack: Json
        if message.get("reject"):
            ack = {"type": "ack", "id": id_, "ok": False, "error": f"refused {message['n']}"}
        else:
            self.applied.append(message["n"])
            ack = {"type": "ack", "id": id_, "ok": True, "data": {"type": type_}}
        self.answered[id_] = (now, ack)
        return [dict(ack)]


# -- the page and the network -------------------------------------------------------------------


class TimedRecorder(Recorder):
    """The page: also notes when each request settled."""

    def __init__(self, port: FakePort) -> None:
        super().__init__()
        self.port = port
        self.settled_at: list[tuple[float, Settle]] = []

    def on_settled(self, settle: Settle) -> None:
        super().on_settled(settle)
        self.settled_at.append((self.port.time, settle))


class WirePort(FakePort):
    """``FakePort`` whose sockets end as the world says: ``close_socket`` reports the unsent
    tail, and every write is checked against the protocol."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    def send(self, socket_id: int, text: str) -> bool:
        written = super().send(socket_id, text)
        if written:
            self.world.check_write(socket_id, text)
        return written

    def close_socket(self, socket_id: int, code: int, reason: str) -> int:
        super().close_socket(socket_id, code, reason)
        return self.world.cut(socket_id)


class Message:
    """One message the page handed over."""

    def __init__(
        self, n: int, kind: str, id_: str, at: float, timeout: float = 0.0, reject: bool = False
    ) -> None:
        self.n = n
        self.kind = kind
        self.id = id_
        self.at = at
        self.timeout = timeout
        self.reject = reject
        self.refused_at_once = False  # refused in send()/request() itself (outbox full, v1)


class World:
    """One page and one server joined by a faulty network."""

    def __init__(self, protocol: int, options: Options) -> None:
        self.protocol = protocol
        self.options = options
        self.server = Server(protocol)
        self.port = WirePort(self)
        self.page = TimedRecorder(self.port)
        self.core = GuardedSession(options, random=lambda: 0.5, id_prefix="t")
        self.driver = Driver(self.core, lambda _driver: self.port, self.page)
        self.messages: list[Message] = []
        self.read: dict[int, int] = {}  # socket -> client frames the server has read
        self.deaf: set[int] = set()  # half-open: the server neither reads nor answers
        self.tail = 0  # frames still in bufferedAmount when the next socket goes
        self.lose = False  # v2: the other unread frames are lost in flight (else delivered)
        self.written_ids: dict[int, Counter[str]] = {}
        self.vanished: set[int] = set()  # untagged sends lost in flight (v2 cannot know)
        self.max_overflow = 0
        self.driver.subscribe(PROJECT)
        self.driver.connect()

    # -- the network --------------------------------------------------------------------

    @property
    def socket(self) -> int | None:
        return self.core.socket_id

    def live(self, socket_id: int | None) -> bool:
        """The server can hear and answer on this socket."""
        return (
            socket_id is not None
            and socket_id in self.port.open
            and socket_id not in self.deaf
            and socket_id not in self.port.closing
        )

    def check_write(self, socket_id: int, text: str) -> None:
        message = json.loads(text)
        if isinstance(message, dict) and message["type"] in UNACKED:
            return
        protocol = self.core.health().protocol
        assert protocol == self.protocol, f"{text} written before the server's first frame"
        if isinstance(message, list):
            return
        if self.protocol == 2:
            assert text.startswith('{"id":"'), f"v2 message without its id first: {text}"
            ids = self.written_ids.setdefault(socket_id, Counter())
            ids[message["id"]] += 1
            assert ids[message["id"]] == 1, f"{text} written twice on socket {socket_id}"
        else:
            assert message["type"] == "note", f"a request written to a v1 server: {text}"
            assert "id" not in message, f"v1 send with an id: {text}"

    def to_client(self, socket_id: int, frames: list[Json], dup: bool = False) -> None:
        if frames and self.live(socket_id):
            texts = [json.dumps(f) for f in frames]
            self.driver.frames(socket_id, [t for t in texts for _ in range(2 if dup else 1)])

    def serve(self, limit: int | None = None, mode: Mode = "ok") -> None:
        """The server reads up to ``limit`` unread frames of the current socket and answers.
        ``lost``: it applies them but the link dies before its answers arrive (half-open from
        then on); ``dup``: each answer arrives twice; ``replay``: each frame reaches it twice."""
        socket_id = self.socket
        if socket_id is None or not self.live(socket_id):
            return
        texts = self.port.sent[socket_id]
        count = 0
        while self.read[socket_id] < len(texts) and (limit is None or count < limit):
            message = json.loads(texts[self.read[socket_id]])
            self.read[socket_id] += 1
            count += 1
            now = self.port.time
            answers = self.server.handle(message, now)
            if mode == "replay" and self.protocol == 2 and isinstance(message, dict):
                # The frame reaches the server twice; only an id lets it notice (an untagged
                # send is fire and forget: no such promise).
                answers += self.server.handle(message, now)
            if mode == "lost":
                self.deaf.add(socket_id)
                continue
            self.to_client(socket_id, answers, dup=mode == "dup")
            if not self.live(socket_id):
                return

    def cut(self, socket_id: int) -> int:
        """The socket is gone: the last ``tail`` unread frames never left the browser (their
        bytes are its ``bufferedAmount``); the server reads the others late (v1 always; v2 unless
        ``lose``), without answering. Returns the ``bufferedAmount``."""
        texts = self.port.sent.get(socket_id, [])
        start = self.read.get(socket_id, 0)
        unread = texts[start:]
        keep = min(self.tail, len(unread))
        reached, unsent = unread[: len(unread) - keep], unread[len(unread) - keep :]
        for text in reached:
            if self.protocol == 1 or not self.lose:
                self.server.handle(json.loads(text), self.port.time)
            elif text.startswith("["):
                self.vanished.add(json.loads(text)[1])  # fire and forget, lost in flight
        self.read[socket_id] = len(texts)
        return sum(len(text.encode()) for text in unsent)

    def open(self, first: str = "hello") -> None:
        """The pending socket opens; the server's first frame follows at once (v2: hello; v1: a
        heartbeat, or nothing when ``first`` is "silent")."""
        socket_id = self.socket
        if socket_id is None or socket_id in self.port.open:
            return
        self.port.open.add(socket_id)
        self.read[socket_id] = 0
        self.driver.socket_opened(socket_id)
        if self.protocol == 2:
            self.to_client(socket_id, [{"type": "hello", "protocol": 2}])
        elif first != "silent":
            self.to_client(socket_id, [{"type": "system.heartbeat"}])

    def drop(self, code: int = 1006) -> None:
        """The connection ends from the far side (abrupt, or the server going away)."""
        socket_id = self.socket
        if socket_id is None or socket_id not in self.port.alive:
            return
        unsent = self.cut(socket_id) if socket_id in self.port.open else 0
        self.port.gone(socket_id)
        self.driver.socket_closed(socket_id, code, "", unsent)

    def advance(self, seconds: float) -> None:
        """Let time pass; a live server answers at once whatever the client writes meanwhile."""
        target = self.port.time + seconds
        while True:
            self.serve()
            at = self.port.timer_at
            if at is None or at > target:
                break
            self.port.time = max(self.port.time, at)
            self.port.timer_at = None
            self.driver.timer_fired()
        self.port.time = target

    # -- the page -----------------------------------------------------------------------

    def send(self, pad: int, tagged: bool = True) -> None:
        """``send()`` of an object, or (``tagged`` False) of a JSON array, which cannot carry a
        delivery id: fire and forget on v2 too."""
        n = len(self.messages)
        if tagged:
            text = json.dumps({"type": "note", "n": n, "pad": "x" * pad})
        else:
            text = json.dumps(["raw", n, "z" * pad])
        before = list(outbox(self.core))
        try:
            id_ = self.driver.send_text(text, tagged=tagged)
        except QueueFull:
            # Even with every send dropped the requests leave no room: the new send is refused
            # at once (the page hears it as an exception) and nothing queued changes.
            requests = [e for e in before if e.kind == "request"]
            assert (
                len(requests) + 1 > self.options.max_queue
                or sum(e.size for e in requests) + len(text.encode()) > self.options.max_queue_bytes
            ), "a send refused although dropping older sends made room"
            assert list(outbox(self.core)) == before
            message = Message(n, "send", "", self.port.time)
            message.refused_at_once = True
        else:
            message = Message(n, "send", id_, self.port.time)
        self.messages.append(message)

    def request(self, timeout: float, reject: bool, pad: int) -> None:
        n = len(self.messages)
        body: Json = {"type": "save", "n": n, "pad": "y" * pad}
        if reject:
            body["reject"] = True
        before = len(self.page.settles)
        id_ = self.driver.request(json.dumps(body), "save", timeout)
        message = Message(n, "request", id_, self.port.time, timeout, reject)
        message.refused_at_once = any(s.id == id_ for s in self.page.settles[before:])
        self.messages.append(message)

    # -- steps ----------------------------------------------------------------------------

    def step(self, step: Step) -> None:
        name, *args = step
        self.tail, self.lose = 0, False
        if name == "send":
            self.send(args[0])
        elif name == "raw":
            self.send(args[0], tagged=False)
        elif name == "request":
            self.request(*args)
        elif name == "open":
            self.open(args[0])
        elif name == "refuse":
            socket_id = self.socket
            if socket_id is not None and socket_id not in self.port.open:
                self.drop()
        elif name == "serve":
            self.serve(args[0], args[1])
        elif name == "drop":
            self.tail, self.lose = args[0], args[1]
            self.drop()
        elif name == "restart":
            self.tail, self.lose = args[0], self.protocol == 2
            self.server.restart()
            self.drop(1012)
        elif name == "half_open":
            socket_id = self.socket
            if socket_id is not None and socket_id in self.port.open:
                self.deaf.add(socket_id)  # after the server's first frame
        elif name == "closing":
            socket_id = self.socket
            if socket_id is not None and socket_id in self.port.open:
                self.port.closing.add(socket_id)  # writes refused until the close event
        elif name == "advance":
            self.tail, self.lose = args[1], args[2]
            self.advance(args[0])
        elif name == "wake":
            if args[0]:
                self.driver.network_changed(True)
            else:
                self.driver.visibility_changed(False)
                self.driver.visibility_changed(True)
        elif name == "disconnect":
            self.tail, self.lose = args[0], args[1]
            self.driver.disconnect()
        elif name == "connect":
            self.driver.connect()
        # "idle": nothing happens
        self.tail, self.lose = 0, False
        self.check_bounds()

    def check_bounds(self) -> None:
        box = outbox(self.core)
        entries = list(box)
        assert len(entries) <= self.options.max_queue, f"{len(entries)} messages queued"
        size = sum(e.size for e in entries)
        assert size == box.bytes, "the outbox miscounts its bytes"
        assert size <= self.options.max_queue_bytes, f"{size} bytes queued"
        assert sorted(self.port.stored) == sorted(e.id for e in entries), (
            "the durable outbox does not hold exactly the outbox"
        )
        overflow = self.core.health().queue_overflow
        assert overflow >= self.max_overflow
        self.max_overflow = overflow

    def settle(self) -> None:
        """Faults off: connect and let the link run until the outbox is empty and the server
        has read everything (a half-open link is left to the heartbeat)."""
        end = self.port.time + SETTLE_LIMIT
        while True:
            if self.core.state in (State.DISCONNECTED, State.ERROR):
                self.driver.connect()
            self.open()
            self.serve()
            socket_id = self.socket
            quiet = (
                socket_id is not None
                and self.live(socket_id)
                and self.read[socket_id] == len(self.port.sent[socket_id])
            )
            if quiet and self.core.health().queue_depth == 0:
                break
            assert self.port.time < end, (
                f"not settled after {SETTLE_LIMIT} s: {list(outbox(self.core))} still queued"
            )
            self.advance(1.0)
            self.check_bounds()
        self.check_bounds()

    # -- the contract ---------------------------------------------------------------------

    def check_contract(self) -> None:
        server = self.server
        applied = server.applied
        assert applied == sorted(set(applied)), (
            f"applied out of order or twice: {applied} (v1 request frames: {server.v1_requests})"
        )
        applied_set = set(applied)
        health = self.core.health()
        assert health.queue_depth == 0
        assert self.port.stored == {}, f"left in durable storage: {sorted(self.port.stored)}"

        sends = [m for m in self.messages if m.kind == "send"]
        lost = [
            m.n
            for m in sends
            if m.n not in applied_set and not m.refused_at_once and m.n not in self.vanished
        ]
        assert not [m.n for m in sends if m.refused_at_once and m.n in applied_set]
        assert len(lost) <= health.queue_overflow, (
            f"sends never applied: {lost}, but only {health.queue_overflow} counted as dropped"
        )

        settles: dict[str, list[tuple[float, Settle]]] = {}
        for at, settle in self.page.settled_at:
            settles.setdefault(settle.id, []).append((at, settle))
        requests = {m.id: m for m in self.messages if m.kind == "request"}
        assert set(settles) <= set(requests), "a settle for something that is no request"
        for id_, m in requests.items():
            got = settles.get(id_, [])
            assert len(got) == 1, f"request {id_} (n={m.n}) settled {len(got)} times: {got}"
            at, settle = got[0]
            answer = server.answered.get(id_)
            if settle.ok:
                assert self.protocol == 2 and answer is not None and answer[1]["ok"]
                assert settle.data == {"type": "save"} and m.n in applied_set
            elif (settle.error or "").startswith(V1_REFUSAL):
                assert self.protocol == 1, settle
            elif m.refused_at_once:
                assert settle.error is not None and "max_queue" in settle.error
                assert m.n not in applied_set and at == m.at
            elif settle.error == timeout_error("save", m.timeout):
                assert at >= m.at + m.timeout - 1e-9, f"request {id_} timed out early"
            else:
                assert answer is not None and not answer[1]["ok"], settle
                assert settle.error == f"refused {m.n}" and m.reject
            if m.reject:
                assert m.n not in applied_set, f"rejected request {m.n} was applied"
        assert not server.v1_requests
        assert self.port.time < DEDUP_WINDOW, "the run outlived the server's dedup window"


# -- strategies ---------------------------------------------------------------------------------

TAIL = st.integers(0, 6)
PAD = st.integers(0, 40)


def step_strategy(protocol: int) -> st.SearchStrategy[Step]:
    """Weighted: messages, opens and serves are common, so that most runs get far enough for
    faults to meet messages in flight. Runs have at least 20 steps (short ones rarely get
    there); in a shrunk counterexample the steps that do not matter read ``("idle",)``."""
    modes: list[Mode] = ["ok", "ok", "lost", "dup", "replay"] if protocol == 2 else ["ok", "dup"]
    lose = st.booleans() if protocol == 2 else st.just(False)
    send = st.tuples(st.just("send"), PAD)
    raw = st.tuples(st.just("raw"), PAD)
    request = st.tuples(
        st.just("request"), st.sampled_from([0.5, 3.0, 12.0, 30.0, 30.0]), st.booleans(), PAD
    )
    open_ = st.tuples(st.just("open"), st.sampled_from(["hello", "silent"]))
    serve = st.tuples(st.just("serve"), st.none() | st.integers(1, 4), st.sampled_from(modes))
    drop = st.tuples(st.just("drop"), TAIL, lose)
    advance = st.tuples(
        st.just("advance"), st.sampled_from([0.2, 1.0, 2.6, 4.5, 6.0, 11.0, 20.0]), TAIL, lose
    )
    return st.one_of(
        st.just(("idle",)),  # first: the shrinker turns steps that do not matter into it
        send,
        send,
        send,
        raw,
        request,
        request,
        open_,
        open_,
        open_,
        serve,
        serve,
        serve,
        drop,
        drop,
        advance,
        advance,
        st.tuples(st.just("restart"), TAIL),
        st.tuples(st.sampled_from(["refuse", "half_open", "closing", "connect"])),
        st.tuples(st.just("wake"), st.booleans()),
        st.tuples(st.just("disconnect"), TAIL, lose),
    )


def options_strategy(bounded: bool) -> st.SearchStrategy[Options]:
    if not bounded:
        return st.just(Options(max_queue=1000, max_queue_bytes=1 << 20))
    return st.builds(
        lambda count, size: Options(max_queue=count, max_queue_bytes=size),
        st.integers(2, 6),
        st.sampled_from([120, 200, 400, 1 << 20]),
    )


def run(protocol: int, options: Options, steps: list[Step]) -> None:
    world = World(protocol, options)
    for step in steps:
        world.step(step)
    world.settle()
    world.check_contract()


SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    report_multiple_bugs=False,
    # No "explain" phase: it reruns a failure many times over, for little here.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)


@SETTINGS
@given(steps=st.lists(step_strategy(2), min_size=20, max_size=80), options=options_strategy(False))
def test_v2_applies_every_message_once_in_order_whatever_the_network_does(
    steps: list[Step], options: Options
) -> None:
    """Unbounded outbox, v2 server: every send applied exactly once in order, every request
    settled exactly once, nothing left queued or stored."""
    run(2, options, steps)


@settings(SETTINGS, max_examples=700)
@given(steps=st.lists(step_strategy(2), min_size=20, max_size=80), options=options_strategy(True))
def test_v2_bounds_hold_and_every_drop_is_counted(steps: list[Step], options: Options) -> None:
    """Small max_queue/max_queue_bytes, v2 server: the bounds hold at every step, what is not
    applied was counted as dropped, and requests are never dropped silently."""
    run(2, options, steps)


@SETTINGS
@given(steps=st.lists(step_strategy(1), min_size=20, max_size=80), options=options_strategy(False))
def test_v1_buffered_sends_are_delivered_once_in_order(steps: list[Step], options: Options) -> None:
    """v1 server (no acks): sends still in bufferedAmount at a close go back to the head of the
    queue and reach the server once, in order; nothing is written to a socket not OPEN."""
    run(1, options, steps)


@settings(SETTINGS, max_examples=500)
@given(steps=st.lists(step_strategy(1), min_size=20, max_size=80), options=options_strategy(True))
def test_v1_bounds_hold_and_every_drop_is_counted(steps: list[Step], options: Options) -> None:
    """v1 with small bounds: the bounds hold at every step (put-backs included), drops are
    counted, and requests settle exactly once."""
    run(1, options, steps)


# -- focused tests: the bugs, each in the fewest steps ------------------------------------------


def note(n: int, pad: int = 0) -> str:
    return json.dumps({"type": "m", "n": n, "pad": "x" * pad})


def app_frames(b: FakeBrowser, socket_id: int) -> list[Json]:
    """The application messages written on a socket (no subscribes, pings, unsubscribes)."""
    frames = [json.loads(t) for t in b.sent[socket_id]]
    return [f for f in frames if f["type"] not in UNACKED]


def test_a_request_is_never_cut_by_sends_coming_back_at_a_close() -> None:
    """Audit bug 1 (``Outbox.put_back`` trimmed by count from the head, requests included): a
    pending request must still settle once, and leave durable storage, after fire-and-forget
    sends (untagged on v2) come back from ``bufferedAmount``."""
    b = connected(Options(max_queue=3), protocol=2)
    rid = b.driver.request('{"type": "r"}', "r", 5.0)
    texts = [json.dumps([n]) for n in range(4)]
    for text in texts:
        b.driver.send_text(text, tagged=False)
    b.closed(1006, unsent=sum(len(t.encode()) for t in texts))  # none of them left
    assert [id_ for id_, _ in b.core.delivery.pending_requests()] == [rid]
    assert rid in b.port.stored
    b.advance(5.0)
    assert b.page.settles == [Settle(rid, False, None, timeout_error("r", 5.0))]
    assert rid not in b.port.stored


def test_v1_sends_coming_back_at_a_close_respect_max_queue_bytes() -> None:
    """Audit bug 2 (``put_back`` ignored ``max_queue_bytes``; ``link.written`` kept
    ``max_queue`` sends whatever their bytes): the byte bound holds after a put-back, and what
    does not fit is counted."""
    b = connected(Options(max_queue=10, max_queue_bytes=100), protocol=1)
    texts = [note(n, pad=10) for n in range(3)]  # 41 bytes each: 123 > 100
    for text in texts:
        b.send(text)
    b.closed(1006, unsent=sum(len(t.encode()) for t in texts))
    box = outbox(b.core)
    assert box.bytes <= 100
    health = b.core.health()
    assert health.queue_depth + health.queue_overflow == 3


def test_v1_buffered_sends_beyond_max_queue_are_counted_not_lost_silently() -> None:
    """``link.written`` is bounded: a send trimmed off it that was still buffered at the close
    never reached the server, so it must be counted as dropped."""
    b = connected(Options(max_queue=2), protocol=1)
    texts = [note(n) for n in range(3)]
    for text in texts:
        b.send(text)
    b.closed(1006, unsent=sum(len(t.encode()) for t in texts))
    health = b.core.health()
    assert health.queue_depth + health.queue_overflow == 3


@pytest.mark.parametrize("control", ["probe ping", "heartbeat ping", "subscribe", "unsubscribe"])
def test_v1_a_buffered_control_frame_is_not_taken_for_a_delivered_send(control: str) -> None:
    """v1: only the bytes still in ``bufferedAmount`` at the close were not sent. When the last
    frame written was a ping, a subscribe or a request, those bytes are not the send before it:
    that send reached the server and must not be sent (and applied) again."""
    b = connected(protocol=1)
    if control == "unsubscribe":
        b.subscribe("q")
    b.send(note(0))
    if control == "probe ping":
        b.hidden()
        b.visible()
    elif control == "heartbeat ping":
        b.advance(b.core.options.ping_interval)
    elif control == "subscribe":
        b.subscribe("p")
    else:
        b.unsubscribe("q")
    first = b.socket
    last = b.sent[first][-1]
    assert json.loads(last)["type"] != "m", b.sent[first]
    b.closed(1006, unsent=len(last.encode()))  # only that last frame had not left
    b.until_deadline()
    b.opened(protocol=1)
    resent = [f for f in app_frames(b, b.socket) if f["type"] == "m"]
    assert resent == [], "a send the server already had was sent again"


def test_v2_a_buffered_tagged_send_is_not_taken_for_an_untagged_one_before_it() -> None:
    """v2: the untagged send ``[0]`` (fire and forget) reached the server; the tagged send
    written after it was still in ``bufferedAmount`` at the close. Those bytes belong to the
    tagged send (which comes back anyway: it was never acknowledged), not to ``[0]``, which
    must not be sent (and applied) again."""
    b = connected(protocol=2)
    b.driver.send_text("[0]", tagged=False)
    b.send(note(1))
    last = b.sent[b.socket][-1]
    assert json.loads(last)["n"] == 1
    b.closed(1006, unsent=len(last.encode()))
    b.until_deadline()
    b.opened(protocol=2)
    again = [t for t in b.sent[b.socket] if t == "[0]"]
    assert again == [], "an untagged send the server already had was sent again"


def _subscribed(offset: int, recovered: bool, epoch: str) -> str:
    return json.dumps(
        {
            "type": "subscribed",
            "project_id": "p",
            "epoch": epoch,
            "offset": offset,
            "recovered": recovered,
        }
    )


def _event(offset: int) -> str:
    file = {"name": "a.txt", "path": "a.txt", "size": 1, "asset_type": "doc"}
    return json.dumps({"type": "file.uploaded", "project_id": "p", "file": file, "offset": offset})


def _snapshot(offset: int) -> str:
    return json.dumps(
        {
            "type": "project.snapshot",
            "project_id": "p",
            "offset": offset,
            "data": {"name": "p"},
            "files": [],
            "processes": [],
        }
    )


@pytest.mark.parametrize("case", ["no position", "another epoch"])
def test_a_recovered_reply_the_client_cannot_use_does_not_drop_events_forever(case: str) -> None:
    """Audit bug 3 (inbound): ``subscribed`` with ``recovered: true`` while the client holds no
    position, or holds one of another epoch, makes the core wait for a snapshot that a server
    replaying events never sends; every later event of the project is then dropped, with no
    resubscribe, no ``stale`` and no ``resync``. The client must recover somehow: deliver the
    events, subscribe again, or tell the page to reload the project."""
    b = connected(protocol=2)
    b.subscribe("p")
    reply_at = len(b.sent[b.socket])
    if case == "another epoch":
        b.frame(_subscribed(3, recovered=False, epoch="e1"))
        b.frame(_snapshot(3))
        b.closed(1006)
        b.until_deadline()
        b.opened(protocol=2)  # subscribe with since e1/3
        reply_at = len(b.sent[b.socket])
        b.frame(_subscribed(5, recovered=True, epoch="e2"))
        offsets = range(4, 10)
    else:
        b.frame(_subscribed(0, recovered=True, epoch="e1"))
        offsets = range(1, 7)
    reply_socket = b.socket
    for offset in offsets:
        b.frame(_event(offset))
        b.advance(1.0)
    delivered = [m for m in b.page.delivered if m.type == "file.uploaded"]
    resubscribed = [
        t for t in b.sent[reply_socket][reply_at:] if json.loads(t)["type"] == "subscribe"
    ]
    assert delivered or resubscribed or b.page.resyncs, (
        f"events {list(offsets)} of p all dropped; sync {b.core.streams.statuses()}, "
        "nothing sent to recover"
    )


def test_tick_does_not_spin_when_float_rounding_disagrees_with_the_deadline() -> None:
    """``_Link.deadline`` says ``last_rx + ping_interval`` (5.2 + 5.0 == 10.2) while
    ``_on_deadline`` asks ``now - last_rx >= ping_interval`` (10.2 - 5.2 == 4.999999999999999):
    at 10.2 nothing is done, the deadline stays 10.2, and ``tick``'s ``while deadline <= now``
    loop never ends (the page freezes). Any clock value can do it; 5.2 is one."""
    port = FakePort(5.2)
    core = GuardedSession(Options(), random=lambda: 0.5, id_prefix="t")
    driver = Driver(core, lambda _driver: port, Recorder())
    driver.connect()
    port.open.add(1)
    driver.socket_opened(1)
    driver.frames(1, ['{"type": "system.heartbeat"}'])  # a v1 server; the link is alive at 5.2
    assert port.timer_at == 9.2  # armed at the open (v1 after pong_timeout of silence)
    port.time, port.timer_at = 9.2, None
    driver.timer_fired()  # early: the frame moved the deadline later; the wake re-arms
    assert port.timer_at == 10.2
    port.time, port.timer_at = 10.2, None
    driver.timer_fired()  # the guard fails here when tick spins
    pings = [t for t in port.sent[1] if json.loads(t)["type"] == "ping"]
    assert len(pings) == 2, "no heartbeat ping after ping_interval of silence"
