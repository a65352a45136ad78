"""Nested Learning / HOPE: a continuum memory system of levels updated at different frequencies.

Nested Learning (Behrouz, Razaviyayn, Zhong, Mirrokni, NeurIPS 2025) reads a model as nested
optimisation problems, each with its own *update frequency*. Its **continuum memory system**
(CMS) is a chain of memory blocks; block ``l`` keeps its parameters fixed for ``C_l`` tokens and
then applies the gradients it accumulated over that chunk (the paper's eq. 30-31)::

    y_t = M_k( M_{k-1}( ... M_1(x_t) ) )
    theta^(l)_{t+1} = theta^(l)_t - sum_{s = t - C_l + 1}^{t} eta^(l)_s grad ell(theta^(l)_s; x_s)
                                                         if (t + 1) = 0 (mod C_l)
                    = theta^(l)_t                        otherwise

A small ``C_l`` is a fast memory (it follows the latest context and forgets it as fast); a large
``C_l`` a slow one that averages many tokens. HOPE stacks a self-modifying Titans memory on such
a CMS; here the levels are linear associative memories ``M_l(h) = W_l h`` written with the
Titans / delta loss ``ell_t = ||y_t - v_t||^2``, so the mechanism can be checked by hand.

Two ways to combine the levels (``combine``):
    "chain" (the paper's eq. 30, each block a residual layer):  h_l = h_{l-1} + W_l h_{l-1},
            h_0 = k_t, y_t = h_k; backprop: g_k = 2 (y - v), grad W_l = g_l h_{l-1}^T,
            g_{l-1} = (I + W_l)^T g_l
    "sum"   (memlab's simplification, the chain's first-order term): y_t = sum_l W_l k_t,
            grad W_l = 2 (y - v) k^T for every level

Each level may also decay (retention ``1 - alpha_l`` applied at its own updates, as Titans'
forgetting gate; ``alpha_l = 0`` is the paper's CMS). The read ``y_t`` is the prediction made
*before* token t's write (a prequential read: the stream's online error).

Glossary
    k_t, v_t  key [d_k] and value [d_v] of token t (v = A k in the chapter's stream)
    W_l       level l's memory [d_v, d_k] (``CMSState.W[l]``, batched: [batch, d_v, d_k])
    G_l       level l's gradient accumulated since its last update (``CMSState.G[l]``)
    C_l       level l's chunk (update period); eta_l its step size; alpha_l its decay
    t         tokens seen so far (``CMSState.t``), so feeding a stream in pieces changes nothing

Defaults: two levels, C = (1, 16), eta = (0.1, 0.01 / 16 per token), alpha = (0.05, 0): memlab's,
sized for the chapter's streams (the paper's language-model settings are not used here).

Not included: HOPE's self-modifying Titans layer (chapter 06's Titans memory is the closest
piece), MLP levels, the paper's deep optimisers and its language-model experiments.

Sources: Behrouz et al. 2025, "Nested Learning: The Illusion of Deep Learning Architectures"
(NeurIPS 2025), section on the continuum memory system (eq. 30-31) and HOPE.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from memlab.memory import SequenceMemory, check_shape

__all__ = ["CMSState", "ContinuumMemory", "cms_init", "cms_recurrent", "cms_step"]


@dataclass
class CMSState:
    W: list[torch.Tensor]          # per level [batch, d_v, d_k]
    G: list[torch.Tensor]          # per level, gradient accumulated in the current chunk
    t: int = 0                     # tokens written so far


def _check_levels(chunks, etas, alphas, combine):
    n = len(chunks)
    if n < 1 or len(etas) != n or len(alphas) != n:
        raise ValueError(f"chunks, etas and alphas need one entry per level, got "
                         f"{len(chunks)}, {len(etas)}, {len(alphas)}")
    for c in chunks:
        if int(c) != c or c < 1:
            raise ValueError(f"chunks must be integers >= 1, got {chunks}")
    if any(e < 0 for e in etas):
        raise ValueError(f"etas must be >= 0, got {etas}")
    if any(not 0 <= a < 1 for a in alphas):
        raise ValueError(f"alphas must lie in [0, 1), got {alphas}")
    if combine not in ("chain", "sum"):
        raise ValueError(f"combine must be 'chain' or 'sum', got {combine!r}")


def cms_init(n_levels: int, batch: int, d_k: int, d_v: int | None = None,
             dtype=torch.float32, device=None) -> CMSState:
    """Zero memories and zero accumulators (``chain`` needs d_v == d_k)."""
    d_v = d_k if d_v is None else d_v
    z = lambda: torch.zeros(batch, d_v, d_k, dtype=dtype, device=device)
    return CMSState([z() for _ in range(n_levels)], [z() for _ in range(n_levels)], 0)


def _read_and_grads(W, k, v, combine):
    """Prediction y [batch, d_v] and each level's gradient of ||y - v||^2 at W."""
    if combine == "sum":
        y = sum(torch.einsum("bij,bj->bi", w, k) for w in W)
        e = 2 * (y - v)
        return y, [torch.einsum("bi,bj->bij", e, k)] * len(W)
    hs = [k]
    for w in W:
        hs.append(hs[-1] + torch.einsum("bij,bj->bi", w, hs[-1]))
    g, grads = 2 * (hs[-1] - v), [None] * len(W)
    for i in range(len(W) - 1, -1, -1):
        grads[i] = torch.einsum("bi,bj->bij", g, hs[i])
        g = g + torch.einsum("bji,bj->bi", W[i], g)
    return hs[-1], grads


