"""Chapter 11's mutants (realistic bugs in retrieval and graph memory) and its fast checks."""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from unittest import mock

import numpy as np

from memlab.rag import adaptive, dense, hipporag, hipporag2
from memlab.rag import experiments as E
from memlab.report import at_most
from memlab.testing.mutants import check, mutant

DENSE, HR, HR2, AD = ("Dense retrieval (TF-IDF, BM25)", "HippoRAG", "HippoRAG 2",
                      "Adaptive retrieval")


# ----------------------------------------------------------------------------- dense
@mutant("11", DENSE)
@contextmanager
def bm25_no_length_norm():
    """BM25 with b forced to 0: long passages are no longer discounted (a common slip when the
    length term is dropped "for speed")."""
    orig = dense.bm25_weights
    with mock.patch.object(dense, "bm25_weights", lambda c, k1=1.5, b=0.75: orig(c, k1, 0.0)):
        yield


@mutant("11", DENSE)
@contextmanager
def bm25_plain_idf():
    """idf = ln(N / n(t)) instead of ln((N - n + 0.5) / (n + 0.5) + 1) (textbook idf pasted
    into BM25)."""
    with mock.patch.object(dense, "bm25_idf", lambda df, N: np.log(N / df)):
        yield


@mutant("11", DENSE)
@contextmanager
def rank_ascending():
    """Scores sorted ascending (argsort without the minus): the worst passages come first."""
    with mock.patch.object(dense, "rank", lambda s, k: np.argsort(np.atleast_2d(s), 1)[:, :k]), \
         mock.patch.object(E, "rank", lambda s, k: np.argsort(np.atleast_2d(s), 1)[:, :k]):
        yield


# ----------------------------------------------------------------------------- HippoRAG
@mutant("11", HR)
@contextmanager
def hipporag_no_relation_edges():
    """Relation edges never added (only synonymy edges): the walk cannot reach the bridge."""
    orig = hipporag.HippoRAG.__init__

    def init(self, *a, **kw):
        orig(self, *a, **kw)
        self.relation_edges = False
    with mock.patch.object(hipporag.HippoRAG, "__init__", init):
        yield


def _power(A, r, damping, normalise=True, dangling_term=True):
    A = np.asarray(A.todense()) if hasattr(A, "todense") else np.asarray(A, float)
    r = np.asarray(r, float)
    if normalise:
        r = r / r.sum(-1, keepdims=True)
    out = A.sum(1)
    W = A / np.where(out == 0, 1, out)[:, None]
    pi = r.copy()
    for _ in range(300):
        leak = pi[..., out == 0].sum(-1, keepdims=True) * r if dangling_term else 0.0
        pi = (1 - damping) * r + damping * (pi @ W + leak)
    return pi


@contextmanager
def _patched_ppr(fn):
    with mock.patch.object(hipporag, "ppr_numpy", fn), mock.patch.object(E, "ppr_numpy", fn), \
         mock.patch.object(hipporag2, "ppr_numpy", fn):
        yield


@mutant("11", HR)
@contextmanager
def ppr_reset_unnormalised():
    """The personalisation vector is not normalised to sum 1 (a pitfall of hand-written PPR):
    the restart term injects the wrong amount of mass."""
    with _patched_ppr(lambda A, r, damping=0.5, **kw: _power(A, r, damping, normalise=False)):
        yield


@mutant("11", HR)
@contextmanager
def ppr_dangling_mass_lost():
    """Power iteration without the dangling term: mass that reaches a node without edges
    leaks away (dangling handling differs across implementations, igraph PR #1640)."""
    with _patched_ppr(lambda A, r, damping=0.5, **kw: _power(A, r, damping, dangling_term=False)):
        yield


@mutant("11", HR)
@contextmanager
def hipporag_damping_zero():
    """damping = 0 (alpha read as the restart probability and set to 'no restart' the wrong
    way round): the walk never leaves the seeds, the graph is unused."""
    orig = hipporag.HippoRAG.__init__

    def init(self, *a, **kw):
        orig(self, *a, **kw)
        self.damping = 0.0
    with mock.patch.object(hipporag.HippoRAG, "__init__", init):
        yield


