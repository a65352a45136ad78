"""AppWorld-lite: a seeded world of small apps whose procedures an agent must learn (chapter 14).

A tiny, offline stand-in for AppWorld / BFCL-style tool use (the benchmarks of ReMe). Every
*app* hides a procedure: an ordered list of ``n_steps`` primitive API calls out of
``PRIMITIVES`` (8). A *task* is (app, verb, object), written as text
``"{verb} the {object} in {app}"``; its program is the app's procedure, every call bound to
the task's object, e.g. ``["login(invoice)", "search(invoice)", ...]``. Executing a program
runs the calls in order and stops at the first wrong one, which the world reports the way an
API reports an error (``failed_at`` = index of that call). The task stream is uniform over
(app, verb, object). At episode ``drift_at`` a fraction ``drift_frac`` of the apps changes one
step of its procedure (a new API version): experiences written before are now stale.

    w = AppWorld(n_apps=12, seed=0)
    t = w.stream(300)[0]                       # Task(app=..., verb=..., obj=..., text=...)
    w.execute(t, w.program(t), episode=0)      # Outcome(success=True, failed_at=None)

Spec: procedures are uniform over ``PRIMITIVES ** n_steps``; the drifted step takes a new
action different from the old one; app names are distinct made-up words (no app name is a
verb or object word), so that text similarity separates apps only through their names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["OBJECTS", "PRIMITIVES", "VERBS", "AppWorld", "Outcome", "Task", "bind"]

PRIMITIVES = ("login", "search", "open", "fill", "attach", "submit", "confirm", "export")
VERBS = ("create", "update", "share", "archive")
OBJECTS = ("invoice", "note", "event", "contact", "playlist")
_SYL = ("ka", "lo", "mi", "ra", "zu", "ve", "to", "ni", "pe", "qua", "sho", "bri", "dex", "fyn",
        "gor", "hal", "jin", "kel", "mor", "nox", "pax", "rin", "sol", "tur", "vim", "wex")


@dataclass(frozen=True)
class Task:
    app: str
    verb: str
    obj: str

    @property
    def text(self) -> str:
        return f"{self.verb} the {self.obj} in {self.app}"


@dataclass(frozen=True)
class Outcome:
    success: bool
    failed_at: int | None       # index of the first wrong call (None on success)
    n_ok: int                   # calls that ran before it


def bind(actions, obj: str) -> list[str]:
    """A program: every action called on the task's object, ``"open(invoice)"``."""
    return [f"{a}({obj})" for a in actions]


def _check(name, v, lo, hi=None):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo or (hi is not None and v > hi):
        rng = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be an integer {rng}, got {v!r}")


class AppWorld:
    """``n_apps`` apps with hidden ``n_steps``-call procedures; some change at ``drift_at``."""

    def __init__(self, n_apps: int = 12, n_steps: int = 4, drift_at: int | None = None,
                 drift_frac: float = 0.3, seed: int = 0):
        _check("n_apps", n_apps, 1, 200)
        _check("n_steps", n_steps, 1, 12)
        if drift_at is not None:
            _check("drift_at", drift_at, 0)
        if not 0.0 <= drift_frac <= 1.0:
            raise ValueError(f"drift_frac must be in [0, 1], got {drift_frac!r}")
        self.n_apps, self.n_steps, self.drift_at, self.seed = n_apps, n_steps, drift_at, seed
        rng = np.random.default_rng(seed)
        names: list[str] = []
        while len(names) < n_apps:
            name = "".join(rng.choice(_SYL, size=3))
            if name not in names:
                names.append(name)
        self.apps = names
        A = len(PRIMITIVES)
        self.before = {a: [PRIMITIVES[i] for i in rng.integers(0, A, n_steps)] for a in names}
        self.after = {a: list(p) for a, p in self.before.items()}
        n_drift = round(drift_frac * n_apps) if drift_at is not None else 0
        self.drifted = sorted(rng.choice(names, size=n_drift, replace=False).tolist())
        for a in self.drifted:
            i = int(rng.integers(0, n_steps))
            old = self.after[a][i]
            self.after[a][i] = str(rng.choice([p for p in PRIMITIVES if p != old]))

    def procedure(self, app: str, episode: int = 0) -> list[str]:
        """The app's actions at ``episode`` (after the drift for drifted apps)."""
        if app not in self.before:
            raise ValueError(f"unknown app {app!r}")
        late = self.drift_at is not None and episode >= self.drift_at
        return list((self.after if late else self.before)[app])

    def program(self, task: Task, episode: int = 0) -> list[str]:
        """The correct program for ``task`` (what an oracle would run)."""
        return bind(self.procedure(task.app, episode), task.obj)

    def stream(self, n: int) -> list[Task]:
        """``n`` tasks, uniform over (app, verb, object), seeded by the world's seed."""
        _check("n", n, 0)
        rng = np.random.default_rng([self.seed, 2])
        return [Task(self.apps[rng.integers(self.n_apps)], VERBS[rng.integers(len(VERBS))],
                     OBJECTS[rng.integers(len(OBJECTS))]) for _ in range(n)]

    def execute(self, task: Task, program: list[str], episode: int = 0) -> Outcome:
        """Run ``program`` call by call; stop at the first call that is not the app's."""
        want = self.program(task, episode)
        for i, call in enumerate(program[:len(want)]):
            if call != want[i]:
                return Outcome(False, i, i)
        if len(program) != len(want):
            return Outcome(False, min(len(program), len(want)), min(len(program), len(want)))
        return Outcome(True, None, len(want))
