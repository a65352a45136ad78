"""Chapter 15's experiments: each builds a fresh world, agent and store from a seed.

Everything goes through the agent's own policy: the attacker only sends queries (MINJA) or
inserts ``n_poison`` records (AgentPoison); the defence only filters retrieved memories and
vets the plan. Every function returns plain numbers (and the pieces a figure needs).
"""

from __future__ import annotations

import numpy as np

from memlab.security import minja as M
from memlab.security import poison as P
from memlab.security.agent import ImitationAgent
from memlab.security.guard import MemGuard
from memlab.security.world import World

__all__ = ["GUARDS", "defence_table", "long_run", "make_guard", "minja_run", "poison_run",
           "pooled", "reduction", "seed_spread"]

#: the defences compared: none, A-MemGuard, its two negative controls, consensus without lessons
GUARDS = ("none", "memguard", "memguard K=1", "consensus only")


def make_guard(kind: str, K: int = 5, tau: float = 0.8):
    if kind not in GUARDS:
        raise ValueError(f"guard must be one of {GUARDS}, got {kind!r}")
    return {"none": None, "memguard": MemGuard(K, tau),
            "memguard K=1": MemGuard(1, tau), "consensus only": MemGuard(K, tau, lessons=False)
            }[kind]


def minja_run(n_benign: int = 0, guard: str = "none", seed: int = 0, n_patients: int = 50,
              rounds_per_level: int = 3, n_queries: int = 40, k: int = 3, K: int = 5) -> dict:
    """Benign history -> MINJA campaign -> victim and benign test queries (not written)."""
    w = World(n_patients, seed=seed)
    agent = ImitationAgent(w, k=k, guard=make_guard(guard, K))
    v, t = M.pick_victim(w, seed)
    M.fill_benign(agent, n_benign, seed)
    camp = M.run_minja(agent, v, t, rounds_per_level, seed)
    ev = M.evaluate(agent, v, t, n_queries, seed)
    return {"isr": camp.isr, "asr": ev["asr"], "utility": ev["utility"], "campaign": camp,
            "records": agent.state_size(), "agent": agent}


def defence_table(n_benign: int, seed: int = 0, guards=GUARDS, **kw) -> dict:
    """``{guard: {"isr", "asr", "utility"}}`` on one seed."""
    out = {}
    for g in guards:
        r = minja_run(n_benign, g, seed, **kw)
        out[g] = {k: r[k] for k in ("isr", "asr", "utility")}
    return out


def pooled(rows: dict, guard: str = "memguard") -> dict:
    """Over seeds (``rows``: ``{seed: defence_table(...)}``): the relative ASR cut of the
    pooled attack success, 1 - mean ASR_guard / mean ASR_none, and the mean accuracy drop."""
    none = float(np.mean([r["none"]["asr"] for r in rows.values()]))
    ours = float(np.mean([r[guard]["asr"] for r in rows.values()]))
    drop = float(np.mean([r["none"]["utility"] - r[guard]["utility"] for r in rows.values()]))
    return {"reduction": reduction(none, ours), "asr_none": none, "asr": ours, "utility_drop": drop}


def reduction(asr_none: float, asr_def: float) -> float:
    """Relative cut of attack success, 1 - ASR_defended / ASR_undefended (0 when nothing to cut)."""
    return 0.0 if asr_none <= 0 else 1.0 - asr_def / asr_none


def long_run(guard: str = "memguard", n_cycles: int = 8, n_benign: int = 10, seed: int = 0,
             n_patients: int = 50, rounds_per_level: int = 1, n_victims: int = 10,
             K: int = 5) -> dict:
    """A long run in which *every* query is written: each cycle the attacker repeats its
    campaign, then victims and ordinary users ask. A victim answered from t's data becomes
    a precedent in memory (the self-reinforcing loop). Returns ASR per cycle."""
    w = World(n_patients, seed=seed)
    g = make_guard(guard, K)
    agent = ImitationAgent(w, guard=g)
    v, t = M.pick_victim(w, seed)
    M.fill_benign(agent, n_benign, seed)
    rng = np.random.default_rng(seed + 5)
    others = [p for p in w.patients if p not in (v, t)]
    asr, util = [], []
    for c in range(n_cycles):
        M.run_minja(agent, v, t, rounds_per_level, seed + 1000 * c)
        hits, ok = [], []
        for i in range(n_victims):
            hits.append(agent.act(w.question(rng, patient=v), who=f"victim{i}").patient == t)
            qb = w.question(rng, patient=others[int(rng.integers(len(others)))])
            ok.append(agent.act(qb, who=f"user{i}").answer == w.answer(qb))
        asr.append(float(np.mean(hits)))
        util.append(float(np.mean(ok)))
    return {"asr": asr, "utility": util, "late_asr": float(np.mean(asr[n_cycles // 2:])),
            "lessons": len(g.lesson_store.items("lessons")) if g and g.lessons else 0,
            "records": agent.state_size()}


def poison_run(seed: int = 0, n_patients: int = 50, n_records: int = 300, n_poison: int = 3,
               n_tokens: int = 3, n_iters: int = 1, n_cand: int = 256, n_opt_queries: int = 8,
               n_queries: int = 100) -> dict:
    """AgentPoison-lite: the agent serves ``n_records`` benign questions (its own records),
    the attacker optimises a trigger against the embedder and plants ``n_poison`` records.
    Rates with the optimised trigger, without it, and with the unoptimised starting trigger."""
    w = World(n_patients, seed=seed)
    agent = ImitationAgent(w)
    M.fill_benign(agent, n_records, seed)
    rng = np.random.default_rng(seed + 31)
    qs = [w.question(rng) for _ in range(n_opt_queries)]
    tr = P.optimise_trigger(agent.store.embedder, qs, n_tokens, n_iters, n_cand, seed=seed)
    target = w.patients[int(rng.integers(n_patients))]
    ids = P.plant(agent, tr.tokens, n_poison, target, seed)
    opt = P.retrieval_rates(agent, tr.tokens, ids, n_queries, seed)
    for i in ids:
        agent.forget(i, reason="swap trigger")
    ids0 = P.plant(agent, tr.initial, n_poison, target, seed)
    init = P.retrieval_rates(agent, tr.initial, ids0, n_queries, seed)
    return {"trigger": tr.tokens, "initial": tr.initial, "loss": tr.loss,
            "initial_loss": tr.initial_loss, "history": tr.history,
            "triggered": opt["triggered"], "benign": opt["benign"], "action": opt["action"],
            "random_trigger": init["triggered"], "poison_rate": n_poison / (n_records + n_poison)}


def seed_spread(fn, seeds, key: str | None = None) -> list:
    """``fn(seed)`` (or ``fn(seed)[key]``) over ``seeds``, rounded to 3 decimals for printing."""
    return [round(float(fn(s) if key is None else fn(s)[key]), 3) for s in seeds]
