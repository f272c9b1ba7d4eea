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

Fault isolation
---------------
A user callback that raises is counted and logged once and changes nothing else. That holds for
subscribers (``run`` and ``invalidate``), ``derived`` functions and their cleanups, and start
notifiers and their stop functions. ``set`` and ``update`` never raise because of a subscriber: the
drain calls each queued subscriber in its own ``try``, so every other subscriber still hears the
right value and the store keeps it. A ``derived`` function that raises leaves its store at its
previous value and notifies nobody; its inputs' pending marks were already cleared, so the next
change recomputes it as usual, and stores downstream never wait on it (a pending mark is only set
by a ``set`` that also queues the matching ``run``). A start notifier that raises counts as one
that returned nothing (the store is still started); a stop function that raises still stops it.
Only ``Exception`` is caught: ``KeyboardInterrupt`` and ``SystemExit`` go through. The updater
passed to ``update`` is not a callback: it runs in the caller's frame and its errors reach the
caller, like those of ``fn`` in ``store.set(fn(get(store)))``.

Each failure adds one to ``callback_errors`` (a read-only store of `CallbackErrors`: ``count`` and
``last``, ``"<where>: <ExcType>: <message>"``); the first failure of each callback is also logged,
with its traceback, on the ``"wsclient"`` logger. Other modules report their own user callbacks'
errors (the event router's listeners) with `report_callback_error`, so the package has one count.
``callback_errors`` is published in a drain of its own, after the queue entries that were already
waiting; an error raised during that drain (by its subscribers, or stores derived from it) is
logged but not counted, so a broken error display cannot feed itself.

A try costs nothing in CPython 3.11+ until something raises, so the hot path (one ``set``, one
subscriber) does the same work as without isolation: no extra calls, no allocation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar, overload

from .records import Record, record

__all__ = [
    "CallbackErrors",
    "Readable",
    "Subscriber",
    "Unsubscriber",
    "Writable",
    "callback_errors",
    "derived",
    "get",
    "readable",
    "readonly",
    "report_callback_error",
    "safe_not_equal",
    "subscriber_count",
    "writable",
]

logger = logging.getLogger("wsclient")

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

    __slots__ = ("failed", "invalidate", "run", "store")

    def __init__(
        self, run: Subscriber[T], invalidate: Invalidator, store: _WritableStore[T]
    ) -> None:
        self.run = run
        self.invalidate = invalidate
        self.store = store
        #: Which of its callbacks have raised (_RUN, _INVALIDATE): those are not logged again.
        self.failed = 0


_RUN = 1
_INVALIDATE = 2

# Svelte's subscriber_queue, as (subscription, value) pairs.
_queue: list[tuple[_Subscription[Any], Any]] = []


def _drain() -> None:
    """Run the queue until empty; a subscriber that raises is reported and the drain goes on."""
    global _publish_queued
    queue = _queue
    i = 0
    try:
        while i < len(queue):
            subscription, value = queue[i]
            i += 1
            try:
                subscription.run(value)
            except Exception as exc:
                _subscriber_failed(subscription, _RUN, exc)
    except BaseException:
        _publish_queued = False  # KeyboardInterrupt & co. drop the queue, and its _PUBLISHER
        raise
    finally:
        queue.clear()


def _param_count(fn: Callable[..., Any], *, required: bool) -> int:
    """How many positional arguments ``fn`` takes (only those without defaults if ``required``).

    Like JavaScript's ``fn.length``; a ``*args`` counts as unlimited when not ``required``. Plain
    functions and bound methods are read from their code object (``inspect`` costs tens of ms
    to import at page start-up); other callables go through ``inspect.signature``, and one
    whose signature cannot be read is assumed to take everything.
    """
    bound = getattr(fn, "__self__", None) is not None and hasattr(fn, "__func__")
    target = fn.__func__ if bound else fn  # type: ignore[attr-defined]
    code = getattr(target, "__code__", None)
    if code is None or not hasattr(target, "__defaults__"):
        return _param_count_slowly(fn, required=required)
    if code.co_flags & _VARARGS and not required:
        return 99
    count: int = code.co_argcount - bound
    if required:
        count -= len(target.__defaults__ or ())
    return max(0, count)


_VARARGS = 0x04  # CO_VARARGS: the function has a *args parameter


def _param_count_slowly(fn: Callable[..., Any], *, required: bool) -> int:
    import inspect

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
    """The store behind `writable`, `readable` and `derived`; use the functions, not this class."""

    __slots__ = ("_failed", "_kind", "_start", "_start_arity", "_stop", "_subscriptions", "_value")

    def __init__(
        self, value: T, start: StartStopNotifier[T] | None, kind: str = "writable"
    ) -> None:
        self._value = value
        self._start = start
        self._start_arity = 0 if start is None else min(_param_count(start, required=False), 2)
        self._stop: Cleanup | None = None
        self._subscriptions: dict[_Subscription[T], None] = {}
        #: What its __repr__ calls it: "writable", "readable" or "derived[<fn>]".
        self._kind = kind
        #: Which of its notifiers have raised (_START, _STOP): those are not logged again.
        self._failed = 0

    def set(self, new_value: T) -> None:
        """Store ``new_value`` and, if it differs (`safe_not_equal`), notify the subscribers."""
        # The hot path (a store may change with every inbound frame): skip every call we can.
        value = self._value
        if isinstance(value, _PRIMITIVES) and not safe_not_equal(value, new_value):
            return
        self._value = new_value
        if self._stop is None:  # not started: nobody to tell
            return
        run_queue = not _queue
        for subscription in tuple(self._subscriptions):
            invalidate = subscription.invalidate
            if invalidate is not _noop:
                try:
                    invalidate()
                except Exception as exc:
                    _subscriber_failed(subscription, _INVALIDATE, exc)
            _queue.append((subscription, new_value))
        if run_queue:
            _drain()

    def update(self, fn: Updater[T]) -> None:
        """``set(fn(current_value))``; an error of ``fn`` reaches the caller."""
        self.set(fn(self._value))

    def subscribe(self, run: Subscriber[T], invalidate: Invalidator | None = None) -> Unsubscriber:
        """Call ``run(value)`` now and on every change; return the function that stops it."""
        subscription = _Subscription(run, invalidate or _noop, self)
        self._subscriptions[subscription] = None
        if len(self._subscriptions) == 1:
            self._stop = self._call_start() or _noop
        try:
            run(self._value)
        except Exception as exc:
            _subscriber_failed(subscription, _RUN, exc)

        def unsubscribe() -> None:
            if subscription not in self._subscriptions:
                return  # already unsubscribed
            del self._subscriptions[subscription]
            stop = self._stop
            if not self._subscriptions and stop is not None:
                self._stop = None
                try:
                    stop()
                except Exception as exc:
                    self._notifier_failed(_STOP, stop, exc)

        return unsubscribe

    def _call_start(self) -> Cleanup | None:
        start: Any = self._start
        if start is None:
            return None
        arity = self._start_arity
        try:
            if arity == 0:
                result = start()
            elif arity == 1:
                result = start(self.set)
            else:
                result = start(self.set, self.update)
        except Exception as exc:
            self._notifier_failed(_START, start, exc)
            return None
        return result if callable(result) else None

    def _notifier_failed(self, which: int, fn: Callable[..., Any], exc: Exception) -> None:
        first = not self._failed & which
        self._failed |= which
        role = "start notifier" if which == _START else "stop function"
        _callback_failed(
            f"the {role} {_name(fn)} of {self!r}", exc, first, quiet=self is _errors_store
        )

    def __repr__(self) -> str:
        import reprlib  # only when printed: keeps a store's repr short whatever its value

        return f"{self._kind}({reprlib.repr(self._value)})"


_START = 1
_STOP = 2


class _ReadonlyStore(Generic[T]):
    """A store that only offers ``subscribe``."""

    __slots__ = ("_source",)

    def __init__(self, source: Readable[T]) -> None:
        self._source = source

    def subscribe(self, run: Subscriber[T], invalidate: Invalidator | None = None) -> Unsubscriber:
        """Call ``run(value)`` now and on every change; return the function that stops it."""
        return self._source.subscribe(run, invalidate)

    def __repr__(self) -> str:
        source = self._source
        if isinstance(source, _WritableStore) and source._kind != "writable":
            return repr(source)  # made by readable() or derived(): it has no other face
        return f"readonly({source!r})"


def writable(value: T, start: StartStopNotifier[T] | None = None) -> Writable[T]:
    """A store you can ``set``, ``update`` and ``subscribe`` to.

    ``start(set, update)`` (or ``start(set)``, or ``start()``) runs when the first subscriber
    arrives; if it returns a function, that runs when the last subscriber leaves.
    """
    return _WritableStore(value, start)


def readable(value: T, start: StartStopNotifier[T] | None = None) -> Readable[T]:
    """A store whose value only its ``start`` notifier can change (see `writable`)."""
    return _ReadonlyStore(_WritableStore(value, start, "readable"))


def readonly(store: Readable[T]) -> Readable[T]:
    """A read-only face of ``store``: it has ``subscribe`` but no ``set``/``update``."""
    return _ReadonlyStore(store)


def subscriber_count(store: Readable[Any]) -> int:
    """How many subscriptions a store made here has right now (a leak check for UIs that
    subscribe and unsubscribe, e.g. Svelte components on mount and unmount)."""
    while isinstance(store, _ReadonlyStore):
        store = store._source
    if not isinstance(store, _WritableStore):
        raise TypeError(f"subscriber_count() needs a store made by wsclient.stores, got {store!r}")
    return len(store._subscriptions)


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
    fn_name = _name(fn)
    failed = 0  # _FN / _CLEANUP once they have raised (logged once per derived store)

    def report(which: int, exc: Exception) -> None:
        nonlocal failed
        first = not failed & which
        failed |= which
        where = f"the derived function {fn_name}"
        if which == _CLEANUP:
            where = f"the cleanup returned by {where}"
        _callback_failed(where, exc, first, quiet=False)

    def start(set_: Setter[Any], update: UpdateFn[Any]) -> Cleanup:
        started = False
        values: list[Any] = [None] * len(stores_list)
        pending = 0
        cleanup: Cleanup = _noop

        def sync() -> None:
            nonlocal cleanup
            if pending:
                return
            if cleanup is not _noop:
                done, cleanup = cleanup, _noop
                try:
                    done()
                except Exception as exc:
                    report(_CLEANUP, exc)
            args = values[0] if single else tuple(values)
            try:
                if not auto:
                    result = fn(args, set_, update) if pass_update else fn(args, set_)
                    cleanup = result if callable(result) else _noop
                    return
                value = fn(args)
            except Exception as exc:
                report(_FN, exc)  # the store keeps its value; the next change recomputes
                return
            set_(value)

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
            nonlocal started, cleanup
            for unsubscribe in unsubscribers:
                unsubscribe()
            done, cleanup = cleanup, _noop
            try:
                done()
            except Exception as exc:
                report(_CLEANUP, exc)
            # Queued callbacks may still arrive after this: they must not recompute.
            started = False

        return stop

    return _ReadonlyStore(_WritableStore(initial_value, start, f"derived[{fn_name}]"))


_FN = 1
_CLEANUP = 2


# --- callback errors -----------------------------------------------------------------------


@record
class CallbackErrors(Record):
    """How many user callbacks have raised, and the latest: ``"<where>: <ExcType>: <message>"``."""

    count: int = 0
    last: str | None = None


_errors_store: _WritableStore[CallbackErrors] = _WritableStore(CallbackErrors(), None, "readable")
#: Every user callback that raised in the package (see the module docstring); read-only.
callback_errors: Readable[CallbackErrors] = _ReadonlyStore(_errors_store)

_error_count = 0
_last_error: str | None = None
_publishing = False  # callback_errors is being published: errors now are logged, not counted
_publish_queued = False  # a _publish entry waits in _queue
_reported_keys: set[object] = set()  # report_callback_error's keys that have been logged


def report_callback_error(where: str, exc: BaseException, key: object) -> None:
    """Count ``exc``, raised by a user callback described by ``where``, in `callback_errors`.

    It is logged (with its traceback) the first time ``key`` is reported, only counted after that.
    ``key`` names the callback (a registration object or a string); it is kept for good, so use
    one per callback, not one per call.
    """
    first = key not in _reported_keys
    if first:
        _reported_keys.add(key)
    _callback_failed(where, exc, first, quiet=False)


def _callback_failed(where: str, exc: BaseException, first: bool, *, quiet: bool) -> None:
    """Log ``exc`` if ``first``; count it and publish the count unless ``quiet`` or publishing."""
    global _error_count, _last_error, _publish_queued
    if quiet or _publishing:
        if first:
            logger.error(
                "%s raised; it is not counted in callback_errors, as it runs on that store's "
                "updates, and later errors of it are ignored",
                where,
                exc_info=exc,
            )
        return
    if first:
        logger.error(
            "%s raised; everything else carries on. Later errors of it are counted in "
            "wsclient.stores.callback_errors, not logged",
            where,
            exc_info=exc,
        )
    _error_count += 1
    _last_error = f"{where}: {type(exc).__name__}: {exc}"
    if _publish_queued:
        return  # the waiting publication will carry this one too
    if _queue:  # a drain is running (or about to): publish after what it has queued
        _publish_queued = True
        _queue.append((_PUBLISHER, None))
    else:
        _publish()


def _publish(_: object = None) -> None:
    """Set callback_errors in a drain of its own, with errors raised meanwhile only logged."""
    global _queue, _publishing, _publish_queued
    _publish_queued = False
    outer = _queue
    _queue = []
    _publishing = True
    try:
        _errors_store.set(CallbackErrors(_error_count, _last_error))
    finally:
        _publishing = False
        _queue = outer


_PUBLISHER: _Subscription[Any] = _Subscription(_publish, _noop, _errors_store)


def _subscriber_failed(subscription: _Subscription[Any], which: int, exc: Exception) -> None:
    first = not subscription.failed & which
    subscription.failed |= which
    store = subscription.store
    if which == _RUN:
        where = f"the subscriber {_name(subscription.run)} of {store!r}"
    else:
        where = f"the invalidate callback {_name(subscription.invalidate)} of {store!r}"
    _callback_failed(where, exc, first, quiet=store is _errors_store)


def _name(fn: object) -> str:
    """A callback's qualified name, for messages."""
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else repr(fn)
