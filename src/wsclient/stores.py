"""Svelte stores in Python: `writable`, `readable`, `derived`, `readonly`, `get`.

Theory of operation
-------------------
This is a literal port of ``svelte/src/store/shared/index.js`` (svelte 5). A store holds a value
and a set of subscribers; ``subscribe(run, invalidate=None)`` calls ``run`` at once with the current
value and returns the unsubscriber. The start notifier runs when the first subscriber arrives and
the function it returns ("stop") runs when the last one leaves.

Every ``set`` that changes the value first *invalidates* all of the store's subscribers and then
pushes ``(subscriber, value)`` onto one module-wide queue. Only the outermost ``set`` drains that
queue; ``set`` calls made by subscribers while it drains just append. A ``derived`` store marks an
input as pending when it is invalidated and recomputes only once no input is pending, so in a
diamond (``a`` and ``b`` both derived from ``count``, ``c`` derived from both) ``c`` sees one
consistent update per change of ``count``, never ``a1 + b0``.

``safe_not_equal`` follows Svelte: primitives (None, bool, numbers, str, bytes) are compared by
value and type (NaN equals NaN); every other value, including dicts, lists and frozen dataclasses,
always counts as changed, so mutating a dict and setting it again notifies.

A subscriber that raises does not stop the others: the queue is drained anyway and the first
exception is re-raised from the ``set`` that started the drain.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar, overload

__all__ = [
    "Readable",
    "Subscriber",
    "Unsubscriber",
    "Writable",
    "derived",
    "get",
    "readable",
    "readonly",
    "safe_not_equal",
    "writable",
]

T = TypeVar("T")
S = TypeVar("S")
T_co = TypeVar("T_co", covariant=True)

Subscriber = Callable[[T], None]
Unsubscriber = Callable[[], None]
Invalidator = Callable[[], None]
Updater = Callable[[T], T]
Setter = Callable[[T], None]
UpdateFn = Callable[[Updater[T]], None]
Cleanup = Callable[[], None]
#: A start notifier takes ``()``, ``(set)`` or ``(set, update)`` and may return a stop function.
StartStopNotifier = (
    Callable[[], Cleanup | None]
    | Callable[[Setter[T]], Cleanup | None]
    | Callable[[Setter[T], UpdateFn[T]], Cleanup | None]
)


class Readable(Protocol[T_co]):
    """Anything with Svelte's ``subscribe(run, invalidate=None) -> unsubscribe``."""

    def subscribe(
        self, run: Callable[[T_co], None], invalidate: Invalidator | None = None
    ) -> Unsubscriber: ...


class Writable(Readable[T], Protocol):
    """A readable store that can also be ``set`` and ``update``d."""

    def set(self, value: T) -> None: ...

    def update(self, fn: Updater[T]) -> None: ...


_PRIMITIVES = (type(None), bool, int, float, complex, str, bytes)


def safe_not_equal(a: object, b: object) -> bool:
    """Svelte's change test: primitives by value (NaN == NaN), everything else always changed."""
    if isinstance(a, _PRIMITIVES):
        if a != a:  # NaN
            return b == b
        return type(a) is not type(b) or a != b
    return True


def _noop() -> None:
    return None


class _Subscription(Generic[T]):
    """One ``subscribe`` call; identity-hashed so the same function may subscribe twice."""

    __slots__ = ("invalidate", "run")

    def __init__(self, run: Subscriber[T], invalidate: Invalidator) -> None:
        self.run = run
        self.invalidate = invalidate


# Svelte's subscriber_queue, as (subscription, value) pairs.
_queue: list[tuple[_Subscription[Any], Any]] = []


def _drain() -> None:
    """Run the queue until empty, even if a subscriber raises; then re-raise the first error."""
    first_error: BaseException | None = None
    queue = _queue
    i = 0
    try:
        while i < len(queue):
            subscription, value = queue[i]
            i += 1
            try:
                subscription.run(value)
            except Exception as exc:
                if first_error is None:
                    first_error = exc
    finally:
        queue.clear()
    if first_error is not None:
        raise first_error


