"""Contextual Memory Reweaving: layered latent states cached and re-injected (OUR INTERPRETATION).

Paper: "Contextual Memory Reweaving in Large Language Models Using Layered Latent State
Reconstruction" (2025; in three seed listings). Its abstract describes "the reweaving of latent
states captured at different processing layers", integrated back "without introducing external
memory modules", with "notable gains in the retention of rarely occurring tokens". It gives no
equation, no number and no code: this file is **our interpretation**, the one our seeds
catalogue proposes. Hidden states from several layers are cached per position, and every token
re-injects what it retrieves from them through gated attention::

    base model (local: each layer mixes a token with its predecessor, receptive field L + 1)
        h^0_t = x_t,   h^l_t = h^{l-1}_t + w_l * h^{l-1}_{t-1}             l = 1..L
    cache  C = {(l, s): h^l_s}  for l in S (the layers kept), the last M positions s < t
    reweave  r_t = sum_{(l,s) in C} softmax_{(l,s)}(beta q_t . h^l_s) h^l_s,   q_t = h^0_t
    gate     g_t = sigmoid(w_g . h^L_t + b_g)
    output   y_t = h^L_t + g_t r_t

The cache holds *layered* states: a deeper state of a token already contains its neighbours
(``h^1_{p+1} = v + w k`` binds a value ``v`` to the key ``k`` before it), so a later query ``k``
retrieves the value, which a cache of layer 0 alone (raw tokens) cannot do.

Glossary (symbol -> variable)::

    x_t, h^l_t [d]     token input, state of layer l           x[:, t], hidden
    L, w_l [d]         base layers and their mixing weights      n_layers, w
    S, M               cached layers, cache positions (FIFO)    layers, cache_size
    beta               sharpness of the reweaving attention     beta
    w_g, b_g           the gate                                 gate_w, gate_b

Defaults (``w_l = 1``, ``beta = 8``, ``b_g = 4`` so the gate starts open, ``M = 256``) are ours.
State (carried across chunks): ``(prev [b, L, d], cache [b, M, |S|, d], filled [b, M])``
(``filled`` is 1 where a cache slot holds a position, 0 while it is still empty).
Not included: a trained transformer backbone, learned query/key projections, the paper's
long-form generation and ambiguity evaluations.
"""

from __future__ import annotations

import torch
from torch import nn

from memlab.memory import SequenceMemory, check_shape

__all__ = ["Reweave", "rare_token_recall"]


class Reweave(SequenceMemory):
    """Local base stack + multi-layer state cache + gated re-injection (``[b, T, d] -> same``)."""

    def __init__(self, d_model: int, n_layers: int = 2, layers: tuple[int, ...] | None = None,
                 cache_size: int = 256, beta: float = 8.0, gate_b: float = 4.0):
        super().__init__()
        layers = tuple(range(n_layers + 1)) if layers is None else tuple(layers)
        if d_model < 1 or n_layers < 1:
            raise ValueError(f"d_model={d_model} and n_layers={n_layers} must be >= 1")
        if not layers or any(not 0 <= l <= n_layers for l in layers) or len(set(layers)) != len(layers):
            raise ValueError(f"layers={layers} must be distinct layer indices in 0..{n_layers}")
        if cache_size < 1:
            raise ValueError(f"cache_size={cache_size} must be >= 1")
        if beta <= 0:
            raise ValueError(f"beta={beta} must be > 0")
        self.d_model, self.n_layers, self.layers = d_model, n_layers, layers
        self.cache_size, self.beta = cache_size, beta
        self.w = nn.Parameter(torch.ones(n_layers, d_model))
        self.gate_w = nn.Parameter(torch.zeros(d_model))
        self.gate_b = nn.Parameter(torch.tensor(float(gate_b)))

    def init_state(self, batch, device=None, dtype=None):
        device, dtype = device or self.w.device, dtype or self.w.dtype
        return (torch.zeros(batch, self.n_layers, self.d_model, device=device, dtype=dtype),
                torch.zeros(batch, self.cache_size, len(self.layers), self.d_model,
                            device=device, dtype=dtype),
                torch.zeros(batch, self.cache_size, device=device, dtype=dtype))

    def state_size(self, seq_len=None) -> int:
        """``M |S| d`` cached states + ``L d`` predecessors (+ M flags, not counted)."""
        return self.cache_size * len(self.layers) * self.d_model + self.n_layers * self.d_model

    def base(self, x, prev):
        """The local stack over ``x [b, T, d]``: every layer's states ``[b, T, L+1, d]``."""
        hs, h = [x], x
        for l in range(self.n_layers):
            before = torch.cat([prev[:, l, None], h[:, :-1]], dim=1)          # h^{l}_{t-1}
            h = h + self.w[l] * before
            hs.append(h)
        return torch.stack(hs, dim=2)

    def _out(self, top, r):
        g = torch.sigmoid(top @ self.gate_w + self.gate_b)
        return top + g[..., None] * r

    def step(self, x_t, state):
        """One token, naive: mix with the predecessors, read the whole cache, then append."""
        check_shape(x_t, "x_t", ndim=2, last=self.d_model)
        prev, cache, filled = state
        hs, h = [x_t], x_t
        for l in range(self.n_layers):
            h = h + self.w[l] * prev[:, l]
            hs.append(h)
        new_prev = torch.stack(hs[:-1], dim=1)
        entries = cache.flatten(1, 2)                                       # [b, M |S|, d]
        ok = (filled > 0)[:, :, None].expand(-1, -1, len(self.layers)).flatten(1)
        s = (self.beta * torch.einsum("bd,bnd->bn", x_t, entries)).masked_fill(~ok, float("-inf"))
        p = torch.softmax(s, dim=-1).nan_to_num(0.0)
        r = torch.einsum("bn,bnd->bd", p, entries)
        kept = torch.stack([hs[l] for l in self.layers], dim=1)              # [b, |S|, d]
        cache = torch.cat([cache[:, 1:], kept[:, None]], dim=1)
        filled = torch.cat([filled[:, 1:], filled.new_ones(filled.shape[0], 1)], dim=1)
        return self._out(h, r), (new_prev, cache, filled)

    def remember(self, x, state=None):
        """The state after ``x`` without computing the outputs (no reads): what ``forward``
        returns as its state, in O(T) (for long prefixes whose outputs are not needed)."""
        check_shape(x, "x", ndim=3, last=self.d_model)
        if state is None:
            state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        prev, cache, filled = state
        H = self.base(x, prev)
        M = self.cache_size
        allc = torch.cat([cache[:, min(x.shape[1], M):], H[:, -M:, list(self.layers)]], dim=1)
        allf = torch.cat([filled, filled.new_ones(x.shape[0], x.shape[1])], dim=1)
        return H[:, -1, :-1], allc, allf[:, -self.cache_size:]

    def forward(self, x, state=None):
        """All tokens at once: the cache before the chunk plus the chunk's own states, each query
        seeing the last ``M`` positions before it (a banded causal mask)."""
        check_shape(x, "x", ndim=3, last=self.d_model)
        b, T, _ = x.shape
        M, nS = self.cache_size, len(self.layers)
        if state is None:
            state = self.init_state(b, device=x.device, dtype=x.dtype)
        prev, cache, filled = state
        H = self.base(x, prev)                                               # [b, T, L+1, d]
        kept = H[:, :, list(self.layers)]                                    # [b, T, |S|, d]
        allc = torch.cat([cache, kept], dim=1)                               # [b, M+T, |S|, d]
        allf = torch.cat([filled, filled.new_ones(b, T)], dim=1)
        j = torch.arange(M + T, device=x.device)
        t = torch.arange(T, device=x.device)[:, None] + M                    # query positions
        band = (j[None] < t) & (j[None] >= t - M)                            # [T, M+T]
        ok = (band[None] & (allf > 0)[:, None, :])[..., None].expand(-1, -1, -1, nS).flatten(2)
        s = self.beta * torch.einsum("btd,bnd->btn", x, allc.flatten(1, 2))
        p = torch.softmax(s.masked_fill(~ok, float("-inf")), dim=-1).nan_to_num(0.0)
        r = torch.einsum("btn,bnd->btd", p, allc.flatten(1, 2))
        new_prev = H[:, -1, :-1]
        return self._out(H[:, :, -1], r), (new_prev, allc[:, -M:], allf[:, -M:])


