"""The outbox's ``Delivery`` on its own (no Session): what a write means per protocol, kind and
retention (``_AFTER_WRITE``), acks, request timeouts, bounds, and what a gone socket gives back."""

from __future__ import annotations

import itertools
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsclient.actions import Action, Forget, Persist, SendText, Settle
from wsclient.delivery import _AFTER_WRITE, AfterWrite, Delivery
from wsclient.link import Link, LinkEvent
from wsclient.outbound import Outbound, QueueFull, too_large

Step = tuple[str, ...]

V1_REFUSAL = (
    "request r refused: the server speaks protocol v1, which does not acknowledge requests "
    "(use send(), or a v2 server)"
)


def make(max_queue: int = 100, max_bytes: int = 1 << 20) -> tuple[Delivery, list[Action]]:
    actions: list[Action] = []
    return Delivery(max_queue, max_bytes, "t", actions), actions


def ready(actions: list[Action], protocol: int = 2, socket_id: int = 1) -> Link:
    """A usable link whose protocol is known (``protocol`` 0: not yet)."""
    link = Link(socket_id, 0.0, actions, itertools.count(1))
    link.fire(LinkEvent.TOKEN)
    link.fire(LinkEvent.OPENED)
    link.protocol = protocol
    return link


def steps(actions: list[Action]) -> list[Step]:
    """The actions as short tuples (an ``Outbound`` has no value equality), then forgotten."""
    out: list[Step] = []
    for action in actions:
        if isinstance(action, Persist):
            out.append(("persist", action.entry.id))
        elif isinstance(action, Forget):
            out.append(("forget", action.id))
        elif isinstance(action, SendText):
            out.append(("write", action.text, str(action.outbound_id)))
        elif isinstance(action, Settle):
            out.append(("settle", action.id, str(action.ok), str(action.data), str(action.error)))
        else:
            out.append((repr(action),))
    actions.clear()
    return out


def ids(delivery: Delivery) -> list[str]:
    return [entry.id for entry in delivery.outbox]


def kept(delivery: Delivery, id_: str) -> Outbound:
    entry = delivery.outbox.get(id_)
    assert entry is not None, f"{id_} is not in the outbox"
    return entry


# -- the table ------------------------------------------------------------------------------


def test_the_after_write_table_row_by_row() -> None:
    """Exactly these six rows (a v1 request is always retained: there is no untagged one)."""
    assert _AFTER_WRITE == {
        (2, "send", True): AfterWrite.KEEP,
        (2, "request", True): AfterWrite.KEEP,
        (2, "send", False): AfterWrite.FORGET,
        (1, "send", True): AfterWrite.LOG,
        (1, "send", False): AfterWrite.LOG,
        (1, "request", True): AfterWrite.REFUSE,
    }


def test_v2_tagged_send_goes_with_its_id_and_is_kept_until_acked() -> None:
    d, actions = make()
    link = ready(actions, 2)
    id_ = d.send('{"type": "m"}', True, link)
    assert id_ == "t-1"
    assert steps(actions) == [
        ("persist", "t-1"),
        ("write", '{"id":"t-1","type": "m"}', "t-1"),
    ]
    assert ids(d) == ["t-1"]
    assert kept(d, "t-1").written_on == 1
    assert link.log.written == []  # kept: the outbox brings it back, not the log


def test_v2_empty_object_gets_an_id_too() -> None:
    d, actions = make()
    d.send("{}", True, ready(actions, 2))
    assert steps(actions)[1] == ("write", '{"id":"t-1"}', "t-1")


def test_v2_request_goes_with_its_id_and_is_kept_until_acked() -> None:
    d, actions = make()
    id_ = d.request('{"type": "r"}', "r", 5.0, 0.0, ready(actions, 2))
    assert steps(actions) == [("persist", id_), ("write", f'{{"id":"{id_}","type": "r"}}', id_)]
    assert ids(d) == [id_]
    assert d.next_deadline() == 5.0


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("{ }", '{"id":"t-1" }'),
        ("{\n}", '{"id":"t-1"\n}'),
        ("{}\n", '{"id":"t-1"}\n'),
        ('{\n  "a": 1\n}', '{"id":"t-1",\n  "a": 1\n}'),
        ('{ "a": {} }', '{"id":"t-1", "a": {} }'),
    ],
)
def test_v2_id_tag_keeps_an_object_with_whitespace_valid_json(text: str, wire: str) -> None:
    """Bug fixed: an empty object with whitespace inside (``"{ }"``, as ``Client.send_text``
    accepts it) went out as ``{"id":"t-1", }``, which no server can parse, so it was never
    acknowledged and went out again after every reconnect."""
    d, actions = make()
    link = ready(actions, 2)
    d.send(text, True, link)
    [written] = [a.text for a in actions if isinstance(a, SendText)]
    assert written == wire
    assert json.loads(written) == {"id": "t-1", **json.loads(text)}
    assert link.log.sent_bytes == len(wire.encode())


