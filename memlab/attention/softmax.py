"""Causal softmax attention as a memory: the KV cache.

Paper: Vaswani et al., "Attention Is All You Need" (NeurIPS 2017). Read as a memory: every
token *writes* its key and value into a cache that only grows, and every token *reads* by a
softmax over all cached keys. Nothing is forgotten, so recall is exact in principle, and the
state is the whole history: ``2 * d * T`` numbers after ``T`` tokens (``d = heads * d_head``).
The policies that keep this memory within a budget live in :mod:`memlab.attention.policies`.

Glossary (paper symbol -> variable)::

    x_t            input token                      x[:, t]        [B, d_model]
    W_Q, W_K, W_V  projections                      self.W_q/W_k/W_v (one Linear each, all heads)
    q_t, k_t, v_t  query / key / value              q, k, v        [B, T, H, d_head]
    K_t, V_t       the KV cache (the memory)        state.k, state.v  [B, n, H, d_head]
    positions      original index of each entry     state.pos      [B, n]  (n < t after eviction)
    a_t            attention weights                weights        [B, H, T_query, n]
    W_O            output projection                self.W_o

Equations (one token; ``d_head`` scaling from the paper)::

    K_t = [K_{t-1}; k_t],  V_t = [V_{t-1}; v_t]         (write: append)
    a_t = softmax(K_t q_t / sqrt(d_head))               (read: address by content)
    o_t = V_t^T a_t,  y_t = W_O [o_t^1; ...; o_t^H]

Parallel form (the training form): ``Y = softmax(Q K^T / sqrt(d_head) + causal mask) V``; with a
cache of ``n`` entries the ``T`` new queries see all cached entries plus the new keys up to
themselves. Both are tested equal to the token-by-token recurrence, also across chunks.

Not included: rotary / relative positions (the tiny model of :mod:`memlab.train` adds learned
absolute positions to its inputs, so cached keys need no re-rotation after eviction), grouped
query attention, dropout, flash kernels (``F.scaled_dot_product_attention`` is used when the
weights are not asked for).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from memlab.memory import SequenceMemory, check_shape

__all__ = ["CausalSelfAttention", "KVCache"]


@dataclass
class KVCache:
    """The memory of one attention layer: keys, values and their original positions.

    ``k``, ``v``: ``[B, n, H, d_head]``; ``pos``: ``[B, n]`` (float, so that state comparisons
    work alike for every field); ``seen``: tokens written so far (``n == seen`` until a policy
    evicts entries).
    """

    k: torch.Tensor
    v: torch.Tensor
    pos: torch.Tensor
    seen: int = 0

    def __len__(self) -> int:
        return self.k.shape[1]

    def numel(self) -> int:
        """Numbers stored per sequence (keys + values): ``2 * d * n``."""
        return 2 * self.k.shape[1] * self.k.shape[2] * self.k.shape[3]

    def append(self, k: torch.Tensor, v: torch.Tensor) -> KVCache:
        T = k.shape[1]
        new_pos = torch.arange(self.seen, self.seen + T, device=k.device, dtype=self.pos.dtype)
        return KVCache(torch.cat([self.k, k], 1), torch.cat([self.v, v], 1),
                       torch.cat([self.pos, new_pos.expand(k.shape[0], T)], 1), self.seen + T)

    def select(self, index: torch.Tensor) -> KVCache:
        """Keep entries ``index: LongTensor[B, m]`` (per example), in the order given."""
        if index.dim() != 2 or index.shape[0] != self.k.shape[0]:
            raise ValueError(f"index must be [batch={self.k.shape[0]}, m], got {tuple(index.shape)}")
        gi = index[:, :, None, None].expand(-1, -1, *self.k.shape[2:])
        return replace(self, k=self.k.gather(1, gi), v=self.v.gather(1, gi),
                       pos=self.pos.gather(1, index))


class CausalSelfAttention(SequenceMemory):
    """Multi-head causal softmax attention whose state is an explicit :class:`KVCache`."""

    def __init__(self, d_model: int, n_heads: int = 1, d_head: int | None = None,
                 bias: bool = False):
        super().__init__()
        if not isinstance(d_model, int) or d_model < 1:
            raise ValueError(f"d_model must be a positive int, got {d_model!r}")
        if not isinstance(n_heads, int) or n_heads < 1:
            raise ValueError(f"n_heads must be a positive int, got {n_heads!r}")
        if d_head is None:
            if d_model % n_heads:
                raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}; "
                                 "pass d_head explicitly")
            d_head = d_model // n_heads
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_head
        inner = n_heads * d_head
        self.W_q = nn.Linear(d_model, inner, bias=bias)
        self.W_k = nn.Linear(d_model, inner, bias=bias)
        self.W_v = nn.Linear(d_model, inner, bias=bias)
        self.W_o = nn.Linear(inner, d_model, bias=bias)

    # ---------------------------------------------------------------- memory vocabulary
    def init_state(self, batch: int, device=None, dtype=None) -> KVCache:
        dtype = dtype or self.W_q.weight.dtype
        device = device if device is not None else self.W_q.weight.device
        z = torch.zeros(batch, 0, self.n_heads, self.d_head, device=device, dtype=dtype)
        return KVCache(z, z.clone(), torch.zeros(batch, 0, device=device, dtype=dtype), 0)

    def state_size(self, seq_len: int | None = None) -> int:
        """``2 * d * T``: a key and a value of ``d = heads * d_head`` numbers per token."""
        if seq_len is None:
            raise ValueError("softmax attention's state grows with the context: pass seq_len")
        return 2 * self.n_heads * self.d_head * int(seq_len)

    def qkv(self, x: torch.Tensor):
        B, T, _ = x.shape
        shape = (B, T, self.n_heads, self.d_head)
        return self.W_q(x).view(shape), self.W_k(x).view(shape), self.W_v(x).view(shape)

    # ---------------------------------------------------------------- naive form: one token
    def step(self, x_t: torch.Tensor, state: KVCache) -> tuple[torch.Tensor, KVCache]:
        check_shape(x_t, "x_t", ndim=2, last=self.d_model)
        q, k, v = self.qkv(x_t[:, None])                      # [B, 1, H, d_head]
        state = state.append(k, v)                            # write: K_t = [K_{t-1}; k_t]
        scores = torch.einsum("bhd,bnhd->bhn", q[:, 0], state.k) / math.sqrt(self.d_head)
        a = torch.softmax(scores, dim=-1)                     # read: a_t = softmax(K_t q_t / sqrt d)
        o = torch.einsum("bhn,bnhd->bhd", a, state.v)         # o_t = V_t^T a_t
        return self.W_o(o.reshape(x_t.shape[0], -1)), state

    # ---------------------------------------------------------------- fast form: a whole chunk
    def attend(self, x: torch.Tensor, state: KVCache | None = None, need_weights: bool = False):
        """``(y, state, weights)``; ``weights: [B, H, T, n_cache + T]`` when ``need_weights``."""
        check_shape(x, "x", ndim=3, last=self.d_model)
        B, T, _ = x.shape
        if state is None:
            state = self.init_state(B, device=x.device, dtype=x.dtype)
        if state.k.shape[0] != B:
            raise ValueError(f"state has batch {state.k.shape[0]} but x has batch {B}")
        n0 = len(state)
        q, k, v = self.qkv(x)
        state = state.append(k, v)
        qh, kh, vh = (t.transpose(1, 2) for t in (q, state.k, state.v))  # [B, H, ., d_head]
        # query i (global index n0 + i) sees cache entries j <= n0 + i
        mask = torch.ones(T, n0 + T, dtype=torch.bool, device=x.device).tril(n0)
        if need_weights:
            scores = qh @ kh.transpose(-1, -2) / math.sqrt(self.d_head)
            weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
            o = weights @ vh
        else:
            weights = None
            o = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=None if n0 == 0 else mask,
                                               is_causal=n0 == 0)
        y = self.W_o(o.transpose(1, 2).reshape(B, T, -1))
        return y, state, weights

    def forward(self, x: torch.Tensor, state: KVCache | None = None):
        y, state, _ = self.attend(x, state)
        return y, state

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.n_heads}, d_head={self.d_head}"
