"""HippoRAG 2: passage nodes in the graph, facts as the entry point, a recognition filter.

Paper: Gutierrez, Shu, Qi, Zhou, Su, "From RAG to Memory: Non-Parametric Continual Learning for
Large Language Models" (ICML 2025); constants from ``OSU-NLP-Group/HippoRAG`` ``main``
(``src/hipporag/HippoRAG.py``, ``utils/config_utils.py``): ``linking_top_k = 5`` facts,
recognition keeps <= 4, ``passage_node_weight = 0.05``, ``damping = 0.5``, synonymy edges at
0.8, undirected graph.

Graph = phrase nodes + **passage nodes**; edges = relation (fact) edges, synonymy edges and
passage--phrase **context edges**. Retrieval:
    1. score facts against the query (embedding cosine); keep the top ``linking_top_k``;
    2. recognition memory (an LLM filter) keeps the relevant ones; none left -> return the
       dense passage ranking unchanged (the fallback);
    3. phrase seeds: each kept fact's score is given to its subject and object, averaged per
       phrase, divided by the phrase's passage count |P_i|;
    4. passage seeds: min-max normalised dense scores x ``passage_node_weight``;
    5. PPR (damping 0.5); passages ranked by the PPR mass of their passage nodes.

Not included: the DSPy-optimised filter prompt (a rule keeps facts naming a query entity),
NV-Embed-v2 (TF-IDF stands in), ``synonymy_edge_topk``, online QA.
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from memlab.rag import openie as OI
from memlab.rag.dense import TfidfRetriever
from memlab.rag.hipporag import HippoRAG, ppr_networkx, ppr_numpy

__all__ = ["HippoRAG2", "minmax"]


def minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return np.zeros_like(x) if hi - lo < 1e-12 else (x - lo) / (hi - lo)


class HippoRAG2(HippoRAG):
    def __init__(self, llm=None, damping: float = 0.5, passage_node_weight: float = 0.05,
                 linking_top_k: int = 5, max_facts: int = 4, dense=None, **kw):
        super().__init__(llm, damping, **kw)
        if passage_node_weight < 0:
            raise ValueError(f"passage_node_weight must be >= 0, got {passage_node_weight}")
        if linking_top_k < 1 or max_facts < 1:
            raise ValueError(f"linking_top_k and max_facts must be >= 1, got "
                             f"{linking_top_k}, {max_facts}")
        self.passage_node_weight, self.linking_top_k = passage_node_weight, linking_top_k
        self.max_facts = max_facts
        self.dense = dense if dense is not None else TfidfRetriever()
        self.fallbacks = 0

    def index(self, passages: list[str]) -> HippoRAG2:
        super().index(passages)
        self.pnodes = [("passage", j) for j in range(len(self.passages))]
        for j, pn in enumerate(self.pnodes):
            self.G.add_node(pn)
            for i in np.nonzero(self.P[j])[0]:
                self.G.add_edge(pn, self.phrases[i], weight=1.0, kind="context")
        self.facts = sorted({t for ts in self.triples for t in ts})
        self.fact_vec = TfidfVectorizer(token_pattern=r"[A-Za-z0-9]+")
        self.F = self.fact_vec.fit_transform([self.fact_text(f) for f in self.facts])
        self.dense.fit(self.passages)
        return self

    @staticmethod
    def fact_text(f) -> str:
        return f"{f[0]} {f[1].replace('_', ' ')} {f[2]}"

    def top_facts(self, question: str):
        s = (self.fact_vec.transform([question]) @ self.F.T).toarray()[0]
        idx = np.argsort(-s, kind="stable")[:self.linking_top_k]
        return [(self.facts[i], float(s[i])) for i in idx]

    def phrase_seeds(self, kept: list[tuple], score: dict) -> dict:
        acc: dict[str, list[float]] = {}
        for f in kept:
            for ph in (f[0], f[2]):
                acc.setdefault(ph.lower(), []).append(score[f])
        spec = self.specificity()
        return {ph: float(np.mean(v)) * (spec[self.node[ph]] if self.seeds == "specificity" else 1)
                for ph, v in acc.items() if ph in self.node}

    def nodelist(self) -> list:
        return list(self.phrases) + self.pnodes

    def reset_for(self, question: str, dense: np.ndarray) -> dict | None:
        """Seeds of one question (phrase + passage nodes), or None when the filter keeps
        nothing (then the caller falls back to the dense ranking)."""
        top = self.top_facts(question)
        score = dict(top)
        kept = OI.recognise(self.llm, question, [f for f, _ in top], self.max_facts)
        kept = [tuple(x.lower() if i != 1 else x for i, x in enumerate(f)) for f in kept]
        kept = [f for f in kept if f in score]
        if not kept:
            return None
        reset = self.phrase_seeds(kept, score)
        for pn, w in zip(self.pnodes, minmax(dense) * self.passage_node_weight):
            if w > 0:
                reset[pn] = float(w)
        return reset

    def passage_scores(self, question: str) -> np.ndarray:
        """One question through ``networkx.pagerank`` (the reference path)."""
        dense = self.dense.scores([question])[0]
        reset = self.reset_for(question, dense)
        if reset is None:
            self.fallbacks += 1
            return dense
        pr = ppr_networkx(self.G, reset, self.damping)
        return np.array([pr[pn] for pn in self.pnodes])

    def passage_mass(self, pi: np.ndarray) -> np.ndarray:
        """Passage scores = PPR mass of the passage nodes (columns after the phrases)."""
        return pi[:, len(self.phrases):]

    def scores(self, questions: list[str]) -> np.ndarray:
        """All questions in one batched power iteration (equal to the networkx path)."""
        dense = self.dense.scores(questions)
        nodes = {n: i for i, n in enumerate(self.nodelist())}
        R = np.zeros((len(questions), len(nodes)))
        fallback = np.zeros(len(questions), bool)
        for q, text in enumerate(questions):
            reset = self.reset_for(text, dense[q])
            if reset is None:
                fallback[q] = True
                continue
            for n, w in reset.items():
                R[q, nodes[n]] = w
        self.fallbacks += int(fallback.sum())
        out = dense.copy()
        if (~fallback).any():
            pi = ppr_numpy(self.adjacency(), R[~fallback], self.damping)
            out[~fallback] = self.passage_mass(pi)
        return out
