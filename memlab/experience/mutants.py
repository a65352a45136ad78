"""Chapter 14's mutants (realistic bugs in the experience pool and the kNN plan memory) and the
fast checks that kill them (``memlab mutants 14``).

Sources of the bugs: the pitfalls of ReMe-style pools (utility credited to every retrieved
experience instead of the used ones; pruning before the usage floor; a utility that is never
updated; the ratio's comparison flipped), the one-line slips of an imitation agent (a copied
procedure not re-bound to the new object; retrieval that ignores similarity), and Memory-R's
reward (novelty sign, the min-max window, FIFO eviction of the newest key), and TokMem's
(the gradient mask missing or off by one, a backbone left trainable, a new procedure written
into an existing row).
"""

from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

import numpy as np
import torch

from memlab.experience import distill as D
from memlab.experience import knn as K
from memlab.experience import pool as PL
from memlab.experience.experiments import QUICK, knn_claims, lifetime, window_mean
from memlab.report import at_most
from memlab.testing.mutants import check, mutant

POOL, KNN = "ReMe experience pool", "Episodic kNN plan memory"
TOK = "TokMem procedure tokens"
_Q = {k: v for k, v in QUICK.items() if k != "window"}


# ------------------------------------------------------------------ ReMe pool
@mutant("14", POOL)
@contextmanager
def prune_ratio_flipped():
    """``utility/freq > U`` instead of ``<``: the pool deletes its most useful experiences."""
    with mock.patch.object(PL, "should_prune", lambda f, u, F=3, U=0.5: f >= F and u / f > U):
        yield


@mutant("14", POOL)
@contextmanager
def prune_without_freq_floor():
    """No usage floor: an experience is judged (and deleted) after its first failed use."""
    with mock.patch.object(PL, "should_prune", lambda f, u, F=3, U=0.5: u / f < U):
        yield


@mutant("14", POOL)
@contextmanager
def utility_never_updated():
    """Success is never credited (``utility += 0``): every used experience is pruned at F."""
    orig = PL.ExperiencePool.credit
    with mock.patch.object(PL.ExperiencePool, "credit",
                           lambda self, used, success: orig(self, used, False)):
        yield


@mutant("14", POOL)
@contextmanager
def credit_every_retrieved():
    """Credit every retrieved experience, used or not (ReMe's documented pitfall)."""
    from memlab.experience import agent as AG

    orig = AG.ImitationAgent.plan

    def plan(self, task, episode):
        program, retrieved, _used, fail = orig(self, task, episode)
        return program, retrieved, list(retrieved), fail
    with mock.patch.object(AG.ImitationAgent, "plan", plan):
        yield


@mutant("14", POOL)
@contextmanager
def no_rebind():
    """A copied procedure keeps the placeholder / old object: the calls are never re-bound."""
    with mock.patch.object(D, "rebind", lambda steps, obj: list(steps)):
        from memlab.experience import agent as AG
        with mock.patch.object(AG, "rebind", lambda steps, obj: list(steps)):
            yield


@mutant("14", POOL)
@contextmanager
def pool_read_ignores_similarity():
    """Retrieval returns the pool's first rows, whatever the query (similarity ignored)."""
    orig = PL.ExperiencePool.read

    def read(self, query, k=None):
        return orig(self, "tasks in " + (self.store.items(self.user)[0].meta["when_to_use"]
                                         .split()[-1] if self.store.items(self.user) else "x"), k)
    with mock.patch.object(PL.ExperiencePool, "read", read):
        yield


@check("14", "refined_minus_append_late")
def _refined_vs_append():
    n, w = QUICK["n_episodes"], QUICK["window"]
    a = lifetime("append", seed=0, **_Q)["success"]
    r = lifetime("refined", seed=0, **_Q)["success"]
    return window_mean(r, n - w) - window_mean(a, n - w)


@check("14", "weak_memory_minus_strong")
def _weak_vs_strong():
    n, w = QUICK["n_episodes"], QUICK["window"]
    s = lifetime("strong", seed=0, **_Q)["success"]
    r = lifetime("refined", seed=0, **_Q)["success"]
    return window_mean(r, n - w) - window_mean(s, n - w)


