"""Mutants of the seed systems added to chapters 12-13 -- Think-in-Memory, MemGAS and
MemoryAgentBench-lite -- and the fast checks that kill them (registered when
``memlab.agents.mutants`` imports this module).

Sources of the bugs: the public MemGAS code (the router's entropy not normalised, so the
flattest granularity wins once H > 1); one-line slips in an LSH (the ``-xR`` half dropped) and
in TiM's organisation (a contradicted thought kept, a merge stored as a second thought); a
personalised PageRank that forgets its dangling mass; a GMM that keeps the wrong component;
and a benchmark generator / reader whose "latest" is not the latest.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np

from memlab.agents import memgas as MG
from memlab.agents import tim as TM
from memlab.agents.baselines import FullContext, PlainRetrieval
from memlab.agents.mutants import ONE, _patch
from memlab.report import at_most
from memlab.tasks import memoryagentbench as MAB
from memlab.tasks.longmemeval import generate
from memlab.testing.mutants import check, mutant

TIM, GAS, BENCH = ("Think-in-Memory (TiM)", "MemGAS multi-granularity routing",
                   "MemoryAgentBench-lite")


# ------------------------------------------------------------------ Think-in-Memory
@mutant("12", TIM)
@contextmanager
def tim_no_forget():
    """A contradicted thought is kept (the forget step skipped): two cities live side by side."""
    with _patch(TM.TiM, "_forget", lambda self, old, thought: None):
        yield


@mutant("12", TIM)
@contextmanager
def tim_merge_as_insert():
    """A thought of a multi-valued relation is stored as a second thought, not merged."""
    with _patch(TM.TiM, "_merge", lambda self, old, thought, sources:
                self._insert(thought, sources, "insert")):
        yield


@mutant("12", TIM)
@contextmanager
def tim_hash_one_sided():
    """F(x) = argmax(xR): the ``-xR`` half dropped, so only b/2 buckets are ever used."""
    with _patch(TM, "lsh_hash", lambda X, R: np.argmax(np.atleast_2d(X) @ R, axis=1)):
        yield


def _tim_consistency(seed=0, n=3):
    recs = generate(n_personas=n, seed=seed)
    return (TM.paraphrase_consistency(TM.TiM, recs),
            TM.paraphrase_consistency(PlainRetrieval, recs))


@check("12", "tim_contradiction_rate")
def _tim_contra():
    return _tim_consistency()[0]["contradictions"]


@check("12", "tim_consistency_gain")
def _tim_gain():
    t, p = _tim_consistency()
    return t["consistent"] - p["consistent"]


@check("12", "tim_lsh_hand_case", target=ONE)
def _tim_lsh():
    """[xR; -xR] for R = the first two unit vectors: rows (1,2,-1,-2), (-3,1,3,-1), (0,-1,0,1)."""
    X = np.array([[1.0, 2.0, 0.0], [-3.0, 1.0, 0.0], [0.0, -1.0, 0.5]])
    R = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    return float(list(TM.lsh_hash(X, R)) == [1, 2, 3])


@check("12", "tim_merge_and_forget_hand_case", target=ONE)
def _tim_ops():
    t = TM.TiM(user="u")
    for u in ("I adopted a dog called Rex.", "I live in Oslo these days.",
              "I adopted a cat called Tom.", "Big news: I moved to Rome last week."):
        t.observe(u, "ok")
    texts = sorted(it.text for it in t.store.items("u", kind="thought"))
    return float(texts == ["User adopted a dog called Rex\nUser adopted a cat called Tom",
                           "User lives in Rome"])


# ------------------------------------------------------------------ MemGAS
@mutant("12", GAS)
@contextmanager
def memgas_raw_entropy():
    """The public code's router: w = (1 - H) / sum(1 - H) on the raw entropy (H > 1 inverts
    it: the flattest granularity gets the largest weight)."""
    orig = MG.router_weights
    with _patch(MG, "router_weights", lambda s, temp=0.1, normalise=True: orig(s, temp, False)):
        yield


def _norm_entropies(scores, temp):
    """H^_g = H_g / log S for each granularity (written out, not the library's)."""
    out = []
    for s in scores:
        z = np.asarray(s, float) / temp
        p = np.exp(z - z.max())
        p /= p.sum()
        out.append(-(p * np.log(p + 1e-12)).sum() / math.log(len(p)))
    return np.array(out)


@mutant("12", GAS)
@contextmanager
def memgas_router_inverted():
    """Weights proportional to the normalised entropy: the least confident granularity wins."""
    with _patch(MG, "router_weights", lambda s, temp=0.1, normalise=True:
                _norm_entropies(s, temp) / _norm_entropies(s, temp).sum()):
        yield


@mutant("12", GAS)
@contextmanager
def memgas_ppr_drops_dangling():
    """PageRank mass that reaches a node without edges is lost (not sent back to the seeds)."""
    def ppr(A, reset, damping=0.1, iters=100, tol=1e-12):
        r = np.clip(np.nan_to_num(reset), 0, None)
        r = r / r.sum()
        deg = A.sum(1)
        P = np.divide(A, deg[:, None], out=np.zeros_like(A, float), where=deg[:, None] > 0)
        pi = r.copy()
        for _ in range(iters):
            pi = (1 - damping) * r + damping * (P.T @ pi)
        return pi
    with _patch(MG, "ppr", ppr):
        yield


@mutant("12", GAS)
@contextmanager
def memgas_gmm_lower_component():
    """The association keeps the GMM component with the *lower* mean (argmin for argmax)."""
    def gmm_select(scores, mem_threshold=30, n_components=2, backend="numpy"):
        scores = np.asarray(scores, float)
        top = np.argsort(-scores, kind="stable")[:min(mem_threshold, len(scores))]
        labels, mu = MG.gmm_em_1d(scores[top])
        return top[labels == int(np.argmin(mu))]
    with _patch(MG, "gmm_select", gmm_select):
        yield


@check("12", "memgas_router_hand_case", target=at_most(1e-9))
def _gas_router():
    """temp 1: scores (1, 0) -> p = (e, 1)/(e + 1), H^ = H / log 2; scores (.5, .5) -> H^ = 1,
    so all the weight goes to the first granularity: w = (1, 0)."""
    w = MG.router_weights([np.array([1.0, 0.0]), np.array([0.5, 0.5])], temp=1.0)
    return float(np.abs(w - [1.0, 0.0]).max())


@check("12", "memgas_ppr_vs_linear_solve", target=at_most(1e-8))
def _gas_ppr():
    """A path 0-1-2 plus an isolated node 3: power iteration vs the linear system
    pi = (1-d) r + d (P^T pi + pi_3 r), solved exactly."""
    A = np.zeros((4, 4))
    A[0, 1] = A[1, 0] = A[1, 2] = A[2, 1] = 1.0
    r = np.array([0.5, 0.0, 0.2, 0.3])
    d = 0.1
    P = np.zeros((4, 4))
    P[0, 1], P[1, 0], P[1, 2], P[2, 1] = 1.0, 0.5, 0.5, 1.0
    M = np.eye(4) - d * (P.T + np.outer(r, [0, 0, 0, 1]))
    return float(np.abs(MG.ppr(A, r, d) - np.linalg.solve(M, (1 - d) * r)).max())


@check("12", "memgas_gmm_hand_case", target=ONE)
def _gas_gmm():
    s = np.array([0.90, 0.10, 0.85, 0.12, 0.88, 0.11, 0.09])
    return float(sorted(MG.gmm_select(s).tolist()) == [0, 2, 4])


@check("12", "memgas_gain_over_mean_granularity")
def _gas_gain():
    return MG.granularity_comparison(generate(n_personas=2, seed=0))["gain_over_mean"]


# ------------------------------------------------------------------ MemoryAgentBench-lite
@mutant("13", BENCH)
@contextmanager
def mab_updates_unsorted():
    """The generator plants a slot's values in reverse session order: the 'current' value is
    the oldest one in the history."""
    with _patch(MAB, "_update_sessions", lambda rng, n, m: sorted(rng.sample(range(n), m))[::-1]):
        yield


@mutant("13", BENCH)
@contextmanager
def mab_ttl_farthest_example():
    """The TTL reader takes the label of the *least* similar taught example."""
    orig = MAB.BenchLLM._answer

    def answer(self, p):
        m = MAB._TTL_Q.match(p["question"].strip())
        if not m:
            return orig(self, p)
        want = set(MAB.tokens(m.group(1)))
        ex = [(len(want & set(MAB.tokens(t))), lab) for c in p["_contexts"]
              for t, lab in MAB._EX.findall(c["text"])]
        return {"answer": min(ex)[1] if ex else MAB.ABSTAIN}
    with _patch(MAB.BenchLLM, "_answer", answer):
        yield


@mutant("13", BENCH)
@contextmanager
def mab_lru_unordered():
    """The long-range answer lists the events in retrieval order, not by date."""
    orig = MAB.BenchLLM._answer

    def answer(self, p):
        if p["question"].strip() != MAB.LRU_QUESTION:
            return orig(self, p)
        seen = [f.value for c in p["_contexts"] for f in MAB.parse_facts(c["text"])
                if f.slot == "event"]
        return {"answer": "; ".join(dict.fromkeys(seen[::-1])) or MAB.ABSTAIN}
    with _patch(MAB.BenchLLM, "_answer", answer):
        yield


def _bench(names, n=2, seed=0):
    return MAB.run_benchmark(MAB.generate(n_personas=n, seed=seed),
                             {k: v for k, v in MAB.systems().items() if k in names})


@check("13", "mab_full_context_exact", target=ONE)
def _mab_full():
    """The oracle (whole history, latest wins) answers every competency exactly (LRU too)."""
    from memlab.agents.harness import run_system

    rows = run_system(FullContext, MAB.generate(n_personas=2, seed=0), 5,
                      llm_factory=MAB.BenchLLM)["rows"]
    return float(all(r["correct"] for r in rows))


@check("13", "mab_ttl_rounds_minus_facts")
def _mab_ttl():
    return MAB.ttl_gap(_bench(MAB.ROUND_STORES + MAB.FACT_STORES))


@check("13", "mab_cr_stale_systems")
def _mab_cr():
    return MAB.cr_failing_fraction(_bench(list(MAB.systems())))

