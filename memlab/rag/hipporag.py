"""HippoRAG: a knowledge graph as the hippocampal index, read by personalised PageRank.

Paper: Gutierrez, Shu, Gu, Yasunaga, Su, "HippoRAG: Neurobiologically Inspired Long-Term Memory
for Large Language Models" (NeurIPS 2024); constants from its code (``OSU-NLP-Group/HippoRAG``,
legacy ``src/hipporag.py``): PPR damping 0.5, synonymy edges at cosine >= 0.8, node-specificity
reset weights, undirected graph, passage score = sum of its phrases' PPR mass.

Offline indexing: OpenIE turns every passage into triples (:mod:`memlab.rag.openie`); the
phrases become nodes, each triple a **relation edge** subject--object, and phrases whose
embeddings have cosine >= ``synonym_threshold`` get a **synonymy edge** ("John Q. Smith" --
"John Smith"). ``P`` is the passage x phrase incidence matrix.
Online: query NER; each query entity is linked to its nearest node; reset weights
``r_i = 1/|P_i|`` (node specificity: |P_i| passages contain node i), normalised; PPR; scores.

Glossary (paper -> code)
    P [N_p, N_n]       passage x phrase incidence      self.P
    |P_i|              passages containing phrase i    self.P.sum(0)
    r                  personalisation (reset) vector  reset
    d                  damping = P(follow an edge)     damping (= networkx ``alpha``)
    pi                 PPR distribution over nodes     pi

Equations
    pi = (1 - d) r + d * pi W,    W_uv = w_uv / sum_v' w_uv'   (dangling rows restart at r)
    score(passage) = P pi

Pitfall: igraph's ``damping`` and networkx's ``alpha`` are the probability of *continuing* the
walk (restart = 1 - d); old igraph power-method PPR ignored the reset vector (python-igraph
#101), which is why HippoRAG calls ``implementation="prpack"``. :func:`ppr_numpy` is the power
iteration written out, tested equal to :func:`ppr_networkx`.

Not included: LLM-based NER/OpenIE (a rule back-end reads the templates; any ``LLM`` back-end
plugs in), ColBERT/Contriever embeddings (character 3-gram TF-IDF links phrases), the
multi-step IRCoT combination, node-specificity variants of later versions.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from memlab.rag import openie as OI

__all__ = ["HippoRAG", "phrase_vectors", "ppr_networkx", "ppr_numpy"]


def ppr_networkx(G: nx.Graph, reset: dict, damping: float = 0.5, tol: float = 1e-12) -> dict:
    """Personalised PageRank of ``G`` (weights in edge attribute ``weight``)."""
    if not 0 <= damping < 1:
        raise ValueError(f"damping must be in [0, 1), got {damping}")
    if not reset or sum(reset.values()) <= 0:
        raise ValueError("reset must give a positive weight to at least one node")
    return nx.pagerank(G, alpha=damping, personalization=reset, weight="weight", tol=tol,
                       max_iter=10_000, dangling=None)


def ppr_numpy(A, r: np.ndarray, damping: float = 0.5, tol: float = 1e-13,
              max_iter: int = 10_000) -> np.ndarray:
    """Power iteration on a (weighted) adjacency ``A [n, n]`` (row u: edges out of u; dense or
    scipy sparse): the update as written, dangling nodes jump back to ``r`` (networkx's
    convention). ``r`` is one reset vector ``[n]`` or a batch ``[q, n]`` (one per query)."""
    r = np.asarray(r, dtype=np.float64)
    n = A.shape[0]
    if A.ndim != 2 or A.shape[1] != n or r.shape[-1] != n or r.ndim > 2:
        raise ValueError(f"A must be [n, n] and r [n] or [q, n]; got {A.shape} and {r.shape}")
    if not 0 <= damping < 1:
        raise ValueError(f"damping must be in [0, 1), got {damping}")
    if (r.sum(-1) <= 0).any():
        raise ValueError("every reset vector needs a positive total weight")
    r = r / r.sum(-1, keepdims=True)
    out = np.asarray(A.sum(1)).ravel()
    dangling = out == 0
    inv = 1.0 / np.where(dangling, 1.0, out)
    W = A.multiply(inv[:, None]).tocsr() if sparse.issparse(A) else A * inv[:, None]
    pi = r.copy()
    for _ in range(max_iter):
        new = (1 - damping) * r + damping * (
            np.asarray(W.T @ pi.T).T + pi[..., dangling].sum(-1, keepdims=True) * r)
        if np.abs(new - pi).sum(-1).max() < tol:
            return new
        pi = new
    return pi


def phrase_vectors(phrases: list[str]):
    """Unit character-3-gram TF-IDF vectors (the stand-in for the paper's phrase encoder)."""
    v = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), lowercase=True)
    return v, v.fit_transform(phrases)