# ----------------------------------------------------------------------------- HippoRAG 2
@mutant("11", HR2)
@contextmanager
def hr2_passage_weight_one():
    """passage_node_weight = 1 instead of 0.05: dense scores drown the phrase seeds and
    HippoRAG 2 collapses to dense retrieval on two-hop questions."""
    orig = hipporag2.HippoRAG2.__init__

    def init(self, *a, **kw):
        orig(self, *a, **kw)
        self.passage_node_weight = 1.0
    with mock.patch.object(hipporag2.HippoRAG2, "__init__", init):
        yield


@mutant("11", HR2)
@contextmanager
def hr2_filter_reads_wrong_key():
    """The filter's JSON is read under the wrong key, so no fact ever survives and every
    question silently falls back to dense retrieval."""
    with mock.patch.object(hipporag2.OI, "recognise", lambda llm, q, facts, max_facts=4: []):
        yield


@mutant("11", HR2)
@contextmanager
def hr2_filter_inverted():
    """The recognition filter keeps the facts it should drop (a negated condition)."""
    orig = hipporag2.OI.recognise

    def bad(llm, q, facts, max_facts=4):
        kept = set(orig(llm, q, facts, len(facts)))
        return [f for f in facts if f not in kept][:max_facts]
    with mock.patch.object(hipporag2.OI, "recognise", bad):
        yield


# ----------------------------------------------------------------------------- adaptive
@mutant("11", AD)
@contextmanager
def adaptive_test_rule_inverted():
    """The threshold is tuned for "retrieve below theta" but applied at test time as
    "retrieve above theta" (the head gets retrieval, the tail its failing parametric memory)."""
    with mock.patch.object(adaptive, "retrieve_mask", lambda logpop, theta: logpop >= theta):
        yield


@mutant("11", AD)
@contextmanager
def memoriser_ignores_popularity():
    """Facts sampled uniformly during 'pre-training' (popularity weights dropped): the
    parametric memory no longer favours popular subjects."""
    orig = adaptive.CountMemoriser.fit

    def fit(self, data):
        pop = data.popularity
        data.popularity = np.ones_like(pop)
        try:
            return orig(self, data)
        finally:
            data.popularity = pop
    with mock.patch.object(adaptive.CountMemoriser, "fit", fit):
        yield


@mutant("11", AD)
@contextmanager
def threshold_argmin():
    """The threshold minimises train accuracy (argmin for argmax)."""
    with mock.patch.object(adaptive.np, "argmax", np.argmin):
        yield


# ----------------------------------------------------------------------------- checks
@lru_cache(maxsize=1)
def _world():
    return E.world(120, 30, 0)


def _table(methods=("dense", "hipporag", "hipporag2")):
    return E.recall_table(_world(), methods, ks=(5,))


@check("11", "ppr_networkx_equals_numpy")
def _ppr_eq():
    return max(E.ppr_equality(s) for s in (0, 1))


@check("11", "bm25_equals_loop", target=at_most(1e-9))
def _bm25():
    W = _world()
    ps = W.passages[:40]
    qs = [q.text for q in W.questions[:5]]
    S = dense.BM25Retriever().fit(ps).scores(qs)
    return float(max(np.abs(S[i] - E.bm25_hand(ps, q)).max() for i, q in enumerate(qs)))


@check("11", "two_hop_recall5_gain")
def _two_hop():
    t = _table()
    return t["hipporag"][2][5] - t["dense"][2][5]


@check("11", "hr2_two_hop_recall5_gain")
def _hr2_two_hop():
    t = _table()
    return t["hipporag2"][2][5] - t["dense"][2][5]


@check("11", "single_hop_recall5_hr2_minus_dense")
def _single():
    t = _table()
    return t["hipporag2"][1][5] - t["dense"][1][5]


@check("11", "no_relation_edges_gain")
def _norel():
    t = E.recall_table(_world(), ("dense",), ks=(5,), norel=("hipporag", {"relation_edges": False}))
    return t["norel"][2][5] - t["dense"][2][5]


@check("11", "dense_single_hop_recall5")
def _dense_single():
    return _table(("dense",))["dense"][1][5]


def _popqa():
    return E.popqa_experiment(n_subjects=300, n_splits=20, seed=0)


@check("11", "adaptive_minus_best")
def _adaptive():
    return _popqa()["adaptive_minus_best"]


@check("11", "adaptive_retrieve_frac")
def _frac():
    return _popqa()["retrieve_frac"]


@check("11", "parametric_popularity_spearman")
def _spearman():
    return _popqa()["param_spearman"]