@pytest.mark.parametrize(
    ("text", "tagged"),
    [
        ("[1]", True),  # not an object: cannot carry an id
        ('"text"', True),
        ('{"id": "mine"}', False),  # an id of its own (Client.send says untagged)
    ],
)
def test_v2_untagged_send_goes_once_unchanged_and_is_forgotten_but_logged(
    text: str, tagged: bool
) -> None:
    d, actions = make()
    link = ready(actions, 2)
    id_ = d.send(text, tagged, link)
    assert steps(actions) == [("persist", id_), ("write", text, id_), ("forget", id_)]
    assert ids(d) == []
    assert [entry.id for _, entry in link.log.written] == [id_]


def test_v2_untagged_sends_warn_once(caplog: pytest.LogCaptureFixture) -> None:
    d, actions = make()
    link = ready(actions, 2)
    with caplog.at_level(logging.WARNING, "wsclient"):
        d.send("[1]", True, link)
        d.send("[2]", True, link)
        d.send('{"type": "tagged"}', True, link)
    assert [r.getMessage()[:50] for r in caplog.records] == [
        "send(): a message that is not a JSON object, or ha"
    ]


@pytest.mark.parametrize("text", ['{"type": "m"}', "[1]"])
def test_v1_send_goes_without_an_id_and_is_forgotten_but_logged(
    text: str, caplog: pytest.LogCaptureFixture
) -> None:
    d, actions = make()
    link = ready(actions, 1)
    with caplog.at_level(logging.WARNING, "wsclient"):
        id_ = d.send(text, True, link)
    assert steps(actions) == [("persist", id_), ("write", text, id_), ("forget", id_)]
    assert ids(d) == []
    assert [(end, entry.id) for end, entry in link.log.written] == [(len(text), id_)]
    assert caplog.records == []  # fire and forget is what v1 is: no warning


def test_v1_request_is_refused_at_once_and_never_written() -> None:
    d, actions = make()
    link = ready(actions, 1)
    id_ = d.request('{"type": "r"}', "r", 5.0, 0.0, link)
    assert steps(actions) == [
        ("persist", id_),
        ("forget", id_),
        ("settle", id_, "False", "None", V1_REFUSAL),
    ]
    assert ids(d) == []
    assert link.log.sent_bytes == 0
    assert d.next_deadline() is None
    d.expire(100.0)
    assert actions == []  # settled once


def test_nothing_is_written_before_the_protocol_is_known_then_all_in_order() -> None:
    d, actions = make()
    link = ready(actions, 0)
    a = d.send('{"n": 1}', True, link)
    r = d.request('{"n": 2}', "r", 9.0, 0.0, link)
    b = d.send("[3]", True, link)
    assert steps(actions) == [("persist", a), ("persist", r), ("persist", b)]
    link.protocol = 2
    d.flush(link)
    assert steps(actions) == [
        ("write", '{"id":"t-1","n": 1}', a),
        ("write", '{"id":"t-2","n": 2}', r),
        ("write", "[3]", b),
        ("forget", b),
    ]
    d.flush(link)
    assert actions == []  # already written on this link


def test_a_new_link_gets_every_kept_entry_again_with_the_same_id() -> None:
    d, actions = make()
    first = ready(actions, 2, socket_id=1)
    a = d.send('{"n": 1}', True, first)
    r = d.request('{"n": 2}', "r", 9.0, 0.0, first)
    actions.clear()
    second = ready(actions, 2, socket_id=2)
    d.flush(second)
    assert [(a.socket_id, a.text) for a in actions if isinstance(a, SendText)] == [
        (2, f'{{"id":"{a}","n": 1}}'),
        (2, f'{{"id":"{r}","n": 2}}'),
    ]


