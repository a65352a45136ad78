"""Chapter 11's experiments: recall of supporting passages on the fact world, PPR equality,
PopQA-lite adaptive retrieval. The notebook, the claim tests and the mutant checks call these."""

from __future__ import annotations

from functools import lru_cache

import networkx as nx
import numpy as np

from memlab.rag import adaptive as A
from memlab.rag.dense import BM25Retriever, TfidfRetriever, rank, recall_at_k
from memlab.rag.hipporag import HippoRAG, ppr_networkx, ppr_numpy
from memlab.rag.hipporag2 import HippoRAG2
from memlab.report import seed_spread  # re-exported: one helper for every chapter
from memlab.tasks.factworld import FactWorld, fact_world, popqa_lite

__all__ = [
    "METHODS",
    "bm25_hand",
    "have_minilm",
    "make_retriever",
    "popqa_experiment",
    "ppr_equality",
    "recall_table",
    "seed_spread",
    "small_graph",
    "world",
]

METHODS = ("dense", "bm25", "hipporag", "hipporag2")


@lru_cache(maxsize=16)
def world(n_people: int = 120, n_questions: int = 60, seed: int = 0) -> FactWorld:
    return fact_world(n_people=n_people, n_companies=max(2, n_people // 3),
                      n_cities=max(2, n_people // 6), n_questions=n_questions, seed=seed)


def make_retriever(name: str, passages: list[str], **kw):
    """Fit a retriever by name: dense (TF-IDF), bm25, hipporag, hipporag2 (kwargs passed on)."""
    if name == "dense":
        if kw.pop("embedder", "tfidf") == "minilm":
            from memlab.agents.embed import MiniLMEmbedder
            from memlab.rag.dense import EmbedderRetriever

            return EmbedderRetriever(MiniLMEmbedder()).fit(passages)
        return TfidfRetriever(**kw).fit(passages)
    if name == "bm25":
        return BM25Retriever(**kw).fit(passages)
    if name == "hipporag":
        return HippoRAG(**kw).index(passages)
    if name == "hipporag2":
        return HippoRAG2(**kw).index(passages)
    raise ValueError(f"unknown retriever {name!r}; use one of {METHODS}")


def have_minilm() -> bool:
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


def recall_table(W: FactWorld, methods=METHODS, ks=(2, 5), **variants) -> dict:
    """``{method: {hops: {k: recall@k}}}``; ``variants`` maps extra names to
    ``(base_method, kwargs)`` (e.g. controls)."""
    todo = {m: (m, {}) for m in methods} | variants
    out = {}
    for name, (base, kw) in todo.items():
        r = make_retriever(base, W.passages, **kw)
        out[name] = {}
        for h in (1, 2):
            qs = W.by_hops(h)
            R = rank(r.scores([q.text for q in qs]), max(ks))
            out[name][h] = {k: recall_at_k(R, [q.support for q in qs], k) for k in ks}
    return out


def small_graph(seed: int = 0, n: int = 12):
    """A small weighted undirected graph with one isolated (dangling) node, and a reset."""
    rng = np.random.default_rng(seed)
    G = nx.gnp_random_graph(n - 1, 0.35, seed=int(rng.integers(1 << 30)))
    for u, v in G.edges:
        G[u][v]["weight"] = float(rng.uniform(0.5, 2.0))
    G.add_node(n - 1)                                   # dangling
    reset = {0: 2.0, 3: 1.0, n - 1: 0.5}        # not normalised: PPR must do it
    return G, reset


def ppr_equality(seed: int = 0, damping: float = 0.5) -> float:
    """max |networkx PPR - numpy power iteration| on :func:`small_graph`."""
    G, reset = small_graph(seed)
    nodes = list(G.nodes)
    ref = ppr_networkx(G, reset, damping)
    A_ = nx.to_numpy_array(G, nodelist=nodes, weight="weight")
    r = np.array([reset.get(u, 0.0) for u in nodes])
    pi = ppr_numpy(A_, r, damping)
    return float(np.max(np.abs(pi - np.array([ref[u] for u in nodes]))))


def bm25_hand(passages: list[str], query: str, k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """BM25 written as a loop over query terms (the reference for the vectorised scorer)."""
    docs = [p.lower().replace(".", " ").replace(",", " ").split() for p in passages]
    N, avgdl = len(docs), sum(map(len, docs)) / len(docs)
    out = np.zeros(N)
    for t in set(query.lower().replace("?", " ").split()):
        df = sum(t in d for d in docs)
        if df == 0:
            continue
        idf = np.log((N - df + 0.5) / (df + 0.5) + 1)
        for j, d in enumerate(docs):
            tf = d.count(t)
            out[j] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))
    return out


def popqa_experiment(n_subjects: int = 1000, n_splits: int = 100, seed: int = 0,
                     n_mentions: float | None = None) -> dict:
    """Parametric (CountMemoriser), retrieval (BM25 + rule reader) and adaptive accuracy,
    and accuracy by popularity bin."""
    d = popqa_lite(n_subjects=n_subjects, seed=seed)
    mem = A.CountMemoriser(n_mentions=n_mentions or 10 * n_subjects, seed=seed).fit(d)
    pa, ra = mem.answers(d), A.retrieval_answers(d)
    res = A.adaptive_eval(d, pa, ra, n_splits=n_splits, seed=seed)
    centres, p_acc = A.accuracy_by_popularity(d, pa)
    _, r_acc = A.accuracy_by_popularity(d, ra)
    res.update(pop_centres=centres, param_by_pop=p_acc, retr_by_pop=r_acc,
               param_spearman=A.spearman(centres, p_acc),
               best_single=max(res["parametric"], res["retrieval"]))
    res["adaptive_minus_best"] = res["adaptive"] - res["best_single"]
    return res


