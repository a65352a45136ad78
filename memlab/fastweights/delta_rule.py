"""The delta rule (DeltaNet): a fast-weight memory that overwrites instead of adding.

Papers: Schlag, Irie, Schmidhuber, "Linear Transformers Are Secretly Fast Weight Programmers"
(ICML 2021) -- the rule; Yang, Wang, Zhang, Shen, Kim, "Parallelizing Linear Transformers with
the Delta Rule over Sequence Length" (NeurIPS 2024) -- the chunked WY/UT form used here.

Glossary (paper symbol -> variable)::

    q_t, k_t   query / key (L2-normalised in the layer)   q[:, t], k[:, t]  [B, H, d_k]
    v_t        value                                     v[:, t]           [B, H, d_v]
    beta_t     writing strength in (0, 1)                beta[:, t]        [B, H]
    S_t        fast weights                              S                 [B, H, d_k, d_v]
    v_old      what the memory returns for k_t now       v_old = S_{t-1}^T k_t
    u_t        the "new value" actually written         u_t = beta_t (v_t - v_old)
    o_t        read-out                                  o[:, t]           [B, H, d_v]

Equations (write, then read -- the convention of every kernel in memlab.fastweights)::

    S_t = S_{t-1} + beta_t k_t (v_t - S_{t-1}^T k_t)^T  =  (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T
    o_t = S_t^T q_t                                      (= q_t S_t with row vectors)

In the papers' [d_v, d_k] layout M = S^T this reads M_t = M_{t-1} - beta_t (M_{t-1} k_t - v_t) k_t^T:
one SGD step of size beta_t on the loss 1/2 ||M k_t - v_t||^2 (so linear Titans without momentum
or forgetting is this rule; Titans' loss ||M k - v||^2 has no 1/2, so there theta_t = beta_t / 2). With ||k_t|| = 1 and beta_t = 1, the
memory returns exactly v_t for k_t after the write: a rewritten key returns the NEW value.

Chunked form (WY representation / UT transform, Yang et al. 2024, section 3). Inside a chunk of C
tokens with keys K [C, d_k], values V [C, d_v], B = diag(beta) and the entering state S::

    u_i = beta_i (v_i - S^T k_i - sum_{j<i} (k_i . k_j) u_j)         (unroll the recurrence)
    => (I + tril(B K K^T, -1)) U = B (V - K S)                       (a unit-lower-triangular system)
    T = (I + tril(B K K^T, -1))^{-1} B                               (the UT transform)
    W = T K,  U' = T V   (do not depend on S: all chunks at once)    U = U' - W S
    O = Q S + tril(Q K^T) U          S_next = S + K^T U

Only the two small matmuls with S run chunk after chunk; the triangular solves and the other
products run batched over all chunks at once. This is what makes the chunked form fast (see
``memlab bench fastweights_delta_rule``). (Substituting U shows the WY representation itself:
``S_next = (I - K^T W) S + K^T U'``, and ``I - K^T W = (I - beta_C k_C k_C^T) ... (I - beta_1 k_1 k_1^T)``,
the chunk's product of generalised Householder factors. Iterating with that d_k x d_k matrix measured
slower on a CPU than keeping U explicit, so the code keeps U.)

Not included: the fused Triton kernels (fla), the beta in (0, 2) "negative eigenvalue" variant,
and the backward-pass recomputation tricks (autograd differentiates the chunked form directly).
"""

from __future__ import annotations

import torch
from torch import nn

from memlab.fastweights._layer import (
    FastWeightLayer,
    check_chunk_size,
    check_gate,
    check_qkv,
    from_chunks,
    to_chunks,
)

__all__ = ["DeltaNet", "delta_rule_chunked", "delta_rule_recurrent", "delta_rule_step"]


def delta_rule_step(q_t, k_t, v_t, beta_t, S):
    """One token: ``S <- S + beta k (v - S^T k)^T``; ``o_t = S^T q_t``. beta_t [B, H]."""
    v_old = torch.einsum("bhk,bhkv->bhv", k_t, S)
    u_t = beta_t.unsqueeze(-1) * (v_t - v_old)
    S = S + k_t.unsqueeze(-1) * u_t.unsqueeze(-2)
    o_t = torch.einsum("bhk,bhkv->bhv", q_t, S)
    return o_t, S


