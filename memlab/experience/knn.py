"""Episodic kNN plan memory with a novelty reward (JARVIS-1; "Reasoning Under 1 Billion").

JARVIS-1 ("Open-World Multi-task Agents with Memory-Augmented Multimodal Language
Models", 2023) keeps a memory of its own successful (task, situation, plan)
experiences and retrieves them to plan new tasks; Memory-R ("Reasoning Under 1 Billion: Memory-
Augmented Reinforcement Learning for Large Language Models", 2025, ``thaihungle/Memory-R``,
``rewards/ir_knn_st.py``) keeps an episodic kNN memory of past responses per question and turns
it into an intrinsic *novelty* reward. This module is that memory::

    keys K = [k_1 .. k_n]      task embeddings (unit norm), n <= max_keys (FIFO, 1,000)
    values V_j                 up to max_values (50) responses stored under key j (+ outcome)
    read(q)                    the top-k keys by cos(q, k_j) that pass sim_floor
    novelty(v | q) = 1 - max_{j in topk(q), u in V_j} cos(v, u)
    reward         = anneal_t * (novelty - min H) / (max H - min H),  anneal_t = 0.99 ** t

with ``H`` the last ``window`` (100) novelty values (min-max normalisation; 0 when they are all
equal) and ``t`` the number of reward calls so far. Memory-R's constants are the defaults
(k from its config: 5). Response embeddings here are the plan's one-hot calls flattened
and normalised (cos = fraction of matching calls), not MiniLM vectors (no download offline).

Not included: Memory-R's GRPO training (the reward here drives a planner's choice among
sampled plans), the centroid variant of the distance, faiss (exact numpy search).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from memlab.tasks.appworld_lite import PRIMITIVES

__all__ = ["EpisodicKNN", "plan_vector"]


def plan_vector(actions: list[str]) -> np.ndarray:
    """One-hot per call over ``PRIMITIVES``, flattened, unit norm: cos = matching calls / n."""
    v = np.zeros((len(actions), len(PRIMITIVES)), np.float32)
    for i, a in enumerate(actions):
        v[i, PRIMITIVES.index(a)] = 1.0
    v = v.ravel()
    return v / max(np.linalg.norm(v), 1e-12)


class EpisodicKNN:
    """A ``Memory``: key vectors -> lists of (value vector, payload); FIFO over keys."""

    def __init__(self, dim: int, k: int = 5, max_keys: int = 1000, max_values: int = 50,
                 sim_floor: float = 0.9, window: int = 100, anneal: float = 0.99):
        for name, v in (("dim", dim), ("k", k), ("max_keys", max_keys), ("max_values", max_values),
                        ("window", window)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if not 0.0 < anneal <= 1.0:
            raise ValueError(f"anneal must be in (0, 1], got {anneal!r}")
        self.dim, self.k, self.max_keys, self.max_values = dim, k, max_keys, max_values
        self.sim_floor, self.anneal = float(sim_floor), float(anneal)
        self.history: deque = deque(maxlen=window)
        self.calls = 0
        self.reset()

    def reset(self) -> None:
        self.keys = np.zeros((0, self.dim), np.float32)
        self.values: list[list[tuple[np.ndarray, dict]]] = []
        self.history.clear()
        self.calls = 0

    def _key_index(self, key: np.ndarray) -> int | None:
        if len(self.keys) == 0:
            return None
        s = self.keys @ key
        j = int(np.argmax(s))
        return j if s[j] >= 1.0 - 1e-6 else None

    def write(self, key: np.ndarray, value: np.ndarray, payload: dict | None = None) -> None:
        """Store ``value`` under ``key`` (a new key when none is identical; FIFO eviction of
        the oldest key past ``max_keys``; the oldest value past ``max_values``)."""
        key = np.asarray(key, np.float32)
        if key.shape != (self.dim,):
            raise ValueError(f"key must have shape ({self.dim},), got {key.shape}")
        j = self._key_index(key)
        if j is None:
            self.keys = np.vstack([self.keys, key[None]])
            self.values.append([])
            j = len(self.values) - 1
            if len(self.values) > self.max_keys:
                self.keys, self.values = self.keys[1:], self.values[1:]
                j -= 1
        self.values[j].append((np.asarray(value, np.float32), dict(payload or {})))
        if len(self.values[j]) > self.max_values:
            self.values[j].pop(0)

    def read(self, query: np.ndarray) -> list[tuple[int, float]]:
        """``[(key index, cos)]`` of the top-``k`` keys with cos >= ``sim_floor``, best first."""
        if len(self.keys) == 0:
            return []
        s = self.keys @ np.asarray(query, np.float32)
        top = np.argsort(-s, kind="stable")[:self.k]
        return [(int(j), float(s[j])) for j in top if s[j] >= self.sim_floor]

    def novelty(self, query: np.ndarray, value: np.ndarray) -> float:
        """``1 - max cos(value, u)`` over the values ``u`` of the top-k keys (1 when none)."""
        sims = [float(np.dot(value, u)) for j, _ in self.read(query) for u, _ in self.values[j]]
        return 1.0 - max(sims) if sims else 1.0

    def reward(self, query: np.ndarray, value: np.ndarray) -> float:
        """The annealed, min-max normalised novelty (Memory-R's intrinsic reward)."""
        nov = self.novelty(query, value)
        self.history.append(nov)
        lo, hi = min(self.history), max(self.history)
        norm = (nov - lo) / (hi - lo) if hi > lo else 0.0
        out = norm * self.anneal ** self.calls
        self.calls += 1
        return out

    def state_size(self) -> int:
        """Numbers stored: key vectors + value vectors."""
        return int(self.keys.size + sum(v.size for vals in self.values for v, _ in vals))