@check("14", "pool_hand_case", target=at_most(0.0))
def _pool_hand_case():
    """Hand-computed: F = 3, U = 0.5. Experience a used 3x with 1 success -> pruned (1/3 < 0.5);
    b used 2x, 0 successes -> kept (freq < F); c used 3x, 2 successes -> kept (2/3);
    d never used -> freq 0. Returns the number of mismatches."""
    pool = PL.ExperiencePool(k=5)
    ins = {"kind": "success", "when_to_use": "tasks in x", "steps": ["open(<obj>)"]}
    a, b, c, d = (pool.write(ins) for _ in range(4))
    for ok in (True, False, False):
        pool.credit([a], ok)
    for ok in (False, False):
        pool.credit([b], ok)
    for ok in (True, True, False):
        pool.credit([c], ok)
    got = {it.id: (it.meta["freq"], it.meta["utility"]) for it in pool.items()}
    want = {b: (2, 0.0), c: (3, 2.0), d: (0, 0.0)}
    return float(sum(got.get(i) != v for i, v in want.items()) + (a in got))


@check("14", "agent_hand_case", target=at_most(0.0))
def _agent_hand_case():
    """Two stored success procedures for one app (the right one first): the agent copies the
    first, re-binds it to the new object (its program is the world's), and credits only it.
    Returns the number of mismatches."""
    from memlab.experience.agent import ImitationAgent
    from memlab.tasks.appworld_lite import AppWorld, Task

    w = AppWorld(n_apps=2, n_steps=3, seed=0)
    pool = PL.ExperiencePool(k=5)
    app = w.apps[0]
    right = [f"{a}(<obj>)" for a in w.procedure(app)]
    first = pool.write({"kind": "success", "when_to_use": f"tasks in {app}", "steps": right})
    pool.write({"kind": "success", "when_to_use": f"tasks in {app}", "steps": right[::-1]})
    agent = ImitationAgent(w, pool, p=0.5, seed=0)
    task = Task(app, "share", "note")
    ep = agent.run(task, 0)
    return float((ep.program != w.program(task)) + (ep.used != [first]) + (not ep.success))


# ------------------------------------------------------------------ kNN plan memory
@mutant("14", KNN)
@contextmanager
def novelty_sign_flipped():
    """``1 + max cos`` instead of ``1 - max cos``: familiar plans look novel."""
    orig = K.EpisodicKNN.novelty
    with mock.patch.object(K.EpisodicKNN, "novelty",
                           lambda self, q, v: 2.0 - orig(self, q, v) if orig(self, q, v) < 1 else 1.0):
        yield


@mutant("14", KNN)
@contextmanager
def knn_read_worst_first():
    """Keys ranked by ascending similarity and the floor dropped: the least similar task's
    plans are retrieved (similarity ignored in effect)."""
    def read(self, query):
        if len(self.keys) == 0:
            return []
        s = self.keys @ np.asarray(query, np.float32)
        return [(int(j), float(s[j])) for j in np.argsort(s, kind="stable")[:self.k]]
    with mock.patch.object(K.EpisodicKNN, "read", read):
        yield


@mutant("14", KNN)
@contextmanager
def fifo_evicts_newest():
    """Past ``max_keys`` the newest key is dropped instead of the oldest."""
    orig = K.EpisodicKNN.write

    def write(self, key, value, payload=None):
        mk = self.max_keys
        self.max_keys = 10**9
        try:
            orig(self, key, value, payload)
        finally:
            self.max_keys = mk
        if len(self.values) > mk:
            self.keys, self.values = self.keys[:-1], self.values[:-1]
    with mock.patch.object(K.EpisodicKNN, "write", write):
        yield


@mutant("14", KNN)
@contextmanager
def reward_not_normalised():
    """The raw novelty returned (no min-max window, no annealing)."""
    def reward(self, q, v):
        self.calls += 1
        return self.novelty(q, v)
    with mock.patch.object(K.EpisodicKNN, "reward", reward):
        yield


@check("14", "knn_lifetime_rise")
def _knn_rise():
    return knn_claims(seed=0)["knn_lifetime_rise"]


@check("14", "knn_hand_case", target=at_most(1e-6))
def _knn_hand_case():
    """Hand-computed on 2-call plans: novelty 1 - max cos, the min-max window, annealing
    0.99 ** t, FIFO over keys. Returns the largest absolute error."""
    e1, e2, e3 = np.eye(3, dtype=np.float32)
    m = K.EpisodicKNN(3, k=1, max_keys=2, sim_floor=0.5, window=3, anneal=0.99)
    v_ab, v_ac = K.plan_vector(["login", "open"]), K.plan_vector(["login", "fill"])
    m.write(e1, v_ab)
    err = [abs(m.novelty(e1, v_ab) - 0.0), abs(m.novelty(e1, v_ac) - 0.5),
           abs(m.novelty(e2, v_ac) - 1.0)]
    r = [m.reward(e1, v_ac), m.reward(e1, v_ab), m.reward(e2, v_ab)]   # novelties .5, 0, 1
    err += [abs(r[0] - 0.0), abs(r[1] - 0.0), abs(r[2] - 1.0 * 0.99 ** 2)]
    m.write(e2, v_ab)
    m.write(e3, v_ab)                          # evicts e1 (the oldest key)
    err += [abs(len(m.read(e1)) - 0), abs(len(m.read(e3)) - 1)]
    return float(max(err))


