"""HCAM: hierarchical chunk attention memory -- attend to chunk summaries, then read detail
only inside the best chunks.

Paper: Lampinen, Chan, Banino, Hill, "Towards mental time travel: a hierarchical memory for
reinforcement learning agents" (NeurIPS 2021); code ``google-deepmind/deepmind-research``,
``hierarchical_transformer_memory/hierarchical_attention/htm_attention.py``. The past is
stored in chunks of ``C`` steps; each chunk keeps a summary key (the mean of its states, as in
the paper) and its full contents. A query scores the ``M`` summaries, keeps the ``top_k``
chunks, attends inside each chosen chunk, and mixes the chunk reads by the softmax of their
summary scores.

Glossary (paper -> code)
    K [M, D]             one summary key per chunk           summaries
    contents [M, C, D]   the chunk's stored states           keys / values
    k                    chunks read in detail               top_k
    beta                 sharpness of attention inside a chunk beta

Equations
    s_m = q . K_m / sqrt(D)                      (summary scores, M of them)
    J = top-k_m s_m ;  w_j = softmax_{j in J}(s_j)
    out = sum_{j in J} w_j * sum_c softmax_c(beta q . k_{j,c}) v_{j,c}
    scores computed: M + k C   (flat attention: M C)

Not included: learned projections W_q, W_k and multi-head attention inside chunks, the
sinusoidal positions added to chunk contents, the ``stop_gradient`` on memory (nothing is
trained here), the accumulator of the open chunk.
"""

from __future__ import annotations

import torch

__all__ = ["chunk_summaries", "flat_read", "hcam_read", "hcam_read_loop", "summary_read"]


def chunk_summaries(keys: torch.Tensor, mode: str = "mean") -> torch.Tensor:
    """``keys [M, C, D]`` -> summary keys ``[M, D]`` (``mode``: mean, or first token)."""
    if keys.ndim != 3:
        raise ValueError(f"keys must be [M, C, D], got shape {tuple(keys.shape)}")
    if mode == "mean":
        return keys.mean(1)
    if mode == "first":
        return keys[:, 0]
    raise ValueError(f"mode must be 'mean' or 'first', got {mode!r}")


def _check(q, keys, values):
    if q.ndim != 2 or keys.ndim != 3 or values.shape[:2] != keys.shape[:2] or q.shape[1] != keys.shape[2]:
        raise ValueError(f"need q [B, D], keys [M, C, D], values [M, C, Dv]; got {tuple(q.shape)}, "
                         f"{tuple(keys.shape)}, {tuple(values.shape)}")


def hcam_read(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, top_k: int = 2,
              beta: float = 16.0, summary: str = "mean"):
    """Vectorised HCAM read for queries ``q [B, D]``: ``(out [B, Dv], chosen [B, k], n_scores)``."""
    _check(q, keys, values)
    M, C, D = keys.shape
    if not 1 <= top_k <= M:
        raise ValueError(f"top_k must be in [1, {M}], got {top_k}")
    s = q @ chunk_summaries(keys, summary).T / D ** 0.5                     # [B, M]
    top, idx = s.topk(top_k, dim=-1)                                         # [B, k]
    w = torch.softmax(top, -1)
    inner = torch.einsum("bd,bkcd->bkc", q, keys[idx]) * beta                # [B, k, C]
    read = torch.einsum("bkc,bkcv->bkv", torch.softmax(inner, -1), values[idx])
    return (w[..., None] * read).sum(1), idx, M + top_k * C


def hcam_read_loop(q, keys, values, top_k: int = 2, beta: float = 16.0, summary: str = "mean"):
    """The same read, one query and one chosen chunk at a time (reads like the equations)."""
    _check(q, keys, values)
    K = chunk_summaries(keys, summary)
    outs = []
    for b in range(q.shape[0]):
        s = torch.stack([q[b] @ K[m] / keys.shape[2] ** 0.5 for m in range(keys.shape[0])])
        J = s.topk(top_k).indices
        w = torch.softmax(s[J], 0)
        out = 0
        for wj, j in zip(w, J):
            a = torch.softmax(beta * keys[j] @ q[b], 0)
            out = out + wj * (a @ values[j])
        outs.append(out)
    return torch.stack(outs)


def flat_read(q, keys, values, beta: float = 16.0):
    """Attention over all ``M C`` stored states: ``(out [B, Dv], n_scores)``."""
    _check(q, keys, values)
    M, C, D = keys.shape
    a = torch.softmax(beta * q @ keys.reshape(M * C, D).T, -1)
    return a @ values.reshape(M * C, -1), M * C


def summary_read(q, keys, values, beta: float = 16.0):
    """Summary-only memory: attend over chunk means, read chunk-mean values."""
    _check(q, keys, values)
    a = torch.softmax(beta * q @ keys.mean(1).T, -1)
    return a @ values.mean(1), keys.shape[0]
