"""Generative Agents retrieval: recency + importance + relevance, each min-max normalised.

Paper: Park et al., "Generative Agents: Interactive Simulacra of Human Behavior", UIST 2023
(code: joonspk-research/generative_agents, ``cognitive_modules/retrieve.py::new_retrieve``).

Glossary::

    recency     0.995 ** (game hours since last access)    (paper)
                0.99 ** i, i = 1..N along nodes sorted by last_accessed ascending  (code)
    importance  poignancy 1..10, scored by the LLM at write time  meta["importance"]
    relevance   cosine(query, memory)
    alpha_*     weights: paper (1, 1, 1); code (recency 0.5, relevance 3, importance 2)

Equation::

    score = a_rec * minmax(recency) + a_imp * minmax(importance) + a_rel * minmax(relevance)

min-max maps each component to [0, 1] over the candidates (all equal -> 0.5, as the code's
``normalize_dict_floats`` does). The top ``n`` nodes are returned and their ``last_accessed``
set to now (a retrieval refreshes recency).

``variant="code"`` reproduces the public code. Its sort is ascending, so i = 1 is the node
accessed *longest ago* and receives the *highest* recency -- confirmed by a test; the paper's
variant gives the most recently accessed node the highest recency.

Not included: reflection (importance trigger 150 -> focal questions -> insights), planning,
expiry of thoughts, the "idle" filter.
"""

from __future__ import annotations

import numpy as np

from memlab.agents.base import AgentMemory, round_text
from memlab.agents.llm import iso_date

__all__ = ["WEIGHTS", "GenerativeAgents", "minmax"]

HOUR = 3600.0
WEIGHTS = {"paper": {"recency": 1.0, "importance": 1.0, "relevance": 1.0},
           "code": {"recency": 0.5, "importance": 2.0, "relevance": 3.0}}


def minmax(x: np.ndarray) -> np.ndarray:
    """Map to [0, 1]; a constant vector maps to 0.5 (the code's convention)."""
    x = np.asarray(x, dtype=np.float64)
    lo, hi = (x.min(), x.max()) if len(x) else (0.0, 0.0)
    return np.full_like(x, 0.5) if hi - lo == 0 else (x - lo) / (hi - lo)


class GenerativeAgents(AgentMemory):
    name = "generative-agents"

    def __init__(self, *args, variant: str = "paper", decay: float | None = None,
                 weights: dict | None = None, **kw):
        super().__init__(*args, **kw)
        if variant not in WEIGHTS:
            raise ValueError(f"variant must be 'paper' or 'code', got {variant!r}")
        self.variant = variant
        self.decay = decay if decay is not None else (0.995 if variant == "paper" else 0.99)
        if not 0 < self.decay <= 1:
            raise ValueError(f"decay must be in (0, 1], got {self.decay}")
        self.weights = dict(weights or WEIGHTS[variant])

    def _observe(self, user_text, assistant_text, sources):
        imp = self.llm.score_importance(user_text)
        self.store.add(self.user, round_text(user_text, assistant_text),
                       {"sources": sources, "date": iso_date(self.clock.now), "importance": imp,
                        "last_accessed": self.clock.now}, reason=f"observed, poignancy {imp}",
                       kind="turn")

    def components(self, query: str):
        """ids and the raw recency, importance, relevance of every node."""
        ids, mat = self.store.vectors(self.user)
        pos = {int(i): j for j, i in enumerate(ids)}
        items = [it for it in self.store.items(self.user) if it.id in pos]   # rows with vectors
        rel = mat[[pos[it.id] for it in items]] @ self.store.embed_for(self.user, [query])[0]
        last = np.array([it.meta["last_accessed"] for it in items])
        if self.variant == "paper":
            rec = self.decay ** ((self.clock.now - last) / HOUR)
        else:  # code: rank along ascending last_accessed, i = 1..N
            order = np.argsort(last, kind="stable")
            rec = np.empty(len(items))
            rec[order] = self.decay ** np.arange(1, len(items) + 1)
        imp = np.array([it.meta["importance"] for it in items], dtype=np.float64)
        return items, rec, imp, rel.astype(np.float64)

    def retrieve(self, query, k=5):
        items, rec, imp, rel = self.components(query)
        if not items:
            return []
        w = self.weights
        parts = {"recency": w["recency"] * minmax(rec), "importance": w["importance"] * minmax(imp),
                 "relevance": w["relevance"] * minmax(rel)}
        score = sum(parts.values())
        top = np.argsort(-score, kind="stable")[:k]
        explains = [{**{n: float(v[i]) for n, v in parts.items()},
                     "raw_recency": float(rec[i]), "raw_importance": float(imp[i]),
                     "raw_relevance": float(rel[i])} for i in top]
        hits = self.store.hits([items[i].id for i in top], explains, [float(score[i]) for i in top],
                               user=self.user)
        with self.store.transaction():
            for h in hits:
                self.store.update(h.id, meta={"last_accessed": self.clock.now},
                                  reason="retrieved: last_accessed = now")
        return hits
