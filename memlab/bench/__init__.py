"""``memlab bench``: speed ratios of fast forms vs their naive forms, printed, never asserted.

Each family adds a module ``memlab/bench/<family>.py`` with functions decorated by
:func:`entry`; a function takes ``quick: bool`` and returns a list of row dicts (e.g.
``{"T": 2048, "naive_ms": 120.0, "fast_ms": 9.1, "ratio": 13.2, "max_rel_diff": 3e-7}``).
``memlab bench`` discovers the modules, runs the entries and prints one table per entry.
Run benchmarks alone (not beside a test run): two processes on two cores thrash.
"""

from __future__ import annotations

import importlib
import pkgutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["entry", "entries", "timeit", "time_wall_cpu", "format_table"]


@dataclass(frozen=True)
class Entry:
    name: str
    family: str
    doc: str
    fn: Callable[[bool], list[dict]]


_REGISTRY: dict[str, Entry] = {}


def entry(name: str, family: str):
    """Register a benchmark function ``fn(quick: bool) -> list[dict]`` under ``name``."""

    def deco(fn):
        _REGISTRY[name] = Entry(name, family, (fn.__doc__ or "").strip().split("\n")[0], fn)
        return fn

    return deco


def entries() -> dict[str, Entry]:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return dict(sorted(_REGISTRY.items()))


def timeit(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in milliseconds (after ``warmup`` untimed calls)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def time_wall_cpu(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median wall ms, min process-CPU ms) over ``repeat`` calls after one warm-up call.

    On a busy machine the CPU time of a one-thread run is the steadier number (it leaves out
    the time the process waited for a core); with more threads it adds the threads up.
    """
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - w0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return statistics.median(wall), min(cpu)


def format_table(rows: list[dict]) -> str:
    if not rows:
        return "(no rows)"
    cols = list(dict.fromkeys(k for r in rows for k in r))

    def cell(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.0f}"
        return str(v)

    table = [[cell(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in table)) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.rjust(w) for v, w in zip(vals, widths))  # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in widths])] + [line(t) for t in table])