def test_a_queued_request_is_refused_when_the_server_turns_out_to_be_v1() -> None:
    d, actions = make()
    r = d.request('{"type": "r"}', "r", 9.0, 0.0, None)
    s = d.send('{"type": "s"}', True, None)
    actions.clear()
    link = ready(actions, 1)
    d.flush(link)
    assert steps(actions) == [
        ("forget", r),
        ("settle", r, "False", "None", V1_REFUSAL),
        ("write", '{"type": "s"}', s),
        ("forget", s),
    ]


def test_a_refused_socket_is_not_written_on() -> None:
    d, actions = make()
    link = ready(actions, 2)
    link.writable = False
    id_ = d.send("{}", True, link)
    d.flush(link)
    assert steps(actions) == [("persist", id_)]


# -- acks -----------------------------------------------------------------------------------


def test_an_ack_settles_a_request_exactly_once() -> None:
    d, actions = make()
    id_ = d.request('{"type": "r"}', "r", 5.0, 0.0, ready(actions, 2))
    actions.clear()
    d.acked(id_, True, {"x": 1}, None)
    assert steps(actions) == [("forget", id_), ("settle", id_, "True", "{'x': 1}", "None")]
    d.acked(id_, True, {"x": 1}, None)  # the server repeats itself
    d.expire(10.0)  # and its timeout passes
    assert actions == []
    assert ids(d) == [] and d.next_deadline() is None


def test_a_refusing_ack_settles_with_the_servers_error() -> None:
    d, actions = make()
    id_ = d.request('{"type": "r"}', "r", 5.0, 0.0, ready(actions, 2))
    actions.clear()
    d.acked(id_, False, None, "no such project")
    assert steps(actions) == [("forget", id_), ("settle", id_, "False", "None", "no such project")]


def test_an_acked_send_is_forgotten_without_a_settle() -> None:
    d, actions = make()
    id_ = d.send('{"type": "m"}', True, ready(actions, 2))
    actions.clear()
    d.acked(id_, True, None, None)
    assert steps(actions) == [("forget", id_)]
    assert ids(d) == []


def test_an_ack_for_an_unknown_id_does_nothing() -> None:
    d, actions = make()
    d.send('{"type": "m"}', True, ready(actions, 2))
    actions.clear()
    d.acked("other-page-1", True, None, None)
    assert actions == [] and ids(d) == ["t-1"]


# -- request timeouts -----------------------------------------------------------------------


def test_a_request_times_out_with_an_error_naming_type_and_ms() -> None:
    d, actions = make()
    id_ = d.request('{"type": "save"}', "save", 2.5, 1.0, None)
    actions.clear()
    assert d.next_deadline() == 3.5
    d.expire(3.4)
    assert actions == []
    d.expire(3.5)
    assert steps(actions) == [
        ("forget", id_),
        ("settle", id_, "False", "None", "request save timed out after 2500 ms"),
    ]
    assert d.next_deadline() is None
    d.acked(id_, True, None, None)  # too late
    d.expire(99.0)
    assert actions == []


def test_timeouts_expire_in_deadline_order_and_the_next_deadline_moves() -> None:
    d, actions = make()
    late = d.request('{"n": 1}', "late", 9.0, 0.0, None)
    early = d.request('{"n": 2}', "early", 2.0, 0.0, None)
    mid = d.request('{"n": 3}', "mid", 5.0, 0.0, None)
    actions.clear()
    assert d.next_deadline() == 2.0
    d.acked(early, True, None, None)
    assert d.next_deadline() == 5.0  # a settled request's deadline is skipped
    actions.clear()
    d.expire(100.0)
    assert [s[1] for s in steps(actions) if s[0] == "settle"] == [mid, late]


@pytest.mark.parametrize("timeout", [0, -1.0, float("inf"), float("nan"), "5"])
def test_a_request_timeout_must_be_a_positive_number(timeout: object) -> None:
    d, actions = make()
    with pytest.raises(ValueError, match="a request timeout must be a positive number"):
        d.request("{}", "r", timeout, 0.0, None)  # type: ignore[arg-type]
    assert actions == [] and ids(d) == []
    assert d.send("{}", True, None) == "t-1"  # no id was used up


# -- bounds ---------------------------------------------------------------------------------


