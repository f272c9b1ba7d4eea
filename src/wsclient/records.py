"""Frozen value types (messages, actions, snapshots) that are cheap to define at import.

``@record`` is a frozen dataclass minus the start-up cost. In Pyodide, ``@dataclass(frozen=True,
slots=True)`` takes ~2.5 ms per class at import (it ``exec``s seven generated methods and rebuilds
the class for ``__slots__``): the package's 18 value types cost ~45 ms, about half of the client's
start-up. ``record`` generates only ``__init__`` (with ``exec``, so constructing one is as fast as a
dataclass; compiled when the first instance is made, so types a page never builds cost nothing)
and shares ``__eq__``, ``__hash__``, ``__repr__`` and immutability through ``Record``.

What a user of a frozen dataclass relies on holds: fields in declaration order, positional or
keyword arguments, defaults and ``field(default_factory=...)``, ``__post_init__`` for validation,
equality and hashing by value (same class only), a ``Name(field=value, ...)`` repr,
``__match_args__``, and assignment raising ``dataclasses.FrozenInstanceError``.
``replace(obj, **changes)`` (also ``copy.replace`` on Python 3.13+) makes a changed copy. Type
checkers see a frozen dataclass (``typing.dataclass_transform``). A record's fields are its own
annotations, except ``ClassVar``s (records do not inherit fields).
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import Any, ClassVar, Final, TypeVar, dataclass_transform, get_origin

__all__ = ["FrozenInstanceError", "Record", "field", "fields", "record", "replace"]

T = TypeVar("T")
R = TypeVar("R", bound="Record")

#: Raised on assignment to a record's attribute (the dataclasses one, so existing handlers work).
FrozenInstanceError: Final = dataclasses.FrozenInstanceError

_MISSING: Final = object()


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], T]) -> T:
    """A default made fresh for each instance.

    ``data: dict[str, Any] = field(default_factory=dict)`` gives every instance its own dict.
    """
    if not callable(default_factory):
        raise TypeError(f"default_factory must be callable, got {default_factory!r}")
    return _Factory(default_factory)  # type: ignore[return-value]


class Record:
    """The shared behaviour of every ``@record`` class (see the module docstring)."""

    __slots__ = ()
    __record_fields__: tuple[str, ...] = ()

    def _values(self) -> tuple[Any, ...]:
        """The field values in order (``@record`` installs a fast one per class)."""
        return tuple(getattr(self, name) for name in self.__record_fields__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record_fields__)
        return f"{self.__class__.__qualname__}({shown})"

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __replace__(self: R, **changes: Any) -> R:
        return replace(self, **changes)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[R]) -> type[R]:
    """Make ``cls`` (a ``Record`` subclass with annotated fields) a frozen value type."""
    if not issubclass(cls, Record):
        raise TypeError(f"@record needs a subclass of Record, got {cls.__qualname__}")
    if "__slots__" in cls.__dict__:
        raise TypeError(f"@record {cls.__qualname__}: remove __slots__ (fields live in __dict__)")
    annotations: dict[str, Any] = cls.__annotations__  # its own only (not inherited)
    names = tuple(n for n, kind in annotations.items() if not _is_classvar(kind))
    params: list[str] = []
    body: list[str] = []
    scope: dict[str, Any] = {"_MISSING": _MISSING}
    for name in names:
        default = cls.__dict__.get(name, _MISSING)
        if isinstance(default, _Factory):
            scope[f"_factory_{name}"] = default.make
            params.append(f"{name}=_MISSING")
            body.append(f"_d[{name!r}] = _factory_{name}() if {name} is _MISSING else {name}")
            delattr(cls, name)  # no shared mutable default on the class
            continue
        if default is not _MISSING:
            scope[f"_default_{name}"] = default
            params.append(f"{name}=_default_{name}")
        elif any("=" in p for p in params):
            raise TypeError(
                f"{cls.__qualname__}: field {name!r} without a default follows one with a default"
            )
        else:
            params.append(name)
        body.append(f"_d[{name!r}] = {name}")
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    # Fields go straight into the instance's __dict__ (``__setattr__`` refuses them): in Pyodide
    # that builds a 7-field message in 0.6 us instead of 1.7 us with ``object.__setattr__`` per
    # field, and one message is built per frame.
    source = f"def __init__(self, {', '.join(params)}) -> None:\n    _d = self.__dict__\n    " + (
        "\n    ".join(body or ["pass"])
    )

    def __init__(self: Record, *args: Any, **kwargs: Any) -> None:
        # Compiling each record's __init__ at import cost ~5 ms of the page's start-up, mostly
        # for types that only the first frames need: the first instance compiles it instead.
        _compile_init(cls, source, scope)(self, *args, **kwargs)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    type.__setattr__(cls, "__init__", __init__)
    type.__setattr__(cls, "__record_fields__", names)
    type.__setattr__(cls, "__match_args__", names)
    get = operator.attrgetter(*names) if names else None
    if get is None:
        values: Callable[[Record], tuple[Any, ...]] = lambda self: ()  # noqa: E731
    elif len(names) == 1:
        values = lambda self: (get(self),)  # noqa: E731
    else:
        values = lambda self: get(self)  # noqa: E731
    type.__setattr__(cls, "_values", values)
    return cls


def _compile_init(cls: type, source: str, scope: dict[str, Any]) -> Callable[..., None]:
    """Compile a record's real ``__init__`` (its source is built from the field names only) and
    put it on the class in place of the one that called this."""
    exec(source, scope)
    init: Callable[..., None] = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    type.__setattr__(cls, "__init__", init)
    return init


def _is_classvar(kind: object) -> bool:
    if isinstance(kind, str):
        return kind.startswith(("ClassVar", "typing.ClassVar"))
    return kind is ClassVar or get_origin(kind) is ClassVar


def fields(obj: Record | type[Record]) -> tuple[str, ...]:
    """The field names of a record (class or instance), in declaration order."""
    return obj.__record_fields__


def replace(obj: R, /, **changes: Any) -> R:
    """A copy of ``obj`` with ``changes`` applied (validated again by ``__post_init__``)."""
    names = obj.__record_fields__
    for name in changes:
        if name not in names:
            raise TypeError(f"{obj.__class__.__qualname__} has no field {name!r}")
    values = {name: getattr(obj, name) for name in names}
    values.update(changes)
    return obj.__class__(**values)