def cms_step(k: torch.Tensor, v: torch.Tensor, state: CMSState, chunks=(1, 16),
             etas=(0.1, 0.01 / 16), alphas=(0.05, 0.0), combine: str = "sum"):
    """One token: read y_t with the current levels, accumulate each level's gradient, and
    update the levels whose chunk ends at this token. ``k: [batch, d_k]``, ``v: [batch, d_v]``."""
    _check_levels(chunks, etas, alphas, combine)
    if len(state.W) != len(chunks):
        raise ValueError(f"state has {len(state.W)} levels, chunks {len(chunks)}")
    y, grads = _read_and_grads(state.W, k, v, combine)
    t = state.t + 1
    W, G = [], []
    for w, acc, g, c, eta, a in zip(state.W, state.G, grads, chunks, etas, alphas):
        acc = acc + eta * g
        if t % c == 0:
            w, acc = (1 - a) * w - acc, torch.zeros_like(acc)
        W.append(w)
        G.append(acc)
    return y, replace(state, W=W, G=G, t=t)


def cms_recurrent(k: torch.Tensor, v: torch.Tensor, state: CMSState | None = None, **kw):
    """The stream ``k: [batch, T, d_k]``, ``v: [batch, T, d_v]`` token by token; returns the
    prequential reads ``[batch, T, d_v]`` and the state (pass it back to continue)."""
    check_shape(k, "k", ndim=3)
    check_shape(v, "v", ndim=3)
    if k.shape[:2] != v.shape[:2]:
        raise ValueError(f"k and v must share [batch, T], got {tuple(k.shape)}, {tuple(v.shape)}")
    if state is None:
        state = cms_init(len(kw.get("chunks", (1, 16))), k.shape[0], k.shape[-1], v.shape[-1],
                         k.dtype, k.device)
    ys = []
    for t in range(k.shape[1]):
        y, state = cms_step(k[:, t], v[:, t], state, **kw)
        ys.append(y)
    return torch.stack(ys, 1), state


class ContinuumMemory(SequenceMemory):
    """The CMS as a layer: fixed random projections k = norm(x W_K), v = x W_V; ``step`` is
    the paper's recurrence (read, accumulate, update at each level's chunk boundary)."""

    def __init__(self, d_model: int, chunks=(1, 16), etas=(0.1, 0.01 / 16),
                 alphas=(0.05, 0.0), combine: str = "sum"):
        super().__init__()
        _check_levels(chunks, etas, alphas, combine)
        if d_model < 1:
            raise ValueError(f"d_model must be >= 1, got {d_model}")
        self.d_model, self.kw = d_model, {"chunks": tuple(chunks), "etas": tuple(etas),
                                          "alphas": tuple(alphas), "combine": combine}
        self.wk = nn.Linear(d_model, d_model, bias=False)
        self.wv = nn.Linear(d_model, d_model, bias=False)

    def init_state(self, batch, device=None, dtype=None):
        return cms_init(len(self.kw["chunks"]), batch, self.d_model, self.d_model,
                        dtype or torch.float32, device)

    def step(self, x_t, state):
        check_shape(x_t, "x_t", ndim=2, last=self.d_model)
        k = nn.functional.normalize(self.wk(x_t), dim=-1)
        return cms_step(k, self.wv(x_t), state, **self.kw)

    def state_size(self, seq_len=None):
        """Memories plus accumulators: 2 * levels * d^2 numbers (fixed, whatever seq_len)."""
        return 2 * len(self.kw["chunks"]) * self.d_model ** 2


