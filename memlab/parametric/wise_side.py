r"""WISE-lite's side memory: masked shards, activation margins, TIES merge, routing.

See :mod:`memlab.parametric.wise` for the equations and sources. The side memory stores the
*difference* :math:`D = W' - W` (the main memory W is never written); :math:`\Delta(x) =
\lVert D x \rVert` is the activation that routes a query.
"""

from __future__ import annotations

import numpy as np

from memlab.parametric import wise as _w

__all__ = ["WiseLite", "margin_grad"]


def margin_grad(D, k, X_out, act_margin):
    """The activation-margin loss and its gradient in D, for in-scope key k and out-of-scope
    keys X_out [m, d_k]: mean_o ([Δo-α]+ + [Δo-Δin+γ]+) + [β-Δin]+."""
    a, b, g = act_margin
    yk = D @ k
    d_in = float(np.linalg.norm(yk))
    Yo = X_out @ D.T
    d_out = np.linalg.norm(Yo, axis=1)
    m = len(X_out)
    loss = float(np.maximum(d_out - a, 0).mean() + max(b - d_in, 0.0)
                 + np.maximum(d_out - d_in + g, 0).mean())
    G = np.zeros_like(D)
    din_dir = np.outer(yk / d_in, k) if d_in > 1e-12 else np.zeros_like(D)
    if d_in < b:
        G -= din_dir
    act_a = d_out > a
    act_c = d_out - d_in + g > 0
    w = (act_a.astype(float) + act_c) / m
    safe = np.where(d_out > 1e-12, d_out, 1.0)
    G += ((Yo * (w / safe)[:, None]).T @ X_out)
    G -= din_dir * act_c.sum() / m
    return loss, G


class WiseLite:
    """Routed side memory over a fixed main memory W (see module docstring)."""

    def __init__(self, W, V, mask_ratio=0.2, act_margin=_w.ACT_MARGIN, margin_scale=0.1,
                 act_ratio=0.88, norm_constraint=1.0, lr=1.0, n_iter=70, ce_stop=0.5,
                 margin_tol=0.05,
                 save_freq=500, merge_freq=1000, density=0.53, seed=0):
        if not 0.0 < mask_ratio <= 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1], got {mask_ratio}")
        if act_ratio < 0:
            raise ValueError(f"act_ratio must be >= 0, got {act_ratio}")
        if save_freq < 1 or merge_freq < save_freq or merge_freq % save_freq:
            raise ValueError(f"need 1 <= save_freq, merge_freq a multiple of save_freq; "
                             f"got save_freq={save_freq}, merge_freq={merge_freq}")
        self.W, self.V = W, V
        self.mask_ratio, self.act_ratio, self.nc = mask_ratio, act_ratio, norm_constraint
        self.act_margin = tuple(margin_scale * m for m in act_margin)
        self.lr, self.n_iter, self.ce_stop, self.margin_tol = lr, n_iter, ce_stop, margin_tol
        self.save_freq, self.merge_freq, self.density = save_freq, merge_freq, density
        self.rng = np.random.default_rng(seed)
        self.memories = []          # list of (D, its edit keys [n, d_k])
        self.shards, self.keys, self.acts = [], [], []
        self.n_edits = 0
        self._new_shard()

    def _new_shard(self):
        self.D = np.zeros_like(self.W)
        self.mask = (self.rng.random(self.W.shape) < self.mask_ratio).astype(float)

    def edit(self, k, t, X_out):
        """Write one edit (key k -> target t) into the current shard; X_out: out-of-scope keys."""
        D = self.D
        for _ in range(self.n_iter):
            g, ce = _w._ce_grad_y(self.V, (self.W + D) @ k, t)
            ml, G = margin_grad(D, k, X_out, self.act_margin)
            if ce < self.ce_stop and ml <= self.margin_tol:
                break
            D = D - self.lr * (np.outer(g, k) + G) * self.mask / self.mask_ratio
            D = np.clip(D, -self.nc, self.nc)
        self.D = D
        self.keys.append(k)
        self.acts.append(float(np.linalg.norm(D @ k)))     # Δ(k*) at edit time, for ε
        self.n_edits += 1
        if self.n_edits % self.save_freq == 0:
            self.shards.append(self.D)
            self._new_shard()
        if self.n_edits % self.merge_freq == 0:
            self.memories.append((self._merge(self.shards), np.stack(self.keys)))
            self.shards, self.keys, self.acts = [], [], []

    def _merge(self, shards):
        return shards[0] if len(shards) == 1 else _w.ties_merge(shards, self.density)

    def side_memories(self):
        """[(D_j, eps_j)]: merged memories plus the pending shards, each with its threshold
        eps_j = act_ratio * min over its edits of Δ_j(k*) (in the merged memory)."""
        mems = list(self.memories)
        pending = self.shards + ([self.D] if self.n_edits % self.save_freq else [])
        if pending:
            mems.append((self._merge(pending), np.stack(self.keys)))
        return [(D, self.act_ratio * float(np.linalg.norm(K @ D.T, axis=1).min()))
                for D, K in mems]

    def predict(self, X):
        """Answers: the side memory with the largest Δ answers when Δ > its ε, else W."""
        X = np.atleast_2d(X)
        out = _w.answer(self.W, self.V, X)
        mems = self.side_memories()
        if not mems:
            return out
        acts = np.stack([np.linalg.norm(X @ D.T, axis=1) for D, _ in mems])   # [M, n]
        eps = np.array([e for _, e in mems])
        routed = acts > eps[:, None]
        score = np.where(routed, acts, -np.inf)
        j = score.argmax(0)
        use = routed.any(0)
        for i in np.flatnonzero(use):
            out[i] = _w.answer(self.W + mems[j[i]][0], self.V, X[i])[0]
        return out
