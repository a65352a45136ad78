"""Mutants: named, realistic bugs, and the checks that must catch them.

A claim that still passes with the mechanism broken is an identity or a count, not a claim.
This module makes that testable. Each family keeps its bugs beside its code, in
``memlab/<family>/mutants.py``::

    from contextlib import contextmanager
    from unittest import mock
    from memlab.testing.mutants import mutant, check

    @mutant("04", "Delta rule")
    @contextmanager
    def delta_no_erase():
        '''The erase term -beta k k^T S dropped: the delta rule becomes linear attention.'''
        with mock.patch.object(delta_rule, "erase", lambda S, k, beta: 0.0):
            yield

    @check("04", "rewrite_delta_new_value")          # target: the chapter's claim of that name
    def _rewrite():
        return E.rewrite_recall(10, n_other=3, seed=1)["delta_vs_new"]

    @check("04", "delta_chunked_equals_loop", target=at_most(1e-6))   # an equality
    def _equal(): ...

A mutant is a context manager factory: while its ``with`` block is open the library is broken.
Patch the name where it is *looked up* (``module.f`` called as ``module.f``), never a copy
imported elsewhere. A check is a function of no arguments, sized to run in about a second,
that returns the measured number (or raises: that counts as a kill too). A mutant is killed
when at least one check of its own chapter fails while it is applied. A mutant that changes
nothing observable is declared with ``excused="why"``; it is listed, not hidden.

``kill_matrix(chapter)`` runs the checks once unbroken (they must all pass: a baseline that
fails makes the matrix meaningless) and once per mutant; ``memlab mutants`` prints it.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

__all__ = [
    "CHECKS",
    "MUTANTS",
    "Check",
    "Mutant",
    "check",
    "checks",
    "discover",
    "kill_matrix",
    "mechanism_counts",
    "mutant",
    "mutants",
    "run_check",
    "run_check_under",
]


@dataclass(frozen=True)
class Mutant:
    name: str                       # unique, e.g. "delta_no_erase"
    chapter: str                    # "04"
    mechanism: str                  # "Delta rule" (a Mechanism name of the chapter, or close)
    doc: str                        # what the bug is, and where it comes from
    factory: Callable[[], AbstractContextManager]
    excused: str | None = None      # why no check can see it (then it is not required to die)

    def apply(self) -> AbstractContextManager:
        return self.factory()


@dataclass(frozen=True)
class Check:
    name: str
    chapter: str
    fn: Callable[[], float]
    target: object = None           # a memlab.report.Target; None = the chapter's claim target
    doc: str = ""

    def resolved_target(self):
        if self.target is not None:
            return self.target
        from memlab.chapters import get_chapter

        claims = get_chapter(self.chapter).claims
        if self.name not in claims:
            raise KeyError(f"check {self.name!r} of chapter {self.chapter} has no target and the "
                           f"chapter declares no claim of that name ({sorted(claims)})")
        return claims[self.name]


MUTANTS: dict[str, Mutant] = {}
CHECKS: dict[tuple[str, str], Check] = {}


def _chapter_key(chapter: str | int) -> str:
    return f"{int(chapter):02d}"


def mutant(chapter: str | int, mechanism: str, *, name: str | None = None,
           excused: str | None = None):
    """Register a context-manager factory as a mutant of ``chapter``'s ``mechanism``."""
    def deco(factory):
        key = name or factory.__name__
        doc = (factory.__doc__ or "").strip()
        if not doc:
            raise ValueError(f"mutant {key!r} needs a docstring saying what the bug is")
        if key in MUTANTS and MUTANTS[key].factory.__module__ != factory.__module__:
            raise ValueError(f"mutant name {key!r} registered twice "
                             f"({MUTANTS[key].factory.__module__}, {factory.__module__})")
        MUTANTS[key] = Mutant(key, _chapter_key(chapter), mechanism, doc, factory, excused)
        return factory
    return deco


def check(chapter: str | int, name: str, *, target=None):
    """Register a fast check (returns the measured value) for ``chapter``'s kill matrix."""
    def deco(fn):
        ch = _chapter_key(chapter)
        CHECKS[(ch, name)] = Check(name, ch, fn, target, (fn.__doc__ or "").strip())
        return fn
    return deco


def discover() -> None:
    """Import every ``memlab.<family>.mutants`` module (registration happens on import)."""
    import memlab

    for info in pkgutil.iter_modules(memlab.__path__):
        if info.ispkg and info.name not in ("testing", "chapters"):
            try:
                importlib.import_module(f"memlab.{info.name}.mutants")
            except ModuleNotFoundError as e:
                if e.name != f"memlab.{info.name}.mutants":
                    raise


