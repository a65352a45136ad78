"""The experiments of chapter 01, as library functions (the notebook and the claim tests call them).

Random numbers: patterns and noise are drawn on the CPU from a seeded ``torch.Generator``
and then moved to ``device``, so a seed gives the same patterns on every device.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from memlab.associative import modern
from memlab.associative.hopfield import ClassicalHopfield

__all__ = [
    "RecallCurve",
    "attention_equality",
    "critical_load",
    "digit_patterns",
    "digit_retrieval",
    "energy_check",
    "flip",
    "genuine_mixture",
    "modern_recall",
    "overlap",
    "random_patterns",
    "recall_curve",
    "sync_vs_async",
]


def _gen(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


def random_patterns(P: int, N: int, generator: torch.Generator, device="cpu",
                    dtype=torch.float32) -> torch.Tensor:
    """``[P, N]`` i.i.d. +-1 patterns."""
    x = torch.randint(0, 2, (P, N), generator=generator).to(dtype) * 2 - 1
    return x.to(device)


def flip(patterns: torch.Tensor, noise: float, generator: torch.Generator) -> torch.Tensor:
    """Flip exactly ``round(noise * N)`` randomly chosen entries of every row (+-1 patterns)."""
    if not 0 <= noise <= 1:
        raise ValueError(f"noise must be in [0, 1], got {noise}")
    P, N = patterns.shape
    k = round(noise * N)
    ranks = torch.rand(P, N, generator=generator).argsort(dim=1).argsort(dim=1)
    sign = torch.where(ranks < k, -1.0, 1.0).to(patterns)
    return patterns * sign


def digit_patterns(n: int | None = None, binary: bool = True) -> tuple[torch.Tensor, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (no download) as ``[n, 64]`` patterns + labels.

    ``binary=True``: +-1 pixels (ink > 8 of 16); else pixels centred and scaled to unit norm.
    """
    data, target = _digits()
    x = torch.tensor(data[:n], dtype=torch.float32)
    if binary:
        x = torch.where(x > 8, 1.0, -1.0)
    else:
        x = x - x.mean(dim=1, keepdim=True)
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)
    return x, target[:n]


@functools.lru_cache(maxsize=1)
def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data, d.target


