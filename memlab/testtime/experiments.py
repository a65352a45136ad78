"""Chapter 06 experiments: the Titans memory on synthetic key -> value streams.

Every function builds its data from a seed, runs the memory rule of :mod:`memlab.testtime.titans`
directly on unit-norm keys (no learned projections: the gates are fixed numbers, so what is
measured is the RULE, not a training run), and returns plain numbers. The notebook plots them;
``tests/test_claims_ch06.py`` asserts the same numbers at small size.

Every function takes ``device``: the data is drawn on the CPU from the seed (so the numbers do
not depend on the device's random generator) and moved there; the rule runs on ``device``.

Recall is "nearest value": the memory's read-out for a key counts as correct when, among all
values in play (including a key's stale old values), the closest in cosine is the right one.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

from memlab.testtime.titans import init_state, mlp_apply, titans_chunked, titans_recurrent

__all__ = [
    "chunk_form_equality",
    "chunk_gap",
    "delta_rule_equality",
    "forgetting_experiment",
    "memory_weights",
    "needle_experiment",
    "omega_experiment",
    "read",
    "recall_vs_age",
    "write_stream",
]


def _unit(*shape, gen, dtype=torch.float32):
    return F.normalize(torch.randn(*shape, generator=gen, dtype=dtype), dim=-1)


def memory_weights(depth: int, d_k: int, d_v: int, heads: int = 1, expansion: int = 2,
                   seed: int = 0, dtype=torch.float32, device="cpu") -> list:
    """M_0: zeros for a linear memory; N(0, 1/fan_in) for an MLP (hidden = expansion * d_k)."""
    if depth == 1:
        return [torch.zeros(heads, d_v, d_k, dtype=dtype, device=device)]
    gen = torch.Generator().manual_seed(seed + 7919)
    dims = [d_k] + [expansion * d_k] * (depth - 1) + [d_v]
    return [(torch.randn(heads, dims[i + 1], dims[i], generator=gen, dtype=dtype)
             / math.sqrt(dims[i])).to(device) for i in range(depth)]


def write_stream(k, v, theta, eta, alpha, depth=1, chunk_size=1, window=1, gamma=1.0,
                 seed=0, state=None):
    """Write pairs k [B, T, d_k], v [B, T, d_v] (one head) with constant gates; return the state."""
    B, T, dk = k.shape
    if state is None:
        state = init_state(memory_weights(depth, dk, v.shape[-1], seed=seed, dtype=k.dtype,
                                          device=k.device), B, window)
    gate = lambda x: torch.full((B, T, 1), float(x), dtype=k.dtype, device=k.device)
    kk, vv = k[:, :, None], v[:, :, None]
    with torch.no_grad():
        _, state = titans_chunked(kk, kk, vv, gate(theta), gate(eta), gate(alpha), state,
                                  chunk_size=chunk_size, gamma=gamma)
    return state


def read(state, keys):
    """M(k) for keys [B, N, d_k] -> [B, N, d_v] (head 0)."""
    with torch.no_grad():
        return mlp_apply([w[:, :1] for w in state.W], keys[:, None])[:, 0]


def _nearest(out, candidates, true_idx):
    """[B, N] bool: is candidate true_idx the nearest (cosine) to out? candidates [B, M, d]."""
    sims = torch.einsum("bnd,bmd->bnm", F.normalize(out, dim=-1), F.normalize(candidates, dim=-1))
    return sims.argmax(-1) == true_idx


# --------------------------------------------------------------------------- claim 1
def _to(device, *ts):
    return [t.to(device) for t in ts]


def delta_rule_equality(T=64, d=16, heads=2, batch=2, seed=0, chunked=False, device="cpu"):
    """Linear Titans memory, eta = alpha = 0, theta = beta / 2 vs the delta rule (float64).

    Uses ``memlab.fastweights.delta_rule.delta_rule_recurrent`` (S [d_k, d_v], o = S^T q, write
    then read); Titans' W [d_v, d_k] is S^T. Returns the max relative error of outputs and state.
    """
    from memlab.fastweights.delta_rule import delta_rule_recurrent
    g = torch.Generator().manual_seed(seed)
    dt = torch.float64
    q, k = _unit(batch, T, heads, d, gen=g, dtype=dt), _unit(batch, T, heads, d, gen=g, dtype=dt)
    v = torch.randn(batch, T, heads, d, generator=g, dtype=dt)
    beta = torch.rand(batch, T, heads, generator=g, dtype=dt)
    q, k, v, beta = _to(device, q, k, v, beta)
    o_delta, S = delta_rule_recurrent(q, k, v, beta)
    state = init_state([torch.zeros(heads, d, d, dtype=dt, device=device)], batch)
    zero = torch.zeros_like(beta)
    fn = titans_chunked if chunked else titans_recurrent
    with torch.no_grad():
        y, st = fn(q, k, v, beta / 2, zero, zero, state, chunk_size=1)
    err_y = float((y - o_delta).abs().max() / o_delta.abs().max())
    err_S = float((st.W[0].transpose(-1, -2) - S).abs().max() / S.abs().max())
    return {"rel_err_output": err_y, "rel_err_state": err_S, "rel_err": max(err_y, err_S)}


def chunk_form_equality(T=256, d=16, heads=2, batch=2, depth=2, chunk_size=16, seed=0,
                        dtype=torch.float32, device="cpu"):
    """The chunk-parallel form vs its token loop (same chunk size, random gates): max rel. err."""
    g = torch.Generator().manual_seed(seed)
    q, k = _unit(batch, T, heads, d, gen=g, dtype=dtype), _unit(batch, T, heads, d, gen=g,
                                                                  dtype=dtype)
    v = torch.randn(batch, T, heads, d, generator=g, dtype=dtype)
    scales = (0.2, 0.9, 0.05) if depth == 1 else (0.02, 0.5, 0.02)   # an MLP needs gentler steps
    th, et, al = (s * torch.rand(batch, T, heads, generator=g, dtype=dtype) for s in scales)
    q, k, v, th, et, al = _to(device, q, k, v, th, et, al)
    W0 = [w.expand(heads, -1, -1).clone() for w in memory_weights(depth, d, d, seed=seed,
                                                                  dtype=dtype, device=device)]
    st = init_state(W0, batch)
    with torch.no_grad():
        y1, s1 = titans_recurrent(q, k, v, th, et, al, st, chunk_size=chunk_size)
        y2, s2 = titans_chunked(q, k, v, th, et, al, st, chunk_size=chunk_size)
    errs = [float((y2 - y1).abs().max() / y1.abs().max())]
    errs += [float((a - b).abs().max() / b.abs().max()) for a, b in zip(s2.W, s1.W)]
    return {"rel_err": max(errs)}


# --------------------------------------------------------------------------- claim 2
def forgetting_experiment(alphas=(0.0, 0.01), theta=0.02, eta=0.0, d=32, n_keys=32,
                          T=512, period=128, recent=32, batch=16, seed=0, chunk_size=1,
                          depth=1, device="cpu"):
    """A stream of T writes of n_keys keys whose values are redrawn every ``period`` steps.

    Returns {alpha: recall of the pairs written in the last ``recent`` steps}: the read-out must
    be nearest to the key's CURRENT value among all values ever used (stale ones included).
    """
    g = torch.Generator().manual_seed(seed)
    keys = _unit(batch, n_keys, d, gen=g)
    n_ep = math.ceil(T / period)
    vals = _unit(batch, n_ep, n_keys, d, gen=g)                     # a new value per epoch
    idx = torch.randint(0, n_keys, (batch, T), generator=g)
    ep = torch.arange(T) // period
    k = torch.gather(keys, 1, idx[..., None].expand(-1, -1, d))
    v = vals[torch.arange(batch)[:, None], ep[None].expand(batch, -1), idx]
    rec = torch.zeros(batch, n_keys, dtype=torch.bool)
    rec[torch.arange(batch)[:, None], idx[:, -recent:]] = True
    true = (n_ep - 1) * n_keys + torch.arange(n_keys)
    k, v, keys, vals, rec, true = _to(device, k, v, keys, vals, rec, true)
    out = {}
    for a in alphas:
        st = write_stream(k, v, theta, eta, a, depth=depth, chunk_size=chunk_size, seed=seed)
        ok = _nearest(torch.nan_to_num(read(st, keys)), vals.flatten(1, 2), true)
        out[a] = float((ok & rec).sum() / rec.sum())
    return out


# --------------------------------------------------------------------------- claim 3
def needle_experiment(settings=((0.05, 0.0), (0.05, 0.9)), d=32, n_familiar=16, warmup=128,
                      distractors=512, noise=0.5, batch=32, seed=0, chunk_size=1, device="cpu"):
    """Familiar pairs (written over and over, values with fresh noise: little surprise), one
    surprising needle pair, then ``distractors`` more familiar writes; query the needle.

    settings: (theta, eta) pairs. Returns {(theta, eta): {"needle": recall, "cos": mean cosine,
    "familiar": recall of the familiar pairs, "familiar_err": mean ||M(k) - v|| against the
    clean familiar values}}.
    """
    g = torch.Generator().manual_seed(seed)
    fk, fv = _unit(batch, n_familiar, d, gen=g), _unit(batch, n_familiar, d, gen=g)
    nk, nv = _unit(batch, 1, d, gen=g), _unit(batch, 1, d, gen=g)
    T = warmup + 1 + distractors
    idx = torch.randint(0, n_familiar, (batch, T), generator=g)
    k = torch.gather(fk, 1, idx[..., None].expand(-1, -1, d)).clone()
    v = torch.gather(fv, 1, idx[..., None].expand(-1, -1, d)).clone()
    v = v + noise * torch.randn(v.shape, generator=g) / math.sqrt(d)   # noisy, familiar
    k[:, warmup], v[:, warmup] = nk[:, 0], nv[:, 0]                     # the needle
    cand = torch.cat([nv, fv], 1)
    k, v, fk, fv, nk, nv, cand = _to(device, k, v, fk, fv, nk, nv, cand)
    out = {}
    for theta, eta in settings:
        st = write_stream(k, v, theta, eta, 0.0, chunk_size=chunk_size, seed=seed)
        r = read(st, torch.cat([nk, fk], 1))
        ok = _nearest(r, cand, torch.arange(n_familiar + 1, device=r.device))
        out[(theta, eta)] = {"needle": float(ok[:, 0].float().mean()),
                             "cos": float(F.cosine_similarity(r[:, 0], nv[:, 0], -1).mean()),
                             "familiar": float(ok[:, 1:].float().mean()),
                             "familiar_err": float((r[:, 1:] - fv).norm(dim=-1).mean())}
    return out


# --------------------------------------------------------------------------- claim 4
def omega_experiment(windows=(1, 4), repeats=4, noise=1.0, n_pairs=24, d=32, theta=None,
                     batch=16, seed=0, chunk_size=1, device="cpu"):
    """Each pair is written ``repeats`` times in a row, each copy with fresh value noise.

    Omega rule (eta = alpha = 0, gamma = 1/c): c = 1 stores the last noisy copy, c = repeats
    fits the mean of the copies. theta defaults to 1/2 (a full write, beta = 1, of the window's
    mean loss). Returns {c: {"recall": nearest-clean-value recall, "err": mean ||M(k) - v||}}.
    """
    g = torch.Generator().manual_seed(seed)
    keys, vals = _unit(batch, n_pairs, d, gen=g), _unit(batch, n_pairs, d, gen=g)
    k = keys.repeat_interleave(repeats, 1)
    v = vals.repeat_interleave(repeats, 1)
    v = v + noise * torch.randn(v.shape, generator=g) / math.sqrt(d)
    k, v, keys, vals = _to(device, k, v, keys, vals)
    out = {}
    for c in windows:
        th = 0.5 if theta is None else theta
        st = write_stream(k, v, th, 0.0, 0.0, window=c, gamma=1.0 / c, chunk_size=chunk_size,
                          seed=seed)
        r = read(st, keys)
        ok = _nearest(r, vals, torch.arange(n_pairs, device=r.device))
        out[c] = {"recall": float(ok.float().mean()),
                  "err": float((r - vals).norm(dim=-1).mean())}
    return out


# --------------------------------------------------------------------------- widget / plots
def recall_vs_age(theta=0.1, eta=0.0, alpha=0.0, depth=1, T=256, d=32, batch=8, n_bins=16,
                  seed=0, chunk_size=1, device="cpu"):
    """T distinct random pairs written once each; recall of each pair vs its age (T-1-t).

    Returns (bin_centres [n_bins], recall [n_bins]) with ages binned evenly in [0, T).
    """
    g = torch.Generator().manual_seed(seed)
    k, v = _to(device, _unit(batch, T, d, gen=g), _unit(batch, T, d, gen=g))
    st = write_stream(k, v, theta, eta, alpha, depth=depth, chunk_size=chunk_size, seed=seed)
    out = read(st, k)
    ok = _nearest(torch.nan_to_num(out), v, torch.arange(T, device=k.device)).float().mean(0).cpu()
    age = (T - 1 - torch.arange(T)).float()
    edges = torch.linspace(0, T, n_bins + 1)
    centres, rec = [], []
    for lo, hi in itertools.pairwise(edges):
        m = (age >= lo) & (age < hi)
        centres.append(float((lo + hi) / 2))
        rec.append(float(ok[m].mean()) if m.any() else float("nan"))
    return centres, rec


def chunk_gap(chunk_sizes=(1, 4, 16, 64), theta=0.1, eta=0.9, alpha=0.01, depth=1, T=256,
              d=32, batch=8, seed=0, device="cpu"):
    """How far the chunk-parallel rule (gradients at the chunk's start) drifts from the
    per-token rule: relative difference of the read-outs for the same stream, and recall."""
    g = torch.Generator().manual_seed(seed)
    k, v = _to(device, _unit(batch, T, d, gen=g), _unit(batch, T, d, gen=g))
    ref = None
    out = {}
    for C in chunk_sizes:
        st = write_stream(k, v, theta, eta, alpha, depth=depth, chunk_size=C, seed=seed)
        r = read(st, k)
        ref = r if ref is None else ref
        out[C] = {"rel_diff": float((r - ref).norm() / ref.norm()),
                  "recall": float(_nearest(r, v, torch.arange(T, device=r.device)).float().mean())}
    return out