def test_too_large_text_raises_naming_the_limit() -> None:
    d, actions = make(max_bytes=10)
    with pytest.raises(ValueError) as info:
        d.send("x" * 11, True, None)
    assert str(info.value) == too_large(11, 10)
    assert "a message of 11 bytes is larger than max_queue_bytes (10)" in str(info.value)
    with pytest.raises(ValueError, match=r"of 12 bytes is larger than max_queue_bytes \(10\)"):
        d.request('"ééééé"', "r", 1.0, 0.0, None)  # 7 characters, 12 bytes
    assert actions == [] and ids(d) == []
    assert d.send("x" * 10, True, None) == "t-1"  # exactly the limit fits


def test_a_full_outbox_drops_the_oldest_send() -> None:
    d, actions = make(max_queue=2)
    a = d.send("{}", True, None)
    b = d.send("{}", True, None)
    c = d.send("{}", True, None)
    assert steps(actions) == [("persist", a), ("persist", b), ("forget", a), ("persist", c)]
    assert ids(d) == [b, c] and d.outbox.overflow == 1


def test_an_outbox_full_of_requests_refuses_a_request_and_raises_for_a_send() -> None:
    d, actions = make(max_queue=2)
    d.request("{}", "r", 5.0, 0.0, None)
    d.request("{}", "r", 5.0, 0.0, None)
    actions.clear()
    third = d.request("{}", "r", 5.0, 0.0, None)
    [settle] = steps(actions)
    assert settle[:4] == ("settle", third, "False", "None")
    assert "the outbox is full of unacknowledged requests" in settle[4]
    assert ids(d) == ["t-1", "t-2"]
    with pytest.raises(QueueFull):
        d.send("{}", True, None)


# -- what a gone socket gives back ---------------------------------------------------------


def written_v1(texts: list[str]) -> tuple[Delivery, list[Action], Link, list[str]]:
    d, actions = make()
    link = ready(actions, 1)
    sent = [d.send(text, True, link) for text in texts]
    actions.clear()
    return d, actions, link, sent


@pytest.mark.parametrize(
    ("unsent", "back"),
    [
        (0, []),
        (3, ["t-3"]),  # part of the last send
        (6, ["t-3"]),  # all of it
        (7, ["t-2", "t-3"]),  # the last byte of "[2]"
        (9, ["t-2", "t-3"]),
        (15, ["t-2", "t-3"]),  # the control frame too: it is no send
        (16, ["t-1", "t-2", "t-3"]),  # the last byte of the first send
        (21, ["t-1", "t-2", "t-3"]),
    ],
)
def test_link_gone_puts_back_only_what_was_not_sent_in_order(unsent: int, back: list[str]) -> None:
    """A send whose last byte is among the ``unsent`` (buffered) bytes at close never left:
    it comes back, in order, to be written on the next link."""
    d, actions = make()
    link = ready(actions, 1)
    d.send('"1111"', True, link)  # bytes 1-6
    link.send("xxxxxx")  # a control frame: bytes 7-12
    d.send("[2]", True, link)  # bytes 13-15
    d.send('"3333"', True, link)  # bytes 16-21
    assert link.log.sent_bytes == 21
    actions.clear()
    d.link_gone(link, unsent)
    assert ids(d) == back
    assert [kept(d, id_).written_on for id_ in back] == [0] * len(back)
    assert steps(actions) == [("persist", id_) for id_ in back]


def test_what_comes_back_goes_before_what_was_queued_since() -> None:
    d, actions, link, sent = written_v1(["[1]", "[2]"])
    later = d.send("[3]", True, None)
    d.link_gone(link, 6)
    assert ids(d) == [*sent, later]
    assert steps(actions) == [("persist", later), ("persist", sent[0]), ("persist", sent[1])]


def test_link_gone_keeps_within_max_queue_and_counts_what_is_lost() -> None:
    """max_queue 3: the log keeps the newest 3 of 5 sends; all 5 were still buffered: the 2
    trimmed ones are lost (counted), the 3 come back."""
    d, actions = make(max_queue=3)
    link = ready(actions, 1)
    sent = [d.send(f"[{n}]", True, link) for n in range(5)]
    d.link_gone(link, link.log.sent_bytes)
    assert ids(d) == sent[2:]
    assert d.outbox.overflow == 2


