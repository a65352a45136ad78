"""Memory as Context (MAC): attention over [persistent tokens; memory read-out; segment].

Paper: Behrouz, Zhong, Mirrokni, "Titans: Learning to Memorize at Test Time" (2024), sec. 4.1
(MAC) and sec. 3.3 (persistent memory).

Glossary (paper symbol -> variable)::

    S^(t)        the t-th segment of C tokens                 x_s   [B, C, d_model]
    p_1..p_Np    persistent memory: learned, input-independent persistent [N_p, d_model]
    M*_{t-1}(q)  read the long-term memory WITHOUT writing    h = memory.retrieve(x_s, state)
    S~^(t)       [p_1..p_Np || h_t || S^(t)]                  ctx
    y_t          Attn(S~^(t)) at the segment's positions      y     [B, C, d_model]
    M_t          the memory after writing y_t                 memory(y, state) (Titans rule)
    o_t          y_t (x) M*_t(y_t)                            o = y * sigmoid(z)

Equations (sec. 4.1)::

    h_t = M*_{t-1}(q_t),  q_t = S^(t) W_Q
    S~^(t) = [p_1 ... p_Np] || h_t || S^(t);   y_t = Attn(S~^(t))
    M_t = M_{t-1}(y_t)   (write y_t);          o_t = y_t (x) M*_t(y_t)

Choices the paper leaves open, made here and stated:
  * Causality. h_t has one read-out per segment token, computed from that token's query, so a
    token j sees h_i only for i <= j (otherwise it would read the future). Persistent tokens
    are visible to all; segment tokens attend causally.
  * M*_t(y_t) is read token by token after each write (the memory's ``read_after_write``), so
    o_j never depends on tokens after j.
  * (x) is "non-linear gating" (sec. 4.2); here o = y * sigmoid(M*(y)).

State: the memory state at the last segment boundary + the tokens of the unfinished segment
(re-processed when the next tokens arrive), so ``forward`` on pieces == ``forward`` on the whole.

Memory as a gate (MAG) and as a layer (MAL) are in :mod:`memlab.testtime.mag_mal`.
Not included: the residual/norm/MLP around the block (``memlab.train`` adds those).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from memlab.memory import SequenceMemory, check_shape
from memlab.testtime.neural_memory import NeuralMemory
from memlab.testtime.titans import TitansState

__all__ = ["MACState", "MemoryAsContext"]


@dataclass
class MACState:
    memory: TitansState   # long-term memory at the last segment boundary
    pending: torch.Tensor  # tokens of the unfinished segment [B, r, d_model], r < segment_len


class MemoryAsContext(SequenceMemory):
    """Titans MAC block as a mixer: ``x [B, T, d_model] -> (y, MACState)``."""

    def __init__(self, d_model: int, n_heads: int = 1, segment_len: int = 16,
                 n_persistent: int = 4, **memory_kw):
        super().__init__()
        for name, val, lo in (("d_model", d_model, 1), ("n_heads", n_heads, 1),
                              ("segment_len", segment_len, 1), ("n_persistent", n_persistent, 0)):
            if not isinstance(val, int) or val < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {val!r}")
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model, self.n_heads, self.segment_len = d_model, n_heads, segment_len
        self.persistent = nn.Parameter(torch.randn(n_persistent, d_model) / math.sqrt(d_model))
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)
        memory_kw.setdefault("chunk_size", segment_len)
        self.memory = NeuralMemory(d_model, **memory_kw)

    def init_state(self, batch, device=None, dtype=None) -> MACState:
        mem = self.memory.init_state(batch, device, dtype)
        return MACState(mem, mem.W[0].new_zeros(batch, 0, self.d_model))

    def state_size(self, seq_len: int | None = None) -> int:
        """Memory state + at most segment_len - 1 pending tokens (persistent tokens are weights)."""
        return self.memory.state_size() + (self.segment_len - 1) * self.d_model

    def _attend(self, x_s: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """y = Attn([persistent || h || x_s]) at the positions of x_s, causally masked."""
        B, C, D = x_s.shape
        H, dh, Np = self.n_heads, D // self.n_heads, self.persistent.shape[0]
        ctx = torch.cat([self.persistent.to(x_s.dtype).expand(B, Np, D), h, x_s], 1)
        q = self.qkv(x_s)[..., :D].view(B, C, H, dh).transpose(1, 2)
        _, k, v = self.qkv(ctx).view(B, -1, 3, H, dh).permute(2, 0, 3, 1, 4)
        causal = torch.ones(C, C, dtype=torch.bool, device=x_s.device).tril()
        mask = torch.cat([causal.new_ones(C, Np), causal, causal], 1)   # [C, Np + 2C]
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        att = scores.masked_fill(~mask, float("-inf")).softmax(-1)
        return self.o_proj((att @ v).transpose(1, 2).reshape(B, C, D))

    def _segment(self, x_s, mem_state):
        h = self.memory.retrieve(x_s, mem_state)            # h_t = M*_{t-1}(q_t), no write
        y = self._attend(x_s, h)                            # y_t = Attn(S~)
        z, mem_state = self.memory(y, mem_state)            # write y_t, read M*_t(y_t)
        return y * torch.sigmoid(z), mem_state              # o_t = y_t (x) M*_t(y_t)

    def forward(self, x, state=None):
        check_shape(x, "x", ndim=3, last=self.d_model)
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        r = state.pending.shape[1]
        xx = torch.cat([state.pending, x], 1)               # finish the pending segment first
        mem, outs, C = state.memory, [], self.segment_len
        for s in range(0, xx.shape[1], C):
            o, new_mem = self._segment(xx[:, s:s + C], mem)
            outs.append(o)
            if s + C <= xx.shape[1]:                         # commit only complete segments
                mem = new_mem
        n_full = (xx.shape[1] // C) * C
        y = torch.cat(outs, 1)[:, r:] if outs else x.new_zeros(x.shape)
        return y, MACState(mem, xx[:, n_full:])

    def step(self, x_t, state):
        """One token (re-runs the unfinished segment: O(segment_len) work per token)."""
        check_shape(x_t, "x_t", ndim=2, last=self.d_model)
        y, state = self.forward(x_t[:, None], state)
        return y[:, 0], state
