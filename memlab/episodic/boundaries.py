"""Event boundaries from surprise (EM-LLM), on a topic stream; thin layer over
:mod:`memlab.retrieval.emllm` (which holds the boundary rule, refinement and F1).

EM-LLM (Fountas et al., ICLR 2025) cuts the stream where ``s_t = -log p(x_t | x_<t)`` exceeds
``mu + gamma sigma`` of the *previous* ``window`` surprises (history only, as the official code:
a global mu/sigma over the whole stream is a different algorithm), with a
minimum event size of 8 (README default; its ``gamma = 1.0`` is for an LLM's spiky surprise:
on this stream it fires ~5 boundaries per true one, so the chapter uses 3.0 and shows the sweep), then optionally **refines** each boundary within a
radius to maximise the modularity of the key-similarity graph (off by default in the paper's
config). The rule, refinement and boundary F1 are :func:`memlab.retrieval.emllm.surprise_boundaries`,
:func:`~memlab.retrieval.emllm.refine_boundaries` and :func:`~memlab.retrieval.emllm.boundary_f1`;
this module adds what the chapter's stream needs:

* :func:`topic_stream`: ``n_events`` events of 40-120 tokens, each drawing tokens from its own
  topic (a random subset of a shared vocabulary, uniform or Zipf weights); ``single_topic=True`` is the
  negative control (one topic, the "events" are arbitrary cuts).
* :class:`DecayingSurprise`: the "LLM" is an online unigram model whose counts decay by
  ``lam`` per token (a short memory of the current context, like in-context adaptation):
  ``p_t(x) = (c_t[x] + alpha) / (sum c_t + alpha V)``, ``c_{t+1} = lam c_t + onehot(x_t)``.
* :func:`context_keys`: keys for refinement = normalised mean embedding of the last ``w``
  tokens (causal, like attention keys that carry recent context).
* :func:`random_boundaries`: the control with the same number of boundaries.

Not included: an LLM's surprise and attention keys; conductance; per-layer refinement.
"""

from __future__ import annotations

import numpy as np
import torch

from memlab.retrieval import emllm as EM

__all__ = [
    "DecayingSurprise",
    "boundary_scores",
    "context_keys",
    "event_boundaries",
    "random_boundaries",
    "refine_local",
    "topic_stream",
]


def topic_stream(n_events: int = 20, vocab: int = 200, topic_size: int = 8, min_len: int = 40,
                 max_len: int = 120, single_topic: bool = False, zipf: bool = False, seed: int = 0):
    """``(tokens [T] LongTensor, true boundaries [start indices, first = 0])``."""
    if n_events < 2 or not 1 <= min_len <= max_len or not 2 <= topic_size <= vocab:
        raise ValueError(f"need n_events >= 2, 1 <= min_len <= max_len, 2 <= topic_size <= vocab; "
                         f"got {n_events}, {min_len}, {max_len}, {topic_size}, {vocab}")
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, topic_size + 1) if zipf else np.ones(topic_size)
    p /= p.sum()
    fixed = rng.choice(vocab, size=topic_size, replace=False)
    tokens, truth = [], []
    for _ in range(n_events):
        truth.append(len(tokens))
        topic = fixed if single_topic else rng.choice(vocab, size=topic_size, replace=False)
        tokens += list(rng.choice(topic, size=int(rng.integers(min_len, max_len + 1)), p=p))
    return torch.tensor(tokens), truth


class DecayingSurprise:
    """Online unigram surprise with decaying counts (see the module docstring)."""

    def __init__(self, vocab: int, lam: float = 0.95, alpha: float = 0.1):
        if not 0 <= lam <= 1 or alpha <= 0:
            raise ValueError(f"need lam in [0, 1] and alpha > 0, got lam={lam}, alpha={alpha}")
        self.V, self.lam, self.alpha = vocab, lam, alpha

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        c = np.zeros(self.V)
        s = np.zeros(len(tokens))
        for t, x in enumerate(tokens.tolist()):
            s[t] = -np.log((c[x] + self.alpha) / (c.sum() + self.alpha * self.V))
            c *= self.lam
            c[x] += 1
        return torch.tensor(s)


def context_keys(tokens: torch.Tensor, vocab: int, dim: int = 32, w: int = 4, seed: int = 0):
    """Keys ``[T, dim]``: normalised mean embedding of tokens ``t-w+1 .. t``."""
    g = torch.Generator().manual_seed(seed)
    E = torch.randn(vocab, dim, generator=g, dtype=torch.float64)
    x = E[tokens]
    csum = torch.cat([torch.zeros(1, dim, dtype=x.dtype), x.cumsum(0)])
    T = len(tokens)
    lo = (torch.arange(T) - w + 1).clamp_min(0)
    k = csum[1:] - csum[lo]
    return k / k.norm(dim=-1, keepdim=True)


def event_boundaries(surprise: torch.Tensor, keys: torch.Tensor | None = None, window: int = 64,
                     gamma: float = 3.0, min_gap: int = 8, refine: bool = False,
                     radius: int = 4) -> list[int]:
    """EM-LLM boundaries (history-only ``mu + gamma sigma``), optionally refined by modularity."""
    b = EM.surprise_boundaries(surprise, window=window, gamma=gamma, min_gap=min_gap)
    if refine:
        if keys is None:
            raise ValueError("refine=True needs keys")
        b = refine_local(keys, b, radius)
    return b


def refine_local(keys: torch.Tensor, boundaries: list[int], radius: int = 4) -> list[int]:
    """EM-LLM's refinement, one boundary at a time inside the span between its neighbours
    (the paper refines within each execution block; modularity over the whole stream for
    every candidate would be quadratic in the stream length). Calls
    :func:`memlab.retrieval.emllm.refine_boundaries` on ``keys[lo:hi]``."""
    out = list(boundaries)
    for i in range(1, len(out)):
        lo = out[i - 1]
        hi = out[i + 1] if i + 1 < len(out) else len(keys)
        if hi - lo < 3:
            continue
        out[i] = lo + EM.refine_boundaries(keys[lo:hi], [0, out[i] - lo], radius=radius)[1]
    return out


def random_boundaries(n: int, T: int, seed: int = 0) -> list[int]:
    """``n`` distinct random boundaries in ``1 .. T-1`` (plus 0), the same count as found."""
    rng = np.random.default_rng(seed)
    return [0] + sorted(int(x) for x in rng.choice(np.arange(1, T), size=min(n, T - 1), replace=False))


def boundary_scores(found: list[int], truth: list[int], T: int, tolerance: int = 3,
                    seed: int = 0, n_random: int = 20) -> dict:
    """F1 of ``found``, and the mean F1 of ``n_random`` draws of as many random boundaries
    (within ``tolerance``)."""
    rnd = [EM.boundary_f1(random_boundaries(len(found) - 1, T, seed + i), truth, tolerance)
           for i in range(n_random)]
    return {"f1": EM.boundary_f1(found, truth, tolerance), "f1_random": float(np.mean(rnd)),
            "n_found": len(found) - 1}
