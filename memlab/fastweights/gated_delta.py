"""The gated delta rule (Gated DeltaNet): the delta rule plus a forget gate.

Paper: Yang, Kautz, Hatamizadeh, "Gated Delta Networks: Improving Mamba2 with Delta Rule"
(ICLR 2025, arXiv Dec 2024).

Glossary (paper symbol -> variable)::

    q_t, k_t   query / key (L2-normalised)     q[:, t], k[:, t]  [B, H, d_k]
    v_t        value                           v[:, t]           [B, H, d_v]
    alpha_t    forget gate (decay) in (0, 1]   alpha[:, t]       [B, H]
    beta_t     writing strength in (0, 1)      beta[:, t]        [B, H]
    S_t        fast weights                    S                 [B, H, d_k, d_v]
    gamma_i    decay from the chunk start      gamma = exp(cumsum(log alpha)) inside a chunk

Equations (write, then read; S in [d_k, d_v] layout, as in every kernel of this package)::

    S_t = alpha_t (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T
        = S' + beta_t k_t (v_t - S'^T k_t)^T   with S' = alpha_t S_{t-1}
    o_t = S_t^T q_t

alpha_t = 1 gives the delta rule; beta_t k_t k_t^T = 0 (no erase) gives gated linear attention
(Mamba2-style decay). The gate lets the memory clear itself quickly (alpha -> 0) while the delta
term edits single associations.

Layer parameterisation (public code, fla / the paper's repository)::

    alpha_t = exp(-exp(A_log) * softplus(w_a . x_t + dt_bias))    beta_t = sigmoid(w_b . x_t)

Chunked form: the delta rule's UT transform with decays. With gamma_i (i = 1..C) the cumulative
decay inside a chunk, Gamma_ij = gamma_i / gamma_j for j <= i (0 above the diagonal) and S the
state entering the chunk::

    (I + tril(B (Gamma * K K^T), -1)) U = B (V - diag(gamma) K S)
    W = T diag(gamma) K,  U' = T V,   T = (I + tril(B (Gamma * K K^T), -1))^{-1} B,   U = U' - W S
    O = diag(gamma) Q S + tril(Gamma * Q K^T) U
    S_next = gamma_C S + (diag(gamma_C / gamma) K)^T U

Not included: the Triton kernels, the gated output (o * silu(W_g x)) of the paper's block
(the block's output norm is kept), and hybrid layouts with attention layers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from memlab.fastweights._layer import (
    FastWeightLayer,
    check_chunk_size,
    check_gate,
    check_qkv,
    from_chunks,
    to_chunks,
)

__all__ = [
    "GatedDeltaNet",
    "gated_delta_rule_chunked",
    "gated_delta_rule_recurrent",
    "gated_delta_rule_step",
]


def _check_alpha(alpha, k):
    check_gate(alpha, k, "alpha")
    if alpha.numel() and not bool(((alpha > 0) & (alpha <= 1)).all()):
        raise ValueError("alpha (the forget gate) must lie in (0, 1], got values in "
                         f"[{float(alpha.min()):.3g}, {float(alpha.max()):.3g}]")


def gated_delta_rule_step(q_t, k_t, v_t, alpha_t, beta_t, S):
    """One token: ``S' = alpha S``; ``S <- S' + beta k (v - S'^T k)^T``; ``o_t = S^T q_t``."""
    S = alpha_t[..., None, None] * S
    v_old = torch.einsum("bhk,bhkv->bhv", k_t, S)
    S = S + k_t.unsqueeze(-1) * (beta_t.unsqueeze(-1) * (v_t - v_old)).unsqueeze(-2)
    return torch.einsum("bhk,bhkv->bhv", q_t, S), S


def gated_delta_rule_recurrent(q, k, v, alpha, beta, S0=None):
    """Naive loop. q, k [B,T,H,d_k]; v [B,T,H,d_v]; alpha, beta [B,T,H]; S0 [B,H,d_k,d_v] or None.

    Returns ``(o [B,T,H,d_v], S_T [B,H,d_k,d_v])``; write then read, ``o_t = S_t^T q_t``.
    """
    S = check_qkv(q, k, v, S0, name="gated_delta_rule_recurrent")
    _check_alpha(alpha, k)
    check_gate(beta, k, "beta")
    o = []
    for t in range(q.shape[1]):
        o_t, S = gated_delta_rule_step(q[:, t], k[:, t], v[:, t], alpha[:, t], beta[:, t], S)
        o.append(o_t)
    return torch.stack(o, dim=1), S


def gated_delta_rule_chunked(q, k, v, alpha, beta, S0=None, chunk_size=64):
    """Chunked form with decays; same inputs, outputs and convention as the recurrence."""
    S = check_qkv(q, k, v, S0, name="gated_delta_rule_chunked")
    _check_alpha(alpha, k)
    check_gate(beta, k, "beta")
    check_chunk_size(chunk_size)
    T = k.shape[1]
    C = min(chunk_size, T) if T > 0 else chunk_size   # short input: one chunk, no padding
    q, k, v = (to_chunks(t, C) for t in (q, k, v))                 # [N, B, H, C, d]
    beta = to_chunks(beta.unsqueeze(-1), C)                         # [N, B, H, C, 1]; pad: 0
    g = to_chunks(torch.log(alpha).unsqueeze(-1), C)[..., 0].cumsum(-1)  # log gamma [N,B,H,C]
    lower = torch.ones(C, C, dtype=torch.bool, device=k.device).tril()
    # Gamma_ij = exp(g_i - g_j) on and below the diagonal; masked BEFORE exp (no inf * 0)
    Gamma = (g.unsqueeze(-1) - g.unsqueeze(-2)).masked_fill(~lower, -math.inf).exp()
    # I + tril(B (Gamma * K K^T), -1): the solve reads the strict lower triangle only (unit diagonal)
    A = (beta * k) @ k.transpose(-1, -2) * Gamma
    gamma = g.exp().unsqueeze(-1)                                    # [N, B, H, C, 1]
    W = torch.linalg.solve_triangular(A, beta * gamma * k, upper=False, unitriangular=True)
    U_ = torch.linalg.solve_triangular(A, beta * v, upper=False, unitriangular=True)
    k_to_end = (g[..., -1:] - g).exp().unsqueeze(-1) * k             # diag(gamma_C / gamma) K
    gamma_C = g[..., -1].exp()[..., None, None]                      # [N, B, H, 1, 1]
    states, news = [], []
    for n in range(q.shape[0]):
        U = U_[n] - W[n] @ S
        states.append(S)
        news.append(U)
        S = gamma_C[n] * S + k_to_end[n].transpose(-1, -2) @ U
    S_in, U = torch.stack(states), torch.stack(news)
    attn = q @ k.transpose(-1, -2) * Gamma                           # tril(Gamma * Q K^T)
    o = (gamma * q) @ S_in + attn @ U                                # diag(gamma) Q S + ...
    return from_chunks(o, T), S


class GatedDeltaNet(FastWeightLayer):
    """Gated DeltaNet layer (a ``SequenceMemory``): DeltaNet plus a data-dependent decay alpha_t."""

    def __init__(self, d_model, n_heads=1, feature_map="silu", qk_norm=True, beta_init=0.0,
                 **kw):
        super().__init__(d_model, n_heads, feature_map=feature_map, qk_norm=qk_norm, **kw)
        self.b_proj = nn.Linear(d_model, n_heads)
        nn.init.constant_(self.b_proj.bias, beta_init)
        self.a_proj = nn.Linear(d_model, n_heads, bias=False)
        # Mamba2-style init: A in [1, 16], softplus(dt_bias) in [1e-3, 1e-1] -> alpha close to 1
        self.A_log = nn.Parameter(torch.log(torch.empty(n_heads).uniform_(1, 16)))
        dt = torch.exp(torch.empty(n_heads).uniform_(math.log(1e-3), math.log(1e-1)))
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))   # softplus^-1(dt)

    def _gates(self, xc):
        # decay exponent clamped at 30 (alpha >= 1e-13) so that log(alpha) stays finite
        decay = (self.A_log.exp() * F.softplus(self.a_proj(xc) + self.dt_bias)).clamp(max=30.0)
        alpha = torch.exp(-decay)
        return {"alpha": alpha, "beta": torch.sigmoid(self.b_proj(xc))}

    def _chunked(self, q, k, v, gates, S):
        return gated_delta_rule_chunked(q, k, v, gates["alpha"], gates["beta"], S,
                                        self.chunk_size)

    def _step(self, q, k, v, gates, S):
        return gated_delta_rule_step(q, k, v, gates["alpha"], gates["beta"], S)
