"""The Svelte store contract, ported from svelte/tests/store/test.ts, plus fault isolation."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import pytest

from wsclient.records import FrozenInstanceError
from wsclient.stores import (
    CallbackErrors,
    Readable,
    Writable,
    callback_errors,
    derived,
    get,
    readable,
    readonly,
    report_callback_error,
    safe_not_equal,
    writable,
)


def collect(store: Readable[Any]) -> tuple[list[Any], Callable[[], None]]:
    """Subscribe and record every value; return (values, unsubscribe)."""
    values: list[Any] = []
    return values, store.subscribe(values.append)


# --- writable ------------------------------------------------------------------------------


def test_creates_a_writable_store() -> None:
    """set and update notify subscribers; nothing arrives after unsubscribing."""
    count = writable(0)
    values, unsubscribe = collect(count)
    count.set(1)
    count.update(lambda n: n + 1)
    unsubscribe()
    count.set(3)
    count.update(lambda n: n + 1)
    assert values == [0, 1, 2]


def test_creates_an_undefined_writable_store() -> None:
    """A store created with None hands None to its subscriber."""
    values, unsubscribe = collect(writable(None))
    unsubscribe()
    assert values == [None]


def test_subscriber_is_called_synchronously_with_the_current_value() -> None:
    """subscribe calls run before it returns."""
    store = writable("now")
    seen: list[str] = []
    store.subscribe(seen.append)
    assert seen == ["now"]


def test_calls_provided_subscribe_handler() -> None:
    """start runs on the first subscriber, its stop on the last."""
    called = 0

    def start() -> Callable[[], None]:
        nonlocal called
        called += 1

        def stop() -> None:
            nonlocal called
            called -= 1

        return stop

    store = writable(0, start)
    unsubscribe1 = store.subscribe(lambda _: None)
    assert called == 1
    unsubscribe2 = store.subscribe(lambda _: None)
    assert called == 1
    unsubscribe1()
    assert called == 1
    unsubscribe2()
    assert called == 0


def test_start_and_stop_counts_over_several_subscription_rounds() -> None:
    """Each round of first-subscribe/last-unsubscribe runs start and stop exactly once."""
    starts = stops = 0

    def start(set_: Callable[[int], None]) -> Callable[[], None]:
        nonlocal starts
        starts += 1

        def stop() -> None:
            nonlocal stops
            stops += 1

        return stop

    store = writable(0, start)
    for _ in range(3):
        a = store.subscribe(lambda _: None)
        b = store.subscribe(lambda _: None)
        a()
        b()
    assert (starts, stops) == (3, 3)


def test_does_not_assume_immutable_data() -> None:
    """Setting the same dict again notifies (objects always count as changed)."""
    obj: dict[str, int] = {}
    called = 0

    def on_value(_: object) -> None:
        nonlocal called
        called += 1

    store = writable(obj)
    store.subscribe(on_value)
    store.set(obj)
    assert called == 2
    store.update(lambda o: o)
    assert called == 3


def test_set_skips_equal_primitives() -> None:
    """Setting an equal number or string notifies nobody."""
    store = writable(1)
    values, _ = collect(store)
    store.set(1)
    store.set(2)
    store.set(2)
    assert values == [1, 2]


def test_only_calls_subscriber_once_initially_including_on_resubscriptions() -> None:
    """A start notifier that sets a value does not make subscribe call run twice."""
    num = 0

    def start(set_: Callable[[int], None]) -> None:
        nonlocal num
        num += 1
        set_(num)

    store = writable(num, start)
    count1: list[int] = []
    count2: list[int] = []
    store.subscribe(count1.append)()
    assert len(count1) == 1
    unsubscribe = store.subscribe(count2.append)
    assert len(count2) == 1
    unsubscribe()


def test_no_error_even_if_unsubscribe_calls_twice() -> None:
    """Calling an unsubscriber twice is harmless and does not stop the store twice."""
    stops = 0

    def start() -> Callable[[], None]:
        def stop() -> None:
            nonlocal stops
            stops += 1

        return stop

    store = writable(0, start)
    unsubscribe = store.subscribe(lambda _: None)
    keep = store.subscribe(lambda _: None)
    unsubscribe()
    unsubscribe()
    assert stops == 0
    keep()
    assert stops == 1


def test_same_function_may_subscribe_twice() -> None:
    """Two subscriptions with one function are two subscribers; each unsubscriber removes one."""
    store = writable(0)
    seen: list[int] = []
    first = store.subscribe(seen.append)
    store.subscribe(seen.append)
    first()
    store.set(1)
    assert seen == [0, 0, 1]


def test_invalidate_is_called_before_run() -> None:
    """subscribe(run, invalidate) hears invalidate, then run, on each change."""
    store = writable(0)
    log: list[str] = []
    store.subscribe(lambda v: log.append(f"run {v}"), lambda: log.append("invalidate"))
    store.set(1)
    assert log == ["run 0", "invalidate", "run 1"]


# --- readable ------------------------------------------------------------------------------


def test_creates_a_readable_store() -> None:
    """Only the start notifier sets a readable store, and only while it has subscribers."""
    running = False
    tick: Callable[[int], None] = lambda _: None  # noqa: E731

    def start(set_: Callable[[int], None]) -> Callable[[], None]:
        nonlocal running, tick
        tick = set_
        running = True
        set_(0)

        def stop() -> None:
            nonlocal running, tick
            tick = lambda _: None  # noqa: E731
            running = False

        return stop

    store: Readable[int | None] = readable(None, start)
    assert not running
    values, unsubscribe = collect(store)
    assert running
    tick(1)
    tick(2)
    unsubscribe()
    assert not running
    tick(3)
    tick(4)
    assert values == [0, 1, 2]


def test_passes_an_optional_update_function() -> None:
    """A two-argument start notifier gets set and update."""
    running = False
    tick: Callable[[int], None] = lambda _: None  # noqa: E731
    add: Callable[[int], None] = lambda _: None  # noqa: E731

    def start(
        set_: Callable[[int], None], update: Callable[[Callable[[int], int]], None]
    ) -> Callable[[], None]:
        nonlocal running, tick, add
        tick = set_
        running = True
        add = lambda n: update(lambda value: value + n)  # noqa: E731
        set_(0)

        def stop() -> None:
            nonlocal running, tick, add
            tick = lambda _: None  # noqa: E731
            add = lambda _: None  # noqa: E731
            running = False

        return stop

    store = readable(0, start)
    assert not running
    values, unsubscribe = collect(store)
    assert running
    tick(1)
    tick(2)
    add(3)
    add(4)
    tick(5)
    add(6)
    unsubscribe()
    assert not running
    tick(7)
    add(8)
    assert values == [0, 1, 2, 5, 9, 5, 11]


def test_creates_an_undefined_readable_store() -> None:
    """readable(None) hands None to its subscriber."""
    values, unsubscribe = collect(readable(None))
    unsubscribe()
    assert values == [None]


def test_creates_a_readable_store_without_updater() -> None:
    """readable(100) with no start notifier just holds 100."""
    values, unsubscribe = collect(readable(100))
    unsubscribe()
    assert values == [100]


def test_readable_has_no_set() -> None:
    """A readable store offers subscribe only."""
    store = readable(1)
    assert not hasattr(store, "set")
    assert not hasattr(store, "update")


# --- derived -------------------------------------------------------------------------------


def test_derived_maps_a_single_store() -> None:
    """derived(a, fn) follows a while subscribed, and stops following after."""
    a = writable(1)
    b = derived(a, lambda n: n * 2)
    values, unsubscribe = collect(b)
    a.set(2)
    assert values == [2, 4]
    unsubscribe()
    a.set(3)
    assert values == [2, 4]


def test_derived_maps_multiple_stores() -> None:
    """derived([a, b], fn) gets a tuple of the current values."""
    a = writable(2)
    b = writable(3)
    c = derived([a, b], lambda ab: ab[0] * ab[1])
    values, unsubscribe = collect(c)
    a.set(4)
    b.set(5)
    assert values == [6, 12, 20]
    unsubscribe()
    a.set(6)
    assert values == [6, 12, 20]


def test_derived_passes_optional_set_function() -> None:
    """A two-argument fn sets the value itself; initial_value shows until it does."""
    number = writable(1)

    def evens_of(n: int, set_: Callable[[int], None]) -> None:
        if n % 2 == 0:
            set_(n)

    evens = derived(number, evens_of, 0)
    values, unsubscribe = collect(evens)
    for n in (2, 3, 4, 5):
        number.set(n)
    assert values == [0, 2, 4]
    unsubscribe()
    for n in (6, 7, 8):
        number.set(n)
    assert values == [0, 2, 4]


def test_derived_passes_optional_set_and_update_functions() -> None:
    """A three-argument fn gets set and update."""
    number = writable(1)

    def fn(
        n: int, set_: Callable[[int], None], update: Callable[[Callable[[int], int]], None]
    ) -> None:
        if n % 2 == 0:
            set_(n)
        if n % 4 == 0:
            update(lambda v: v * v)

    store = derived(number, fn, 0)
    values, unsubscribe = collect(store)
    for n in (2, 3, 4, 5, 6):
        number.set(n)
    assert values == [0, 2, 4, 16, 6]
    for n in (7, 8, 9, 10):
        number.set(n)
    assert values == [0, 2, 4, 16, 6, 8, 64, 10]
    unsubscribe()
    number.set(11)
    number.set(12)
    assert values == [0, 2, 4, 16, 6, 8, 64, 10]


def test_derived_prevents_glitches() -> None:
    """A store derived from a store and its derivative never sees them disagree."""
    lastname = writable("Jekyll")
    firstname = derived(lastname, lambda n: "Henry" if n == "Jekyll" else "Edward")
    fullname = derived([firstname, lastname], lambda names: " ".join(names))
    values, unsubscribe = collect(fullname)
    lastname.set("Hyde")
    assert values == ["Henry Jekyll", "Edward Hyde"]
    unsubscribe()


def test_derived_prevents_diamond_dependency_problem() -> None:
    """count -> a, b -> combined: one update of count is one consistent update of combined."""
    count = writable(0)
    a = derived(count, lambda c: f"a{c}")
    b = derived(count, lambda c: f"b{c}")
    combined = derived([a, b], lambda ab: ab[0] + ab[1])
    values, unsubscribe = collect(combined)
    assert values == ["a0b0"]
    count.set(1)
    assert values == ["a0b0", "a1b1"]
    unsubscribe()


def test_derived_dependency_does_not_update_and_shared_ancestor_updates() -> None:
    """An input that recomputes to the same primitive still lets its sibling's change through."""
    root = writable({"a": 0, "b": 0})
    a = derived(root, lambda r: f"a{r['a']}")
    b = derived([a, root], lambda ar: f"b{ar[1]['b']}{ar[0]}")
    values, unsubscribe = collect(b)
    assert values == ["b0a0"]
    root.set({"a": 0, "b": 1})
    assert values == ["b0a0", "b1a0"]
    unsubscribe()