class HippoRAG:
    """Index passages into a phrase graph; score passages for questions by PPR."""

    def __init__(self, llm=None, damping: float = 0.5, synonym_threshold: float = 0.8,
                 relation_edges: bool = True, synonymy_edges: bool = True,
                 seeds: str = "specificity"):
        if not 0 <= damping < 1:
            raise ValueError(f"damping must be in [0, 1), got {damping}")
        if not 0 < synonym_threshold <= 1:
            raise ValueError(f"synonym_threshold must be in (0, 1], got {synonym_threshold}")
        if seeds not in ("specificity", "uniform"):
            raise ValueError(f"seeds must be 'specificity' or 'uniform', got {seeds!r}")
        self.llm = llm if llm is not None else OI.RuleOpenIE()
        self.damping, self.synonym_threshold = damping, synonym_threshold
        self.relation_edges, self.synonymy_edges, self.seeds = relation_edges, synonymy_edges, seeds

    # ---------------------------------------------------------------- offline indexing
    def index(self, passages: list[str]) -> HippoRAG:
        if not passages:
            raise ValueError("passages must be a non-empty list of strings")
        self.passages = list(passages)
        self.triples = [[tuple(x.lower() if i != 1 else x for i, x in enumerate(t))
                         for t in OI.openie(self.llm, p)] for p in self.passages]
        self.phrases = sorted({x for ts in self.triples for t in ts for x in (t[0], t[2])})
        self.node = {ph: i for i, ph in enumerate(self.phrases)}
        self.P = np.zeros((len(self.passages), len(self.phrases)))
        G = nx.Graph()
        G.add_nodes_from(self.phrases)
        for j, ts in enumerate(self.triples):
            for s, _, o in ts:
                self.P[j, self.node[s]] = self.P[j, self.node[o]] = 1
                if self.relation_edges:
                    G.add_edge(s, o, weight=1.0, kind="relation")
        self.vectorizer, self.X = phrase_vectors(self.phrases)
        if self.synonymy_edges:
            S = (self.X @ self.X.T).toarray()
            np.fill_diagonal(S, 0)
            for a, b in zip(*np.nonzero(np.triu(S >= self.synonym_threshold))):
                if not G.has_edge(self.phrases[a], self.phrases[b]):
                    G.add_edge(self.phrases[a], self.phrases[b], weight=1.0, kind="synonym")
        self.G = G
        return self

    def specificity(self) -> np.ndarray:
        """``1 / |P_i|`` per phrase node (``|P_i|`` = passages that contain it)."""
        return 1.0 / np.maximum(self.P.sum(0), 1)

    def link(self, entities: list[str]) -> list[str]:
        """Each query entity -> its nearest phrase node (cosine of 3-gram vectors)."""
        if not entities:
            return []
        sims = (self.vectorizer.transform([e.lower() for e in entities]) @ self.X.T).toarray()
        return [self.phrases[i] for i in sims.argmax(1)]

    # ---------------------------------------------------------------- online retrieval
    def reset_vector(self, nodes: list[str]) -> dict:
        spec = self.specificity()
        reset = {}
        for n in nodes:
            w = spec[self.node[n]] if self.seeds == "specificity" else 1.0
            reset[n] = reset.get(n, 0.0) + w
        return reset

    def adjacency(self):
        """Sparse weighted adjacency in node order (phrases, then any extra nodes)."""
        return nx.to_scipy_sparse_array(self.G, nodelist=self.nodelist(), weight="weight",
                                        format="csr", dtype=np.float64)

    def nodelist(self) -> list:
        return list(self.phrases)

    def node_scores(self, question: str, backend: str = "networkx") -> np.ndarray:
        """PPR mass over phrase nodes for one question (``backend``: networkx or numpy)."""
        seeds = self.link(OI.query_ner(self.llm, question))
        if not seeds:
            return np.zeros(len(self.phrases))
        reset = self.reset_vector(seeds)
        if backend == "networkx":
            pr = ppr_networkx(self.G, reset, self.damping)
            return np.array([pr[ph] for ph in self.phrases])
        r = np.zeros(len(self.phrases))
        for n, w in reset.items():
            r[self.node[n]] = w
        return ppr_numpy(self.adjacency(), r, self.damping)

    def scores(self, questions: list[str]) -> np.ndarray:
        """Passage scores ``P pi`` per question ``[n_questions, n_passages]``: all questions'
        PPRs in one batched power iteration (equal to networkx, tested)."""
        R = np.zeros((len(questions), len(self.phrases)))
        for q, text in enumerate(questions):
            for n, w in self.reset_vector(self.link(OI.query_ner(self.llm, text))).items():
                R[q, self.node[n]] = w
        ok = R.sum(1) > 0
        pi = np.zeros_like(R)
        if ok.any():
            pi[ok] = ppr_numpy(self.adjacency(), R[ok], self.damping)
        return pi @ self.P.T