def _param_count(fn: Callable[..., Any], *, required: bool) -> int:
    """How many positional arguments ``fn`` takes (only those without defaults if ``required``).

    Like JavaScript's ``fn.length``; a ``*args`` counts as unlimited when not ``required``. A
    callable whose signature cannot be read is assumed to take everything.
    """
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 0 if required else 99
    count = 0
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            if required and p.default is not p.empty:
                break
            count += 1
        elif p.kind is p.VAR_POSITIONAL and not required:
            return 99
    return count


class _WritableStore(Generic[T]):
    """The store behind `writable`; use the functions, not this class."""

    __slots__ = ("_start", "_start_arity", "_stop", "_subscriptions", "_value")

    def __init__(self, value: T, start: StartStopNotifier[T] | None) -> None:
        self._value = value
        self._start = start
        self._start_arity = 0 if start is None else min(_param_count(start, required=False), 2)
        self._stop: Cleanup | None = None
        self._subscriptions: dict[_Subscription[T], None] = {}

    def set(self, new_value: T) -> None:
        """Store ``new_value`` and, if it differs (`safe_not_equal`), notify the subscribers."""
        # The hot path (a store may change with every inbound frame): skip every call we can.
        value = self._value
        if isinstance(value, _PRIMITIVES) and not safe_not_equal(value, new_value):
            return
        self._value = new_value
        if self._stop is None:  # not started: nobody to tell
            return
        subscriptions = tuple(self._subscriptions)
        run_queue = not _queue
        for subscription in subscriptions:
            invalidate = subscription.invalidate
            if invalidate is not _noop:
                invalidate()
            _queue.append((subscription, new_value))
        if run_queue:
            _drain()

    def update(self, fn: Updater[T]) -> None:
        """``set(fn(current_value))``."""
        self.set(fn(self._value))

    def subscribe(self, run: Subscriber[T], invalidate: Invalidator | None = None) -> Unsubscriber:
        """Call ``run(value)`` now and on every change; return the function that stops it."""
        subscription = _Subscription(run, invalidate or _noop)
        self._subscriptions[subscription] = None
        if len(self._subscriptions) == 1:
            self._stop = self._call_start() or _noop
        run(self._value)

        def unsubscribe() -> None:
            if subscription not in self._subscriptions:
                return  # already unsubscribed
            del self._subscriptions[subscription]
            stop = self._stop
            if not self._subscriptions and stop is not None:
                self._stop = None
                stop()

        return unsubscribe

    def _call_start(self) -> Cleanup | None:
        start: Any = self._start
        if start is None:
            return None
        arity = self._start_arity
        if arity == 0:
            result = start()
        elif arity == 1:
            result = start(self.set)
        else:
            result = start(self.set, self.update)
        return result if callable(result) else None

    def __repr__(self) -> str:
        return f"writable({self._value!r})"


class _ReadonlyStore(Generic[T]):
    """A store that only offers ``subscribe``."""

    __slots__ = ("_source",)

    def __init__(self, source: Readable[T]) -> None:
        self._source = source

    def subscribe(self, run: Subscriber[T], invalidate: Invalidator | None = None) -> Unsubscriber:
        """Call ``run(value)`` now and on every change; return the function that stops it."""
        return self._source.subscribe(run, invalidate)

    def __repr__(self) -> str:
        return f"readonly({self._source!r})"


def writable(value: T, start: StartStopNotifier[T] | None = None) -> Writable[T]:
    """A store you can ``set``, ``update`` and ``subscribe`` to.

    ``start(set, update)`` (or ``start(set)``, or ``start()``) runs when the first subscriber
    arrives; if it returns a function, that runs when the last subscriber leaves.
    """
    return _WritableStore(value, start)


def readable(value: T, start: StartStopNotifier[T] | None = None) -> Readable[T]:
    """A store whose value only its ``start`` notifier can change (see `writable`)."""
    return _ReadonlyStore(_WritableStore(value, start))


def readonly(store: Readable[T]) -> Readable[T]:
    """A read-only face of ``store``: it has ``subscribe`` but no ``set``/``update``."""
    return _ReadonlyStore(store)


