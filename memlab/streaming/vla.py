"""A MemoryVLA-style perceptual-cognitive memory bank (PCMB), untrained.

Paper: Shi et al., *MemoryVLA: Perceptual-Cognitive Memory in Vision-Language-Action Models for
Robotic Manipulation* (2025). A working memory (the current step's perceptual tokens p and
cognitive token c) queries a bank of past (p, c) entries; the retrieved history is fused with the
current tokens by a gate; the bank is consolidated by merging redundant adjacent entries.

Glossary (paper -> variable)::

    m^x = {x_i}, x in {per, cog}   bank entries, one per past step     self.P, self.C  [L, d]
    q^x = current token            the query                            x
    H^x = softmax(s q K^T) V      retrieved history (unit q, K)        H, s = scale
    g^x = sigma(MLP([q; H]))       the fusion gate (learned)            gate(...) (fixed, below)
    x~ = g H + (1 - g) q           fused token                          fuse(...)
    L                              bank capacity                        capacity
    consolidation: when |m| > L, average the most similar adjacent pair (cosine), keep one

The learned gate MLP is replaced by a fixed logistic of the retrieval's relevance
``r = max_i cos(q, K_i)``: ``g = sigmoid(gate_scale * (r - gate_tau))`` (a memory that matches
the query is used, one that does not is ignored). Keys are the concatenation [p; c].

Not included: the 7B VLM that produces the tokens, the timestep positional encoding added to the
entries, the diffusion action expert, any training (capacity and gate are free parameters here;
the paper's values were not re-checked).
"""

from __future__ import annotations

import numpy as np

__all__ = ["PerceptualCognitiveBank", "cue_recall_task"]


def _unit(x):
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-12)


class PerceptualCognitiveBank:
    """``write(p, c)``, ``read(p, c) -> (H_p, H_c, g)``, ``fuse(p, c)``, ``state_size()`` (bytes)."""

    def __init__(self, d: int, capacity: int = 16, scale: float = 16.0, gate_scale: float = 10.0,
                 gate_tau: float = 0.5):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if d < 1:
            raise ValueError(f"d must be >= 1, got {d}")
        self.d, self.capacity, self.scale = d, capacity, scale
        self.gate_scale, self.gate_tau = gate_scale, gate_tau
        self.reset()

    def reset(self) -> None:
        self.P = np.zeros((0, self.d))
        self.C = np.zeros((0, self.d))
        self.n = np.zeros(0)                 # steps merged into each entry

    def __len__(self) -> int:
        return len(self.P)

    def _check(self, v, name):
        v = np.asarray(v, dtype=float)
        if v.shape != (self.d,):
            raise ValueError(f"{name} must have shape ({self.d},), got {v.shape}")
        return v

    def write(self, p, c) -> None:
        p, c = self._check(p, "p"), self._check(c, "c")
        self.P, self.C = np.vstack([self.P, p]), np.vstack([self.C, c])
        self.n = np.append(self.n, 1.0)
        while len(self) > self.capacity:
            self.consolidate()

    def consolidate(self) -> None:
        """Merge the most similar adjacent pair (cosine of [p; c]) into their (count-weighted)
        mean: redundant steps collapse, distinct ones survive."""
        K = _unit(np.hstack([self.P, self.C]))
        i = int(np.argmax((K[:-1] * K[1:]).sum(-1)))
        w0, w1 = self.n[i], self.n[i + 1]
        for M in (self.P, self.C):
            M[i] = (w0 * M[i] + w1 * M[i + 1]) / (w0 + w1)
        self.n[i] = w0 + w1
        self.P, self.C, self.n = (np.delete(x, i + 1, axis=0) for x in (self.P, self.C, self.n))

    def attention(self, p, c) -> np.ndarray:
        q = _unit(np.concatenate([p, c]))
        K = _unit(np.hstack([self.P, self.C]))
        logits = self.scale * K @ q
        a = np.exp(logits - logits.max())
        return a / a.sum()

    def gate(self, p, c) -> float:
        q = _unit(np.concatenate([p, c]))
        r = float((_unit(np.hstack([self.P, self.C])) @ q).max())
        return float(1.0 / (1.0 + np.exp(-self.gate_scale * (r - self.gate_tau))))

    def read(self, p, c):
        """Retrieved history for the current tokens: ``(H_p, H_c, g)``."""
        p, c = self._check(p, "p"), self._check(c, "c")
        if not len(self):
            return np.zeros(self.d), np.zeros(self.d), 0.0
        a = self.attention(p, c)
        return a @ self.P, a @ self.C, self.gate(p, c)

    def fuse(self, p, c):
        """Gated fusion ``g H + (1 - g) x`` for both tokens: ``(p~, c~)``."""
        Hp, Hc, g = self.read(p, c)
        return g * Hp + (1 - g) * np.asarray(p, float), g * Hc + (1 - g) * np.asarray(c, float)

    def state_size(self) -> int:
        return int(self.P.nbytes + self.C.nbytes + self.n.nbytes)


def cue_recall_task(n_steps: int = 40, d: int = 32, n_cues: int = 4, capacity: int = 16,
                    noise: float = 0.3, n_trials: int = 50, seed: int = 0, use_memory: bool = True):
    """A non-Markovian toy: at a random early step the cognitive token carries one of
    ``n_cues`` cue directions (``c = u + w_j``; u marks "a cue was seen"), every other step is
    the same scene plus noise. At the last step the robot must act on the cue, but the current
    tokens hold none: it queries with ``(p, u)`` and decodes ``argmax_j <c~, w_j>``.

    Returns ``{"accuracy", "cue_kept", "cue_attention"}``: the decoding accuracy (chance =
    1 / n_cues), the fraction of trials whose bank still holds an entry with cosine >= 0.95 to
    the cue step, and the mean attention weight the query puts on that entry.
    """
    rng = np.random.default_rng(seed)
    acc, kept, att = [], [], []
    for _ in range(n_trials):
        scene = _unit(rng.standard_normal(d))
        u = _unit(rng.standard_normal(d))
        W = _unit(rng.standard_normal((n_cues, d)))
        j, k = int(rng.integers(n_cues)), int(rng.integers(1, n_steps // 4))
        bank = PerceptualCognitiveBank(d, capacity)
        cue_entry = None
        for t in range(n_steps - 1):
            p = scene + noise * rng.standard_normal(d) / np.sqrt(d)
            c = noise * rng.standard_normal(d) / np.sqrt(d)
            if t == k:
                c = c + u + W[j]
                cue_entry = np.concatenate([p, c])
            bank.write(p, c)
        p_now = scene + noise * rng.standard_normal(d) / np.sqrt(d)
        c_now = u if use_memory else np.zeros(d)
        _, c_fused = bank.fuse(p_now, c_now) if use_memory else (p_now, c_now)
        acc.append(int(np.argmax(W @ c_fused)) == j)
        K = _unit(np.hstack([bank.P, bank.C]))
        kept.append(float((K @ _unit(cue_entry)).max()) >= 0.95)
        att.append(float(bank.attention(p_now, u)[int(np.argmax(K @ _unit(cue_entry)))]))
    return {"accuracy": float(np.mean(acc)), "cue_kept": float(np.mean(kept)),
            "cue_attention": float(np.mean(att))}
