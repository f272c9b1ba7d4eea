"""Levers: the server methods a test may call, from the server's loop or (through
`ServerThread`) from any thread.

A component marks each of its test controls with `@lever`; `MockServer` gathers them into one
name -> method table, so a new lever is declared once, where its state lives, and
`ServerThread` needs no forwarder for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute `@lever` sets: the longest a thread call waits for the lever, in seconds;
#: None = as long as it takes (the lever itself is bounded, e.g. a flood of `count` frames).
_MARK: Final = "__lever_timeout__"
#: The caller's own default applies (ServerThread's `call_timeout`).
DEFAULT: Final = -1.0


def lever(fn: F) -> F:
    """Mark `fn` as a test control (called with the thread's default timeout)."""
    setattr(fn, _MARK, DEFAULT)
    return fn


def unbounded_lever(fn: F) -> F:
    """Mark `fn` as a test control that may take longer than any fixed timeout."""
    setattr(fn, _MARK, None)
    return fn


def lever_timeout(fn: Callable[..., Any]) -> float | None:
    """The timeout `@lever` recorded on `fn` (DEFAULT or None)."""
    value: float | None = getattr(fn, _MARK)
    return value


def collect_levers(*components: object) -> dict[str, Callable[..., Any]]:
    """Every `@lever` method of `components`, by name; a name declared twice is an error."""
    table: dict[str, Callable[..., Any]] = {}
    for component in components:
        for name in dir(type(component)):
            if name.startswith("_") or not hasattr(getattr(type(component), name), _MARK):
                continue
            if name in table:
                raise TypeError(f"lever {name!r} is declared by two components; rename one")
            table[name] = getattr(component, name)
    return table
