"""Artificial Hippocampus Networks (AHN): a sliding window plus a compressed memory of what left it.

Paper: Fang et al. (ByteDance Seed), "Artificial Hippocampus Networks for Efficient Long-Context
Modeling" (2025); public code ``ByteDance-Seed/AHN``, ``src/ahn/transformer/qwen2_ahn/qwen2_ahn.py``.

Glossary (paper symbol -> variable)::

    W              sliding-window length (tokens a query sees, itself included)  window
    n_sinks        first tokens always kept (StreamingLLM's attention sinks)      sinks
    q_t, k_t, v_t  the attention's query / key / value (chapter 03's projections) q, k, v  [B, T, H, d_h]
    Attn_W(q_t)    softmax attention over the window and the sinks                o_att
    S_t            the RNN memory (fast weights, chapter 04)                       state.S  [B, H, d_h, d_h]
    e_t = t - W    the token that leaves the window when t arrives (if e_t >= n_sinks)
    AHN(q_t; h)    read of the memory, S_t^T q~_t (q~ = own query projection)     o_mem
    W_ahn          the AHN's output projection, initialised to ZERO                self.o_ahn
    W_O            the attention's output projection                              self.attn.W_o

Equations (one token t; write the evicted token, then read)::

    mask(t, j) = (j <= t) and (t - j < W  or  j < n_sinks)
    S_t = rule(S_{t-1}; k~_{e_t}, v_{e_t}, beta_{e_t}, alpha_{e_t})        (only if e_t >= n_sinks)
        delta:        S <- S + beta k (v - S^T k)^T                           (DeltaNet)
        gated_delta:  S <- alpha S;  S <- S + beta k (v - S^T k)^T            (Gated DeltaNet)
        linear:       S <- S + k v^T            (the negative control: no erase, crosstalk)
    o_t = Attn_W(q_t) + W_ahn S_t^T q~_t            (summed BEFORE the output projection)
    y_t = W_O o_t

k~ = k / ||k|| (the delta rule's L2-normalised keys); beta = sigmoid(w_b . x), alpha =
sigmoid(w_a . x + 3) for the gated rule (starts near 0.95). With ``W_ahn = 0`` (its initial
value) the layer is *exactly* sliding-window attention: training starts from the base model.
The q~ projection is N(0, 0.02) as in the public code.

Forms: :meth:`AHN.step` is the recurrence above, token by token (append to the window, feed the
evicted token, read, drop it). :meth:`AHN.forward` does a whole chunk at once: the window as a
masked softmax, the memory as chapter 04's chunked kernel on the key/value stream shifted by W
(the evicted stream). Both carry the same state (sinks + last W entries of k, v and gates, and S).

Defaults: ``sinks = 0`` and ``window = 64`` (CPU size). The paper's inference keeps 128 sinks and
samples the training window from {32 ... 8192}; chapter 03's StreamingLLM policy
(:func:`memlab.attention.policies.sinks_window`) keeps 4 sinks. The attention itself is chapter
03's :class:`~memlab.attention.CausalSelfAttention` (its projections and ``W_O``) under the window
mask; the memory rules are chapter 04's kernels, imported, not copied.

Cache sizes (numbers per sequence, one layer): full attention 2 d T; window + AHN
(W + n_sinks) 2 d + H d_h^2 (the memory) -- see :func:`memlab.segment.experiments.cache_fraction`.

Not included: self-distillation training from a frozen full-attention teacher (the paper's
recipe), the Mamba2 memory variant, the optional learned router and the per-batch random window
size; FlexAttention kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from memlab.attention import CausalSelfAttention
from memlab.fastweights import (
    delta_rule_chunked,
    delta_rule_step,
    gated_delta_rule_chunked,
    gated_delta_rule_step,
    linear_attention_chunked,
    linear_attention_step,
)
from memlab.memory import SequenceMemory, check_shape

__all__ = [
    "AHN",
    "RULES",
    "AHNState",
    "ahn_mix",
    "init_output_projection",
    "memory_chunk",
    "memory_step",
    "window_attention",
    "window_mask",
]

RULES = ("delta", "gated_delta", "linear")


@dataclass
class AHNState:
    k: torch.Tensor          # [B, n, H, d_h]  keys of the sinks + the last W tokens
    v: torch.Tensor          # [B, n, H, d_h]
    gates: torch.Tensor      # [B, n, H, 2]    beta, alpha of those tokens (used when evicted)
    pos: torch.Tensor        # [n]             their positions (float)
    S: torch.Tensor          # [B, H, d_h, d_h] the memory of evicted tokens
    seen: int = 0


def window_mask(q_pos: torch.Tensor, k_pos: torch.Tensor, window: int, sinks: int = 0):
    """``[Tq, n]`` bool: causal and (inside the last ``window`` tokens or a sink)."""
    qp, kp = q_pos[:, None], k_pos[None, :]
    return (kp <= qp) & ((qp - kp < window) | (kp < sinks))


def window_attention(q, k, v, q_pos, k_pos, window, sinks=0, scale=None):
    """Softmax attention of ``q [B,T,H,d]`` over ``k, v [B,n,H,d]`` under :func:`window_mask`."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = torch.einsum("bthd,bnhd->bhtn", q, k) * scale
    mask = window_mask(q_pos, k_pos, window, sinks)
    a = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return torch.einsum("bhtn,bnhd->bthd", a, v)