# ------------------------------------------------------------------ TokMem procedure tokens
@mutant("14", TOK)
@contextmanager
def tokmem_mask_missing():
    """No gradient mask: every row of E trains (letters and old procedures drift)."""
    from memlab.experience import tokmem as T

    with mock.patch.object(T.TokenProcedureMemory, "grad_mask",
                           lambda self, row: torch.ones(self.n_rows, 1)):
        yield


@mutant("14", TOK)
@contextmanager
def tokmem_mask_off_by_one():
    """The mask opens row ``row - 1`` (a row this procedure's data never touches): the new
    token never trains."""
    from memlab.experience import tokmem as T

    def grad_mask(self, row):
        m = torch.zeros(self.n_rows, 1)
        m[row - 1] = 1.0
        return m
    with mock.patch.object(T.TokenProcedureMemory, "grad_mask", grad_mask):
        yield


@mutant("14", TOK)
@contextmanager
def tokmem_backbone_not_frozen():
    """The backbone's parameters are handed to the optimiser too (``requires_grad`` left on)."""
    from memlab.experience import tokmem as T

    with mock.patch.object(T.TokenProcedureMemory, "trainable",
                           lambda self: list(self.net.parameters())):
        yield


@mutant("14", TOK)
@contextmanager
def tokmem_row_collision():
    """The row allocator is off by one: a new procedure reuses the last stored row."""
    from memlab.experience import tokmem as T

    with mock.patch.object(T.TokenProcedureMemory, "_next_row",
                           lambda self: len(T.OUT) + len(self.rows) - 1):
        yield


_TOK_NEW = ("reverse+upper", "rotate1+next", "rotate2+prev")      # learned in this order


def _tok_learn(names, steps=100, mem=None):
    from memlab.experience import tokmem as T

    mem = mem or T.TokenProcedureMemory(T.pretrain(0))
    just = []
    for k, n in enumerate(names):
        mem.learn(n, T.examples(n, 128, seed=k), steps, seed=k)
        just.append(mem.accuracy(n, 128))
    return mem, np.array(just)


@check("14", "tokmem_retention_min")
def _tok_retention():
    """Three new procedures, 100 steps each: min over every stored procedure of its final
    accuracy / its accuracy before (base) or just after it was learned (new)."""
    from memlab.experience import tokmem as T

    mem = T.TokenProcedureMemory(T.pretrain(0))
    before = np.array([mem.accuracy(n, 128) for n in T.BASE])
    mem, just = _tok_learn(_TOK_NEW, mem=mem)
    from memlab.experience.tokmem_experiments import retention

    return retention({"base_before": before, "just": just,
                      "base_after": np.array([mem.accuracy(n, 128) for n in T.BASE]),
                      "final": np.array([mem.accuracy(n, 128) for n in _TOK_NEW])})


@check("14", "tokmem_minus_untrained")
def _tok_gain():
    """Two new procedures, 100 steps each: mean just-learned accuracy minus the best
    untrained token's (a fresh row or any stored token) on each."""
    from memlab.experience import tokmem as T

    _, just = _tok_learn(_TOK_NEW[:2])
    mem = T.TokenProcedureMemory(T.pretrain(0))
    base = []
    for n in _TOK_NEW[:2]:
        mem.add_procedure(n)
        base.append(max(mem.accuracy(t, 128, truth=n) for t in mem.rows))
    return float(just.mean() - np.mean(base))


@check("14", "tokmem_old_state_identical", target=at_most(0.0))
def _tok_identical():
    """An identity: after learning one procedure (10 steps), count the rows of E other than
    its own, and the backbone tensors, that changed (torch.equal)."""
    from memlab.experience import tokmem as T

    mem = T.TokenProcedureMemory(T.pretrain(0))
    before = {k: v.clone() for k, v in mem.net.state_dict().items()}
    mem.learn("reverse+upper", T.examples("reverse+upper", 32), 10)
    row = mem.rows["reverse+upper"]
    after = mem.net.state_dict()
    keep = torch.ones(mem.n_rows, dtype=torch.bool)
    keep[row] = False
    changed = sum(not torch.equal(before[k], after[k]) for k in before if k != "E")
    changed += int((before["E"][keep] != after["E"][keep]).any(1).sum())
    return float(changed + (row < len(T.OUT) + len(T.BASE)))