# ------------------------------------------------------------------------------ experiment
def rare_token_recall(distances=(1, 4, 16, 64, 192), d: int = 256, n_layers: int = 2,
                      cache_size: int = 128, n: int = 120, n_filler: int = 16, n_rare: int = 64,
                      beta: float = 8.0, seed: int = 0, dtype=torch.float32) -> dict:
    """A rare key and its rare value appear once; the key comes back as the query ``D`` tokens
    after the value; the rest is frequent filler. Read the value from the last output: the nearest of the
    ``n_rare`` value embeddings. Untrained (random unit embeddings, the defaults above).

    Arms: ``reweave`` (layers 0..L cached), ``layer0`` (only raw tokens cached), ``window``
    (gate closed: the base model alone). Returns ``{arm: [acc per D], "chance", "distances"}``.
    """
    if min(distances) < 1:
        raise ValueError(f"distances={distances} must be >= 1 (the value follows its key)")
    g = torch.Generator().manual_seed(seed)
    unit = lambda k: torch.nn.functional.normalize(
        torch.randn(k, d, generator=g, dtype=torch.float64), dim=-1).to(dtype)
    filler, keys, values = unit(n_filler), unit(n_rare), unit(n_rare)
    arms = {"reweave": Reweave(d, n_layers, None, cache_size, beta).to(dtype),
            "layer0": Reweave(d, n_layers, (0,), cache_size, beta).to(dtype),
            "window": Reweave(d, n_layers, None, cache_size, beta, gate_b=-float("inf")).to(dtype)}
    out = {arm: [] for arm in arms} | {"chance": 1.0 / n_rare, "distances": list(distances)}
    for D in distances:
        lead = 8
        L = lead + 2 + D                          # key at lead, value at lead + 1, query last
        x = filler[torch.randint(0, n_filler, (n, L), generator=g)]
        ki = torch.randint(0, n_rare, (n,), generator=g)
        vi = torch.randint(0, n_rare, (n,), generator=g)
        x[:, lead], x[:, lead + 1], x[:, -1] = keys[ki], values[vi], keys[ki]
        with torch.no_grad():               # the arms share the base model: one pass
            st = arms["reweave"].remember(x[:, :-1])
            states = {"reweave": st, "window": st, "layer0": (st[0], st[1][:, :, :1], st[2])}
            for arm, m in arms.items():
                y, _ = m.step(x[:, -1], states[arm])
                pick = (y @ values.T).argmax(-1)
                out[arm].append(float((pick == vi).to(torch.float64).mean()))
    return out