def test_derived_is_updated_with_safe_not_equal_logic() -> None:
    """A derived store returning the same list object still notifies."""
    arr = [0]
    number = writable(1)

    def fill(n: int) -> list[int]:
        arr[0] = n
        return arr

    numbers = derived(number, fill)
    concatenated: list[int] = []
    unsubscribe = numbers.subscribe(lambda v: concatenated.extend(v))
    number.set(2)
    number.set(3)
    assert concatenated == [1, 2, 3]
    unsubscribe()


def test_derived_calls_a_cleanup_function() -> None:
    """The returned cleanup runs before each recomputation and when the store stops."""
    num = writable(1)
    cleaned_up: list[int] = []

    def double(n: int, set_: Callable[[int], None]) -> Callable[[], None]:
        set_(n * 2)
        return lambda: cleaned_up.append(n)

    d = derived(num, double)
    num.set(2)
    values, unsubscribe = collect(d)
    num.set(3)
    num.set(4)
    assert values == [4, 6, 8]
    assert cleaned_up == [2, 3]
    unsubscribe()
    assert cleaned_up == [2, 3, 4]


def test_derived_discards_non_function_return_values() -> None:
    """A set-style fn returning a non-callable is fine."""
    num = writable(1)

    def double(n: int, set_: Callable[[int], None]) -> Any:
        set_(n * 2)
        return {}

    d = derived(num, double)
    num.set(2)
    values, unsubscribe = collect(d)
    num.set(3)
    num.set(4)
    assert values == [4, 6, 8]
    unsubscribe()


