"""A batch of frames joined with U+001E is read in one pass, exactly as frame by frame.

``messages.decode_joined`` decodes the whole batch with one call into the C scanner (the page's
hot path); whenever that could differ from ``parse`` on each frame it declines, and
``EventRouter.parse_joined`` reads the frames one by one. These tests hold both to the same
result, including for frames that are not one JSON value each.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from wsclient.messages import MAX_DEPTH, decode_joined, parse
from wsclient.router import EventRouter
from wsclient.stores import get

TS = "2024-05-01T12:00:00Z"


def progress(n: int) -> str:
    return json.dumps(
        {
            "type": "process.progress",
            "timestamp": TS,
            "project_id": "alpha",
            "process_id": f"p{n % 4}",
            "progress": n / 100,
            "message": f"frame {n}",
        }
    )


def per_frame(frames: list[str]) -> tuple[list[Any], dict[str, int]]:
    router = EventRouter()
    messages = [router.parse(f) for f in frames]
    return messages, {kind: stats.count for kind, stats in get(router.dropped).items()}


def joined(frames: list[str]) -> tuple[list[Any], dict[str, int]]:
    router = EventRouter()
    messages = router.parse_joined("\x1e".join(frames))
    return messages, {kind: stats.count for kind, stats in get(router.dropped).items()}


def test_a_batch_of_messages_is_decoded_in_one_pass() -> None:
    """The fast path is taken for what a flood looks like (else the page pays per frame)."""
    frames = [progress(n) for n in range(200)]
    values = decode_joined("\x1e".join(frames))
    assert values == [json.loads(f) for f in frames]
    assert joined(frames) == per_frame(frames)


def test_frames_that_are_not_one_value_each_are_read_one_by_one() -> None:
    """Two broken frames that would make valid JSON together are still two drops."""
    pairs = [
        ['{"type": "a", "x": [1', '2]}, {"type": "b"}'],  # a bracket closed by the next frame
        ['"abc', '", {"type": "b"}'],  # a string closed by the next frame
        ['{"type": "a"}, {"type": "b"}', '{"type": "c"}'],  # two values in one frame
        ['{"type": "a"}', ""],  # an empty frame
        ['{"type": "a"', ', "b": 1}'],
    ]
    for frames in pairs:
        batch = "\x1e".join(frames)
        assert decode_joined(batch) is None, frames
        assert joined(frames) == per_frame(frames), frames


def test_deep_or_long_batches_are_read_one_by_one() -> None:
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    frames = [progress(1), json.dumps({"type": "x", "v": json.loads(deep)}), progress(2)]
    assert decode_joined("\x1e".join(frames)) is None
    assert joined(frames) == per_frame(frames)
    assert joined(frames)[1] == {"not_json": 1}
    big = [progress(1), progress(2)]
    assert decode_joined("\x1e".join(big), max_chars=len(big[0]) + 5) is None


# Pieces that fool a naive "[" + ",".join(frames) + "]": brackets, quotes, commas, separators.
PIECES = st.sampled_from(
    ['{"type": "a"}', '{"type":', '"t"}', "[", "]", "{", "}", '"', ",", ":", " ", "1", "NaN",
     '"x"', "null", '{"type": "b", "n": [1, 2]}', '\\"', "\\", "1e999", "-", "true"]
)  # fmt: skip
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)
MESSAGES = st.builds(
    lambda t, extra: json.dumps({"type": t, **extra}),
    st.sampled_from(["a", "process.progress", "pong", "file.uploaded", "hello"]),
    st.dictionaries(st.sampled_from(["id", "project_id", "process_id", "progress"]), JSON_VALUES),
)
FRAMES = st.lists(
    MESSAGES
    | JSON_VALUES.map(json.dumps)
    | st.lists(PIECES, max_size=6).map("".join)
    | st.builds(lambda a, cut: a[:cut], MESSAGES, st.integers(0, 40))
    | st.builds(lambda a, cut: a[cut:], MESSAGES, st.integers(0, 40)),
    min_size=1,
    max_size=8,
)


@given(FRAMES)
def test_joined_reads_exactly_what_each_frame_reads(frames: list[str]) -> None:
    assert joined(frames) == per_frame(frames)


@given(st.lists(MESSAGES, min_size=1, max_size=8))
def test_valid_frames_take_the_fast_path(frames: list[str]) -> None:
    values = decode_joined("\x1e".join(frames))
    assert values is not None
    assert [parse(json.dumps(v)) for v in values] == [parse(f) for f in frames]


def test_a_frame_with_an_integer_over_the_digit_limit_is_read_in_a_batch() -> None:
    """A 5,000-digit integer (a float, as JSON.parse reads it) costs the batch its one pass,
    not its frames: every frame of the batch is read."""
    frames = [progress(1), '{"type": "x", "big": ' + "9" * 5000 + "}", progress(2)]
    messages, drops = joined(frames)
    assert (messages, drops) == per_frame(frames)
    assert drops == {}
    assert messages[1].fields["big"] == float("inf")
