"""A deterministic retrieval-augmented imitation agent that writes its own experiences.

The agent of chapter 14 (and the shape chapter 15 attacks). For each task it

1. reads the pool by the task's text (``pool.read``);
2. copies the first retrieved success procedure and re-binds it to the task's object;
3. at every call, a retrieved failure trigger ("call i must not be X") overrides the copied
   step, a known-good prefix or a comparative insight ("call i is A, not B") fills a step the
   copy does not cover, and otherwise its own *solver* proposes the call;
4. executes the program in the world, credits the experiences it actually used, and
   distils new ones from its own trajectory through the ``LLM`` protocol (validated first).

The solver stands for the LLM's own (parametric) knowledge: at each call it proposes the
right action with probability ``p`` and any other one uniformly (``p = 0.5`` "weak",
``p = 0.8`` "strong", as in the reference brief); excluded actions are removed and the rest
renormalised. Without memory a task of ``n`` calls succeeds with probability ``p ** n``.

Nothing here is scripted: which experiences exist, which are used and which are pruned
follows from the agent's own outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from memlab.agents.llm import LLM
from memlab.experience.distill import ExperienceRuleLLM, distill, rebind, validate
from memlab.experience.pool import ExperiencePool
from memlab.tasks.appworld_lite import PRIMITIVES, AppWorld, Task, bind

__all__ = ["Episode", "ImitationAgent", "Solver"]


class Solver:
    """Right action with probability ``p``, else uniform over the others; ``exclude`` removed."""

    def __init__(self, world: AppWorld, p: float = 0.5, seed: int = 0):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p!r}")
        self.world, self.p, self.rng = world, float(p), np.random.default_rng([seed, 7])

    def propose(self, task: Task, i: int, episode: int, exclude=()) -> str:
        truth = self.world.procedure(task.app, episode)[i]
        A = len(PRIMITIVES)
        w = np.array([self.p if a == truth else (1 - self.p) / (A - 1) for a in PRIMITIVES])
        w[[PRIMITIVES.index(a) for a in exclude if a in PRIMITIVES]] = 0.0
        if w.sum() <= 0:
            w = np.ones(A)
        return PRIMITIVES[int(self.rng.choice(A, p=w / w.sum()))]


@dataclass
class Episode:
    task: Task
    program: list[str]
    success: bool
    failed_at: int | None
    retrieved: list[int]
    used: list[int]
    written: list[int] = field(default_factory=list)
    pruned: list[int] = field(default_factory=list)


def _action(call: str) -> str:
    return call.split("(")[0]


class ImitationAgent:
    """Solver + optional :class:`ExperiencePool` (``pool=None``: no memory)."""

    def __init__(self, world: AppWorld, pool: ExperiencePool | None = None, p: float = 0.5,
                 llm: LLM | None = None, seed: int = 0):
        self.world, self.pool = world, pool
        self.solver = Solver(world, p, seed)
        self.llm = llm if llm is not None else ExperienceRuleLLM()

    def plan(self, task: Task, episode: int):
        """``(program, retrieved ids, used ids, failure insight used or None)``."""
        hits = self.pool.read(task.text) if self.pool is not None else []
        L = self.world.n_steps
        copy = next((h for h in hits if h.kind == "success"), None)
        forbid: dict[int, list] = {}
        known: dict[int, tuple] = {}          # step -> (action, id) from prefixes / comparisons
        for h in hits:
            m = h.meta
            if h.kind == "failure":
                forbid.setdefault(m["step"], []).append((_action(m["avoid"]), h.id))
                for j, s in enumerate(m["prefix"]):
                    known.setdefault(j, (_action(s), h.id))
            elif h.kind == "comparative":
                forbid.setdefault(m["step"], []).append((_action(m["avoid"]), h.id))
                known.setdefault(m["step"], (_action(m["use"]), h.id))
        actions, used, fail_used = [], [], None
        for i in range(L):
            bad = {a for a, _ in forbid.get(i, [])}
            if copy is not None and i < len(copy.meta["steps"]) and \
                    _action(copy.meta["steps"][i]) not in bad:
                a, src = _action(copy.meta["steps"][i]), [copy.id]
            elif i in known and known[i][0] not in bad:
                a, src = known[i][0], [known[i][1]]
            else:
                a = self.solver.propose(task, i, episode, exclude=bad)
                src = [mid for _, mid in forbid.get(i, [])]
            actions.append(a)
            used += src
        used = list(dict.fromkeys(used))
        for h in hits:
            if h.kind == "failure" and h.id in used and fail_used is None:
                fail_used = {"step": h.meta["step"], "avoid": h.meta["avoid"]}
        if copy is not None and copy.id in used:
            program = rebind(copy.meta["steps"], task.obj)
            program = [p if _action(p) == a else f"{a}({task.obj})"
                       for p, a in zip(program, actions)] + bind(actions[len(program):], task.obj)
        else:
            program = bind(actions, task.obj)
        self._copied = copy.meta["steps"] if copy is not None and copy.id in used else None
        return program, [h.id for h in hits], used, fail_used

    def run(self, task: Task, episode: int) -> Episode:
        """One task: plan, execute, credit, distil, write."""
        program, retrieved, used, fail_used = self.plan(task, episode)
        out = self.world.execute(task, program, episode)
        ep = Episode(task, program, out.success, out.failed_at, retrieved, used)
        if self.pool is None:
            return ep
        ep.pruned = self.pool.credit(used, out.success)
        traj = {"task": task.text, "obj": task.obj, "program": program,
                "success": out.success, "failed_at": out.failed_at, "copied": self._copied}
        for ins in distill(self.llm, traj, fail_used):
            if validate(self.llm, traj, ins):
                ep.written.append(self.pool.write(ins))
        return ep
