"""Chapter 17's experiments: sequential editing of a linear fact memory (reliability,
generalisation, locality for fine-tuning, ROME, a codebook and WISE-lite)."""

from __future__ import annotations

import numpy as np

from memlab.parametric import wise as Wm
from memlab.parametric.wise_side import WiseLite

__all__ = ["edit_claims", "edit_setup", "eps0_locality", "run_edits", "triangle"]

METHODS = ("ft", "rome", "codebook", "wise")


def edit_setup(n_facts=2000, n_edits=100, d_k=1024, para_noise=0.3, seed=0):
    """Facts, the edits (key index -> a new target), paraphrase keys, locality keys."""
    if n_edits < 1 or 2 * n_edits > n_facts:
        raise ValueError(f"n_edits must be in [1, n_facts/2], got {n_edits}")
    mem = Wm.make_facts(n_facts, d_k, seed=seed)
    rng = np.random.default_rng(seed + 1000)
    perm = rng.permutation(n_facts)
    edit_idx = perm[:n_edits]
    pool = perm[n_edits:n_edits + n_facts // 4]          # out-of-scope samples for WISE
    local_idx = perm[n_edits + n_facts // 4:]            # never edited, never trained on
    n_values = mem.V.shape[0]
    targets = (mem.t[edit_idx] + rng.integers(1, n_values, n_edits)) % n_values
    u = rng.standard_normal((n_edits, d_k))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    para = mem.K[edit_idx] + para_noise * u
    para /= np.linalg.norm(para, axis=1, keepdims=True)
    before = Wm.answer(mem.W, mem.V, mem.K)
    return {"mem": mem, "edit_idx": edit_idx, "pool": pool, "local_idx": local_idx,
            "targets": targets, "para": para, "before": before, "rng": rng}


def run_edits(n_edits=300, methods=METHODS, seed=0, n_facts=2000, d_k=1024, act_ratio=0.88,
              save_freq=10, merge_freq=20, n_out=8, checkpoints=None, **wise_kw):
    """Apply n_edits edits in sequence with each method; metrics at the end (and at each
    checkpoint edit count, when given). WISE saves a shard every save_freq edits and merges
    every merge_freq (EasyEdit: 500 and 1000 for 7B models; 10 and 20 here, the same 1:2)."""
    S = edit_setup(n_facts, n_edits, d_k, seed=seed)
    mem, rng = S["mem"], S["rng"]
    W_ft, W_rome = mem.W.copy(), mem.W.copy()
    Kc = mem.sample_keys(n_facts, seed=seed + 7)
    Cinv = np.linalg.inv(Kc.T @ Kc + 1e-2 * np.eye(d_k))
    cb = Wm.Codebook()
    wise = WiseLite(mem.W, mem.V, act_ratio=act_ratio, save_freq=save_freq,
                    merge_freq=merge_freq, seed=seed, **wise_kw)
    checkpoints = sorted(set(checkpoints or []) | {n_edits})
    curves = {m: [] for m in methods}
    for i, (ei, t) in enumerate(zip(S["edit_idx"], S["targets"])):
        k = mem.K[ei]
        if "ft" in methods:
            W_ft = Wm.ft_edit(W_ft, mem.V, k, t)
        if "rome" in methods:
            W_rome = Wm.rome_edit(W_rome, Cinv, k, mem.V[t])
        if "codebook" in methods:
            cb.edit(k, t)
        if "wise" in methods:
            wise.edit(k, t, mem.K[rng.choice(S["pool"], n_out, replace=False)])
        if i + 1 in checkpoints:
            sub = dict(S, edit_idx=S["edit_idx"][:i + 1], targets=S["targets"][:i + 1],
                       para=S["para"][:i + 1])
            preds = {"ft": lambda X, W_ft=W_ft: Wm.answer(W_ft, mem.V, X),
                     "rome": lambda X, W_rome=W_rome: Wm.answer(W_rome, mem.V, X),
                     "codebook": lambda X: cb.answer(mem.W, mem.V, X),
                     "wise": wise.predict}
            for m in methods:
                r = Wm.edit_metrics(preds[m], mem, sub["edit_idx"], sub["targets"], sub["para"],
                                    S["local_idx"], S["before"])
                curves[m].append(dict(r, n_edits=i + 1))
    return {m: dict(curves[m][-1], curve=curves[m]) for m in methods}


def triangle(r):
    """min(reliability, generalisation, locality): the corner a method loses."""
    return min(r["reliability"], r["generalisation"], r["locality"])


def edit_claims(seed=0, n_edits=300, n_facts=2000, d_k=1024, save_freq=10, merge_freq=20,
                checkpoints=None):
    """Every method after n_edits, and the chapter's claim values from them."""
    r = run_edits(n_edits, seed=seed, n_facts=n_facts, d_k=d_k, save_freq=save_freq,
                  merge_freq=merge_freq, checkpoints=checkpoints)
    best = max(triangle(r[m]) for m in ("ft", "rome", "codebook"))
    return {"results": r, "wise_triangle": triangle(r["wise"]),
            "wise_gap_over_best_baseline": triangle(r["wise"]) - best,
            "ft_locality": r["ft"]["locality"],
            "codebook_generalisation": r["codebook"]["generalisation"],
            "rome_locality": r["rome"]["locality"]}


def eps0_locality(seed=0, n_edits=100, n_facts=2000, d_k=1024, save_freq=10, merge_freq=20):
    """Negative control: WISE-lite with routing threshold 0 (act_ratio 0); its locality."""
    return run_edits(n_edits, methods=("wise",), seed=seed, n_facts=n_facts, d_k=d_k,
                     act_ratio=0.0, save_freq=save_freq, merge_freq=merge_freq)["wise"]["locality"]
