"""The experiments of chapters 12-13 as library functions (the notebooks and claim tests call
these; the notebooks only orchestrate and plot)."""

from __future__ import annotations

import numpy as np

from memlab.agents.memorybank import DAY, MemoryBank, retention
from memlab.agents.store import MemoryStore

__all__ = [
    "ability_contrasts",
    "compounded_survival",
    "forgetting_cost",
    "ku_comparison",
    "measured_retention",
    "memgpt_occupancy",
    "monotone_fraction",
    "recall_curve",
    "recall_vs_k",
    "retention_grid",
    "saturation",
]


def retention_grid(ts, Ss, precedence_bug: bool = False) -> np.ndarray:
    """``R[i, j] = retention(ts[j], Ss[i])``."""
    return np.array([[retention(t, S, precedence_bug) for t in ts] for S in Ss])


def monotone_fraction(ts=(1, 2, 4), Ss=(1, 2, 4), precedence_bug: bool = False,
                      n: int = 400, seed: int = 0) -> float:
    """MEASURED: run one MemoryBank forgetting pass over ``n`` memories per (t, S) cell and
    return the fraction of pairs (t > 0, S_a < S_b) where the stronger memories survived more
    often (1 for the paper's exp(-t/S); 0 for the code's exp(-t/5*S)). The default grid keeps
    every pair's expected gap >= 0.11, about 4 binomial standard deviations at n = 400."""
    R = measured_retention(ts, Ss, n, seed, precedence_bug)["measured"]
    pairs = [(R[b, j] > R[a, j]) for j in range(len(ts)) if ts[j] > 0
             for a in range(len(Ss)) for b in range(a + 1, len(Ss))]
    return float(np.mean(pairs))


def measured_retention(ts=(0, 1, 2, 4, 8), Ss=(1, 2, 4), n: int = 400, seed: int = 0,
                       precedence_bug: bool = False) -> dict:
    """Run ONE MemoryBank forgetting pass over ``n`` memories per (age t, strength S) cell and
    measure the surviving fraction; compare with the paper's curve written out here,
    ``np.exp(-t / S)`` -- not with the library's ``retention``, which a bug would share."""
    store = MemoryStore()
    mb = MemoryBank(store=store, seed=seed, precedence_bug=precedence_bug, user="u")
    now = 100 * DAY
    store.clock.set(now)
    cells = {}
    with store.transaction():
        for S in Ss:
            for t in ts:
                cells[(S, t)] = [store.add("u", f"memory S{S} t{t} #{i}",
                                           {"strength": S, "last_recall": now - t * DAY},
                                           kind="turn", embed=False) for i in range(n)]
    mb.forget_pass()
    alive = {it.id for it in store.items("u")}
    meas = np.array([[np.mean([i in alive for i in cells[(S, t)]]) for t in ts] for S in Ss])
    theory = np.exp(-np.asarray(ts, dtype=np.float64)[None, :] /
                    np.asarray(Ss, dtype=np.float64)[:, None])
    return {"ts": list(ts), "Ss": list(Ss), "measured": meas, "theory": theory,
            "max_abs_err": float(np.abs(meas - theory).max())}


def recall_curve(days: float = 20.0, recalls=(2, 5, 10), S0: float = 1.0,
                 precedence_bug: bool = False, n: int = 400):
    """R(t) of one memory recalled at the given days (S += 1 and t resets at each recall)."""
    grid = np.linspace(0, days, n)
    S, last, R = S0, 0.0, []
    pending = sorted(r for r in recalls if 0 < r <= days)
    for t in grid:
        while pending and t >= pending[0]:
            S, last = S + 1, pending.pop(0)
        R.append(retention(t - last, S, precedence_bug))
    return grid, np.array(R)


def compounded_survival(days: int = 10, S: float = 1.0) -> np.ndarray:
    """MemoryBank's code draws ``random() > R`` at *every* load: survival after D daily loads is
    prod_{d<=D} R(d) = exp(-D(D+1)/(2S)), far below R(D) = exp(-D/S)."""
    return np.cumprod([retention(d, S) for d in range(1, days + 1)])


def ku_comparison(records, k: int | None = None) -> dict:
    """Knowledge-update accuracy and stale rate of plain retrieval vs Mem0-style updates."""
    from memlab.agents.harness import SYSTEMS, evaluate

    names = ("plain-retrieval", "plain-retrieval+time", "mem0", "mem0-add-only", "memos",
             "full-context")
    res = evaluate(records, {n: SYSTEMS[n] for n in names}, k=k)
    return {n: {"ku_accuracy": m["knowledge_update"], "stale_rate": m["stale_rate"]}
            for n, m in res.items()}


