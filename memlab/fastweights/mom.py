"""Mixture of memories (MoM): a router writes each token into a few of several matrix memories.

Paper: Du, Sun, Li, Zhang, Zhou, Liang, Hu, Zhu, Cheng, "MoM: Linear Sequence Modeling with
Mixture-of-Memories" (2025).

One matrix memory has a fixed capacity (about d_k associations). MoM keeps M of them (plus an
optional shared one that every token writes), and a router sends each token to its top-k
memories, so that different kinds of content stop overwriting each other. The read mixes the
routed memories with the router weights.

Glossary (paper symbol -> variable)::

    M          number of memories                  n_memories
    k (top-k)  memories written per token          top_k
    g_t^m      router weight of memory m, token t  g[:, t, m]   [B, T, M]  (0 if not routed)
    k_t^m, v_t^m  memory m's own key / value       k[:, t, m], v[:, t, m]  (W_k^m, W_v^m)
    q_t        shared query                        q[:, t]
    S_t^m      memory m's fast weights             S[:, m]      [B, (M + shared) * H, d_k, d_v]
    rule       how one memory is written           'linear' (S += k v^T) or 'delta'

Equations (write, then read)::

    g_t = renormalised softmax of the top-k router logits  (router logits r_t = W_r x_t)
    S_t^m = write_rule(S_{t-1}^m, k_t^m, v_t^m)   if m in top-k(t) (or m is the shared memory)
    S_t^m = S_{t-1}^m                             otherwise
    o_t = sum_m g_t^m (S_t^m)^T q_t  [+ (S_t^shared)^T q_t]

Both forms reuse the kernels of ``linear_attention.py`` / ``delta_rule.py`` with the memories
as extra heads: an unrouted token writes nothing (beta_t^m = 0 for the delta rule, k_t^m = 0 for
linear attention), so the step and chunked forms are the kernels' own. Because that is a trick,
the independent reference is elsewhere: ``mom_naive`` in ``tests/test_fastweights.py`` loops over
tokens and memories exactly as the equations above read (plus a 2-token case worked by hand),
and both forms are tested equal to it.

Not included: the load-balancing auxiliary loss of the paper (routing here is learned only
through the gate weights), gated-delta memories, and the paper's 'shared memory' variants beyond
one always-written memory.
"""

from __future__ import annotations

import torch
from torch import nn

from memlab.fastweights._layer import FastWeightLayer, FastWeightState
from memlab.fastweights.delta_rule import delta_rule_chunked, delta_rule_step
from memlab.fastweights.linear_attention import linear_attention_chunked, linear_attention_step

__all__ = ["MixtureOfMemories", "route"]

RULES = ("linear", "delta")


def route(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """Router weights [..., M]: softmax over the top-k logits, zero for the other memories."""
    top, idx = logits.topk(top_k, dim=-1)
    return torch.zeros_like(logits).scatter(-1, idx, top.softmax(-1))


class MixtureOfMemories(FastWeightLayer):
    """MoM layer (a ``SequenceMemory``) with ``n_memories`` routed memories (+1 shared)."""

    def __init__(self, d_model, n_heads=1, n_memories=4, top_k=2, rule="delta", shared=True,
                 feature_map="silu", qk_norm=True, **kw):
        if rule not in RULES:
            raise ValueError(f"rule={rule!r} is not known; use one of {RULES}")
        if not isinstance(n_memories, int) or n_memories < 1:
            raise ValueError(f"n_memories must be a positive int, got {n_memories!r}")
        if not isinstance(top_k, int) or not 1 <= top_k <= n_memories:
            raise ValueError(f"top_k must be an int in [1, n_memories={n_memories}], got {top_k!r}")
        super().__init__(d_model, n_heads, feature_map=feature_map, qk_norm=qk_norm, **kw)
        self.rule, self.n_memories, self.top_k, self.shared = rule, n_memories, top_k, shared
        self.n_mem_total = n_memories + (1 if shared else 0)
        H, dk, dv, Mt = n_heads, self.d_key, self.d_value, self.n_mem_total
        self.router = nn.Linear(d_model, n_memories, bias=False)
        self.k_proj = nn.Linear(d_model, Mt * H * dk, bias=False)   # W_k^m for every memory
        self.v_proj = nn.Linear(d_model, Mt * H * dv, bias=False)
        if rule == "delta":
            self.b_proj = nn.Linear(d_model, Mt * H)

    def init_state(self, batch, device=None, dtype=None):
        st = super().init_state(batch, device, dtype)
        S = st.S.new_zeros(batch, self.n_mem_total * self.n_heads, self.d_key, self.d_value)
        return FastWeightState(S, st.conv)

    def state_size(self, seq_len=None):
        """(M + shared) * H * d_k * d_v (+ the short convolution's buffer)."""
        return (self.n_mem_total * self.n_heads * self.d_key * self.d_value
                + max(self.conv_size - 1, 0) * self.d_model)

    def _qkv(self, xc):
        # q is shared: repeat it for every memory, as if the memories were extra heads
        q, k, v = super()._qkv(xc)                      # k, v: [B, T, Mt * H, d]
        return q.repeat(1, 1, self.n_mem_total, 1), k, v

    def _gates(self, xc):
        g = route(self.router(xc), self.top_k)          # [B, T, M]
        if self.shared:
            g = torch.cat([g, torch.ones_like(g[..., :1])], -1)
        written = (g > 0).to(xc.dtype).repeat_interleave(self.n_heads, -1)   # [B, T, Mt * H]
        gates = {"g": g, "written": written}
        if self.rule == "delta":
            gates["beta"] = torch.sigmoid(self.b_proj(xc)) * written
        return gates

    def _mix(self, o, g):
        """o [B, T, Mt*H, d_v] -> sum_m g_m o^m  [B, T, H, d_v]."""
        o = o.unflatten(2, (self.n_mem_total, self.n_heads))
        return (g.unsqueeze(-1).unsqueeze(-1) * o).sum(2)

    def _chunked(self, q, k, v, gates, S):
        if self.rule == "delta":
            o, S = delta_rule_chunked(q, k, v, gates["beta"], S, self.chunk_size)
        else:
            o, S = linear_attention_chunked(q, k * gates["written"].unsqueeze(-1), v, S,
                                            self.chunk_size)
        return self._mix(o, gates["g"]), S

    def _step(self, q, k, v, gates, S):
        if self.rule == "delta":
            o, S = delta_rule_step(q, k, v, gates["beta"], S)
        else:
            o, S = linear_attention_step(q, k * gates["written"].unsqueeze(-1), v, S)
        return self._mix(o.unsqueeze(1), gates["g"].unsqueeze(1))[:, 0], S