def test_a_second_report_of_the_same_close_counts_and_gives_back_nothing_again() -> None:
    """The losses of a socket are counted once however often its close is reported."""
    d, actions = make(max_queue=3)
    link = ready(actions, 1)
    sent = [d.send(f"[{n}]", True, link) for n in range(5)]
    d.link_gone(link, link.log.sent_bytes)
    d.link_gone(link, link.log.sent_bytes)
    assert ids(d) == sent[2:]
    assert d.outbox.overflow == 2


def test_link_gone_never_pushes_a_request_out() -> None:
    """v2, max_queue 3: a pending request and four untagged sends all still buffered: the
    request stays, the oldest sends give way (counted); no Forget for what was forgotten."""
    d, actions = make(max_queue=3)
    link = ready(actions, 2)
    r = d.request('{"type": "r"}', "r", 30.0, 0.0, link)
    sends = [d.send(f"[{n}]", True, link) for n in range(4)]
    actions.clear()
    d.link_gone(link, link.log.sent_bytes)
    assert ids(d) == [r, sends[2], sends[3]]
    assert d.outbox.overflow == 2
    assert steps(actions) == [("persist", sends[2]), ("persist", sends[3])]


def test_link_gone_respects_max_queue_bytes() -> None:
    d, actions = make(max_queue=100, max_bytes=10)
    link = ready(actions, 1)
    sent = [d.send('"abc"', True, link) for _ in range(3)]  # 5 bytes each
    d.link_gone(link, 15)
    assert ids(d) == sent[1:]
    assert d.outbox.bytes == 10 and d.outbox.overflow == 1


@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 12)), max_size=12),
    st.integers(1, 6),
    st.integers(26, 80),
    st.data(),
)
def test_link_gone_gives_back_the_newest_unsent_sends_within_bounds(
    frames: list[tuple[bool, int]], limit: int, max_bytes: int, data: st.DataObject
) -> None:
    """Model: a send whose last byte is among the last ``unsent`` bytes written never left.
    Those come back in order, as many of the newest as the bounds allow; the rest are counted
    as overflow."""
    actions: list[Action] = []
    d = Delivery(limit, max_bytes, "t", actions)
    link = ready(actions, 1)
    written, ends = 0, []
    for is_send, n in frames:
        text = json.dumps("é" * n, ensure_ascii=False)  # 2n + 2 bytes
        written += len(text.encode())
        if is_send:
            ends.append((d.send(text, True, link), written))
        else:
            link.send(text)
    unsent = data.draw(st.integers(0, written))
    d.link_gone(link, unsent)
    never_left = [id_ for id_, end in ends if unsent > 0 and end > written - unsent]
    back = ids(d)
    assert back == never_left[len(never_left) - len(back) :]  # the newest, in order
    assert len(back) + d.outbox.overflow == len(never_left)
    assert len(d.outbox) <= limit and d.outbox.bytes <= max_bytes


def test_write_failed_on_a_gone_socket_puts_back_at_once() -> None:
    d, actions, link, sent = written_v1(["[1]", "[2]"])
    sent_bytes = link.log.sent_bytes
    d.write_failed(link, sent[1], 3, gone=True)
    assert ids(d) == [sent[1]]
    assert steps(actions) == [("persist", sent[1])]
    assert link.writable is False
    assert link.log.sent_bytes == sent_bytes - 3  # never written: not in bufferedAmount


def test_write_failed_on_a_closing_socket_waits_for_it_to_be_gone() -> None:
    d, actions, link, sent = written_v1(["[1]", "[2]", "[3]"])
    d.write_failed(link, sent[2], 3, gone=False)
    assert ids(d) == [] and actions == []
    assert not link.ready
    later = d.send("[4]", True, link)  # queued, not written on the closing socket
    d.link_gone(link, 3)  # "[2]" was still buffered; "[3]" was refused
    assert ids(d) == [sent[1], sent[2], later]


def test_write_failed_of_a_kept_entry_leaves_it_to_be_written_again() -> None:
    d, actions = make()
    link = ready(actions, 2)
    id_ = d.send('{"type": "m"}', True, link)
    actions.clear()
    d.write_failed(link, id_, 20, gone=True)
    assert actions == []
    assert kept(d, id_).written_on == 0