def overlap(s: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
    """m = (1/N) xi . s for matching rows: 1 = perfect recall, ~0 = unrelated."""
    return (s * xi).sum(-1) / s.shape[-1]


# ----------------------------------------------------------------------- classical Hopfield
@dataclass
class RecallCurve:
    loads: list[float]           # alpha = P / N
    recalled: list[float]        # fraction of patterns back with overlap >= threshold
    mean_overlap: list[float]
    critical: float              # load where the curve first crosses 0.5 (interpolated)


def _crossing(loads: list[float], frac: list[float], level: float = 0.5) -> float:
    """First load where ``frac`` drops below ``level``, linearly interpolated (nan if never)."""
    for k, f in enumerate(frac):
        if f < level:
            if k == 0:
                return loads[0]
            f0, f1, a0, a1 = frac[k - 1], f, loads[k - 1], loads[k]
            return a0 + (f0 - level) / (f0 - f1) * (a1 - a0)
    return math.nan


def recall_curve(N: int = 200, loads=None, noise: float = 0.10, trials: int = 3,
                 threshold: float = 0.95, mode: str = "async", seed: int = 0,
                 device="cpu", max_sweeps: int = 30, progress: bool = False) -> RecallCurve:
    """Store P = alpha N random patterns, cue each with ``noise`` flipped bits, run to a
    fixed point; record the fraction recalled (overlap >= ``threshold``) at each load."""
    if loads is None:
        loads = [round(0.05 + 0.01 * k, 4) for k in range(21)]
    g = _gen(seed)
    rec, mean_m = [], []
    it = loads
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(loads, desc=f"loads (N={N})", leave=False)
    for alpha in it:
        P = max(1, round(alpha * N))
        hits, ms = 0, []
        for _ in range(trials):
            xi = random_patterns(P, N, g, device)
            net = ClassicalHopfield(N, device=device)
            net.write(xi)
            s = net.read(flip(xi, noise, g), mode=mode, max_sweeps=max_sweeps, generator=g)
            m = overlap(s, xi)
            hits += int((m >= threshold).sum())
            ms.append(m)
        rec.append(hits / (P * trials))
        mean_m.append(float(torch.cat(ms).mean()))
    loads = [float(a) for a in loads]
    return RecallCurve(loads, rec, mean_m, _crossing(loads, rec))


def critical_load(N: int = 200, noise: float = 0.10, trials: int = 3, seed: int = 0,
                  device="cpu", loads=None, progress: bool = False) -> float:
    """The load P/N where fewer than half of the patterns come back (overlap >= 0.95)."""
    return recall_curve(N, loads, noise, trials, seed=seed, device=device,
                        progress=progress).critical


def energy_check(N: int = 100, runs: int = 50, load: float = 0.2, noise: float = 0.3,
                 sweeps: int = 3, seed: int = 0, device="cpu") -> dict:
    """Largest energy increase over every single-neuron async update in ``runs`` random nets.

    Each run: a fresh net with P = load N random patterns, a noisy cue, ``sweeps`` sweeps.
    Returns ``{"max_increase", "updates", "mean_drop"}``; a correct rule gives max_increase <= 0.
    """
    g = _gen(seed)
    worst, n_updates, drops = -math.inf, 0, []
    for _ in range(runs):
        xi = random_patterns(max(1, round(load * N)), N, g, device)
        net = ClassicalHopfield(N, device=device)
        net.write(xi)
        cue = flip(xi[:4], noise, g)
        trace = net.energy_trace(cue, sweeps=sweeps, generator=g)   # [steps+1, 4]
        d = trace[1:] - trace[:-1]
        worst = max(worst, float(d.max()))
        n_updates += d.numel()
        drops.append(float(trace[0].mean() - trace[-1].mean()))
    return {"max_increase": worst, "updates": n_updates, "mean_drop": float(np.mean(drops))}


def sync_vs_async(N: int = 100, load: float = 0.3, noise: float = 0.3, seed: int = 0,
                  device="cpu", max_sweeps: int = 30) -> dict:
    """How often synchronous updates end in a 2-cycle (no fixed point) vs async ones."""
    g = _gen(seed)
    xi = random_patterns(round(load * N), N, g, device)
    net = ClassicalHopfield(N, device=device)
    net.write(xi)
    cue = flip(xi, noise, g)
    s = cue
    for _ in range(max_sweeps):
        s = net.read(s, mode="sync", max_sweeps=1)
    cycling = (net.read(s, mode="sync", max_sweeps=1) != s).any(-1)
    _, async_sweeps = net.run(cue, mode="async", max_sweeps=max_sweeps, generator=g)
    return {"sync_cycling_fraction": float(cycling.float().mean()),
            "async_sweeps_to_fixed_point": async_sweeps}


# ------------------------------------------------------------------------ modern Hopfield
def modern_recall(d: int = 64, factor: int = 10, beta: float = 1.0, noise: float = 0.10,
                  threshold: float = 0.95, seed: int = 0, device="cpu",
                  batch: int = 1024) -> dict:
    """Store P = factor * d random +-1 patterns; cue each with ``noise`` flips; ONE update.

    Returns the fraction recalled (overlap of the retrieved state with its pattern >=
    ``threshold``), the fraction of retrieved states that are mixtures (overlap with EVERY
    stored pattern < ``threshold``), the mean participation ratio 1 / sum_i p_i^2 of the
    softmax (how many patterns it averages; 1 = a single pattern), and two numbers measured on
    the retrieved state itself: ``read_participation`` = mean of d / |xi_new|^2 (for nearly
    orthogonal +-1 patterns |sum_i p_i x_i|^2 / d ~ sum_i p_i^2, so it estimates the same
    count; smaller when the mixed patterns resemble each other) and ``own_overlap``, the mean
    overlap with the cued pattern.
    """
    g = _gen(seed)
    P = factor * d
    X = random_patterns(P, d, g, device)
    cues = flip(X, noise, g)
    recalled, mixture, part, read_part, own = [], [], [], [], []
    for start in range(0, P, batch):
        new, p = modern.update(cues[start:start + batch], X, beta, return_weights=True)
        m_all = new @ X.T / d                                       # [b, P]
        m_own = m_all.gather(1, torch.arange(start, start + new.shape[0],
                                             device=X.device)[:, None]).squeeze(1)
        recalled.append(m_own >= threshold)
        mixture.append(m_all.max(dim=1).values < threshold)
        part.append(1.0 / (p * p).sum(-1))
        read_part.append(d / (new * new).sum(-1))                  # inf for a zero read
        own.append(m_own)
    return {"P": P, "beta": beta,
            "recalled": float(torch.cat(recalled).float().mean()),
            "mixture": float(torch.cat(mixture).float().mean()),
            "participation": float(torch.cat(part).mean()),
            "read_participation": float(torch.cat(read_part).mean()),
            "own_overlap": float(torch.cat(own).mean())}


def genuine_mixture(res: dict) -> bool:
    """Is a ``modern_recall`` result at small beta a real metastable mixture?

    "Close to no single pattern" (the ``mixture`` fraction) is also true of a broken read that
    returns zeros or the mean of all patterns. A metastable state averages *a few to a
    fraction* of the P patterns: both the softmax participation ratio and the participation
    measured on the read (d / |xi_new|^2) must lie strictly between 2 and P / 2. A zero read
    gives an infinite read participation, the global mean about P.
    """
    lo, hi = 2.0, res["P"] / 2
    return bool(lo < res["participation"] < hi and lo < res["read_participation"] < hi)


def attention_equality(d: int = 64, P: int = 640, batch: int = 32, beta: float = 0.125,
                       seed: int = 0, device="cpu", dtype=torch.float64) -> dict:
    """Relative error between the modern Hopfield update and torch's softmax attention.

    Compares ``update(xi, X, beta)`` with ``F.scaled_dot_product_attention(q=xi, k=X, v=X,
    scale=beta)`` and with the naive loop ``update_loop`` (on the first 4 queries).
    """
    import torch.nn.functional as F

    from memlab.testing import rel_err

    g = _gen(seed)
    X = torch.randn(P, d, generator=g, dtype=dtype).to(device)
    xi = torch.randn(batch, d, generator=g, dtype=dtype).to(device)
    ours = modern.update(xi, X, beta)
    sdpa = F.scaled_dot_product_attention(xi[None], X[None], X[None], scale=beta)[0]
    loop = modern.update_loop(xi[:4].cpu(), X.cpu(), beta)
    return {"rel_err_sdpa": rel_err(ours, sdpa),
            "rel_err_loop": rel_err(ours[:4].cpu(), loop)}


# --------------------------------------------------------------- sparse distributed memory
def sdm_recall_curve(n: int = 256, M: int = 2000, p: float = 0.01, counts=None,
                     noise: float = 0.10, iterations: int = 5, threshold: float = 0.95,
                     seed: int = 0, device="cpu") -> dict:
    """Kanerva SDM, autoassociative: store T random words, read from ``noise``-flipped cues
    (``iterations`` reads fed back); fraction recalled (overlap >= threshold) per T."""
    from memlab.associative.sdm import SparseDistributedMemory

    counts = counts or [10, 25, 50, 75, 100, 150, 200, 300]
    g = _gen(seed)
    rec = []
    for T in counts:
        mem = SparseDistributedMemory(n, M, p=p, seed=seed, device=device)
        x = torch.randint(0, 2, (T, n), generator=g).float().to(device)
        mem.write(x)
        cue = (flip(2 * x - 1, noise, g) + 1) / 2
        z = mem.read(cue, iterations=iterations)
        m = overlap(2 * z - 1, 2 * x - 1)
        rec.append(float((m >= threshold).float().mean()))
    return {"counts": list(counts), "recalled": rec, "radius": mem.r,
            "state_size": mem.state_size(),
            "capacity": _crossing([float(c) for c in counts], rec)}


# ------------------------------------------------------------- Sparsey-style SDR codes
def sparse_inputs(B: int, n_in: int, active: int, generator: torch.Generator) -> torch.Tensor:
    """``[B, n_in]`` binary inputs with exactly ``active`` ones each."""
    return (torch.rand(B, n_in, generator=generator).argsort(1) < active).float()


def morph(x: torch.Tensor, similarity: float, generator: torch.Generator) -> torch.Tensor:
    """Keep round(similarity * |x|) of each row's active bits, move the rest elsewhere,
    so |x'| = |x| and |x intersect x'| / |x| = similarity."""
    out = x.clone()
    for b in range(x.shape[0]):
        on, off = x[b].nonzero().squeeze(1), (x[b] == 0).nonzero().squeeze(1)
        k = on.numel() - round(similarity * on.numel())
        out[b, on[torch.randperm(on.numel(), generator=generator)[:k]]] = 0
        out[b, off[torch.randperm(off.numel(), generator=generator)[:k]]] = 1
    return out


def sdr_similarity(n_in: int = 400, active: int = 20, items: int = 20, Q: int = 20,
                   K: int = 16, levels: int = 11, seed: int = 0, device="cpu") -> dict:
    """Store ``items`` random sparse inputs one trial each; present morphs of them at input
    similarity 0..1 and measure the code overlap with the stored code (CSA sampling on, as
    when a new input is learned). Returns the curve and its Pearson correlation."""
    from memlab.associative.sdr import SparseyCodes, code_overlap

    g = _gen(seed)
    mem = SparseyCodes(n_in, Q=Q, K=K, seed=seed, device=device)
    base = sparse_inputs(items, n_in, active, g).to(device)
    codes = mem.write(base)
    sims = [k / (levels - 1) for k in range(levels)]
    over = [float(code_overlap(mem.encode(morph(base, s, g).to(device)), codes).mean())
            for s in sims]
    # recall from a 30%-occluded cue: drop 30% of the active bits, decode the argmax code
    cue = morph(base, 1.0, g)
    for b in range(items):
        on = cue[b].nonzero().squeeze(1)
        cue[b, on[: round(0.3 * on.numel())]] = 0
    exact = float((mem.read(cue.to(device)) == base).all(-1).float().mean())
    return {"similarity": sims, "code_overlap": over, "chance": 1.0 / K,
            "correlation": float(np.corrcoef(sims, over)[0, 1]),
            "occluded_exact_recall": exact}


def digit_metastable(betas=(1.0, 10.0, 100.0, 1000.0), n: int = 500, queries: int = 50,
                     noise: float = 0.5, seed: int = 0, device="cpu") -> dict:
    """Modern Hopfield on ``n`` real digits (centred, unit norm): the three regimes of beta.

    Each query is a stored digit plus Gaussian noise (norm ``noise``). Per beta: mean
    participation ratio, softmax mass on digits of the query's class, and how often the
    top pattern is the query's own digit. Also returns the retrieved states of query 0.
    """
    g = _gen(seed)
    X, labels = digit_patterns(n, binary=False)
    X = X.to(device)
    idx = torch.randperm(n, generator=g)[:queries]
    eps = torch.randn(queries, X.shape[1], generator=g)
    cue = X[idx] + noise * (eps / eps.norm(dim=1, keepdim=True)).to(device)
    lab = torch.as_tensor(labels, device=device)
    same = (lab[None, :] == lab[idx][:, None]).float()              # [queries, n]
    rows, states = [], []
    for beta in betas:
        new, p = modern.update(cue, X, beta, return_weights=True)
        rows.append({"beta": beta,
                     "participation": float((1 / (p * p).sum(-1)).mean()),
                     "class_mass": float((p * same).sum(-1).mean()),
                     "own_digit": float((p.argmax(-1) == idx.to(device)).float().mean()),
                     "cos_own": float(torch.nn.functional.cosine_similarity(
                         new, X[idx], dim=-1).mean())})
        states.append(new[0].cpu())
    return {"rows": rows, "n": n, "query": cue[0].cpu(), "stored": X[idx[0]].cpu(),
            "label": int(labels[int(idx[0])]), "states": states}


def digit_retrieval(noise: float = 0.1, n_patterns: int = 5, beta: float = 1.0,
                    target: int = 0, seed: int = 0, threshold: float = 0.95) -> dict:
    """The widget's experiment: the first ``n_patterns`` +-1 digits (8x8) stored in a
    classical and a modern Hopfield net of 64 neurons; digit ``target`` cued with ``noise``
    flipped pixels. Returns both retrieved states, their overlaps with the target, the
    classical net's energy after every asynchronous update, and what the classical net
    reached: ``"the digit"``, ``"another stored digit"`` (|overlap| >= threshold with one,
    sign included) or ``"a spurious state"`` (close to no stored digit).
    """
    from memlab.associative.modern import ModernHopfield

    if not 1 <= n_patterns <= 200:
        raise ValueError(f"n_patterns must be in [1, 200], got {n_patterns}")
    target = min(target, n_patterns - 1)
    g = _gen(seed)
    X, labels = digit_patterns(n_patterns)
    cue = flip(X[target:target + 1], noise, g)
    classical = ClassicalHopfield(64)
    classical.write(X)
    trace = classical.energy_trace(cue, sweeps=4, generator=g)[:, 0]
    g.manual_seed(seed)
    s_classical = classical.read(cue, generator=g)
    dense = ModernHopfield(64, beta=beta)
    dense.write(X)
    s_modern, p = dense.read(cue, return_weights=True)
    m_c = float(overlap(s_classical, X[target:target + 1])[0])
    m_m = float(overlap(torch.sign(s_modern), X[target:target + 1])[0])
    m_all = (s_classical @ X.T / 64)[0].abs()
    if m_c >= threshold:
        reached = "the digit"
    elif float(m_all.max()) >= threshold:
        reached = "another stored digit"
    else:
        reached = "a spurious state"
    return {"X": X, "labels": labels, "target": target, "cue": cue, "trace": trace,
            "s_classical": s_classical, "s_modern": s_modern, "p": p,
            "overlap_classical": m_c, "overlap_modern": m_m,
            "participation": 1 / float((p * p).sum()), "classical_reached": reached,
            "modern_recalled": m_m >= threshold}