def test_derived_allows_different_types() -> None:
    """Inputs of different types combine."""
    a = writable("one")
    b = writable(1)
    c = derived([a, b], lambda ab: f"{ab[0]} {ab[1]}")
    assert get(c) == "one 1"
    a.set("two")
    b.set(2)
    assert get(c) == "two 2"


def test_derived_doesnt_restart_when_unsubscribed_from_another_store_with_a_shared_ancestor() -> (
    None
):
    """A derived store subscribed from another's callback stops cleanly when that ends."""
    a = writable(True)
    b_started = False

    def b_fn(_: bool, __: Callable[[Any], None]) -> Callable[[], None]:
        nonlocal b_started
        b_started = True

        def cleanup() -> None:
            nonlocal b_started
            assert b_started
            b_started = False

        return cleanup

    b = derived(a, b_fn)

    def c_fn(value: bool, set_: Callable[[Any], None]) -> Callable[[], None] | None:
        return b.subscribe(set_) if value else None

    c = derived(a, c_fn)
    c.subscribe(lambda _: None)
    a.set(False)
    assert b_started is False


def test_derived_starts_and_stops_its_inputs_with_its_own_subscribers() -> None:
    """A derived store subscribes to its inputs on its first subscriber and leaves on its last."""
    starts = stops = 0

    def start() -> Callable[[], None]:
        nonlocal starts
        starts += 1

        def stop() -> None:
            nonlocal stops
            stops += 1

        return stop

    source = writable(1, start)
    d = derived(source, lambda n: n + 1)
    assert (starts, stops) == (0, 0)
    first = d.subscribe(lambda _: None)
    second = d.subscribe(lambda _: None)
    assert (starts, stops) == (1, 0)
    first()
    second()
    assert (starts, stops) == (1, 1)