def test_write_failed_of_a_control_frame_only_uncounts_its_bytes() -> None:
    d, _, link, _ = written_v1(["[1]"])
    link.send("ping!")
    d.write_failed(link, None, 5, gone=False)
    assert link.log.sent_bytes == 3
    d.link_gone(link, 0)
    assert ids(d) == []


# -- restore ---------------------------------------------------------------------------------


def test_restore_keeps_order_renumbers_and_writes_at_once_on_a_ready_link() -> None:
    d, actions = make()
    d.send("{}", True, None)
    actions.clear()
    stored = [
        Outbound("old-7", 7, "send", '{"a": 1}', tagged=True),
        Outbound("old-2", 2, "request", '{"b": 2}', tagged=True, type="r", timeout=3.0),
    ]
    d.restore(stored, 10.0, ready(actions, 2))
    assert [(e.id, e.seq) for e in d.outbox] == [("t-1", 1), ("old-7", 2), ("old-2", 3)]
    assert d.next_deadline() == 13.0  # no deadline stored: now + its timeout
    assert steps(actions) == [  # not persisted again; only the restored ones written here
        ("write", '{"id":"old-7","a": 1}', "old-7"),
        ("write", '{"id":"old-2","b": 2}', "old-2"),
    ]
    d.restore(stored, 11.0, None)  # already here: skipped
    assert len(d.outbox) == 3 and actions == []


def stored_request(id_: str, seq: int) -> Outbound:
    return Outbound(id_, seq, "request", "{}", tagged=True, type="r", timeout=5.0)


def test_a_restored_request_that_cannot_be_kept_is_settled_and_forgotten_in_storage() -> None:
    """Bug fixed: it was settled but stayed in durable storage, so every later load restored
    and refused it again."""
    d, actions = make(max_queue=2)
    d.restore([stored_request(f"old-{n}", n) for n in (1, 2, 3)], 0.0, None)
    assert ids(d) == ["old-1", "old-2"]
    [forget, settle] = steps(actions)
    assert forget == ("forget", "old-3")
    assert settle[:4] == ("settle", "old-3", "False", "None")
    assert "the outbox is full of unacknowledged requests" in settle[4]


def test_a_restored_send_that_cannot_be_kept_is_dropped_counted_and_forgotten() -> None:
    """Bug fixed: restoring a stored send into an outbox full of requests raised QueueFull out
    of ``restore`` (the driver restores in its constructor; a tab adopts a gone tab's entries),
    leaving the rest unrestored. It is dropped like any send the bounds push out."""
    d, actions = make(max_queue=2)
    stored = [
        stored_request("old-1", 1),
        stored_request("old-2", 2),
        Outbound("old-3", 3, "send", "{}", tagged=True),
        stored_request("old-4", 4),
    ]
    d.restore(stored, 0.0, None)
    assert ids(d) == ["old-1", "old-2"]
    assert d.outbox.overflow == 1
    [forget_send, forget_request, settle] = steps(actions)
    assert (forget_send, forget_request) == (("forget", "old-3"), ("forget", "old-4"))
    assert settle[:3] == ("settle", "old-4", "False")


def test_a_restored_request_over_max_queue_bytes_is_refused_saying_so() -> None:
    """A stored request too large for this page's max_queue_bytes (the option was lowered) is
    refused with the size rule's text, not as an outbox full of requests."""
    d, actions = make(max_bytes=10)
    big = Outbound("old-1", 1, "request", '"' + "x" * 20 + '"', tagged=True, type="r")
    d.restore([big, stored_request("old-2", 2)], 0.0, None)
    assert ids(d) == ["old-2"]
    [forget, settle] = steps(actions)
    assert forget == ("forget", "old-1")
    assert settle == ("settle", "old-1", "False", "None", too_large(22, 10))


def test_a_restored_send_over_max_queue_bytes_is_dropped_not_raised() -> None:
    """A stored send too large for this page's max_queue_bytes (the option was lowered)."""
    d, actions = make(max_bytes=10)
    big = Outbound("old-1", 1, "send", '"' + "x" * 20 + '"', tagged=True)
    small = Outbound("old-2", 2, "send", "{}", tagged=True)
    d.restore([big, small], 0.0, None)
    assert ids(d) == ["old-2"]
    assert d.outbox.overflow == 1
    assert steps(actions) == [("forget", "old-1")]
