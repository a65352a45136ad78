"""Chapter 14's experiments: lifetimes of the imitation agent under each memory condition.

A *lifetime* = one seeded AppWorld-lite stream of ``n_episodes`` tasks, the world drifting at
``drift_at``. Conditions (same world, same stream, same solver seed):

* ``none``: the solver alone (weak ``p_weak`` or strong ``p_strong``);
* ``append``: experience pool that never prunes (``prune=False``);
* ``refined``: ReMe's refine/prune (``F``, ``U``);
* ``random_credit``: ``refined`` with utility credited at random (negative control);
* ``no_utility``: ``refined`` with utility never credited (every experience deleted after
  ``F`` uses: forgetting by use alone).
"""

from __future__ import annotations

import numpy as np

from memlab.agents.store import MemoryStore
from memlab.experience.agent import ImitationAgent
from memlab.experience.pool import ExperiencePool
from memlab.tasks.appworld_lite import AppWorld

__all__ = ["CONDITIONS", "QUICK", "compare", "knn_claims", "lifetime", "pool_claims",
           "recovery_gaps", "window_mean"]

CONDITIONS = ("none", "strong", "append", "refined", "random_credit", "no_utility")


def lifetime(condition: str = "refined", n_apps: int = 12, n_steps: int = 4,
             n_episodes: int = 300, drift_at: int | None = 100, drift_frac: float = 0.3,
             p_weak: float = 0.5, p_strong: float = 0.8, k: int = 5, F: int = 3,
             U: float = 0.5, seed: int = 0, track_utility: bool = False) -> dict:
    """Run one lifetime; returns per-episode ``success`` [n], ``pool_size`` [n], ``pruned``
    (per episode), ``drifted`` (per episode: task's app drifted) and the agent; with
    ``track_utility`` also ``rate`` [n]: the pool's mean utility/freq over experiences used
    at least once (NaN when none; read every 5th episode and held in between)."""
    if condition not in CONDITIONS:
        raise ValueError(f"condition must be one of {CONDITIONS}, got {condition!r}")
    world = AppWorld(n_apps, n_steps, drift_at, drift_frac, seed=seed)
    pool = None
    if condition in ("append", "refined", "random_credit", "no_utility"):
        pool = ExperiencePool(MemoryStore(), k=k, freq_threshold=F,
                              utility_threshold=U, prune=condition != "append",
                              credit={"random_credit": "random", "no_utility": "none"}.get(condition, "used"),
                              seed=seed)
    agent = ImitationAgent(world, pool, p=p_strong if condition == "strong" else p_weak,
                           seed=seed)
    succ, size, pruned, drifted, rate = [], [], [], [], []
    for t, task in enumerate(world.stream(n_episodes)):
        ep = agent.run(task, t)
        succ.append(ep.success)
        pruned.append(len(ep.pruned))
        size.append(pool.state_size() if pool is not None else 0)
        drifted.append(task.app in world.drifted)
        if track_utility and pool is not None:      # every 5th episode (reading is costly)
            if t % 5 == 0 or not rate:
                r = [it.meta["utility"] / it.meta["freq"] for it in pool.items() if it.meta["freq"]]
                rate.append(float(np.mean(r)) if r else float("nan"))
            else:
                rate.append(rate[-1])
    return {"rate": np.array(rate, float),"success": np.array(succ, float), "pool_size": np.array(size),
            "pruned": np.array(pruned), "drifted": np.array(drifted), "agent": agent,
            "world": world}


def window_mean(x, lo: int, hi: int | None = None) -> float:
    x = np.asarray(x, float)[lo:hi]
    return float(x.mean()) if len(x) else float("nan")


def compare(seed: int = 0, conditions=CONDITIONS, window: int = 100, **kw) -> dict:
    """Success over the last ``window`` episodes and final pool size, per condition."""
    out = {}
    for c in conditions:
        r = lifetime(c, seed=seed, **kw)
        n = len(r["success"])
        out[c] = {"late": window_mean(r["success"], n - window),
                  "all": window_mean(r["success"], 0),
                  "size": int(r["pool_size"][-1]), "run": r}
    return out


#: a smaller world for the fast mutant checks (about a second per lifetime)
QUICK = {"n_apps": 6, "n_episodes": 160, "drift_at": 50, "window": 60}


def pool_claims(seed: int = 0, window: int = 100, **kw) -> dict:
    """The pool claims of one seed: late success differences, pool ratio, the U = 0 identity."""
    r = compare(seed, ("strong", "append", "refined", "random_credit", "no_utility"), window, **kw)
    d = kw.get("drift_at", 100) or kw.get("n_episodes", 300)
    early = {c: window_mean(r[c]["run"]["success"], d // 2, d) for c in ("refined", "no_utility")}
    u0 = lifetime("refined", seed=seed, **{**kw, "U": 0.0})
    return {"refined_minus_append_late": r["refined"]["late"] - r["append"]["late"],
            "refined_pool_ratio": r["refined"]["size"] / max(r["append"]["size"], 1),
            "weak_memory_minus_strong": r["refined"]["late"] - r["strong"]["late"],
            "refined_minus_random_credit": r["refined"]["late"] - r["random_credit"]["late"],
            "refined_minus_no_utility_early": early["refined"] - early["no_utility"],
            "u0_vs_append_max_diff": float(np.abs(u0["success"] - r["append"]["run"]["success"]).max()
                                           + abs(u0["pool_size"][-1] - r["append"]["size"])),
            "runs": r}


def recovery_gaps(seed: int = 0, drift_at: int = 200, window: int = 100, n_windows: int = 4,
                  **kw) -> dict:
    """Refined minus append-only success in each of ``n_windows`` consecutive windows of
    ``window`` episodes after the change at ``drift_at`` (the lifetime ends with the last one),
    and the final pool ratio. Shows when refinement's advantage holds: it needs the stale
    veterans to retire (cumulative counters: slower after a longer stable history), and it
    closes once append-only's fresh records outnumber its stale ones."""
    for name, v in (("n_windows", n_windows), ("window", window)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    n = drift_at + n_windows * window
    run = {c: lifetime(c, n_episodes=n, drift_at=drift_at, seed=seed, **kw)
           for c in ("append", "refined")}
    gaps = [window_mean(run["refined"]["success"], lo, lo + window)
            - window_mean(run["append"]["success"], lo, lo + window)
            for lo in range(drift_at, n, window)]
    ratio = run["refined"]["pool_size"][-1] / max(run["append"]["pool_size"][-1], 1)
    return {"gaps": gaps, "pool_ratio": float(ratio)}


def knn_claims(seed: int = 0, n_episodes: int = 300, span: int = 100, **kw) -> dict:
    """Rise of success over a lifetime (last ``span`` - first ``span``) with and without memory."""
    from memlab.experience.planner import knn_lifetime

    out = {}
    for mode in ("none", "knn", "knn+"):
        s = knn_lifetime(mode, n_episodes=n_episodes, seed=seed, **kw)["success"]
        out[mode] = s
    rise = {m: window_mean(s, len(s) - span) - window_mean(s, 0, span) for m, s in out.items()}
    return {"knn_lifetime_rise": rise["knn"], "nomem_lifetime_rise_abs": abs(rise["none"]),
            "knn_plus_rise": rise["knn+"], "curves": out}
