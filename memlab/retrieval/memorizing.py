"""Memorizing-Transformer attention: local attention + top-k from a kNN memory, mixed by a gate.

Paper: Wu, Rabe, Hutchins, Szegedy, "Memorizing Transformers" (ICLR 2022), section 3. One layer
of the transformer keeps the keys and values of tokens that left its local context in an
external memory; each query attends locally as usual and, separately, to its top-k neighbours
in the memory; a learned per-head gate mixes the two results. The memory is not trained: no
gradient flows into stored keys and values.

LongMem (Wang et al., "Augmenting Language Models with Long-Term Memory", NeurIPS 2023,
section 3.3) fuses the same two reads the same way: two softmaxes (local, retrieved) mixed by a
learned per-head sigmoid gate -- its public code's ``JointMultiheadAttentionWeightedSum``
computes ``sigmoid(g_h) * mem + (1 - sigmoid(g_h)) * local``. So ``combine="gate"`` is the
fusion of both papers (and what chapter 07 trains); see :mod:`memlab.retrieval.longmem`.
``combine="joint"`` is a third option, ONE softmax over the local and the retrieved keys
together (as in lucidrains' memorizing-transformers-pytorch, there with cosine similarity):
no gate, local and retrieved keys compete for the same probability mass.

Glossary (paper -> code), per head h
    q_t, k_t, v_t    query / key / value of token t          q, k, v  [batch, time, heads, d_head]
    local context    the last ``window`` tokens (self incl.)  window
    memory           the ``capacity`` tokens before them      capacity (FIFO)
    top-k            neighbours retrieved per query           top_k
    b_h, g_h         gate bias and gate g_h = sigmoid(b_h)   b_gate [heads]
    o_local, o_mem   the two attention results               o_local, o_mem

Equations (positions are absolute; s_ti = q_t . k_i / sqrt(d_head))
    local:   o_local_t = sum_{t-W < i <= t}          softmax_i(s_ti) v_i
    memory:  I_t = top-k { s_ti : t-W-M < i <= t-W }  (exact maximum inner product)
             o_mem_t   = sum_{i in I_t}               softmax_i(s_ti) sg(v_i)   (sg: stop-grad)
    gate:    o_t = g_h o_mem_t + (1 - g_h) o_local_t,   g_h = sigmoid(b_h)
    joint:   o_t = sum_{i in local or I_t} softmax_i(s_ti) v_i   (one softmax; not LongMem's)
    y_t = W_o o_t
Empty memory (early tokens): o_mem = 0.

State: the keys and values of the last ``window - 1 + capacity`` tokens (the local cache and
the memory; a token moves from one to the other when it leaves the window). Here the memory
is held as dense tensors and searched exactly (a masked top-k), so that the chunked form equals
the recurrence and training needs no store. The same read through a real store -- keys and
values written into :class:`memlab.retrieval.knn.KNNMemory` (FIFO, exact or faiss) or
:class:`memlab.retrieval.vq.VQMemory` (PQ codes) and searched there -- is
:func:`memlab.retrieval.experiments.logits_through_store`; chapter 07 evaluates through the
stores and tests that they give the dense read's numbers.

Defaults are the paper's: top-k = 32 neighbours, local context = one 512-token segment, a
memory of 65,536 tokens (the paper's main setting; it also tries 1.5K to 262K). Chapter 07
sets much smaller values explicitly (a window of 8 tokens, top-8, memories up to 4,096) so that
it trains and runs in seconds on a CPU.

Not included: Transformer-XL cache and relative position biases of the paper's backbone,
normalised keys, the paper's trick of refreshing stale keys (keys written by older weights),
memory shared across heads, and the cosine similarity of the lucidrains variant's joint
softmax (``combine="joint"`` is that joint softmax with plain scaled dot products).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from memlab.memory import SequenceMemory, check_shape

__all__ = ["MemorizingAttention", "MemorizingState", "memorizing_read"]

COMBINES = ("gate", "joint")


def memorizing_read(q, K, V, q_pos, k_pos, window: int, capacity: int, top_k: int,
                    gate: torch.Tensor | None = None, combine: str = "gate",
                    return_retrieved: bool = False, K_mem=None, V_mem=None):
    """The vectorised read of every query at once.

    ``q: [B, T, H, d]``, ``K, V: [B, L, H, d]``, ``q_pos: [T]``, ``k_pos: [L]`` (absolute
    positions), ``gate: [H]`` (g_h, already through the sigmoid). Returns ``o: [B, T, H, d]``
    (and, with ``return_retrieved``, a dict with the memory positions ``[B, H, T, k]`` read and
    their weights). ``K_mem, V_mem`` (default ``K, V``) are what the memory holds for the same
    positions, e.g. their VQ reconstructions; the local window always reads ``K, V``.
    """
    if combine not in COMBINES:
        raise ValueError(f"combine={combine!r} is not allowed: use one of {COMBINES}")
    scale = q.shape[-1] ** -0.5
    qp, kp = q_pos[:, None], k_pos[None, :]
    local = (kp <= qp) & (kp > qp - window)                          # [T, L]
    in_mem = (kp <= qp - window) & (kp > qp - window - capacity)      # [T, L]
    s_local = torch.einsum("bthd,blhd->bhtl", q, K) * scale
    K_mem = K if K_mem is None else K_mem
    V_mem = V if V_mem is None else V_mem
    s_mem = torch.einsum("bthd,blhd->bhtl", q, K_mem.detach()) * scale   # stored: no gradient
    s_mem = s_mem.masked_fill(~in_mem, float("-inf"))
    Vd = V_mem.detach().permute(0, 2, 1, 3)                           # [B, H, L, d]
    V_h = V.permute(0, 2, 1, 3)
    neg = torch.finfo(q.dtype).min
    if top_k >= min(capacity, K.shape[1]) and combine == "gate" and not return_retrieved:
        # every memory entry is in the top-k: a masked softmax, no gather (same numbers)
        w_local = torch.softmax(s_local.masked_fill(~local, float("-inf")), dim=-1)
        any_mem = in_mem.any(-1)[None, None, :, None]
        w_mem = torch.softmax(s_mem.masked_fill(~in_mem, neg), dim=-1) * any_mem
        g = gate.view(1, -1, 1, 1)
        o = g * (w_mem @ Vd) + (1 - g) * (w_local @ V_h)
        return o.permute(0, 2, 1, 3)
    k = max(1, min(top_k, K.shape[1]))
    top_s, top_i = s_mem.topk(k, dim=-1)                              # [B, H, T, k]
    valid = torch.isfinite(top_s)
    idx = top_i.reshape(*top_i.shape[:2], -1, 1).expand(-1, -1, -1, Vd.shape[-1])
    V_top = Vd.gather(2, idx).reshape(*top_i.shape, Vd.shape[-1])     # [B, H, T, k, d]
    if combine == "gate":
        w_local = torch.softmax(s_local.masked_fill(~local, float("-inf")), dim=-1)
        o_local = w_local @ V_h                                       # [B, H, T, d]
        w_mem = torch.softmax(top_s.masked_fill(~valid, neg), dim=-1) * valid
        o_mem = (w_mem.unsqueeze(-1) * V_top).sum(-2)
        g = gate.view(1, -1, 1, 1)
        o = g * o_mem + (1 - g) * o_local
    else:
        s_all = torch.cat([s_local.masked_fill(~local, float("-inf")),
                           top_s.masked_fill(~valid, float("-inf"))], dim=-1)
        w_all = torch.softmax(s_all, dim=-1)
        w_local, w_mem = w_all[..., :K.shape[1]], w_all[..., K.shape[1]:]
        o = w_local @ V_h + (w_mem.unsqueeze(-1) * V_top).sum(-2)
    o = o.permute(0, 2, 1, 3)
    if return_retrieved:
        pos = torch.where(valid, k_pos[top_i], torch.full_like(top_i, -1))
        return o, {"positions": pos, "weights": w_mem, "scores": top_s}
    return o


@dataclass
class MemorizingState:
    k: torch.Tensor      # [B, L, H, d]  keys of the last L <= window - 1 + capacity tokens
    v: torch.Tensor      # [B, L, H, d]
    t: int = 0           # tokens seen so far (absolute position of the next token)


class MemorizingAttention(SequenceMemory):
    """Local sliding-window attention + kNN memory attention, gated per head."""

    def __init__(self, d_model: int, n_heads: int = 1, d_head: int | None = None,
                 window: int = 512, capacity: int = 65_536, top_k: int = 32, combine: str = "gate",
                 gate_init: float = 0.0):
        super().__init__()
        for name, val, lo in (("d_model", d_model, 1), ("n_heads", n_heads, 1),
                              ("window", window, 1), ("capacity", capacity, 0),
                              ("top_k", top_k, 1)):
            if not isinstance(val, int) or val < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {val!r}")
        if combine not in COMBINES:
            raise ValueError(f"combine={combine!r} is not allowed: use one of {COMBINES}")
        self.d_model, self.n_heads = d_model, n_heads
        self.d_head = d_head or d_model // n_heads
        self.window, self.capacity, self.top_k, self.combine = window, capacity, top_k, combine
        inner = n_heads * self.d_head
        self.W_q = nn.Linear(d_model, inner, bias=False)
        self.W_k = nn.Linear(d_model, inner, bias=False)
        self.W_v = nn.Linear(d_model, inner, bias=False)
        self.W_o = nn.Linear(inner, d_model, bias=False)
        self.b_gate = nn.Parameter(torch.full((n_heads,), float(gate_init)))

    @property
    def g(self) -> torch.Tensor:
        """The gate g_h = sigmoid(b_h): weight of the memory per head."""
        return torch.sigmoid(self.b_gate)

    def init_state(self, batch, device=None, dtype=None) -> MemorizingState:
        dtype = dtype or self.W_q.weight.dtype
        device = device or self.W_q.weight.device
        empty = torch.zeros(batch, 0, self.n_heads, self.d_head, device=device, dtype=dtype)
        return MemorizingState(empty, empty.clone(), 0)

    def state_size(self, seq_len: int | None = None) -> int:
        keep = self.window - 1 + self.capacity
        n = keep if seq_len is None else min(seq_len, keep)
        return 2 * self.n_heads * self.d_head * n

    def _qkv(self, x):
        shape = (*x.shape[:-1], self.n_heads, self.d_head)
        return self.W_q(x).view(shape), self.W_k(x).view(shape), self.W_v(x).view(shape)

    def _keep(self, K, V, t):
        keep = self.window - 1 + self.capacity
        return MemorizingState(K[:, -keep:] if keep > 0 else K[:, :0],
                               V[:, -keep:] if keep > 0 else V[:, :0], t)

    # ------------------------------------------------------------------ naive: one token
    def step(self, x_t, state):
        """The paper's read for one token: softmax over the window, top-k over the memory."""
        check_shape(x_t, "x_t", ndim=2, last=self.d_model)
        q, k, v = self._qkv(x_t)                                  # [B, H, d]
        K = torch.cat([state.k, k[:, None]], dim=1)               # [B, L+1, H, d]
        V = torch.cat([state.v, v[:, None]], dim=1)
        W = min(self.window, K.shape[1])
        K_loc, V_loc = K[:, -W:], V[:, -W:]
        K_mem, V_mem = K[:, :-W][:, -self.capacity:], V[:, :-W][:, -self.capacity:]
        scale = self.d_head ** -0.5
        s_loc = torch.einsum("bhd,blhd->bhl", q, K_loc) * scale
        o_local = torch.einsum("bhl,blhd->bhd", torch.softmax(s_loc, -1), V_loc)
        o_mem = torch.zeros_like(o_local)
        if K_mem.shape[1] > 0 and self.capacity > 0:
            s_mem = torch.einsum("bhd,blhd->bhl", q, K_mem.detach()) * scale
            top_s, top_i = s_mem.topk(min(self.top_k, K_mem.shape[1]), dim=-1)   # [B, H, k]
            V_top = torch.stack([V_mem.detach()[b, top_i[b, h], h]
                                 for b in range(q.shape[0]) for h in range(self.n_heads)])
            V_top = V_top.view(q.shape[0], self.n_heads, -1, self.d_head)
            if self.combine == "gate":
                o_mem = torch.einsum("bhk,bhkd->bhd", torch.softmax(top_s, -1), V_top)
            else:
                w = torch.softmax(torch.cat([s_loc, top_s], -1), -1)
                o_local = torch.einsum("bhl,blhd->bhd", w[..., :W], V_loc)
                o_mem = torch.einsum("bhk,bhkd->bhd", w[..., W:], V_top)
        if self.combine == "gate":
            g = self.g.view(1, -1, 1)
            o = g * o_mem + (1 - g) * o_local
        else:
            o = o_local + o_mem
        y = self.W_o(o.reshape(o.shape[0], -1))
        return y, self._keep(K, V, state.t + 1)

    # ------------------------------------------------------------------ fast: a whole chunk
    def forward(self, x, state=None, return_retrieved: bool = False):
        """``x: [B, T, d_model] -> (y [B, T, d_model], state)``: all queries at once."""
        check_shape(x, "x", ndim=3, last=self.d_model)
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        q, k, v = self._qkv(x)
        K, V = torch.cat([state.k, k], 1), torch.cat([state.v, v], 1)
        T, L = x.shape[1], K.shape[1]
        q_pos = torch.arange(state.t, state.t + T, device=x.device)
        k_pos = torch.arange(state.t + T - L, state.t + T, device=x.device)
        out = memorizing_read(q, K, V, q_pos, k_pos, self.window, self.capacity, self.top_k,
                              self.g, self.combine, return_retrieved)
        o, info = out if return_retrieved else (out, None)
        y = self.W_o(o.reshape(*x.shape[:2], -1))
        new_state = self._keep(K, V, state.t + T)
        return (y, new_state, info) if return_retrieved else (y, new_state)