def test_derived_fn_with_defaulted_second_argument_is_auto() -> None:
    """Like fn.length, only arguments without defaults count towards set-style."""
    a = writable(3)

    def plus(n: int, extra: int = 10) -> int:
        return n + extra

    d = derived(a, plus)
    assert get(d) == 13


@pytest.mark.parametrize("bad", [None, 5, "store"])
def test_derived_errors_on_a_non_store_input(bad: Any) -> None:
    """derived(None, fn) raises a TypeError naming the bad input."""
    with pytest.raises(TypeError, match="expects a store"):
        derived(bad, lambda n: n)


def test_derived_errors_on_a_non_store_in_a_list() -> None:
    """derived([a, None], fn) names the index of the bad input."""
    with pytest.raises(TypeError, match="index 1"):
        derived([writable(1), None], lambda ns: ns)  # type: ignore[list-item]


# --- get / readonly ------------------------------------------------------------------------


def test_get_gets_the_current_value_of_a_store() -> None:
    """get() returns the value, running start and stop around the read."""
    store = readable(42, lambda: None)
    assert get(store) == 42


def test_get_explains_a_store_that_breaks_the_contract() -> None:
    """A store that does not call run at once makes get raise a TypeError that says so."""

    class Lazy:
        def subscribe(self, run: Any, invalidate: Any = None) -> Callable[[], None]:
            return lambda: None

    with pytest.raises(TypeError, match="call run"):
        get(Lazy())


def test_readonly_makes_a_store_readonly() -> None:
    """readonly(store) follows the store but cannot set it."""
    writable_store = writable(1)
    readable_store = readonly(writable_store)
    assert get(readable_store) == get(writable_store)
    writable_store.set(2)
    assert get(readable_store) == 2
    assert not hasattr(readable_store, "set")


# --- safe_not_equal ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "changed"),
    [
        (1, 1, False),
        (1, 2, True),
        ("x", "x", False),
        (None, None, False),
        (math.nan, math.nan, False),
        (math.nan, 1.0, True),
        (1.0, math.nan, True),
        (True, 1, True),
        (1, 1.0, True),
        ({}, {}, True),
        ([], [], True),
        ((), (), True),
    ],
)
def test_safe_not_equal(a: object, b: object, changed: bool) -> None:
    """Primitives compare by value and type, NaN equals NaN, objects always change."""
    assert safe_not_equal(a, b) is changed


# --- fault isolation: a raising callback is counted, logged once, and changes nothing else ---


def error_count() -> int:
    """How many callback errors `callback_errors` has counted so far (tests compare deltas)."""
    return get(callback_errors).count


def failing(
    exc: BaseException, when: Callable[[Any], bool] = lambda _: True
) -> Callable[[Any], None]:
    """A subscriber that raises ``exc`` for every value ``when`` accepts."""

    def bad(value: Any) -> None:
        if when(value):
            raise exc

    return bad