def delta_rule_recurrent(q, k, v, beta, S0=None):
    """Naive form: a loop over time.

    q, k: [B, T, H, d_k]; v: [B, T, H, d_v]; beta: [B, T, H]; S0: [B, H, d_k, d_v] or None (zeros).
    Returns ``(o [B, T, H, d_v], S_T [B, H, d_k, d_v])`` with, for each t (write, then read)::

        S_t = S_{t-1} + beta_t k_t (v_t - S_{t-1}^T k_t)^T;   o_t = S_t^T q_t
    """
    S = check_qkv(q, k, v, S0, name="delta_rule_recurrent")
    check_gate(beta, k, "beta")
    o = []
    for t in range(q.shape[1]):
        o_t, S = delta_rule_step(q[:, t], k[:, t], v[:, t], beta[:, t], S)
        o.append(o_t)
    return torch.stack(o, dim=1), S


def delta_rule_chunked(q, k, v, beta, S0=None, chunk_size=64):
    """Chunked WY/UT form; same inputs, outputs and convention as :func:`delta_rule_recurrent`."""
    S = check_qkv(q, k, v, S0, name="delta_rule_chunked")
    check_gate(beta, k, "beta")
    check_chunk_size(chunk_size)
    T = k.shape[1]
    C = min(chunk_size, T) if T > 0 else chunk_size   # short input: one chunk, no padding
    # [B, T, H, d] -> chunk-major [N, B, H, C, d] (contiguous: chunk n is one block);
    # the padding has beta = 0, so it writes nothing
    q, k, v = (to_chunks(t, C) for t in (q, k, v))
    beta = to_chunks(beta.unsqueeze(-1), C)                         # [N, B, H, C, 1]
    # A = I + tril(B K K^T, -1). solve_triangular(upper=False, unitriangular=True) reads only the
    # strict lower triangle and takes the diagonal as 1, so B K K^T needs no masking here.
    bk = beta * k
    A = bk @ k.transpose(-1, -2)
    W = torch.linalg.solve_triangular(A, bk, upper=False, unitriangular=True)         # T K
    U_ = torch.linalg.solve_triangular(A, beta * v, upper=False, unitriangular=True)  # T V
    states, news = [], []
    for n in range(q.shape[0]):                       # the only sequential part: N = T / C steps
        U = U_[n] - W[n] @ S                          # new values U = U' - W S
        states.append(S)
        news.append(U)
        S = S + k[n].transpose(-1, -2) @ U            # S_next = S + K^T U
    S_in, U = torch.stack(states), torch.stack(news)  # [N, B, H, d_k, d_v], [N, B, H, C, d_v]
    attn = torch.tril(q @ k.transpose(-1, -2))        # tril(Q K^T), diagonal included
    o = q @ S_in + attn @ U                           # O = Q S + tril(Q K^T) U, every chunk at once
    return from_chunks(o, T), S


class DeltaNet(FastWeightLayer):
    """DeltaNet layer (a ``SequenceMemory``): L2-normalised q, k; beta_t = sigmoid(w_beta . x_t).

    Defaults follow Yang et al. 2024 (SiLU feature map then L2 norm, short convolution,
    per-head output norm). ``beta_init`` sets the initial bias of the beta projection.
    """

    def __init__(self, d_model, n_heads=1, feature_map="silu", qk_norm=True, beta_init=0.0,
                 **kw):
        super().__init__(d_model, n_heads, feature_map=feature_map, qk_norm=qk_norm, **kw)
        self.b_proj = nn.Linear(d_model, n_heads)
        nn.init.constant_(self.b_proj.bias, beta_init)

    def _gates(self, xc):
        return {"beta": torch.sigmoid(self.b_proj(xc))}

    def _chunked(self, q, k, v, gates, S):
        return delta_rule_chunked(q, k, v, gates["beta"], S, self.chunk_size)

    def _step(self, q, k, v, gates, S):
        return delta_rule_step(q, k, v, gates["beta"], S)
