"""Hierarchical Memory Transformer (HMT): segment summaries, recall over cached memories.

Paper: He, Ding, Zhang, Shen, Xu, Cong, "HMT: Hierarchical Memory Transformer for Efficient
Long Context Language Processing" (NAACL 2025, arXiv 2024). Public code: ``OswaldHe/HMT-pytorch``,
``modeling_rmt/language_modeling.py`` and ``modeling_rmt/long_mem_cross_attn.py`` -- followed here
(without its CUDA-only device calls).

Glossary (paper symbol -> variable)::

    H_n            segment n (L tokens)                              x[:, n*L:(n+1)*L]     [B, L, d]
    T              the learnable summary (memory) token              self.summary_token    [1, d]
    S_n            summary of the first half of H_n                  s                     [B, d]
    M              cached memory embeddings of the last N segments   state.cache           [B, <=N, d]
    N              ltm_context (cache length)                         self.ltm_context
    W_q, W_k       recall projections (no value projection)          self.W_q, self.W_k    d -> h
    P_n            recalled memory                                   p                     [B, d]
    k              sensory tokens: last k inputs of segment n-1      state.sensory         [B, k, d]
    m_n            the new memory embedding                          (appended to the cache)

Equations (per segment n)::

    S_n = BBM([H_n[:L/2] ; T])[-1]                                  1. representation extraction
    P_n = softmax((S_n W_q)(M W_k)^T / sqrt(h)) M                   2. memory recall (P_n = 0 if M empty)
    O = BBM([P_n ; H_{n-1}[-k:] ; H_n ; P_n]);  Y_n = O[1+k : 1+k+L]  3. memory-augmented segment
    m_n = LN(O[-1]);  M <- [M ; m_n][-N:]                            (the cache keeps the last N)

BBM = the backbone (here :class:`memlab.segment.rmt.SegmentBackbone`: positions + causal blocks).
Constants from the paper / code: sensory tokens k = 32 (``n_prepend``) at segment 1024; the
README's example uses ``--bptt_depth 6``; "0.5%-2% additional parameters" (T, W_q, W_k here).

Segments are processed whole: step 1 reads the first half of a segment before any of its tokens
is answered, so a token's output depends on later tokens of that half. ``forward`` therefore
takes whole segments (chunks carried in the state must end at segment boundaries) and there is
no token-by-token ``step``; :meth:`HMT.step_segment` is the per-segment recurrence.

Not included: the test-time "browse" of the long-term memory, gradient management across
segments (``bptt_depth``; autograd here goes through every segment), the pretrained backbone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from memlab.memory import SequenceMemory, check_shape
from memlab.segment.rmt import SegmentBackbone

__all__ = ["HMT", "HMTState", "recall"]


@dataclass
class HMTState:
    cache: torch.Tensor      # [B, n_cached <= ltm_context, d] memory embeddings m_n
    sensory: torch.Tensor    # [B, n_sensory, d] last inputs of the previous segment (0 at first)
    segments: int = 0


def recall(s: torch.Tensor, cache: torch.Tensor, W_q: nn.Linear, W_k: nn.Linear,
           return_weights: bool = False):
    """``P = softmax((s W_q)(M W_k)^T / sqrt(h)) M``; ``s [B, d]``, ``cache [B, n, d]``."""
    if cache.shape[1] == 0:
        p, w = torch.zeros_like(s), s.new_zeros(s.shape[0], 0)
    else:
        h = W_q.out_features
        scores = torch.einsum("bh,bnh->bn", W_q(s), W_k(cache)) / math.sqrt(h)
        w = torch.softmax(scores, dim=-1)
        p = torch.einsum("bn,bnd->bd", w, cache)
    return (p, w) if return_weights else p


class HMT(SequenceMemory):
    """HMT around a small causal backbone (a ``SequenceMemory`` over whole segments)."""

    def __init__(self, d_model: int, segment_size: int = 32, n_sensory: int = 8,
                 ltm_context: int = 16, n_layers: int = 2, n_heads: int = 4,
                 d_recall: int | None = None, mlp_ratio: float = 2):
        super().__init__()
        for name, v, lo in (("d_model", d_model, 1), ("segment_size", segment_size, 2),
                            ("n_sensory", n_sensory, 0), ("ltm_context", ltm_context, 1)):
            if not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
        if n_sensory > segment_size:
            raise ValueError(f"n_sensory={n_sensory} cannot exceed segment_size={segment_size}")
        self.d_model, self.segment_size, self.n_sensory = d_model, segment_size, n_sensory
        self.ltm_context = ltm_context
        self.backbone = SegmentBackbone(d_model, n_layers, n_heads,
                                        n_sensory + segment_size + 2, mlp_ratio)
        self.summary_token = nn.Parameter(torch.randn(1, d_model) * 0.02)
        h = d_recall or d_model
        self.W_q = nn.Linear(d_model, h, bias=False)
        self.W_k = nn.Linear(d_model, h, bias=False)
        self.norm_mem = nn.LayerNorm(d_model)

    def init_state(self, batch: int, device=None, dtype=None) -> HMTState:
        dtype = dtype or self.summary_token.dtype
        device = device if device is not None else self.summary_token.device
        z = torch.zeros(batch, 0, self.d_model, device=device, dtype=dtype)
        return HMTState(z, torch.zeros(batch, self.n_sensory, self.d_model, device=device,
                                       dtype=dtype), 0)

    def state_size(self, seq_len: int | None = None) -> int:
        """``(N + k) * d``: the cached memories and the sensory tokens."""
        return (self.ltm_context + self.n_sensory) * self.d_model

    def summarize(self, x_seg: torch.Tensor) -> torch.Tensor:
        """S_n: the summary token's output after the first half of the segment."""
        half = x_seg[:, :self.segment_size // 2]
        tok = self.summary_token.to(x_seg.dtype).expand(x_seg.shape[0], 1, -1)
        return self.backbone(torch.cat([half, tok], dim=1))[:, -1]

    def step_segment(self, x_seg: torch.Tensor, state: HMTState, return_weights: bool = False):
        """One whole segment ``[B, L, d]``: summarize, recall, process, cache. -> (Y, state)."""
        s = self.summarize(x_seg)
        p, w = recall(s, state.cache, self.W_q, self.W_k, return_weights=True)
        k, L = self.n_sensory, self.segment_size
        h = self.backbone(torch.cat([p[:, None], state.sensory, x_seg, p[:, None]], dim=1))
        y = h[:, 1 + k:1 + k + L]
        cache = torch.cat([state.cache, self.norm_mem(h[:, -1:])], dim=1)[:, -self.ltm_context:]
        sensory = x_seg[:, L - k:] if k else state.sensory
        new = HMTState(cache, sensory, state.segments + 1)
        return (y, new, w) if return_weights else (y, new)

    def forward(self, x: torch.Tensor, state: HMTState | None = None):
        """``x: [B, T, d]`` with ``T`` a multiple of ``segment_size`` -> ``(y, HMTState)``."""
        check_shape(x, "x", ndim=3, last=self.d_model)
        if x.shape[1] % self.segment_size:
            raise ValueError(f"HMT takes whole segments: x has {x.shape[1]} tokens, not a multiple "
                             f"of segment_size={self.segment_size}")
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        ys = []
        for start in range(0, x.shape[1], self.segment_size):
            y, state = self.step_segment(x[:, start:start + self.segment_size], state)
            ys.append(y)
        return (torch.cat(ys, dim=1) if ys else x[:, :0]), state

    def step(self, x_t, state):
        raise NotImplementedError("HMT reads the first half of a segment before answering its "
                                  "tokens: use step_segment (one whole segment at a time)")

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, segment_size={self.segment_size}, "
                f"n_sensory={self.n_sensory}, ltm_context={self.ltm_context}")