def error_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The ERROR records of the "wsclient" logger."""
    return [r for r in caplog.records if r.name == "wsclient" and r.levelno == logging.ERROR]


def test_set_does_not_raise_when_a_subscriber_raises() -> None:
    """set() returns normally although a subscriber raised."""
    store = writable(0)
    store.subscribe(failing(RuntimeError("boom"), lambda v: v == 1))
    store.set(1)


def test_update_does_not_raise_when_a_subscriber_raises() -> None:
    """update() returns normally although a subscriber raised."""
    store = writable(0)
    store.subscribe(failing(RuntimeError("boom"), lambda v: v == 1))
    store.update(lambda n: n + 1)


def test_the_other_subscribers_hear_the_value_when_one_raises() -> None:
    """Subscribers before and after the raising one all get the new value."""
    store = writable(0)
    before: list[int] = []
    after: list[int] = []
    store.subscribe(before.append)
    store.subscribe(failing(RuntimeError("boom"), lambda v: v == 1))
    store.subscribe(after.append)
    store.set(1)
    store.set(2)
    assert (before, after) == ([0, 1, 2], [0, 1, 2])


def test_the_store_keeps_its_value_when_a_subscriber_raises() -> None:
    """The value set stays set."""
    store = writable(0)
    store.subscribe(failing(RuntimeError("boom"), lambda v: v == 1))
    store.set(1)
    assert get(store) == 1


def test_a_raising_subscriber_leaves_derived_stores_consistent() -> None:
    """A diamond downstream of a store with a raising subscriber sees every change."""
    count = writable(0)
    combined = derived(
        [derived(count, lambda c: c), derived(count, lambda c: 2 * c)], lambda ab: ab[0] + ab[1]
    )
    values, _ = collect(combined)
    count.subscribe(failing(ValueError("one"), lambda v: v == 1))
    count.set(1)
    count.set(2)
    assert values == [0, 3, 6]


def test_a_subscriber_set_off_by_another_store_is_isolated_too() -> None:
    """A subscriber raising in a drain started by another subscriber does not stop the outer one."""
    source = writable(0)
    target = writable(0)
    seen: list[int] = []
    source.subscribe(target.set)
    target.subscribe(failing(RuntimeError("inner"), lambda v: v == 1))
    source.subscribe(seen.append)
    source.set(1)
    assert (get(target), seen) == (1, [0, 1])


def test_a_raising_invalidate_does_not_stop_the_notification() -> None:
    """If invalidate raises, its run and the other subscribers are still called."""
    store = writable(0)
    runs: list[int] = []
    others: list[int] = []

    def bad_invalidate() -> None:
        raise RuntimeError("invalidate")

    store.subscribe(runs.append, bad_invalidate)
    store.subscribe(others.append)
    store.set(1)
    assert (runs, others) == ([0, 1], [0, 1])


def test_a_subscriber_raising_on_subscribe_stays_subscribed() -> None:
    """subscribe() returns the unsubscriber although run raised at once, and later values arrive."""
    store = writable(0)
    seen: list[int] = []

    def bad_at_first(value: int) -> None:
        seen.append(value)
        if value == 0:
            raise RuntimeError("first")

    unsubscribe = store.subscribe(bad_at_first)
    store.set(1)
    unsubscribe()
    store.set(2)
    assert seen == [0, 1]


def test_an_updater_error_reaches_the_caller() -> None:
    """update(fn) is not a callback: an error of fn is raised from update and nothing changes."""
    store = writable(0)
    before = error_count()
    with pytest.raises(ZeroDivisionError):
        store.update(lambda n: 1 // n)
    assert (get(store), error_count()) == (0, before)


def test_a_raising_derived_function_keeps_the_previous_value() -> None:
    """derived's value and its subscribers stay as they were when fn raises."""
    source = writable(1)

    def inverse(n: int) -> float:
        return 1 / n

    values, _ = collect(derived(source, inverse))
    source.set(0)
    assert values == [1.0]


def test_derived_recovers_after_its_function_raised() -> None:
    """The next change that does not raise updates the derived store as usual."""
    source = writable(1)
    values, _ = collect(derived(source, lambda n: 1 / n))
    source.set(0)
    source.set(4)
    assert values == [1.0, 0.25]