def memory_chunk(rule, q, k, v, beta, alpha, S0):
    """Chapter 04's chunked kernels (write then read); ``k = 0, beta = 0, alpha = 1`` = no write."""
    if rule == "delta":
        return delta_rule_chunked(q, k, v, beta, S0)
    if rule == "gated_delta":
        return gated_delta_rule_chunked(q, k, v, alpha, beta, S0)
    if rule == "linear":
        return linear_attention_chunked(q, k, v, S0)
    raise ValueError(f"rule={rule!r} is not known; use one of {RULES}")


def memory_step(rule, q_t, k_t, v_t, beta_t, alpha_t, S):
    """One token of the same rules (the recurrences of chapter 04)."""
    if rule == "delta":
        return delta_rule_step(q_t, k_t, v_t, beta_t, S)
    if rule == "gated_delta":
        return gated_delta_rule_step(q_t, k_t, v_t, alpha_t, beta_t, S)
    if rule == "linear":
        return linear_attention_step(q_t, k_t, v_t, S)
    raise ValueError(f"rule={rule!r} is not known; use one of {RULES}")


def _evicted(T0: int, T: int, window: int, sinks: int, device):
    """Positions e_t = t - W of the tokens written while queries T0..T0+T-1 arrive, and validity."""
    e = torch.arange(T0, T0 + T, device=device) - window
    return e, e >= sinks


def ahn_mix(q, k, v, window: int, rule: str = "delta", use_memory: bool = True, sinks: int = 0,
            scale: float | None = None, beta: float = 1.0):
    """The AHN read without projections (untrained): ``q, k, v [B,T,H,d] -> o [B,T,H,d]``.

    ``o_t = Attn_W(q_t) + S_t^T q_t`` with the evicted tokens written by ``rule`` at strength
    ``beta`` (keys used as given: pass unit keys for the delta rule).
    """
    check_shape(q, "q", ndim=4)
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a positive int, got {window!r}")
    T = q.shape[1]
    pos = torch.arange(T, device=q.device)
    o = window_attention(q, k, v, pos, pos, window, sinks, scale)
    if not use_memory:
        return o
    e, valid = _evicted(0, T, window, sinks, q.device)
    idx = e.clamp_min(0)
    m = valid.to(q.dtype)[None, :, None, None]
    km, vm = k[:, idx] * m, v[:, idx]
    b = beta * valid.to(q.dtype)[None, :, None].expand(q.shape[0], -1, q.shape[2])
    a = torch.ones_like(b)
    o_mem, _ = memory_chunk(rule, q, km, vm, b, a, None)
    return o + o_mem


def init_output_projection(linear: nn.Linear) -> None:
    """AHN's output projection starts at zero (the layer is then exactly the window)."""
    nn.init.zeros_(linear.weight)


