"""A-MemGuard-lite: consensus over retrieved memories + a separate lesson store.

A-MemGuard (arXiv 2510.02373, 2025; no public code was found) leaves the agent unchanged and
adds two mechanisms:

1. **Consensus validation.** For a query q, retrieve K memories m_1..m_K and derive one
   reasoning path per memory, P_i = pi(q, [m_i]) (the plan the agent would make from that
   memory alone). Each path is a set of edges E_i = {(op, arg)}. With Jaccard similarity
   J(a, b) = |a & b| / |a | b|, the consensus is the medoid

       c = argmax_i  sum_j J(E_i, E_j)        (ties: the better-ranked memory)

   and memory i is *divergent* when J(E_i, E_c) < tau. Divergent memories are dropped before
   the agent imitates.
2. **Dual memory (lessons).** Every detected divergence is distilled into a lesson
   ``(entity, forbidden edge)`` = (the query's patient, each edge of E_i not in E_c), written
   to a *separate* store that retrieval of demonstrations never sees. Before acting, the
   lessons for the query's entity are consulted: candidates carrying a forbidden edge are
   dropped, and a forbidden step is removed from the final plan. This breaks the
   self-reinforcing loop in which a corrupted answer is stored as the next precedent.

Glossary: ``K`` memories checked (paper: several; default 5), ``tau`` divergence threshold
(ours: 0.8, between the 3/4 overlap of a path with one extra step and 1), ``lessons`` on/off.

Limits (shown in the chapter, not hidden): with ``K = 1`` there is nothing to agree with; when
poisoned memories are the majority of the K retrieved, the medoid *is* the poison and the
benign memories are the ones dropped. Not included: the paper's LLM-built knowledge graphs
per path and its LLM judge (a path here is the agent's own program).
"""

from __future__ import annotations

import numpy as np

from memlab.agents.store import MemoryStore
from memlab.security.agent import plan
from memlab.security.world import edges, parse_query

__all__ = ["MemGuard", "consensus", "jaccard"]


def jaccard(a: frozenset, b: frozenset) -> float:
    """|a & b| / |a | b| (1.0 for two empty sets)."""
    u = len(a | b)
    return len(a & b) / u if u else 1.0


def consensus(paths: list[frozenset], tau: float = 0.8) -> tuple[int, list[int]]:
    """``(medoid index, indices kept)`` for edge sets ``paths`` (best-ranked first).
    Fewer than two paths: no consensus is possible, everything is kept."""
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau must be in [0, 1], got {tau}")
    n = len(paths)
    if n < 2:
        return 0, list(range(n))
    J = np.array([[jaccard(a, b) for b in paths] for a in paths])
    c = int(np.argmax(J.sum(1)))            # argmax returns the first (best-ranked) tie
    return c, [i for i in range(n) if J[i, c] >= tau]


class MemGuard:
    """Plug into :class:`~memlab.security.agent.ImitationAgent` as ``guard=``."""

    def __init__(self, K: int = 5, tau: float = 0.8, lessons: bool = True,
                 lesson_store: MemoryStore | None = None):
        if not isinstance(K, int) or K < 1:
            raise ValueError(f"K must be an int >= 1, got {K!r}")
        if not 0.0 <= tau <= 1.0:
            raise ValueError(f"tau must be in [0, 1], got {tau}")
        self.K, self.tau, self.lessons = K, float(tau), bool(lessons)
        self.lesson_store = lesson_store if lesson_store is not None else MemoryStore()
        self.flagged = 0                    # divergent memories dropped so far

    # ---- lessons ----------------------------------------------------------------------
    def forbidden(self, query: str) -> set:
        """Edges the lessons forbid for the query's entity."""
        if not self.lessons:
            return set()
        ent = parse_query(query)["patient"]
        return {tuple(it.meta["forbidden"]) for it in self.lesson_store.items("lessons")
                if it.meta["entity"] == ent}

    def learn(self, query: str, edge: tuple) -> None:
        ent = parse_query(query)["patient"]
        if not self.lessons or ent is None or edge in self.forbidden(query):
            return
        self.lesson_store.add("lessons", f"For patient {ent}, never {edge[0]}({edge[1]}).",
                              meta={"entity": ent, "forbidden": list(edge)}, kind="lesson",
                              reason=f"divergent memory on: {query}")

    # ---- the two hooks ----------------------------------------------------------------
    def select(self, agent, query: str, hits: list) -> list:
        hits = hits[:self.K]
        paths = [edges(plan(agent.llm, query, [{"query": h.text, "program": h.meta["program"]}]))
                 for h in hits]
        bad = self.forbidden(query)
        ok = [i for i, p in enumerate(paths) if not (p & bad)]
        c, keep = consensus([paths[i] for i in ok], self.tau)
        keep = [ok[i] for i in keep]
        for i in ok:
            if i not in keep:
                self.flagged += 1
                for e in sorted(paths[i] - paths[ok[c]]):
                    self.learn(query, e)
        return [hits[i] for i in keep]

    def vet(self, agent, query: str, program: list) -> list:
        bad = self.forbidden(query)
        return [s for s in program if tuple(s) not in bad] if bad else program
