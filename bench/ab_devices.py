"""Interleaved A/B of two performance devices (issue 20, item 6), in one run of real Pyodide.

    node bench/ab_devices.mjs [--rounds 9]          # Pyodide (node_modules/pyodide), the verdict
    PYTHONPATH=src .venv/bin/python bench/ab_devices.py [--rounds 9]   # CPython, for comparison

(a) Joined decoding: the page hands Python a batch of text frames joined with U+001E. A is the
    separator scheme (``decode_joined``: the batch decoded as one JSON array with a random string
    between frames, then ``from_value`` per value); B is the plain way: ``batch.split`` and
    ``messages.parse`` per frame (one ``json`` scan + the same validation). C is plainer still:
    ``json.loads`` + ``from_value`` per frame. The frames are a realistic mix (heartbeats,
    process/file/project events with offsets).
(b) Records: the package's value types (every class decorated ``@record`` or ``@dataclass`` in
    ``src/wsclient``, fields and defaults taken from the source; methods left out) defined in one
    module by ``records.record`` vs ``@dataclass(frozen=True, slots=True)`` vs
    ``@dataclass(frozen=True)``; then constructing a 7-field message and comparing two equal ones.

Every variant of a comparison runs once per round, in an order that alternates (A B / B A, or a
rotation for three), for ``--rounds`` rounds; a round's figure is per message (or per module).
Reported per variant: the median over rounds and the spread (min-max and IQR); the ratio is
median(other) / median(A). A device earns its place only if its gain (the difference of medians)
is larger than the spread of both variants in this run. On a loaded machine that spread is other
processes' load; the same-round ratios (the two variants measured back to back) say whether
every round favoured the device.
"""

from __future__ import annotations

import ast
import gc
import json
import pathlib
import random
import statistics
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from wsclient.messages import MAX_DEPTH, MAX_FRAME_CHARS, from_value, parse

# --- (a) the separator scheme, as messages.decode_joined had it (kept here so that this bench
# runs whether or not the package still has it) ---------------------------------------------


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


_scan = json.JSONDecoder(parse_constant=_reject_constant).scan_once  # type: ignore[attr-defined]
_SEPARATOR = f"x{random.getrandbits(96):024x}"
_JOIN = f',"{_SEPARATOR}",'


def decode_joined(batch: str, max_chars: int = MAX_FRAME_CHARS) -> list[object] | None:
    if len(batch) > max_chars or batch.count("[") + batch.count("{") > MAX_DEPTH:
        return None
    text = "[" + batch.replace("\x1e", _JOIN) + "]"
    try:
        values, end = _scan(text, 0)
    except (StopIteration, ValueError, RecursionError):
        return None
    gaps = batch.count("\x1e")
    if end != len(text) or len(values) != 2 * gaps + 1 or values.count(_SEPARATOR) != gaps:
        return None
    return values[::2]  # type: ignore[no-any-return]


def frames(n: int, seed: int = 20) -> list[str]:
    """``n`` frames as a demo/reference server sends them (server/ speaks this mix)."""
    rng = random.Random(seed)
    out = []
    offset = 1000
    for i in range(n):
        ts = f"2025-01-0{1 + i % 9}T12:{i % 60:02d}:{(i * 7) % 60:02d}.{i % 1000:03d}Z"
        pick = rng.random()
        offset += 1
        if pick < 0.1:
            obj: dict[str, Any] = {"type": "system.heartbeat", "timestamp": ts}
        elif pick < 0.6:
            obj = {
                "type": "process.progress",
                "timestamp": ts,
                "project_id": "alpha",
                "process_id": f"proc-{i % 13}",
                "progress": round(rng.random(), 3),
                "message": f"step {i} of 400",
                "offset": offset,
            }
        elif pick < 0.85:
            obj = {
                "type": rng.choice(["file.uploaded", "file.deleted"]),
                "timestamp": ts,
                "project_id": "alpha",
                "file": {
                    "name": f"scan-{i}.png",
                    "path": f"/alpha/raw/scan-{i}.png",
                    "size": rng.randrange(1, 1 << 24),
                    "asset_type": "image",
                },
                "offset": offset,
            }
        else:
            obj = {
                "type": "project.updated",
                "timestamp": ts,
                "project_id": "alpha",
                "data": {"name": "Alpha", "owner": "ana", "tags": ["a", "b"], "files": i},
                "offset": offset,
            }
        out.append(json.dumps(obj, separators=(",", ":")))
    return out