def mutants(chapter: str | int | None = None) -> list[Mutant]:
    discover()
    out = [m for m in MUTANTS.values() if chapter is None or m.chapter == _chapter_key(chapter)]
    return sorted(out, key=lambda m: (m.chapter, m.mechanism, m.name))


def checks(chapter: str | int) -> list[Check]:
    discover()
    ch = _chapter_key(chapter)
    return [c for (c_ch, _), c in sorted(CHECKS.items()) if c_ch == ch]


@dataclass
class CheckResult:
    value: float
    passed: bool
    error: str | None = None
    seconds: float = 0.0


def run_check(c: Check) -> CheckResult:
    """Run one check with fixed seeds; an exception is a failure (its message is kept)."""
    import torch

    torch.manual_seed(0)
    t0 = time.perf_counter()
    try:
        value = float(c.fn())
    except Exception as e:  # noqa: BLE001 - any crash under a mutant is a kill
        return CheckResult(math.nan, False, f"{type(e).__name__}: {e}"[:200],
                           time.perf_counter() - t0)
    return CheckResult(value, bool(c.resolved_target().check(value)), None,
                       time.perf_counter() - t0)


def run_check_under(chapter: str | int, check_name: str, mutant_name: str | None = None) -> CheckResult:
    """One registered check of ``chapter``, unbroken or with one named mutant applied."""
    discover()
    c = CHECKS[(_chapter_key(chapter), check_name)]
    if mutant_name is None:
        return run_check(c)
    with MUTANTS[mutant_name].apply():
        return run_check(c)


def mechanism_counts(chapter: str | int) -> dict[str, int]:
    """Mutants per mechanism of ``chapter``."""
    out: dict[str, int] = {}
    for m in mutants(chapter):
        out[m.mechanism] = out.get(m.mechanism, 0) + 1
    return out


@dataclass
class Matrix:
    chapter: str
    checks: list[str]
    baseline: dict[str, CheckResult]
    rows: dict[str, dict[str, CheckResult]] = field(default_factory=dict)
    mutants: dict[str, Mutant] = field(default_factory=dict)

    def killed_by(self, name: str) -> list[str]:
        return [c for c, r in self.rows[name].items() if not r.passed]

    def survivors(self) -> list[str]:
        return [n for n in self.rows if not self.killed_by(n) and not self.mutants[n].excused]

    def baseline_failures(self) -> list[str]:
        return [c for c, r in self.baseline.items() if not r.passed]

    def as_json(self) -> list[dict]:
        return [{"name": n, "chapter": self.chapter, "mechanism": self.mutants[n].mechanism,
                 "killed_by": self.killed_by(n), "excused": self.mutants[n].excused}
                for n in self.rows]


def kill_matrix(chapter: str | int, names: list[str] | None = None) -> Matrix:
    """Every check of ``chapter`` unbroken, then under each of its mutants (or ``names``)."""
    ch = _chapter_key(chapter)
    cs = checks(ch)
    ms = [m for m in mutants(ch) if names is None or m.name in names]
    mat = Matrix(ch, [c.name for c in cs], {c.name: run_check(c) for c in cs})
    for m in ms:
        mat.mutants[m.name] = m
        row = {}
        with m.apply():
            for c in cs:
                row[c.name] = run_check(c)
        mat.rows[m.name] = row
    return mat


def format_matrix(mat: Matrix) -> str:
    """The kill matrix as text: one row per mutant, the value each check measured, X = killed."""
    def cell(r: CheckResult) -> str:
        v = "err" if r.error else f"{r.value:.3g}"
        return ("X " if not r.passed else "  ") + v

    width = max([len(n) for n in mat.rows] + [len("(unbroken)"), 8])
    cols = [max(len(c), 10) for c in mat.checks]
    lines = [(f"chapter {mat.chapter}: {len(mat.rows)} mutants x {len(mat.checks)} checks "
              f"(X = check failed = mutant killed)")]
    lines += ["  " + " " * width + "  " + "  ".join(f"c{i}".ljust(w) for i, w in enumerate(cols))]
    for i, c in enumerate(mat.checks):
        lines.append(f"    c{i} = {c}  (target {CHECKS[(mat.chapter, c)].resolved_target()})")
    lines.append("  " + "(unbroken)".ljust(width) + "  " + "  ".join(
        cell(mat.baseline[c]).ljust(w) for c, w in zip(mat.checks, cols)))
    for n, row in mat.rows.items():
        tag = "killed" if mat.killed_by(n) else (
            "excused" if mat.mutants[n].excused else "SURVIVED")
        lines.append("  " + n.ljust(width) + "  " + "  ".join(
            cell(row[c]).ljust(w) for c, w in zip(mat.checks, cols)) + f"  {tag}")
    bad = mat.baseline_failures()
    if bad:
        lines.append(f"  BASELINE FAILS {bad}: fix the checks before reading the matrix")
    return "\n".join(lines)
