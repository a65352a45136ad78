r"""Editing a linear associative memory of facts: fine-tuning, ROME, a codebook and WISE-lite.

The main memory is one linear map :math:`W \in \mathbb R^{d_v \times d_k}` fitted by ridge
regression to ``n_facts`` key -> value associations (the stand-in for one FFN output matrix
of a language model). A fact is answered by decoding :math:`y = W k` against the value
codebook :math:`V` (:math:`\hat t = \arg\max_j V_j^\top y`). An *edit* asks that key
:math:`k^*` now answer target :math:`t^*`.

Methods (each keeps its own copy of the memory):

* **fine-tuning** (FT): gradient steps on :math:`\mathrm{CE}(V W k^*, t^*)` on all of W;
* **ROME-style rank-one edit** (Meng et al. 2022), closed form
  :math:`W' = W + (v^* - W k^*)(C^{-1}k^*)^\top / (k^{*\top} C^{-1} k^*)`, with
  :math:`C = \sum_j k_j k_j^\top + \lambda I` the second moment of keys sampled from the same
  distribution (ROME estimates it from Wikipedia text, not from the facts it must preserve) and :math:`v^* = V_{t^*}`;
* **codebook** (GRACE-like exact-key lookup): answer :math:`t^*` iff the query equals a stored
  edit key (distance below ``tol``), else the main memory;
* **WISE-lite** (Wang et al. 2024, EasyEdit ``WISE.py``): a side copy :math:`W'` of the main
  memory is edited, never W. Per edit, only the entries of the current shard's random mask
  (``mask_ratio`` 0.2) move, and the loss is CE plus the activation margins on
  :math:`\Delta(x) = \lVert (W' - W) x \rVert`:
  :math:`[\Delta_{out} - \alpha]_+ + [\beta - \Delta_{in}]_+ + [\Delta_{out} - \Delta_{in} + \gamma]_+`
  with ``act_margin`` :math:`[\alpha, \beta, \gamma] = [5, 20, 10]`; the update is clamped to
  :math:`W \pm` ``norm_constraint`` (1.0). Every ``save_freq`` edits the shard is saved; every
  ``merge_freq`` edits the saved shards are **TIES-merged** (density 0.53) into one side memory.
  At inference, each side memory :math:`j` routes the query iff
  :math:`\Delta_j(x) > \varepsilon_j = \text{act\_ratio} \cdot \min_{\text{edits}} \Delta_j(k^*)`
  (``act_ratio`` 0.88); among several side memories the one with the largest
  :math:`\Delta` answers (WISE-Retrieve).

**TIES merge** (Yadav et al. 2023) of task vectors :math:`\tau_i`: trim each to its top
``density`` fraction of entries by magnitude; elect a sign per entry, :math:`\mathrm{sign}(\sum_i
\tau_i)`; average only the entries that agree with the elected sign (disjoint mean).

Metrics: **reliability** (edited keys answer the new target), **generalisation** (noisy
"paraphrase" keys :math:`\mathrm{normalize}(k^* + s\,u)` answer it), **locality** (unedited facts
answer what they answered before any edit).

Symbols: :math:`d_k` key size, :math:`d_v` value size, :math:`K` stored keys, :math:`V` value
codebook, :math:`\Delta` side-memory activation, :math:`\varepsilon` routing threshold.

Sources: WISE hyper-parameters from EasyEdit ``hparams/WISE/llama-7b.yaml`` (mask_ratio 0.2,
act_margin [5, 20, 10], act_ratio 0.88, norm_constraint 1.0, n_iter 70, save_freq 500,
merge_freq 1000, TIES density 0.53); edit_lr 1.0 (plain gradient steps here), and we stop early once
the loss is 0. Our keys are unit-norm where LLaMA's activations have norms in the hundreds, so
the margins are multiplied by ``margin_scale`` = 0.1 (giving [0.5, 2, 1]).

Not included: a language model (the memory is one linear layer), WISE's non-overlapping masks,
DARE merging, multi-token targets, per-token activations (one key per fact).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ACT_MARGIN",
    "Codebook",
    "FactMemory",
    "WiseLite",
    "answer",
    "edit_metrics",
    "ft_edit",
    "make_facts",
    "rome_edit",
    "ties_merge",
]

ACT_MARGIN = (5.0, 20.0, 10.0)


class FactMemory:
    """Keys K [n, d_k] (unit rows, a shared mean direction as in real activations), value
    codebook V [n_values, d_v] (unit rows), targets t [n], and the ridge-fitted main memory W."""

    def __init__(self, K, V, t, W, shared, mu):
        self.K, self.V, self.t, self.W, self.shared, self.mu = K, V, t, W, shared, mu

    def sample_keys(self, n, seed=0):
        """Fresh keys from the same distribution (ROME's covariance sample, not the facts)."""
        z = _unit(np.random.default_rng(seed).standard_normal((n, self.K.shape[1])))
        return _unit(self.shared * self.mu + (1 - self.shared) * z)


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def make_facts(n_facts=2000, d_k=1024, d_v=64, n_values=200, shared=0.3, ridge=1e-2, seed=0):
    """Random facts and the main memory W = V_t^T K (K^T K + ridge I)^{-1} (ridge regression)."""
    if n_facts < 2 or d_k < 2 or d_v < 2 or n_values < 2:
        raise ValueError("n_facts, d_k, d_v and n_values must all be >= 2")
    if not 0.0 <= shared < 1.0:
        raise ValueError(f"shared must be in [0, 1), got {shared}")
    rng = np.random.default_rng(seed)
    mu = _unit(rng.standard_normal(d_k))
    K = _unit(shared * mu + (1 - shared) * _unit(rng.standard_normal((n_facts, d_k))))
    V = _unit(rng.standard_normal((n_values, d_v)))
    t = rng.integers(0, n_values, n_facts)
    Y = V[t]
    W = np.linalg.solve(K.T @ K + ridge * np.eye(d_k), K.T @ Y).T
    return FactMemory(K, V, t, W, shared, mu)


def answer(W, V, X):
    """Decoded answers argmax_j V_j . (W x) for each row x of X."""
    return np.argmax((np.atleast_2d(X) @ W.T) @ V.T, axis=1)


def ties_merge(taus, density=0.53):
    """TIES merge of task vectors (same shape): trim to the top `density` fraction of each by
    |value|, elect the sign of the sum, and average the entries that agree with it."""
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1], got {density}")
    T = np.stack([np.asarray(x, dtype=float) for x in taus])
    flat = T.reshape(len(T), -1).copy()
    k = int(np.ceil(density * flat.shape[1]))
    for row in flat:
        if k < row.size:
            cut = np.partition(np.abs(row), row.size - k)[row.size - k]
            row[np.abs(row) < cut] = 0.0
    sign = np.sign(flat.sum(0))
    agree = (np.sign(flat) == sign[None]) & (flat != 0)
    n = agree.sum(0)
    merged = np.where(n > 0, (flat * agree).sum(0) / np.maximum(n, 1), 0.0)
    return merged.reshape(T.shape[1:])


