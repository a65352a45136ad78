"""EM-LLM: cut the stream into events where the model is surprised; recall events by
similarity and by temporal contiguity.

Paper: Fountas, Benfeghoul, Oomerjee, Christopoulou, Lampouras, Bou-Ammar, Wang, "Human-like
Episodic Memory for Infinite Context LLMs" (ICLR 2025). Tokens are grouped into episodic
events at moments of high surprise (as people segment experience); boundaries are then refined
so that events are cohesive in key space (graph modularity). Retrieval fills two buffers: k_s
events most similar to the current queries, and k_c events that are temporal neighbours of
retrieved ones (the "contiguity" effect of human free recall).

Glossary (paper -> code)
    s_t = -log P(x_t | x_<t)      surprise                         surprise [T]
    tau, gamma                     window and threshold of the rule window, gamma
    T (boundary)                   event boundaries (start indices) boundaries
    A_ij = k_i . k_j               key-similarity graph             similarity
    Q(A, events)                   modularity                       modularity()
    k_s, k_c                       similarity / contiguity buffers  k_s, k_c

Equations
    boundary at t  iff  s_t > mu_{t-tau:t} + gamma * sigma_{t-tau:t}
    Q = 1/(2m) sum_ij [A_ij - a_i a_j / (2m)] delta(c_i, c_j),  a_i = sum_j A_ij, 2m = sum_ij A_ij
    refinement: move each boundary within +-radius to the position that maximises Q
    retrieval: S = top-k_s events by q . (mean key of event); C = neighbours e +- 1 of S
               (nearest first) until k_c more events

Here the "LLM" giving P(x_t | x_<t) is an online add-alpha bigram model (BigramSurprise): it
learns the transitions as it reads, so it is surprised where the stream's regime switches.

Not included: the LLM itself (and its attention layers; events are fed to attention as in
InfLLM, :mod:`memlab.retrieval.infllm`), the paper's conductance metric, per-layer retrieval.
"""

from __future__ import annotations

import torch

__all__ = [
    "BigramSurprise",
    "EventMemory",
    "boundary_f1",
    "events_from_boundaries",
    "modularity",
    "refine_boundaries",
    "surprise_boundaries",
]


class BigramSurprise:
    """Online bigram model: ``s_t = -log P(x_t | x_{t-1})`` with add-alpha counts, then learn."""

    def __init__(self, vocab_size: int, alpha: float = 0.1):
        self.V, self.alpha = vocab_size, alpha
        self.counts = torch.zeros(vocab_size, vocab_size)

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        s = torch.zeros(len(tokens))
        s[0] = torch.log(torch.tensor(float(self.V)))
        for t in range(1, len(tokens)):
            a, b = int(tokens[t - 1]), int(tokens[t])
            row = self.counts[a]
            p = (row[b] + self.alpha) / (row.sum() + self.alpha * self.V)
            s[t] = -torch.log(p)
            self.counts[a, b] += 1
        return s


def surprise_boundaries(surprise: torch.Tensor, window: int = 32, gamma: float = 1.0,
                        min_gap: int = 1) -> list[int]:
    """Start indices of events: ``s_t > mean + gamma * std`` of the previous ``window`` values."""
    if window < 2:
        raise ValueError(f"window must be >= 2, got {window}")
    bounds = [0]
    for t in range(1, len(surprise)):
        past = surprise[max(0, t - window):t]
        if len(past) < 2:
            continue
        if surprise[t] > past.mean() + gamma * past.std() and t - bounds[-1] >= min_gap:
            bounds.append(t)
    return bounds


def events_from_boundaries(boundaries: list[int], T: int) -> torch.Tensor:
    """Event label of every position ``[T]``."""
    labels = torch.zeros(T, dtype=torch.long)
    for b in boundaries[1:]:
        labels[b:] += 1
    return labels


def modularity(A: torch.Tensor, labels: torch.Tensor) -> float:
    """Newman's modularity of a partition of a weighted graph with adjacency ``A``."""
    a = A.sum(1)
    two_m = A.sum().clamp_min(1e-12)
    same = labels[:, None] == labels[None, :]
    return float(((A - a[:, None] * a[None, :] / two_m) * same).sum() / two_m)


def refine_boundaries(keys: torch.Tensor, boundaries: list[int], radius: int = 4) -> list[int]:
    """Move each boundary (greedily, in order) within ``+-radius`` to maximise modularity of
    the key-similarity graph ``A = relu(K K^T)``."""
    T = keys.shape[0]
    A = (keys @ keys.T).clamp_min(0)
    A.fill_diagonal_(0)
    b = list(boundaries)
    for i in range(1, len(b)):
        lo = max(b[i - 1] + 1, b[i] - radius)
        hi = min(b[i + 1] - 1 if i + 1 < len(b) else T - 1, b[i] + radius)
        best, best_q = b[i], None
        for c in range(lo, hi + 1):
            trial = b[:i] + [c] + b[i + 1:]
            q = modularity(A, events_from_boundaries(trial, T))
            if best_q is None or q > best_q:
                best, best_q = c, q
        b[i] = best
    return b


def boundary_f1(found: list[int], truth: list[int], tolerance: int = 2) -> float:
    """F1 of boundaries matched one-to-one within ``tolerance`` positions (position 0 ignored)."""
    f, t = [x for x in found if x > 0], [x for x in truth if x > 0]
    if not f or not t:
        return 0.0
    used, hits = set(), 0
    for x in f:
        match = [y for y in t if abs(x - y) <= tolerance and y not in used]
        if match:
            used.add(min(match, key=lambda y: abs(x - y)))
            hits += 1
    p, r = hits / len(f), hits / len(t)
    return 0.0 if hits == 0 else 2 * p * r / (p + r)


class EventMemory:
    """Events (spans of keys/values) recalled by similarity plus temporal contiguity."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, boundaries: list[int]):
        T = keys.shape[0]
        self.spans = [(s, e) for s, e in zip(boundaries, boundaries[1:] + [T]) if e > s]
        self.keys, self.values = keys, values
        self.repr = torch.stack([keys[s:e].mean(0) for s, e in self.spans])   # [n_events, d]

    def __len__(self):
        return len(self.spans)

    def retrieve(self, query: torch.Tensor, k_s: int = 2, k_c: int = 2):
        """``(similar event ids, contiguous event ids)``: top-k_s by ``q . mean key``, then the
        neighbours (e - 1, e + 1 of each, nearest rank first) not already chosen, up to k_c."""
        sim = self.repr @ query
        S = sim.topk(min(k_s, len(self))).indices.tolist()
        C: list[int] = []
        for step in (1, 2, 3):
            for e in S:
                for n in (e - step, e + step):
                    if 0 <= n < len(self) and n not in S and n not in C and len(C) < k_c:
                        C.append(n)
        return S, C

    def read(self, query: torch.Tensor, k_s: int = 2, k_c: int = 2):
        """Attention of ``query [d]`` over the keys of the recalled events (in time order)."""
        S, C = self.retrieve(query, k_s, k_c)
        idx = torch.cat([torch.arange(*self.spans[e]) for e in sorted(S + C)])
        w = torch.softmax(self.keys[idx] @ query / query.shape[-1] ** 0.5, -1)
        return w @ self.values[idx], S, C