def memgpt_occupancy(records, persona: int = 0, context_window: int = 300) -> list[dict]:
    """The MemGPT context-occupancy trace over one persona's sessions."""
    from memlab.agents.harness import personas, replay
    from memlab.agents.memgpt import MemGPT

    m = MemGPT(context_window=context_window, user="u")
    replay(m, personas(records)[persona][0], sessions=False)
    return m.trace


def recall_vs_k(records, names=("plain-retrieval", "mem0", "a-mem"), ks=(1, 2, 3, 5, 8)) -> dict:
    """``{system: {"k": [...], "recall_any": [...], "overall": [...]}}`` over top-k."""
    from memlab.agents.harness import SYSTEMS, evaluate

    out = {n: {"k": list(ks), "recall_any": [], "overall": []} for n in names}
    for k in ks:
        res = evaluate(records, {n: SYSTEMS[n] for n in names}, k=k)
        for n in names:
            out[n]["recall_any"].append(res[n]["recall_any@k"])
            out[n]["overall"].append(res[n]["overall"])
    return out


def saturation(sessions=(8, 16, 32), names=("plain-retrieval", "mem0", "memorybank"),
               n_personas: int = 6, seed: int = 0, k: int | None = None,
               factories: dict | None = None) -> dict:
    """Accuracy and store size as the haystack grows (same facts, more filler sessions).
    ``factories`` overrides :data:`~memlab.agents.harness.SYSTEMS` entries (controls)."""
    from memlab.agents.harness import SYSTEMS, evaluate
    from memlab.tasks.longmemeval import generate

    SYSTEMS = {**SYSTEMS, **(factories or {})}

    out = {n: {"sessions": list(sessions), "overall": [], "memories_per_round": []}
           for n in names}
    for ns in sessions:
        res = evaluate(generate(n_personas, ns, seed=seed), {n: SYSTEMS[n] for n in names}, k=k)
        for n in names:
            out[n]["overall"].append(res[n]["overall"])
            out[n]["memories_per_round"].append(res[n]["memories_per_round"])
    return out


def ability_contrasts(records, k: int | None = None) -> dict:
    """Two findings per ability that a single accuracy number hides, with their controls.

    * ``ku_gap[name]`` = recall of the *update turn* - accuracy on knowledge-update questions:
      a system can retrieve the current value and still answer with the old one (plain
      retrieval), or not (Mem0, which rewrites the fact; the control). The update turn only:
      the stale first mention is evidence too, but of the old value (``ku_recall_any`` keeps
      the looser count, any evidence turn).
    * ``temporal[name]`` = temporal-reasoning accuracy of plain retrieval, Generative Agents
      (recency + importance + relevance) and Generative Agents with relevance only (the
      control: the same code with the recency and importance weights set to 0).
    """
    from functools import partial

    from memlab.agents.generative import GenerativeAgents
    from memlab.agents.harness import SYSTEMS, run_system

    systems = {"plain-retrieval": SYSTEMS["plain-retrieval"], "mem0": SYSTEMS["mem0"],
               "generative-agents": SYSTEMS["generative-agents"],
               "generative-agents (relevance only)": partial(
                   GenerativeAgents, weights={"recency": 0.0, "importance": 0.0,
                                              "relevance": 1.0})}
    out = {"ku_recall": {}, "ku_recall_any": {}, "ku_accuracy": {}, "ku_gap": {}, "temporal": {}}
    for name, f in systems.items():
        rows = run_system(f, records, k)["rows"]
        ku = [r for r in rows if r["ability"] == "knowledge_update"]
        tmp = [r for r in rows if r["ability"] == "temporal"]
        rec = sum(r["recall_update"] for r in ku) / len(ku)
        acc = sum(r["correct"] for r in ku) / len(ku)
        out["ku_recall"][name], out["ku_accuracy"][name] = rec, acc
        out["ku_recall_any"][name] = sum(r["recall_any"] for r in ku) / len(ku)
        out["ku_gap"][name] = rec - acc
        out["temporal"][name] = sum(r["correct"] for r in tmp) / len(tmp)
    out["ga_temporal_deficit"] = out["temporal"]["plain-retrieval"] - \
        out["temporal"]["generative-agents"]
    out["ga_relevance_only_deficit"] = out["temporal"]["plain-retrieval"] - \
        out["temporal"]["generative-agents (relevance only)"]
    return out


def forgetting_cost(records: list[dict], k: int | None = None, factory=None) -> dict:
    """MemoryBank's accuracy with its forgetting off minus on, on the same records.
    ``factory`` replaces the MemoryBank class (ablations, mutants); default:
    :class:`MemoryBank` with the public code's rules (summaries go with their day's turns)."""
    from functools import partial

    from memlab.agents.harness import evaluate

    f = factory or MemoryBank
    res = evaluate(records, {"on": f, "off": partial(f, forgetting=False)}, k=k)
    return {"on": res["on"]["overall"], "off": res["off"]["overall"],
            "cost": res["off"]["overall"] - res["on"]["overall"]}