def get(store: Readable[T]) -> T:
    """The store's current value, read by subscribing and unsubscribing at once."""
    box: list[T] = []
    store.subscribe(box.append)()
    if not box:
        raise TypeError(
            f"{store!r} did not call its subscriber at once, so it breaks the store contract; "
            "its subscribe(run) must call run(current_value) before returning"
        )
    return box[0]


@overload
def derived(
    stores: Readable[S], fn: Callable[[S], T], initial_value: T | None = None
) -> Readable[T]: ...
@overload
def derived(
    stores: Readable[S],
    fn: Callable[[S, Setter[T]], Cleanup | None],
    initial_value: T | None = None,
) -> Readable[T]: ...
@overload
def derived(
    stores: Readable[S],
    fn: Callable[[S, Setter[T], UpdateFn[T]], Cleanup | None],
    initial_value: T | None = None,
) -> Readable[T]: ...
@overload
def derived(
    stores: Sequence[Readable[Any]],
    fn: Callable[[tuple[Any, ...]], T],
    initial_value: T | None = None,
) -> Readable[T]: ...
@overload
def derived(
    stores: Sequence[Readable[Any]],
    fn: Callable[[tuple[Any, ...], Setter[T]], Cleanup | None],
    initial_value: T | None = None,
) -> Readable[T]: ...
@overload
def derived(
    stores: Sequence[Readable[Any]],
    fn: Callable[[tuple[Any, ...], Setter[T], UpdateFn[T]], Cleanup | None],
    initial_value: T | None = None,
) -> Readable[T]: ...
def derived(stores: Any, fn: Callable[..., Any], initial_value: Any = None) -> Readable[Any]:
    """A store computed from one store or a sequence of stores.

    ``fn(value)`` (or ``fn(values_tuple)`` for a sequence) returns the new value. If ``fn`` takes
    two or more required arguments, it is called as ``fn(values, set)`` or
    ``fn(values, set, update)`` instead, sets the value itself (``initial_value`` until then), and
    may return a cleanup function that runs before the next call and when the store stops.
    As in Svelte's typings, a set-style store without ``initial_value`` holds None until ``fn``
    sets it.
    Updates are glitch-free: a change reaches ``fn`` once, after every input has caught up.
    """
    single = not isinstance(stores, list | tuple)
    stores_list: list[Readable[Any]] = [stores] if single else list(stores)
    for i, store in enumerate(stores_list):
        if not callable(getattr(store, "subscribe", None)):
            where = "" if single else f" at index {i}"
            raise TypeError(
                f"derived() expects a store or a list of stores, got {store!r}{where}; "
                "pass objects with a subscribe(run) method"
            )
    auto = _param_count(fn, required=True) < 2
    pass_update = _param_count(fn, required=False) >= 3

    def start(set_: Setter[Any], update: UpdateFn[Any]) -> Cleanup:
        started = False
        values: list[Any] = [None] * len(stores_list)
        pending = 0
        cleanup: Cleanup = _noop

        def sync() -> None:
            nonlocal cleanup
            if pending:
                return
            cleanup()
            args = values[0] if single else tuple(values)
            if auto:
                set_(fn(args))
            else:
                result = fn(args, set_, update) if pass_update else fn(args, set_)
                cleanup = result if callable(result) else _noop

        def make_callbacks(i: int) -> tuple[Subscriber[Any], Invalidator]:
            bit = 1 << i

            def run(value: Any) -> None:
                nonlocal pending
                values[i] = value
                pending &= ~bit
                if started:
                    sync()

            def invalidate() -> None:
                nonlocal pending
                pending |= bit

            return run, invalidate

        unsubscribers = [store.subscribe(*make_callbacks(i)) for i, store in enumerate(stores_list)]
        started = True
        sync()

        def stop() -> None:
            nonlocal started
            for unsubscribe in unsubscribers:
                unsubscribe()
            cleanup()
            # Queued callbacks may still arrive after this: they must not recompute.
            started = False

        return stop

    return readable(initial_value, start)