class AHN(SequenceMemory):
    """Sliding-window attention (+ sinks) with an RNN memory of the evicted tokens."""

    def __init__(self, d_model: int, n_heads: int = 1, window: int = 64, sinks: int = 0,
                 rule: str = "delta", scale: float | None = None):
        super().__init__()
        if rule not in RULES:
            raise ValueError(f"rule={rule!r} is not known; use one of {RULES}")
        if not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be a positive int, got {window!r}")
        if not isinstance(sinks, int) or sinks < 0:
            raise ValueError(f"sinks must be an int >= 0, got {sinks!r}")
        self.attn = CausalSelfAttention(d_model, n_heads)
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, self.attn.d_head
        self.window, self.sinks, self.rule, self.scale = window, sinks, rule, scale
        inner = n_heads * self.d_head
        self.q_mem = nn.Linear(d_model, inner, bias=False)
        nn.init.normal_(self.q_mem.weight, std=0.02)
        self.gate_proj = nn.Linear(d_model, 2 * n_heads)           # beta, alpha logits
        with torch.no_grad():
            self.gate_proj.bias[n_heads:] = 3.0                     # alpha starts near 0.95
        self.o_ahn = nn.Linear(inner, inner, bias=False)
        init_output_projection(self.o_ahn)                          # AHN starts as the window

    # ---------------------------------------------------------------- memory vocabulary
    def init_state(self, batch: int, device=None, dtype=None) -> AHNState:
        dtype = dtype or self.o_ahn.weight.dtype
        device = device if device is not None else self.o_ahn.weight.device
        H, dh = self.n_heads, self.d_head
        z = torch.zeros(batch, 0, H, dh, device=device, dtype=dtype)
        return AHNState(z, z.clone(), torch.zeros(batch, 0, H, 2, device=device, dtype=dtype),
                        torch.zeros(0, device=device, dtype=dtype),
                        torch.zeros(batch, H, dh, dh, device=device, dtype=dtype), 0)

    def state_size(self, seq_len: int | None = None) -> int:
        """(W + n_sinks) keys and values of d numbers + the memory H d_h^2 (gates not counted)."""
        d = self.n_heads * self.d_head
        return (self.window + self.sinks) * 2 * d + self.n_heads * self.d_head ** 2

    def _gates(self, x):
        g = self.gate_proj(x).unflatten(-1, (2, self.n_heads)).transpose(-1, -2)   # [.., H, 2]
        return torch.sigmoid(g)

    def _out(self, o_att, o_mem):
        o = o_att.flatten(-2) + self.o_ahn(o_mem.flatten(-2))      # summed before W_O
        return self.attn.W_o(o)

    # ---------------------------------------------------------------- fast form: a chunk
    def forward(self, x: torch.Tensor, state: AHNState | None = None):
        check_shape(x, "x", ndim=3, last=self.d_model)
        B, T, _ = x.shape
        if state is None:
            state = self.init_state(B, x.device, x.dtype)
        q, k, v = self.attn.qkv(x)
        gates = self._gates(x)
        qpos = torch.arange(state.seen, state.seen + T, device=x.device, dtype=x.dtype)
        K, V = torch.cat([state.k, k], 1), torch.cat([state.v, v], 1)
        G, pos = torch.cat([state.gates, gates], 1), torch.cat([state.pos, qpos])
        o_att = window_attention(q, K, V, qpos, pos, self.window, self.sinks, self.scale)
        # the evicted stream: for query t, the token at position t - W (if not a sink)
        e, valid = _evicted(state.seen, T, self.window, self.sinks, x.device)
        idx = torch.searchsorted(pos, e.clamp_min(0).to(pos.dtype))
        idx = idx.clamp_max(max(len(pos) - 1, 0))
        m = valid.to(x.dtype)[None, :, None]
        km = F.normalize(K[:, idx], dim=-1) * m[..., None]
        beta = G[:, idx, :, 0] * m
        alpha = torch.where(valid[None, :, None], G[:, idx, :, 1], torch.ones_like(beta))
        qm = F.normalize(self.q_mem(x).view(B, T, self.n_heads, self.d_head), dim=-1)
        o_mem, S = memory_chunk(self.rule, qm, km, V[:, idx], beta, alpha, state.S)
        keep = (pos < self.sinks) | (pos >= state.seen + T - self.window)
        new = AHNState(K[:, keep], V[:, keep], G[:, keep], pos[keep], S, state.seen + T)
        return self._out(o_att, o_mem), new

    # ---------------------------------------------------------------- naive form: one token
    def step(self, x_t: torch.Tensor, state: AHNState):
        check_shape(x_t, "x_t", ndim=2, last=self.d_model)
        B, t = x_t.shape[0], state.seen
        q, k, v = (z[:, 0] for z in self.attn.qkv(x_t[:, None]))      # [B, H, d_h]
        g = self._gates(x_t)                                             # [B, H, 2]
        tpos = torch.full((1,), float(t), device=x_t.device, dtype=x_t.dtype)
        K, V = torch.cat([state.k, k[:, None]], 1), torch.cat([state.v, v[:, None]], 1)
        G, pos = torch.cat([state.gates, g[:, None]], 1), torch.cat([state.pos, tpos])
        # 1. the token at position t - W leaves the window: write it into the memory
        out = (pos == t - self.window) & (pos >= self.sinks)
        if bool(out.any()):
            j = int(out.nonzero()[0])
            kk, vv, beta, alpha = F.normalize(K[:, j], dim=-1), V[:, j], G[:, j, :, 0], G[:, j, :, 1]
        else:
            kk, vv = torch.zeros_like(k), torch.zeros_like(v)
            beta, alpha = torch.zeros_like(g[..., 0]), torch.ones_like(g[..., 0])
        qm = F.normalize(self.q_mem(x_t).view(B, self.n_heads, self.d_head), dim=-1)
        o_mem, S = memory_step(self.rule, qm, kk, vv, beta, alpha, state.S)
        # 2. softmax over the window and the sinks
        see = (pos > t - self.window) | (pos < self.sinks)
        scale = 1.0 / math.sqrt(self.d_head) if self.scale is None else self.scale
        a = torch.softmax(torch.einsum("bhd,bnhd->bhn", q, K[:, see]) * scale, dim=-1)
        o_att = torch.einsum("bhn,bnhd->bhd", a, V[:, see])
        new = AHNState(K[:, see], V[:, see], G[:, see], pos[see], S, t + 1)
        return self._out(o_att, o_mem), new

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, window={self.window}, sinks={self.sinks}, rule={self.rule!r}"