# --------------------------------------------------------------------------- the chapter's stream
def two_timescale_stream(T: int = 1024, d: int = 16, period: int = 32, fast_scale: float = 0.7,
                         noise: float = 0.1, batch: int = 16, seed: int = 0):
    """Keys k_t (unit, random) and values v_t = (A_slow + A_fast(t)) k_t + noise: A_slow fixed
    for the whole stream, A_fast redrawn every ``period`` tokens (the fast timescale)."""
    if T < 1 or d < 1 or period < 1 or batch < 1 or noise < 0:
        raise ValueError(f"bad stream sizes: T={T}, d={d}, period={period}, batch={batch}, "
                         f"noise={noise}")
    g = torch.Generator().manual_seed(seed)
    k = nn.functional.normalize(torch.randn(batch, T, d, generator=g), dim=-1)
    A_slow = torch.randn(batch, d, d, generator=g) / d ** 0.5
    n_per = -(-T // period)
    A_fast = fast_scale * torch.randn(batch, n_per, d, d, generator=g) / d ** 0.5
    A_t = A_slow[:, None] + A_fast.repeat_interleave(period, 1)[:, :T]
    v = torch.einsum("btij,btj->bti", A_t, k) + noise * torch.randn(batch, T, d, generator=g)
    return k, v, A_slow, A_fast[:, (T - 1) // period]


def _cos(a, b):
    return float(nn.functional.cosine_similarity(a.flatten(1), b.flatten(1), dim=1).mean())


def two_timescale_experiment(T: int = 1024, d: int = 16, period: int = 32, slow_chunk: int = 16,
                             eta_fast: float = 0.1, eta_slow: float = 0.01, alpha_fast: float = 0.05,
                             batch: int = 16, seed: int = 0, **stream_kw) -> dict:
    """CMS (fast C=1 with decay + slow C=``slow_chunk``) against each level alone. Returns the
    online error ||y - v||^2 / ||v||^2 over the second half, and what each CMS level holds."""
    k, v, A_slow, A_fast = two_timescale_stream(T, d, period, batch=batch, seed=seed, **stream_kw)
    setups = {
        "cms": {"chunks": (1, slow_chunk), "etas": (eta_fast, eta_slow / slow_chunk), "alphas": (alpha_fast, 0.0)},
        "fast only": {"chunks": (1,), "etas": (eta_fast,), "alphas": (alpha_fast,)},
        "fast only, no decay": {"chunks": (1,), "etas": (eta_fast,), "alphas": (0.0,)},
        "slow only": {"chunks": (slow_chunk,), "etas": (eta_slow / slow_chunk,), "alphas": (0.0,)},
    }
    out = {}
    for name, kw in setups.items():
        with torch.no_grad():
            y, st = cms_recurrent(k, v, **kw)
        h = T // 2
        err = float(((y[:, h:] - v[:, h:]) ** 2).sum(-1).mean() / (v[:, h:] ** 2).sum(-1).mean())
        out[name] = {"err": err, "W": st.W}
    Wf, Ws = out["cms"]["W"]
    out["levels"] = {"fast~A_fast": _cos(Wf, A_fast), "fast~A_slow": _cos(Wf, A_slow),
                     "slow~A_slow": _cos(Ws, A_slow), "slow~A_fast": _cos(Ws, A_fast)}
    return out


def interruption_experiment(d: int = 16, before: int = 512, interrupt: int = 64, after: int = 16,
                            slow_chunk: int = 16, eta_fast: float = 0.4, eta_slow: float = 0.05,
                            alpha_fast: float = 0.2, noise: float = 0.1, batch: int = 16,
                            seed: int = 0, only: tuple[str, ...] | None = None) -> dict:
    """Map A for ``before`` tokens, an unrelated map B for ``interrupt`` tokens, then A again:
    the online error (relative to ||v||^2) over the first ``after`` tokens back on A
    ("return"), over the last ``after`` tokens of B ("adapt") and of the first A phase
    ("settled"), for the CMS and for each of its levels alone; "worst" = max(return, adapt).
    ``only`` restricts the runs to some of the setups (by name)."""
    if min(d, before, interrupt, after, batch) < 1:
        raise ValueError("d, before, interrupt, after and batch must be >= 1")
    g = torch.Generator().manual_seed(seed)
    T = before + interrupt + after
    k = nn.functional.normalize(torch.randn(batch, T, d, generator=g), dim=-1)
    A, B = (torch.randn(batch, d, d, generator=g) / d ** 0.5 for _ in range(2))
    M = torch.cat([A[:, None].expand(-1, before, -1, -1), B[:, None].expand(-1, interrupt, -1, -1),
                   A[:, None].expand(-1, after, -1, -1)], 1)
    v = torch.einsum("btij,btj->bti", M, k) + noise * torch.randn(batch, T, d, generator=g)
    setups = {
        "cms": {"chunks": (1, slow_chunk), "etas": (eta_fast, eta_slow), "alphas": (alpha_fast, 0.0)},
        "fast only": {"chunks": (1,), "etas": (eta_fast,), "alphas": (0.0,)},
        "fast only, decay": {"chunks": (1,), "etas": (eta_fast,), "alphas": (alpha_fast,)},
        "slow only": {"chunks": (slow_chunk,), "etas": (eta_slow,), "alphas": (0.0,)},
    }
    out = {}
    rel = lambda y, s: float(((y[:, s] - v[:, s]) ** 2).sum(-1).mean() / (v[:, s] ** 2).sum(-1).mean())
    for name, kw in setups.items():
        if only is not None and name not in only:
            continue
        with torch.no_grad():
            y, _ = cms_recurrent(k, v, **kw)
        out[name] = {"return": rel(y, slice(T - after, T)),
                     "adapt": rel(y, slice(before + interrupt - after, before + interrupt)),
                     "settled": rel(y, slice(before - after, before))}
        out[name]["worst"] = max(out[name]["return"], out[name]["adapt"])
    return out


# --------------------------------------------------------------------------- checks
# the claim's size in the fast check and tests (the notebook uses the defaults above)
CHECK_KW = {"d": 8, "before": 256, "batch": 8}


def return_ratio(seed: int = 0, **kw) -> float:
    """The CMS's error just after the interruption / a single fast level's (no decay)."""
    r = interruption_experiment(seed=seed, only=("cms", "fast only"), **kw)
    return r["cms"]["return"] / r["fast only"]["return"]


def hand_case_err() -> float:
    """Two 1-d cases by hand (float64), through ``cms_recurrent``:

    sum, C = (1, 2), eta = (.5, .25), alpha = (.5, 0), k = 1, v = (2, 1, 3):
        t1: y 0, e -4 -> W1 = 2, G2 = -1;  t2: y 2, e 2 -> W1 = .5 * 2 - 1 = 0, W2 = .5;
        t3: y .5, e -5 -> W1 = 2.5, G2 = -1.25 (W2 waits).  Reads (0, 2, .5).
    chain, C = (1, 1), eta = (.5, .5), alpha = 0, k = 1, v = (3, 3):
        t1: h = (1, 1, 1), e -4, both grads -4 -> W = (2, 2);
        t2: h = (1, 3, 9), e 12, grad W2 = 12 * 3, grad W1 = (1 + 2) * 12 * 1 -> W = (-16, -16).
        Reads (1, 9)."""
    f = lambda xs: torch.tensor(xs, dtype=torch.float64).view(1, -1, 1)
    y, st = cms_recurrent(f([1, 1, 1]), f([2, 1, 3]), chunks=(1, 2), etas=(0.5, 0.25),
                          alphas=(0.5, 0.0), combine="sum")
    err = max(float((y.flatten() - f([0, 2, 0.5]).flatten()).abs().max()),
              abs(float(st.W[0]) - 2.5), abs(float(st.W[1]) - 0.5), abs(float(st.G[1]) + 1.25))
    y, st = cms_recurrent(f([1, 1]), f([3, 3]), chunks=(1, 1), etas=(0.5, 0.5),
                          alphas=(0.0, 0.0), combine="chain")
    return max(err, float((y.flatten() - f([1, 9]).flatten()).abs().max()),
               abs(float(st.W[0]) + 16), abs(float(st.W[1]) + 16))


def pieces_err(seed: int = 0, T: int = 37, d: int = 4) -> float:
    """The stream fed whole vs in three pieces with the state carried (chunk boundaries of the
    slow level fall inside pieces), both combinations, float64."""
    g = torch.Generator().manual_seed(seed)
    k = nn.functional.normalize(torch.randn(2, T, d, generator=g, dtype=torch.float64), dim=-1)
    v = torch.randn(2, T, d, generator=g, dtype=torch.float64)
    err = 0.0
    for combine in ("sum", "chain"):
        kw = {"chunks": (1, 4, 8), "etas": (0.3, 0.05, 0.01), "alphas": (0.1, 0.0, 0.0), "combine": combine}
        y, st = cms_recurrent(k, v, **kw)
        ys, s = [], None
        for a, b in ((0, 5), (5, 19), (19, T)):
            y_, s = cms_recurrent(k[:, a:b], v[:, a:b], s, **kw)
            ys.append(y_)
        err = max(err, float((torch.cat(ys, 1) - y).abs().max()),
                  *(float((w1 - w2).abs().max()) for w1, w2 in zip(st.W + st.G, s.W + s.G)))
    return err