def rome_edit(W, Cinv, k, v):
    """ROME's closed-form rank-one edit: W + (v - W k)(C^-1 k)^T / (k^T C^-1 k)."""
    if k.shape != (W.shape[1],) or v.shape != (W.shape[0],):
        raise ValueError(f"k must be [{W.shape[1]}] and v [{W.shape[0]}], got {k.shape}, {v.shape}")
    ck = Cinv @ k
    return W + np.outer(v - W @ k, ck) / (k @ ck)


def _ce_grad_y(V, y, t):
    """CE(V y, t) and its gradient with respect to y."""
    z = V @ y
    p = np.exp(z - z.max())
    p /= p.sum()
    ce = -float(np.log(max(p[t], 1e-300)))
    p[t] -= 1.0
    return V.T @ p, ce


def ft_edit(W, V, k, t, lr=1.0, n_iter=70, ce_stop=0.5):
    """Fine-tune all of W on CE(V W k, t): plain gradient steps until CE < ce_stop."""
    W = W.copy()
    for _ in range(n_iter):
        g, ce = _ce_grad_y(V, W @ k, t)
        if ce < ce_stop:
            break
        W -= lr * np.outer(g, k)
    return W


class Codebook:
    """GRACE-like exact-key codebook over the main memory."""

    def __init__(self, tol=1e-4):
        self.keys, self.targets, self.tol = [], [], tol

    def edit(self, k, t):
        self.keys.append(k)
        self.targets.append(int(t))

    def answer(self, W, V, X):
        out = answer(W, V, X)
        if self.keys:
            X, Kc = np.atleast_2d(X), np.stack(self.keys)
            D2 = (X * X).sum(1)[:, None] + (Kc * Kc).sum(1)[None] - 2 * X @ Kc.T
            D = np.sqrt(np.maximum(D2, 0.0))
            hit = D.min(1) < self.tol
            out[hit] = np.asarray(self.targets)[D.argmin(1)[hit]]
        return out


from memlab.parametric.wise_side import WiseLite


def edit_metrics(predict, mem, edit_idx, targets, para, local_idx, before):
    """Reliability, generalisation and locality of a predictor X -> answers."""
    rel = float(np.mean(predict(mem.K[edit_idx]) == targets))
    gen = float(np.mean(predict(para) == targets))
    loc = float(np.mean(predict(mem.K[local_idx]) == before[local_idx]))
    return {"reliability": rel, "generalisation": gen, "locality": loc}
