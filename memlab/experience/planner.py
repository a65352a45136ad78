"""A lifelong planner over :class:`EpisodicKNN` (JARVIS-1's plan memory, Memory-R's knn / knn+).

Per task: embed the scenario ("tasks in {app}") as the key; if a stored plan under the nearest
keys succeeded, copy it (re-bound to the task's object); otherwise sample ``n_candidates`` plans
from the solver and run the first (``knn``, exploit only) or the one with the highest novelty
reward (``knn+``, exploit + explore). Every plan run is written back with its outcome. ``none``
runs one solver sample, no memory: its success rate stays flat at about ``p ** n_steps``.
"""

from __future__ import annotations

import numpy as np

from memlab.agents.embed import HashingEmbedder
from memlab.experience.agent import Solver
from memlab.experience.knn import EpisodicKNN, plan_vector
from memlab.tasks.appworld_lite import AppWorld, bind

__all__ = ["MODES", "knn_lifetime"]

MODES = ("none", "knn", "knn+")


def knn_lifetime(mode: str = "knn+", n_apps: int = 12, n_steps: int = 4, n_episodes: int = 300,
                 p: float = 0.5, n_candidates: int = 8, k: int = 5, seed: int = 0) -> dict:
    """Per-episode ``success`` [n] and the memory (``None`` for ``mode='none'``)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    world = AppWorld(n_apps, n_steps, None, 0.0, seed=seed)
    solver, emb = Solver(world, p, seed), HashingEmbedder()
    mem = EpisodicKNN(emb.dim, k=k) if mode != "none" else None
    keys = {a: emb.embed([f"tasks in {a}"])[0] for a in world.apps}
    succ = []
    for t, task in enumerate(world.stream(n_episodes)):
        key, plan = keys[task.app], None
        if mem is not None:
            for j, _ in mem.read(key):
                done = [pl for _, pl in mem.values[j] if pl["success"]]
                if done:
                    plan = done[0]["actions"]
                    break
        if plan is None:
            n = n_candidates if mode == "knn+" else 1
            cands = [[solver.propose(task, i, t) for i in range(n_steps)] for _ in range(n)]
            if mode == "knn+":
                r = [mem.reward(key, plan_vector(c)) for c in cands]
                plan = cands[int(np.argmax(r))]
            else:
                plan = cands[0]
        out = world.execute(task, bind(plan, task.obj), t)
        succ.append(out.success)
        if mem is not None:
            mem.write(key, plan_vector(plan), {"actions": list(plan), "success": out.success})
    return {"success": np.array(succ, float), "memory": mem, "world": world}