def test_a_raising_derived_function_does_not_block_stores_downstream() -> None:
    """A store over a failed input and a working one still follows every change."""
    count = writable(1)
    inverse = derived(count, lambda c: 1 / c)
    double = derived(count, lambda c: 2 * c)
    values, _ = collect(derived([inverse, double], lambda pair: pair))
    count.set(0)
    count.set(2)
    assert values == [(1.0, 2), (1.0, 0), (0.5, 4)]


def test_a_raising_derived_function_is_counted() -> None:
    """Each failure of a derived function adds one to callback_errors."""
    source = writable(1)
    derived(source, lambda n: 1 / n).subscribe(lambda _: None)
    before = error_count()
    source.set(0)
    source.set(1)
    source.set(0)
    assert error_count() == before + 2


def test_a_raising_set_style_derived_function_does_not_rerun_the_cleanup() -> None:
    """When fn raises, the cleanup it returned last time has run once, and not again at stop."""
    source = writable(1)
    cleaned: list[int] = []

    def fn(n: int, set_: Callable[[float], None]) -> Callable[[], None]:
        set_(1 / n)
        return lambda: cleaned.append(n)

    unsubscribe = derived(source, fn).subscribe(lambda _: None)
    source.set(0)
    unsubscribe()
    assert cleaned == [1]


def test_a_raising_derived_cleanup_is_isolated() -> None:
    """A cleanup that raises is counted; the store recomputes and stops as usual."""
    source = writable(1)

    def fn(n: int, set_: Callable[[int], None]) -> Callable[[], None]:
        set_(n)

        def cleanup() -> None:
            raise RuntimeError("cleanup")

        return cleanup

    before = error_count()
    values, unsubscribe = collect(derived(source, fn))
    source.set(2)
    unsubscribe()
    assert (values, error_count()) == ([1, 2], before + 2)


def test_a_raising_start_notifier_still_starts_the_store() -> None:
    """subscribe() works, set notifies, and the failure is counted."""

    def start(set_: Callable[[int], None]) -> None:
        raise RuntimeError("start")

    store = writable(0, start)
    before = error_count()
    values, _ = collect(store)
    store.set(1)
    assert (values, error_count()) == ([0, 1], before + 1)


def test_a_raising_stop_function_still_stops_the_store() -> None:
    """The store stops (the next subscriber starts it again) and the failure is counted."""
    starts = 0

    def start() -> Callable[[], None]:
        nonlocal starts
        starts += 1

        def stop() -> None:
            raise RuntimeError("stop")

        return stop

    store = writable(0, start)
    before = error_count()
    store.subscribe(lambda _: None)()
    store.subscribe(lambda _: None)()
    assert (starts, error_count()) == (2, before + 2)


def test_keyboard_interrupt_from_a_subscriber_is_not_swallowed() -> None:
    """Only Exception is isolated: KeyboardInterrupt propagates, and the queue is left empty."""
    store = writable(0)
    store.subscribe(failing(KeyboardInterrupt(), lambda v: v == 1))
    values, _ = collect(store)
    with pytest.raises(KeyboardInterrupt):
        store.set(1)
    store.set(2)
    assert values == [0, 2]


def test_system_exit_from_a_derived_function_is_not_swallowed() -> None:
    """SystemExit from a derived function propagates."""
    source = writable(1)

    def fn(n: int) -> int:
        if n == 2:
            raise SystemExit(2)
        return n

    derived(source, fn).subscribe(lambda _: None)
    with pytest.raises(SystemExit):
        source.set(2)


# --- fault isolation: logging and callback_errors ------------------------------------------


def test_each_failure_is_counted() -> None:
    """Every raise of a subscriber adds one to callback_errors.count."""
    store = writable(0)
    store.subscribe(failing(RuntimeError("boom"), lambda v: v > 0))
    before = error_count()
    store.set(1)
    store.set(2)
    store.set(3)
    assert error_count() == before + 3


def test_a_failing_callback_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """The first failure of a callback is logged; later ones are only counted."""
    store = writable(0)
    store.subscribe(failing(RuntimeError("boom"), lambda v: v > 0))
    store.set(1)
    store.set(2)
    assert len(error_logs(caplog)) == 1


def test_each_failing_callback_gets_its_own_log(caplog: pytest.LogCaptureFixture) -> None:
    """Two different failing subscribers are two log records."""
    store = writable(0)
    store.subscribe(failing(RuntimeError("one"), lambda v: v > 0))
    store.subscribe(failing(RuntimeError("two"), lambda v: v > 0))
    store.set(1)
    store.set(2)
    assert len(error_logs(caplog)) == 2


