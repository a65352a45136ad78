"""Reading an atlas: per-seed records, seed spreads, each family's frontier, the two claims.

Input: the rows of a sweep's results table (:func:`memlab.sweep.load`), or the dicts
:func:`memlab.atlas.suite.run_point` returns wrapped the same way. Everything here is plain
Python over lists of dicts (no dataframe library needed).

* :func:`records`: one record per (mixer, width, task, level, seed): accuracy and state bytes.
* :func:`aggregate`: over seeds: mean, standard deviation, min, max and the number of seeds.
* :func:`frontier`: a family's Pareto front in (state bytes, accuracy): the points that no
  point of the same family beats with less or equal state.
* :func:`input_dependent_margin`: at an equal state budget (within a factor ``tol``), input-
  dependent memories minus time-invariant ones on MQAR, per seed.
* :func:`attention_min_acc`: attention's lowest accuracy over the pair counts, per seed.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

__all__ = ["aggregate", "attention_min_acc", "frontier", "input_dependent_margin", "records"]


def records(rows: list[dict]) -> list[dict]:
    """Flatten ok atlas rows into ``{mixer, family, input_dependent, width, task, level, seed,
    acc, state_bytes}`` (one per tested level); rows without metrics are left out."""
    out = []
    for r in rows:
        m, p = r.get("metrics"), r["params"]
        if not m or r.get("status", "ok") != "ok":
            continue
        for level, acc in m["acc_by_level"].items():
            out.append({"mixer": p["mixer"], "family": m["family"],
                        "input_dependent": m["input_dependent"], "width": p["width"],
                        "task": p.get("task", "mqar"), "level": float(level), "seed": r["seed"],
                        "acc": float(acc), "state_bytes": int(m["state_bytes"])})
    return out


def aggregate(recs: list[dict], keys=("mixer", "family", "width", "task", "level")) -> list[dict]:
    """Mean / std / min / max of ``acc`` over seeds, per ``keys`` (``level=None`` in ``keys``
    averages the levels first: pass keys without ``"level"``)."""
    per_seed = defaultdict(lambda: defaultdict(list))
    bytes_of = {}
    for r in recs:
        k = tuple(r[n] for n in keys)
        per_seed[k][r["seed"]].append(r["acc"])
        bytes_of[k] = r["state_bytes"]
    out = []
    for k, seeds in per_seed.items():
        vals = [sum(v) / len(v) for _, v in sorted(seeds.items())]
        out.append({**dict(zip(keys, k)), "state_bytes": bytes_of[k], "mean": statistics.fmean(vals),
                    "std": statistics.pstdev(vals), "min": min(vals), "max": max(vals),
                    "n_seeds": len(vals)})
    return sorted(out, key=lambda a: tuple(str(a[n]) for n in keys) + (a["state_bytes"],))


def frontier(points: list[dict], y: str = "mean") -> list[dict]:
    """Pareto front of ``points`` (dicts with ``state_bytes`` and ``y``): sorted by state, each
    kept only if it beats every point with less or equal state."""
    best, out = float("-inf"), []
    for p in sorted(points, key=lambda p: (p["state_bytes"], -p[y])):
        if p[y] > best:
            out.append(p)
            best = p[y]
    return out


def _by_seed(recs, task):
    acc = defaultdict(lambda: defaultdict(list))    # seed -> (mixer, width) -> [acc per level]
    info = {}
    for r in recs:
        if r["task"] == task:
            acc[r["seed"]][(r["mixer"], r["width"])].append(r["acc"])
            info[(r["mixer"], r["width"])] = (r["input_dependent"], r["state_bytes"])
    return acc, info


def input_dependent_margin(recs: list[dict], task: str = "mqar", tol: float = 1.5) -> dict:
    """Per seed: mean over every (input-dependent, time-invariant) pair of points whose state
    bytes are within a factor ``tol`` of each other, of the difference of their mean accuracies.

    Returns ``{"per_seed": {seed: margin}, "pairs": [(dep, inv), ...]}``; a positive margin means
    the input-dependent memories recall more at the same state.
    """
    if not tol >= 1:
        raise ValueError(f"tol must be >= 1, got {tol!r}")
    acc, info = _by_seed(recs, task)
    dep = [k for k, (d, _) in info.items() if d is True]
    inv = [k for k, (d, _) in info.items() if d is False]
    pairs = [(a, b) for a in dep for b in inv
             if max(info[a][1], info[b][1]) <= tol * min(info[a][1], info[b][1])]
    per_seed = {}
    for seed, table in sorted(acc.items()):
        diffs = [statistics.fmean(table[a]) - statistics.fmean(table[b]) for a, b in pairs
                 if a in table and b in table]
        if diffs:
            per_seed[seed] = statistics.fmean(diffs)
    return {"per_seed": per_seed, "pairs": sorted(pairs)}


def attention_min_acc(recs: list[dict], task: str = "mqar", width: int | None = None) -> dict:
    """Per seed: softmax attention's lowest accuracy over the task's levels (at ``width``, by
    default the widest in the table). ``{"per_seed": {seed: acc}, "width": w, "levels": [...]}``."""
    att = [r for r in recs if r["mixer"] == "attention" and r["task"] == task]
    if not att:
        raise ValueError(f"the results hold no attention points on task={task!r}")
    width = max(r["width"] for r in att) if width is None else width
    per_seed = defaultdict(list)
    for r in att:
        if r["width"] == width:
            per_seed[r["seed"]].append(r["acc"])
    return {"per_seed": {s: min(v) for s, v in sorted(per_seed.items())}, "width": width,
            "levels": sorted({r["level"] for r in att if r["width"] == width})}
