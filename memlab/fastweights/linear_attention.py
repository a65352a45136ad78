"""Linear attention as a fast-weight (outer-product) memory.

Papers: Katharopoulos, Vyas, Pappas, Fleuret, "Transformers are RNNs: Fast Autoregressive
Transformers with Linear Attention" (ICML 2020); Schlag, Irie, Schmidhuber, "Linear Transformers
Are Secretly Fast Weight Programmers" (ICML 2021).

Glossary (paper symbol -> variable)::

    x_t        input token                    x[:, t]          [B, d_model]
    phi        feature map                    feature_map      identity | elu1 | relu | silu
    q_t, k_t   query / key  (after phi)       q[:, t], k[:, t] [B, H, d_k]
    v_t        value                          v[:, t]          [B, H, d_v]
    S_t        fast weights (the memory)      S                [B, H, d_k, d_v]
    z_t        normaliser sum_i phi(k_i)      (a ones column appended to v)
    o_t        read-out                       o[:, t]          [B, H, d_v]

Equations (write, then read; the convention of every kernel in this package)::

    S_t = S_{t-1} + k_t v_t^T                 (Hebbian write: add the outer product)
    o_t = S_t^T q_t  = sum_{i<=t} (k_i . q_t) v_i      (= q_t S_t with row vectors)
    normalised variant: o_t = S_t^T q_t / (z_t . q_t),  z_t = z_{t-1} + k_t

Which paper is the default: ``LinearAttention()`` (``feature_map="identity"``,
``normalize=False``) is the fast-weight form of Schlag et al., the one the delta rule improves on;
Katharopoulos et al.'s layer is ``LinearAttention(feature_map="elu1", normalize=True)``
(phi(x) = elu(x) + 1 with the normaliser). Both are tested.

Nothing is ever erased: writing a second value under the same key returns the SUM of the two
values, and n > d_k random keys interfere (crosstalk grows like sqrt(n / d_k)).

Chunked form (chunks of C tokens, Q_c, K_c, V_c [C, d]; S_c = state before chunk c)::

    O_c     = Q_c S_c + tril(Q_c K_c^T) V_c     (inter-chunk read + causal intra-chunk attention)
    S_{c+1} = S_c + K_c^T V_c                   (all S_c at once: an exclusive cumulative sum)

Not included: the causal-masking CUDA kernel and the random-feature / Taylor feature maps
(Performer, Based); softmax-free scaling tricks of later papers (decay, gating: see
``gated_delta.py`` for a gated rule).
"""

from __future__ import annotations

import torch

from memlab.fastweights._layer import (
    FastWeightLayer,
    FastWeightState,
    check_chunk_size,
    check_qkv,
    from_chunks,
    to_chunks,
)

__all__ = [
    "LinearAttention",
    "linear_attention_chunked",
    "linear_attention_recurrent",
    "linear_attention_step",
]


def linear_attention_step(q_t, k_t, v_t, S):
    """One token: ``S <- S + k_t v_t^T``; ``o_t = S^T q_t``. q_t, k_t [B,H,d_k]; v_t [B,H,d_v]."""
    S = S + k_t.unsqueeze(-1) * v_t.unsqueeze(-2)
    o_t = torch.einsum("bhk,bhkv->bhv", q_t, S)
    return o_t, S


def linear_attention_recurrent(q, k, v, S0=None):
    """Naive form: a loop over time. q, k [B,T,H,d_k]; v [B,T,H,d_v]; S0 [B,H,d_k,d_v] or None.

    Returns ``(o [B,T,H,d_v], S_T [B,H,d_k,d_v])``. Convention: write then read,
    ``o_t = S_t^T q_t``.
    """
    S = check_qkv(q, k, v, S0, name="linear_attention_recurrent")
    o = []
    for t in range(q.shape[1]):
        o_t, S = linear_attention_step(q[:, t], k[:, t], v[:, t], S)
        o.append(o_t)
    return torch.stack(o, dim=1), S


def linear_attention_chunked(q, k, v, S0=None, chunk_size=64):
    """Chunked parallel form, same inputs/outputs as :func:`linear_attention_recurrent`."""
    S0 = check_qkv(q, k, v, S0, name="linear_attention_chunked")
    check_chunk_size(chunk_size)
    T = q.shape[1]
    C = min(chunk_size, T) if T > 0 else chunk_size                # short input: one chunk
    q, k, v = (to_chunks(t, C) for t in (q, k, v))                 # [N, B, H, C, d]
    kv = k.transpose(-1, -2) @ v                                   # [N, B, H, d_k, d_v]
    S_in = S0 + kv.cumsum(0) - kv                                  # state entering each chunk
    causal = torch.ones(C, C, dtype=torch.bool, device=q.device).tril()
    scores = (q @ k.transpose(-1, -2)).masked_fill(~causal, 0.0)   # [N, B, H, C, C]
    o = q @ S_in + scores @ v
    return from_chunks(o, T), S0 + kv.sum(0)


class LinearAttention(FastWeightLayer):
    """Linear attention layer (a ``SequenceMemory``), with or without a feature map.

    ``feature_map``: 'identity' (plain outer-product memory, Schlag et al.), 'elu1'
    (Katharopoulos et al.), 'relu', 'silu'. ``normalize=True`` divides by ``z_t . q_t`` (the
    paper's normaliser; needs a positive feature map) -- then the state holds one extra column.
    """

    def __init__(self, d_model, n_heads=1, feature_map="identity", normalize=False, conv_size=0,
                 **kw):
        if normalize and feature_map in ("identity", "silu"):
            raise ValueError("normalize=True needs a positive feature map ('elu1' or 'relu'), "
                             f"got feature_map={feature_map!r}")
        super().__init__(d_model, n_heads, feature_map=feature_map, conv_size=conv_size, **kw)
        self.normalize = normalize

    def _v_width(self):
        return self.d_value + (1 if self.normalize else 0)

    def init_state(self, batch, device=None, dtype=None):
        st = super().init_state(batch, device, dtype)
        return FastWeightState(st.S.new_zeros(*st.S.shape[:-1], self._v_width()), st.conv)

    def state_size(self, seq_len=None):
        return super().state_size() + (self.n_heads * self.d_key if self.normalize else 0)

    def _augment(self, v):
        return torch.cat([v, torch.ones_like(v[..., :1])], -1) if self.normalize else v

    def _finish(self, o):
        if self.normalize:
            o = o[..., :-1] / (o[..., -1:] + 1e-6)
        return o

    def _chunked(self, q, k, v, gates, S):
        o, S = linear_attention_chunked(q, k, self._augment(v), S, self.chunk_size)
        return self._finish(o), S

    def _step(self, q, k, v, gates, S):
        o, S = linear_attention_step(q, k, self._augment(v), S)
        return self._finish(o), S