def test_the_log_has_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """The log record carries the exception itself."""
    store = writable(0)
    store.subscribe(failing(RuntimeError("boom"), lambda v: v == 1))
    store.set(1)
    (log,) = error_logs(caplog)
    assert log.exc_info is not None and str(log.exc_info[1]) == "boom"


def test_the_log_names_the_subscriber_and_its_store(caplog: pytest.LogCaptureFixture) -> None:
    """A subscriber's failure is logged as 'the subscriber <qualname> of writable(<value>)'."""

    def on_price(value: int) -> None:
        raise RuntimeError("boom")

    writable(7).subscribe(on_price)
    (log,) = error_logs(caplog)
    assert log.getMessage().startswith(f"the subscriber {on_price.__qualname__} of writable(7)")


def test_the_log_names_the_derived_function(caplog: pytest.LogCaptureFixture) -> None:
    """A derived function's failure is logged as 'the derived function <qualname>'."""

    def inverse(n: int) -> float:
        return 1 / n

    derived(writable(0), inverse).subscribe(lambda _: None)
    (log,) = error_logs(caplog)
    assert log.getMessage().startswith(f"the derived function {inverse.__qualname__} raised")


def test_the_log_names_the_start_notifier(caplog: pytest.LogCaptureFixture) -> None:
    """A start notifier's failure is logged as 'the start notifier <qualname> of ...'."""

    def connect() -> None:
        raise RuntimeError("start")

    readable(0, connect).subscribe(lambda _: None)
    (log,) = error_logs(caplog)
    assert log.getMessage().startswith(f"the start notifier {connect.__qualname__} of readable(0)")


def test_callback_errors_last_describes_the_latest_failure() -> None:
    """last is '<where>: <ExcType>: <message>'."""

    def on_value(value: int) -> None:
        raise ValueError(f"bad {value}")

    store = writable(0)
    store.subscribe(on_value)
    store.set(5)
    assert get(callback_errors).last == (
        f"the subscriber {on_value.__qualname__} of writable(5): ValueError: bad 5"
    )


def test_callback_errors_is_read_only() -> None:
    """callback_errors has subscribe but no set or update."""
    assert not hasattr(callback_errors, "set")
    assert not hasattr(callback_errors, "update")


def test_callback_errors_holds_a_frozen_value() -> None:
    """Its value cannot be changed in place."""
    with pytest.raises(FrozenInstanceError):
        get(callback_errors).count = 0  # type: ignore[misc]


def test_callback_errors_notifies_its_subscribers() -> None:
    """A subscriber of callback_errors hears each new count."""
    counts: list[int] = []
    unsubscribe = callback_errors.subscribe(lambda e: counts.append(e.count))
    writable(0).subscribe(failing(RuntimeError("boom")))
    unsubscribe()
    assert counts == [counts[0], counts[0] + 1]


def test_failures_in_one_drain_are_published_after_it() -> None:
    """Errors raised while a drain runs reach callback_errors once the queued entries have run."""
    store = writable(0)
    log: list[str] = []
    store.subscribe(failing(RuntimeError("one"), lambda v: v == 1))
    store.subscribe(failing(RuntimeError("two"), lambda v: v == 1))
    store.subscribe(lambda v: log.append(f"store {v}"))
    first = error_count()
    unsubscribe = callback_errors.subscribe(lambda e: log.append(f"errors +{e.count - first}"))
    store.set(1)
    unsubscribe()
    assert log == ["store 0", "errors +0", "store 1", "errors +2"]