def via_joined(batch: str) -> list[object]:
    values = decode_joined(batch)
    assert values is not None
    return [from_value(v) for v in values]


def via_parse(batch: str) -> list[object]:
    return [parse(f) for f in batch.split("\x1e")]


def via_loads(batch: str) -> list[object]:
    loads = json.loads
    return [from_value(loads(f)) for f in batch.split("\x1e")]


# --- (b) the value types, from the package's source ----------------------------------------


def value_types(src: pathlib.Path) -> list[tuple[str, list[tuple[str, str, str | None]]]]:
    """(class name, [(field, annotation, default source or None)]) of every record/dataclass."""
    found = []
    for path in sorted(src.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            names = [ast.unparse(d) for d in node.decorator_list]
            if not any(n in ("record", "message") or n.startswith("dataclass") for n in names):
                continue
            fields = []
            for item in node.body:
                if not isinstance(item, ast.AnnAssign) or not isinstance(item.target, ast.Name):
                    continue
                annotation = ast.unparse(item.annotation)
                if annotation.startswith("ClassVar"):
                    continue
                default = None
                if item.value is not None:
                    default = _portable_default(item.value)
                fields.append((item.target.id, annotation, default))
            if node.name not in {name for name, _ in found}:  # a class being moved: once
                found.append((node.name, fields))
    return found


def _portable_default(value: ast.expr) -> str:
    if isinstance(value, ast.Call):  # field(default_factory=dict) and the like
        return "field(default_factory=dict)"
    try:
        ast.literal_eval(value)
        return ast.unparse(value)
    except ValueError:
        return "None"  # a name from the package (State.DISCONNECTED, DEFAULT_MAX...)


def module_source(types: list[tuple[str, list[tuple[str, str, str | None]]]], how: str) -> str:
    head = ["from __future__ import annotations", "from typing import Any"]
    if how == "record":
        head.append("from wsclient.records import Record, field, record")
        decorator, base = "@record", "(Record)"
    else:
        head.append("from dataclasses import dataclass, field")
        decorator = (
            "@dataclass(frozen=True, slots=True)" if how == "slots" else "@dataclass(frozen=True)"
        )
        base = ""
    lines = head[:]
    for name, fields in types:
        lines += ["", decorator, f"class {name}{base}:"]
        defaults_started = False
        for field_name, annotation, default in fields:
            if default is None and defaults_started:
                default = "None"  # keep the class valid whatever the source's order
            if default is not None:
                defaults_started = True
                lines.append(f"    {field_name}: {annotation} = {default}")
            else:
                lines.append(f"    {field_name}: {annotation}")
        if not fields:
            lines.append("    pass")
    return "\n".join(lines) + "\n"


# --- the interleaved runner ----------------------------------------------------------------


def types_module(name: str) -> ModuleType:
    """A fresh module registered in sys.modules (dataclasses looks its classes' module up)."""
    module = sys.modules[name] = ModuleType(name)
    return module


def interleaved(variants: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Each variant once per round, the order rotating between rounds."""
    names = list(variants)
    samples: dict[str, list[float]] = {n: [] for n in names}
    for name in names:  # warm-up, not counted
        variants[name]()
    for r in range(rounds):
        k = r % len(names)
        order = names[k:] + names[:k]
        if r % 2:
            order.reverse()
        for name in order:
            gc.collect()
            samples[name].append(variants[name]())
    return samples


def summary(samples: dict[str, list[float]], unit: str, base: str) -> list[str]:
    base_median = statistics.median(samples[base])
    out = [
        f"| variant | median {unit} | min-max | IQR | ratio to {base} |",
        "|---|---|---|---|---|",
    ]
    for name, values in samples.items():
        q = statistics.quantiles(values, n=4)
        out.append(
            f"| {name} | {statistics.median(values):.3f} | {min(values):.3f}-{max(values):.3f} "
            f"| {q[2] - q[0]:.3f} | {statistics.median(values) / base_median:.3f}x |"
        )
    return out


def verdict(samples: dict[str, list[float]], device: str, plain: str) -> str:
    """Gain of ``device`` over ``plain`` against the run's spread, and the same-round ratios."""
    a, b = samples[device], samples[plain]
    gain = statistics.median(b) - statistics.median(a)
    spread = max(max(a) - min(a), max(b) - min(b))
    q = max(_iqr(a), _iqr(b))
    # The two measured in the same round (adjacent in time, so under the same load).
    ratios = [y / x for x, y in zip(a, b, strict=True)]
    return (
        f"{device} vs {plain}: gain {gain:+.3f} (median {plain} - median {device}); "
        f"spread min-max {spread:.3f}, IQR {q:.3f}: "
        + ("EARNS its place" if gain > spread else "does NOT earn its place (gain <= spread)")
        + f"; same-round ratio {plain}/{device}: median {statistics.median(ratios):.3f}, "
        f"min-max {min(ratios):.3f}-{max(ratios):.3f}"
        + (" (every round favours the device)" if min(ratios) > 1 else "")
    )


def _iqr(values: list[float]) -> float:
    q = statistics.quantiles(values, n=4)
    return q[2] - q[0]


def per_call(fn: Callable[[], object], reps: int, per: int) -> Callable[[], float]:
    def run() -> float:
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        return (time.perf_counter() - t0) / (reps * per) * 1e6

    return run


def main() -> None:
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 9
    src = pathlib.Path(sys.argv[sys.argv.index("--src") + 1]) if "--src" in sys.argv else None
    if src is None:
        import wsclient

        src = pathlib.Path(wsclient.__file__).parent
    print(f"Python {sys.version.split()[0]} on {sys.platform}; {rounds} interleaved rounds\n")

    # (a)
    for size in (128, 16):
        batch = "\x1e".join(frames(size))
        assert via_joined(batch) == via_parse(batch) == via_loads(batch)
        reps = max(1, 40_000 // size)
        samples = interleaved(
            {
                "joined": per_call(lambda b=batch: via_joined(b), reps, size),  # type: ignore[misc]
                "parse": per_call(lambda b=batch: via_parse(b), reps, size),  # type: ignore[misc]
                "loads": per_call(lambda b=batch: via_loads(b), reps, size),  # type: ignore[misc]
            },
            rounds,
        )
        print(f"(a) batches of {size} frames ({len(batch) // size} chars each), us per message")
        print("\n".join(summary(samples, "us/msg", "joined")))
        print(verdict(samples, "joined", "parse") + "\n")

    # (b)
    types = value_types(src)
    print(f"(b) {len(types)} value types from {src}: {', '.join(n for n, _ in types)}")
    codes = {
        how: compile(module_source(types, how), f"<{how}>", "exec")
        for how in ("record", "slots", "dict")
    }

    def define(how: str, first_instances: bool) -> Callable[[], float]:
        def run() -> float:
            t0 = time.perf_counter()
            for _ in range(5):
                module = types_module(f"ab_{how}")
                namespace = module.__dict__
                exec(codes[how], namespace)
                if first_instances:  # a record compiles its __init__ on its first instance
                    for name, fields in types:
                        namespace[name](*[None] * len(fields))
            return (time.perf_counter() - t0) / 5 * 1e3

        return run

    for first in (False, True):
        samples = interleaved({how: define(how, first) for how in codes}, rounds)
        label = "definition + one instance of each" if first else "definition only"
        print(f"\n(b1) module of {len(types)} classes, {label}, ms per module")
        print("\n".join(summary(samples, "ms", "record")))
        print(verdict(samples, "record", "slots"))
        print(verdict(samples, "record", "dict"))

    namespaces = {}
    for how, code in codes.items():
        namespaces[how] = types_module(f"ab_{how}").__dict__
        exec(code, namespaces[how])
    args = ("process.progress", "2025-01-01T00:00:00Z", "alpha", "p1", 0.5, "step", 7)
    n = 20_000

    def construct(how: str) -> Callable[[], float]:
        cls = namespaces[how]["ProcessEvent"]
        cls(*args)
        return per_call(lambda: cls(*args), n, 1)

    def compare(how: str) -> Callable[[], float]:
        cls = namespaces[how]["ProcessEvent"]
        x, y = cls(*args), cls(*args)
        return per_call(lambda: x == y, n, 1)

    for label, make in (
        ("construct a ProcessEvent (7 fields)", construct),
        ("== of two equal ProcessEvents", compare),
    ):
        samples = interleaved({how: make(how) for how in codes}, rounds)
        print(f"\n(b2) {label}, us per operation")
        print("\n".join(summary(samples, "us", "record")))
        print(verdict(samples, "record", "slots"))
        print(verdict(samples, "record", "dict"))


if __name__ == "__main__":
    main()
