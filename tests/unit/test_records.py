"""``@record`` behaves like ``@dataclass(frozen=True)`` wherever a user of the types can tell."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsclient.records import FrozenInstanceError, Record, field, fields, record, replace


@record
class Event(Record):
    """A record with every kind of field."""

    kind: ClassVar[str] = "event"  # not a field
    type: str
    project_id: str
    progress: float | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.progress is not None and not 0 <= self.progress <= 1:
            raise ValueError(f"progress must be within 0..1, got {self.progress}")


@dataclasses.dataclass(frozen=True)
class EventDC:
    type: str
    project_id: str
    progress: float | None = None
    data: dict[str, Any] = dataclasses.field(default_factory=dict)


@record
class Pair(Record):
    a: int
    b: str = "x"


@dataclasses.dataclass(frozen=True)
class PairDC:
    a: int
    b: str = "x"


@record
class One(Record):
    value: int


@record
class Empty(Record):
    pass


def test_fields_in_declaration_order_without_classvars() -> None:
    assert fields(Event) == ("type", "project_id", "progress", "data")
    assert Event.__match_args__ == ("type", "project_id", "progress", "data")
    assert Event.kind == "event"


def test_positional_keyword_and_default_arguments() -> None:
    by_position = Event("process.progress", "alpha", 0.5, {"k": 1})
    by_keyword = Event(data={"k": 1}, progress=0.5, project_id="alpha", type="process.progress")
    assert by_position == by_keyword
    defaulted = Event("project.created", "alpha")
    assert (defaulted.progress, defaulted.data) == (None, {})


def test_default_factory_gives_each_instance_its_own_value() -> None:
    first, second = Event("t", "a"), Event("t", "a")
    assert first.data is not second.data
    assert "data" not in vars(Event)  # no shared mutable default left on the class


def test_missing_or_unknown_arguments_are_type_errors() -> None:
    with pytest.raises(TypeError, match="project_id"):
        Event("t")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="colour"):
        Event("t", "a", colour="red")  # type: ignore[call-arg]


def test_init_is_compiled_by_the_first_instance_even_a_failing_one() -> None:
    """Defining a record compiles nothing (start-up); its first construction does, once."""

    @record
    class Lazy(Record):
        a: int
        b: str = "x"

    stub = Lazy.__init__
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'a'"):
        Lazy()  # type: ignore[call-arg]
    compiled = Lazy.__init__
    assert compiled is not stub and compiled.__qualname__.endswith("Lazy.__init__")
    assert Lazy(1) == Lazy(a=1, b="x") and Lazy(2, "y").b == "y"
    assert Lazy.__init__ is compiled


def test_post_init_validates_construction_and_replace() -> None:
    with pytest.raises(ValueError, match=r"progress must be within 0\.\.1, got 2"):
        Event("t", "a", 2.0)
    event = Event("t", "a", 0.5)
    with pytest.raises(ValueError, match="got -1"):
        replace(event, progress=-1.0)


def test_assignment_and_deletion_raise_frozen_instance_error() -> None:
    event = Event("t", "a")
    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'type'"):
        event.type = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):  # the same class: handlers keep working
        del event.project_id  # type: ignore[misc]
    with pytest.raises(AttributeError):
        event.anything = 1  # type: ignore[attr-defined]
    assert event.type == "t"


def test_equality_is_by_value_and_class() -> None:
    assert Pair(1, "y") == Pair(1, "y")
    assert Pair(1, "y") != Pair(2, "y")
    assert Pair(1) != PairDC(1)  # another class with the same fields
    assert One(3) != 3
    assert Empty() == Empty()


def test_replace_copies_with_changes_and_names_unknown_fields() -> None:
    event = Event("t", "a", 0.25, {"k": 1})
    changed = replace(event, progress=0.75)
    assert changed == Event("t", "a", 0.75, {"k": 1}) and event.progress == 0.25
    assert event.__replace__(project_id="b").project_id == "b"
    with pytest.raises(TypeError, match="Event has no field 'colour'"):
        replace(event, colour="red")


def test_pattern_matching_by_position() -> None:
    match Event("process.progress", "alpha", 0.5):
        case Event("process.progress", project, progress):
            assert (project, progress) == ("alpha", 0.5)
        case _:
            pytest.fail("the positional pattern did not match")


def test_copy_and_pickle_round_trip() -> None:
    event = Event("t", "a", 0.5, {"nested": [1, 2]})
    assert copy.copy(event) == event
    deep = copy.deepcopy(event)
    assert deep == event and deep.data is not event.data
    assert pickle.loads(pickle.dumps(event)) == event


def test_bad_declarations_are_refused_with_a_reason() -> None:
    with pytest.raises(TypeError, match="field 'b' without a default follows one with a default"):

        @record
        class Bad(Record):
            a: int = 0
            b: int

    with pytest.raises(TypeError, match="needs a subclass of Record"):

        @record  # type: ignore[type-var]
        class NotARecord:
            a: int

    with pytest.raises(TypeError, match="default_factory must be callable"):
        field(default_factory=[])  # type: ignore[arg-type]

    with pytest.raises(TypeError, match="remove __slots__"):

        @record
        class Slotted(Record):
            __slots__ = ("a",)
            a: int


@given(a=st.integers(), b=st.text(max_size=8), a2=st.integers(), b2=st.text(max_size=8))
def test_matches_a_frozen_dataclass(a: int, b: str, a2: int, b2: str) -> None:
    """Same repr (but the class name), equality and hash as the equivalent frozen dataclass."""
    rec, rec2, dc, dc2 = Pair(a, b), Pair(a2, b2), PairDC(a, b), PairDC(a2, b2)
    assert repr(rec).replace("Pair(", "PairDC(") == repr(dc)
    assert (rec == rec2) == (dc == dc2)
    assert (hash(rec) == hash(Pair(a, b))) and (hash(dc) == hash(PairDC(a, b)))
    if rec == rec2:
        assert hash(rec) == hash(rec2)
    assert {rec, Pair(a, b)} == {rec}


def test_hash_needs_hashable_fields_like_a_frozen_dataclass() -> None:
    with pytest.raises(TypeError, match="unhashable"):
        hash(Event("t", "a"))  # its data is a dict
    with pytest.raises(TypeError, match="unhashable"):
        hash(EventDC("t", "a"))
    assert hash(One(4)) == hash(One(4)) and hash(Empty()) == hash(Empty())