def test_a_failing_callback_errors_subscriber_is_logged_not_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broken subscriber of callback_errors is logged once but never counted (no loop)."""
    before = error_count()
    unsubscribe = callback_errors.subscribe(failing(RuntimeError("display")))
    writable(0).subscribe(failing(RuntimeError("boom")))
    unsubscribe()
    logs = [r.getMessage() for r in error_logs(caplog)]
    assert error_count() == before + 1
    assert len(logs) == 2 and "not counted" in logs[0]


def test_a_failing_store_derived_from_callback_errors_does_not_loop() -> None:
    """A derived store over callback_errors whose function raises adds no count of its own."""
    unsubscribe = derived(callback_errors, failing(RuntimeError("display"))).subscribe(
        lambda _: None
    )
    before = error_count()
    writable(0).subscribe(failing(RuntimeError("boom")))
    unsubscribe()
    assert error_count() == before + 1


def test_callback_errors_still_publishes_after_an_interrupted_drain() -> None:
    """A KeyboardInterrupt that drops a queued publication does not stop later ones."""
    store = writable(0)
    store.subscribe(failing(RuntimeError("boom"), lambda v: v == 1))
    store.subscribe(failing(KeyboardInterrupt(), lambda v: v == 1))
    with pytest.raises(KeyboardInterrupt):
        store.set(1)
    before = error_count()
    writable(0).subscribe(failing(RuntimeError("later")))
    assert error_count() == before + 2


def test_report_callback_error_counts_every_report() -> None:
    """Each report adds one to callback_errors and sets last."""
    before = error_count()
    report_callback_error("listener f for 'tick'", KeyError("k"), key="f")
    report_callback_error("listener f for 'tick'", KeyError("k"), key="f")
    assert get(callback_errors) == CallbackErrors(
        before + 2, "listener f for 'tick': KeyError: 'k'"
    )


def test_report_callback_error_logs_once_per_key(caplog: pytest.LogCaptureFixture) -> None:
    """The first report of each key is logged; later reports of that key are only counted."""
    first, second = object(), object()
    for key in (first, first, second, second):
        report_callback_error("listener", RuntimeError("x"), key)
    assert len(error_logs(caplog)) == 2


def test_report_callback_error_inside_a_drain_is_published_after_it() -> None:
    """Reported from a subscriber, the error reaches callback_errors when the drain goes on."""
    store = writable(0)
    store.subscribe(
        lambda v: report_callback_error("listener", RuntimeError("x"), key=store) if v else None
    )
    seen: list[int] = []
    store.subscribe(seen.append)
    before = error_count()
    store.set(1)
    assert (seen, error_count()) == ([0, 1], before + 1)


# --- unsubscribing ---------------------------------------------------------------------------


def test_a_derived_unsubscriber_called_twice_is_a_no_op() -> None:
    """Calling a derived store's unsubscriber again neither stops its inputs twice nor fails."""
    stops = 0

    def start() -> Callable[[], None]:
        def stop() -> None:
            nonlocal stops
            stops += 1

        return stop

    d = derived(writable(0, start), lambda n: n)
    unsubscribe = d.subscribe(lambda _: None)
    keep = d.subscribe(lambda _: None)
    unsubscribe()
    unsubscribe()
    assert stops == 0
    keep()
    keep()
    assert stops == 1


def test_writable_satisfies_the_writable_protocol() -> None:
    """writable() returns something typed Writable with set/update/subscribe."""
    store: Writable[int] = writable(0)
    store.update(lambda n: n + 1)
    assert get(store) == 1


def test_store_functions_are_exported_from_the_package() -> None:
    """`from wsclient import writable, readable, derived, get` works (the issue's API)."""
    import wsclient

    count = wsclient.writable(1)
    doubled = wsclient.derived(count, lambda n: n * 2)
    count.set(2)
    assert wsclient.get(doubled) == 4
    assert wsclient.readable(5).subscribe(lambda _v: None) is not None


def test_callback_errors_is_exported_from_the_package() -> None:
    """`wsclient.callback_errors` is the stores module's store."""
    import wsclient

    assert wsclient.callback_errors is callback_errors


def test_parameter_counts_read_from_code_match_inspect() -> None:
    """The fast path (code objects) counts like inspect.signature for every kind of callable."""
    import functools
    import inspect

    from wsclient.stores import _param_count, _param_count_slowly

    class Thing:
        def method(self, a: int, b: int = 2) -> None: ...

        def __call__(self, a: int) -> None: ...

    def varargs(a: int, *rest: int) -> None: ...

    def keyword_only(a: int, *, b: int) -> None: ...

    def positional_only(a: int, b: int = 1, /) -> None: ...

    cases = [
        lambda: None,
        lambda v: None,
        lambda v, w=1: None,
        varargs,
        keyword_only,
        positional_only,
        Thing().method,
        Thing(),
        functools.partial(varargs, 1),
        print,
    ]
    assert inspect  # the slow path's own import
    for fn in cases:
        for required in (True, False):
            assert _param_count(fn, required=required) == _param_count_slowly(
                fn, required=required
            ), (fn, required)
