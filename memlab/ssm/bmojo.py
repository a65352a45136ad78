"""A B'MOJO-style hybrid: fading memory (an SSM state) + eidetic memory (stored tokens).

Paper: Zancato, Seshadri, Dukler, Golatkar, Shen, Bowman, Trager, Achille, Soatto,
"B'MOJO: Hybrid State Space Realizations of Foundation Models with Eidetic and Fading Memory"
(2024). From the paper (abstract and method): memory is either *fading* (an SSM state over an
unbounded span) or *eidetic* (exact tokens: the recent context, plus tokens kept for longer);
B'MOJO feeds attention with a sliding window of recent tokens, the SSM's fading memory and an
eidetic memory of past tokens selected by an *innovation* test (tokens the fading memory could
not predict are stored).

What is memlab's interpretation (small, readable, not the paper's kernels):
  * fading memory = a :class:`memlab.ssm.mamba.Mamba` block, added to the output (the paper
    instead exposes SSM outputs as extra tokens to attention);
  * innovation e_t = mean((x_t - m_{t-1})^2), with m a fixed exponential moving average of the
    inputs (rate ``rho``) standing in for the SSM's one-step prediction -- needs no training;
  * the eidetic store keeps the ``M`` tokens of highest innovation among those that have left
    the window (a token leaving the window replaces the store's minimum if it beats it, so
    the store is always the top-M so far; ties keep the older token);
  * read: one softmax attention head over window (last ``W`` tokens) + store;
    y_t = fading_t + W_o attn(q_t; window U store).

Glossary::

    x_t             layer input                       x       [batch, time, d_model]
    fading state    Mamba state (conv, h)             state.fading
    m_t             EMA predictor of x                state.ema [batch, d_model]
    e_t             innovation score                  score
    W, M            window length, store capacity     window, capacity
    (k, v)          keys/values of stored tokens      state.win_k/v, state.store_k/v

Parallel form: the store's content at time t is the top-M of a growing candidate set, so a
token's rank at t is a prefix count -- a cumulative sum of a "beats" matrix over candidates
(``O((M + W + L)^2)`` memory, meant for short chunks, not 100k tokens).

Not included: the paper's asynchronous long-term retrieval store ("in-storage"), its chunked
kernels, learned innovation predictors, multi-head attention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from memlab.memory import SequenceMemory, check_shape
from memlab.ssm.mamba import Mamba

__all__ = ["BMojo", "BMojoState"]


@dataclass
class BMojoState:
    fading: Any                    # the Mamba block's state
    ema: torch.Tensor              # m_{t-1}              [b, d]
    win_k: torch.Tensor            # last W-1 tokens       [b, W-1, d] (oldest first)
    win_v: torch.Tensor
    win_score: torch.Tensor        # [b, W-1], -1 where empty (scores are >= 0)
    store_k: torch.Tensor          # eidetic store         [b, M, d], sorted by score (desc)
    store_v: torch.Tensor
    store_score: torch.Tensor      # [b, M], -1 where empty


class BMojo(SequenceMemory):
    """Fading (Mamba) + eidetic (window + innovation-selected store) memory, one layer."""

    def __init__(self, d_model: int, window: int = 4, capacity: int = 8, rho: float = 0.9,
                 d_state: int = 16, expand: int = 2):
        super().__init__()
        if window < 1 or capacity < 0:
            raise ValueError(f"need window >= 1 and capacity >= 0, got window={window}, "
                             f"capacity={capacity}")
        if not 0 < rho < 1:
            raise ValueError(f"rho (EMA rate of the innovation predictor) must be in (0, 1), "
                             f"got {rho}")
        self.d_model, self.window, self.capacity, self.rho = d_model, window, capacity, rho
        self.fading = Mamba(d_model, d_state=d_state, expand=expand)
        self.q, self.k, self.v = (nn.Linear(d_model, d_model, bias=False) for _ in range(3))
        self.o = nn.Linear(d_model, d_model, bias=False)

    def init_state(self, batch, device=None, dtype=None):
        device = device or self.q.weight.device
        dtype = dtype or self.q.weight.dtype
        d, W, M = self.d_model, self.window - 1, self.capacity
        z = lambda *s: torch.zeros(*s, device=device, dtype=dtype)
        empty = lambda *s: torch.full(s, -1.0, device=device, dtype=dtype)
        return BMojoState(self.fading.init_state(batch, device, dtype), z(batch, d),
                          z(batch, W, d), z(batch, W, d), empty(batch, W),
                          z(batch, M, d), z(batch, M, d), empty(batch, M))

    def state_size(self, seq_len=None) -> int:
        """Fading state + EMA + (W-1 + M) stored tokens, each a key, a value and a score."""
        return (self.fading.state_size() + self.d_model
                + (self.window - 1 + self.capacity) * (2 * self.d_model + 1))

    def _attend(self, q, k, v, visible):
        """``q [b, L, d]``, ``k, v [b, K, d]``, ``visible [b, L, K]`` -> ``[b, L, d]``."""
        s = (q @ k.transpose(1, 2)) / math.sqrt(self.d_model)
        return torch.softmax(s.masked_fill(~visible, -math.inf), dim=-1) @ v

    # ------------------------------------------------------------------ naive: one token
    def step(self, x_t, state: BMojoState):
        check_shape(x_t, "x_t", ndim=2, last=self.d_model)
        y_fade, fading = self.fading.step(x_t, state.fading)
        score = ((x_t - state.ema) ** 2).mean(-1)                          # innovation e_t
        ema = self.rho * state.ema + (1 - self.rho) * x_t
        q, k, v = self.q(x_t), self.k(x_t), self.v(x_t)
        keys = torch.cat([state.store_k, state.win_k, k[:, None]], 1)
        vals = torch.cat([state.store_v, state.win_v, v[:, None]], 1)
        ok = torch.cat([state.store_score, state.win_score, score[:, None]], 1) >= 0
        y = y_fade + self.o(self._attend(q[:, None], keys, vals, ok[:, None])[:, 0])
        # the window moves on: its oldest token competes for a place in the store
        win_k = torch.cat([state.win_k, k[:, None]], 1)
        win_v = torch.cat([state.win_v, v[:, None]], 1)
        win_s = torch.cat([state.win_score, score[:, None]], 1)
        sk, sv, ss = state.store_k, state.store_v, state.store_score
        if self.capacity:
            old_s = win_s[:, 0]
            worst = self.capacity - 1 - ss.flip(-1).argmin(-1)            # newest minimum
            put = old_s > ss.gather(1, worst[:, None])[:, 0]                # beats the minimum
            rows = torch.arange(x_t.shape[0], device=x_t.device)[put]
            sk, sv, ss = sk.clone(), sv.clone(), ss.clone()
            sk[rows, worst[put]] = win_k[put, 0]
            sv[rows, worst[put]] = win_v[put, 0]
            ss[rows, worst[put]] = old_s[put]
            order = torch.sort(ss, dim=-1, descending=True, stable=True).indices           # canonical order
            sk, sv = sk.gather(1, order[..., None].expand_as(sk)), sv.gather(
                1, order[..., None].expand_as(sv))
            ss = ss.gather(1, order)
        return y, BMojoState(fading, ema, win_k[:, 1:], win_v[:, 1:], win_s[:, 1:], sk, sv, ss)

    # ------------------------------------------------------------------ parallel over a chunk
    def forward(self, x, state: BMojoState | None = None):
        check_shape(x, "x", ndim=3, last=self.d_model)
        b, L, d = x.shape
        st = state or self.init_state(b, x.device, x.dtype)
        y_fade, fading = self.fading(x, st.fading)
        # EMA predictor m_t = rho m_{t-1} + (1 - rho) x_t, as a (small) matrix of powers
        t = torch.arange(L, device=x.device, dtype=x.dtype)
        lag = t[:, None] - t[None, :]
        P = torch.where(lag >= 0, self.rho ** lag.clamp(min=0), torch.zeros_like(lag))
        ema_all = (1 - self.rho) * (P @ x) + (self.rho ** (t + 1))[:, None] * st.ema[:, None]
        prev = torch.cat([st.ema[:, None], ema_all[:, :-1]], 1)              # m_{t-1}
        score = ((x - prev) ** 2).mean(-1)                                  # [b, L]
        q, k, v = self.q(x), self.k(x), self.v(x)
        # candidates in time order: store (oldest), window, this chunk
        M, W1 = self.capacity, self.window - 1
        keys = torch.cat([st.store_k, st.win_k, k], 1)
        vals = torch.cat([st.store_v, st.win_v, v], 1)
        cs = torch.cat([st.store_score, st.win_score, score], 1)            # [b, K]
        K = M + W1 + L
        pos = torch.cat([torch.full((M,), -10**9, device=x.device),
                         torch.arange(-W1, L, device=x.device)])            # store: "long ago"
        idx = torch.arange(K, device=x.device)
        valid = cs >= 0
        # beats[c', c]: c' would keep its place against c (higher score, or equal and older)
        beats = (cs[:, :, None] > cs[:, None, :]) | ((cs[:, :, None] == cs[:, None, :])
                                                     & (idx[:, None] < idx[None, :]))
        cum = torch.cumsum((beats & valid[:, :, None]).to(x.dtype), 1)      # [b, K, K]
        # at query t, the candidates that have left the window are those with pos <= t - W
        n_out = torch.searchsorted(pos, torch.arange(L + 1, device=x.device) - self.window,
                                   right=True)                              # [L + 1]
        rank = torch.where(n_out[None, :, None] > 0,
                           cum[:, (n_out - 1).clamp(min=0)], torch.zeros(()))  # [b, L+1, K]
        left = idx[None, :] < n_out[:, None]                                # [L+1, K]
        in_store = left & (rank < M) & valid[:, None]
        tq = torch.arange(L, device=x.device)[:, None]
        in_window = (pos[None, :] > tq - self.window) & (pos[None, :] <= tq)
        visible = in_store[:, :L] | (in_window & valid[:, None])
        y = y_fade + self.o(self._attend(q, keys, vals, visible))
        # final state: store = top-M of what has left the window after the last token
        fin = in_store[:, L]                                                # [b, K]
        key = torch.where(fin, rank[:, L], torch.full_like(rank[:, L], float(K)) + idx)
        order = key.argsort(-1)[:, :M]
        g = lambda t_: t_.gather(1, order[..., None].expand(-1, -1, d))
        ss = torch.where(fin.gather(1, order), cs.gather(1, order), torch.full_like(
            cs[:, :M], -1.0))
        sk = torch.where(ss[..., None] >= 0, g(keys), torch.zeros_like(g(keys)))
        sv = torch.where(ss[..., None] >= 0, g(vals), torch.zeros_like(g(vals)))
        new = BMojoState(fading, ema_all[:, -1], keys[:, K - W1:], vals[:, K - W1:],
                         cs[:, K - W1:], sk, sv, ss)
        return y, new
