"""Chapter 06's fast checks: its claims at test size and its equalities (for ``memlab mutants``).

Each returns one number that the chapter's target (or the target given here) judges; each
runs in well under a second on one CPU thread. Seeds are fixed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import memlab.testtime.experiments as E
import memlab.testtime.titans as T
from memlab.report import at_least, at_most
from memlab.testing.mutants import check

# the sizes used by the claim checks and tests/test_claims_ch06.py (also the seed spread there)
FORGET_KW = {"alphas": (0.0, 0.01), "T": 256, "period": 64, "n_keys": 16, "d": 16, "batch": 32}
NEEDLE_KW = {"settings": ((0.05, 0.0), (0.05, 0.9)), "d": 32, "n_familiar": 8, "warmup": 64,
                 "distractors": 128, "batch": 16}
OMEGA_KW = {"windows": (1, 4), "repeats": 4, "n_pairs": 8, "d": 16, "batch": 8}


def forgetting_gain(seed=0):
    r = E.forgetting_experiment(seed=seed, **FORGET_KW)
    return r[0.01] - r[0.0]


def needle_gain(seed=0):
    r = E.needle_experiment(seed=seed, **NEEDLE_KW)
    return r[(0.05, 0.9)]["needle"] - r[(0.05, 0.0)]["needle"]


def omega_ratio(seed=0):
    r = E.omega_experiment(seed=seed, **OMEGA_KW)
    return r[4]["err"] / r[1]["err"]


@check("06", "delta_rule_rel_err")
def _delta():
    """Linear Titans (eta = alpha = 0, theta = beta/2) vs chapter 04's delta rule, both forms."""
    return max(E.delta_rule_equality(T=32, d=8, chunked=c)["rel_err"] for c in (False, True))


@check("06", "chunk_form_rel_err")
def _chunk():
    return E.chunk_form_equality(T=96, d=8, chunk_size=16)["rel_err"]


@check("06", "forgetting_recall_gain")
def _forget():
    return forgetting_gain(0)


@check("06", "momentum_needle_gain")
def _needle():
    return needle_gain(0)


@check("06", "omega_error_ratio")
def _omega():
    return omega_ratio(0)


def two_token_case():
    """The chapter's 2 x 2 example by hand: theta .25, eta .5, alpha .1, keys e1, e2.

    S1 = .5 v1 e1^T, W1 = S1; S2 = .5 S1 + .5 v2 e2^T, W2 = .9 W1 + S2; reads W_t k_t."""
    W1 = torch.tensor([[0.5, 0.0], [1.0, 0.0]], dtype=torch.float64)
    W2 = torch.tensor([[0.7, 1.5], [1.4, -0.5]], dtype=torch.float64)
    S2 = torch.tensor([[0.25, 1.5], [0.5, -0.5]], dtype=torch.float64)
    y = torch.tensor([[0.5, 1.0], [1.5, -0.5]], dtype=torch.float64)
    return W1, W2, S2, y


@check("06", "titans_two_token_hand_err", target=at_most(1e-12))
def _two_tokens():
    """The 2-token example against hand-computed W, S and reads, through all three forms."""
    k = torch.eye(2, dtype=torch.float64).view(1, 2, 1, 2)
    v = torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=torch.float64).view(1, 2, 1, 2)
    gate = lambda x: torch.full((1, 2, 1), x, dtype=torch.float64)
    _, W2, S2, y_ref = two_token_case()
    st0 = T.init_state([torch.zeros(1, 2, 2, dtype=torch.float64)], 1)
    err = 0.0
    for fn, b in ((E.titans_recurrent, 1), (E.titans_chunked, 1), (E.titans_chunked, 2)):
        with torch.no_grad():
            y, st = fn(k, k, v, gate(0.25), gate(0.5), gate(0.1), st0, chunk_size=b)
        if b == 1:       # (a chunk of 2 takes both gradients at M_0: same here, keys orthogonal)
            err = max(err, float((st.S[0][0, 0] - S2).abs().max()))
        err = max(err, float((st.W[0][0, 0] - W2).abs().max()), float((y[0, :, 0] - y_ref).abs().max()))
    return err


def heavy_ball(theta=0.9, eta=0.9, steps=300, d=4):
    """One unit key written over and over (value fixed): ||W k - v|| after ``steps`` writes.

    The rule is heavy-ball descent on a quadratic of curvature 2 along k: it converges iff
    0 <= eta < 1 and 0 < 2 theta < 2 (1 + eta), i.e. theta < 1 + eta (with alpha = 0)."""
    g = torch.Generator().manual_seed(0)
    k = F.normalize(torch.randn(d, generator=g, dtype=torch.float64), dim=0)
    v = torch.randn(d, generator=g, dtype=torch.float64)
    kk = k.view(1, 1, 1, d).expand(1, steps, 1, d)
    vv = v.view(1, 1, 1, d).expand(1, steps, 1, d)
    gate = lambda x: torch.full((1, steps, 1), x, dtype=torch.float64)
    st = T.init_state([torch.zeros(1, d, d, dtype=torch.float64)], 1)
    with torch.no_grad():
        _, st = E.titans_chunked(kk, kk, vv, gate(theta), gate(eta), gate(0.0), st, chunk_size=1)
    return float((st.W[0][0, 0] @ k - v).norm())


@check("06", "heavy_ball_theta_eta_0p9_err", target=at_most(1e-6))
def _heavy_ball():
    """theta = eta = 0.9 on a repeated unit key converges (theta < 1 + eta), though the old
    rule of thumb theta / (1 - eta) < 1 called it unstable."""
    return heavy_ball(0.9, 0.9)


def omega_naive_err(c=3, T_=10, d=4, retention=0.95, lr=0.3, seed=0):
    """omega_rule (chunk form, per token) vs a plain loop of the window gradient, float64."""
    from memlab.testtime import omega as om
    g = torch.Generator().manual_seed(seed)
    dt = torch.float64
    k = F.normalize(torch.randn(1, T_, 1, d, generator=g, dtype=dt), dim=-1)
    v = torch.randn(1, T_, 1, d, generator=g, dtype=dt)
    W0 = torch.randn(1, d, d, generator=g, dtype=dt) * 0.1
    full = lambda x: torch.full((1, T_, 1), x, dtype=dt)
    with torch.no_grad():
        y, st = om.omega_rule(k, k, v, full(lr), full(retention), [W0], c)
    W, ys = W0[0].clone(), []
    for t in range(T_):
        K, V = k[0, max(0, t - c + 1):t + 1, 0], v[0, max(0, t - c + 1):t + 1, 0]
        W = retention * W - lr * 2 / c * (K @ W.T - V).T @ K
        ys.append(W @ k[0, t, 0])
    return max(float((st.W[0][0, 0] - W).abs().max()), float((y[0, :, 0] - torch.stack(ys)).abs().max()))


@check("06", "omega_rule_naive_err", target=at_most(1e-10))
def _omega_naive():
    return omega_naive_err()


# --------------------------------------------------------------------------- architectures
def _blocks(d=8):
    from memlab.testtime.mac import MemoryAsContext
    from memlab.testtime.mag_mal import MemoryAsGate, MemoryAsLayer
    torch.manual_seed(0)
    kw = {"n_heads": 2, "n_persistent": 2, "depth": 1, "chunk_size": 4}
    return [MemoryAsContext(d, segment_len=4, **kw).double(),
            MemoryAsGate(d, window=4, **kw).double(), MemoryAsLayer(d, window=4, **kw).double()]


def _x(d=8, t=14):
    return torch.randn(2, t, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


@check("06", "mac_mag_mal_pieces_rel_err", target=at_most(1e-8))
def _pieces():
    """MAC, MAG, MAL: the layer on pieces [3, 6, 5] == on the whole sequence (state carried)."""
    x, err = _x(), 0.0
    with torch.no_grad():
        for m in _blocks():
            y, _ = m(x)
            ys, st, s = [], None, 0
            for n in (3, 6, 5):
                yc, st = m(x[:, s:s + n], st)
                ys.append(yc)
                s += n
            err = max(err, float((torch.cat(ys, 1) - y).abs().max() / y.abs().max()))
    return err


@check("06", "mac_mag_mal_future_leak", target=at_most(0.0))
def _causal():
    """Changing token 9 must not change any output before it (max |dy| over tokens 0-8)."""
    x = _x()
    x2 = x.clone()
    x2[:, 9] += 1.0
    with torch.no_grad():
        return max(float((m(x)[0][:, :9] - m(x2)[0][:, :9]).abs().max()) for m in _blocks())


@check("06", "persistent_tokens_reach_memory", target=at_least(1e-6))
def _persistent():
    """min over MAC, MAG, MAL of the change in the memory's weights when p changes: the memory
    reads [p || x], so the persistent tokens must reach it."""
    x, out = _x(), []
    with torch.no_grad():
        for m in _blocks():
            _, s1 = m(x)
            m.persistent.add_(0.5)
            _, s2 = m(x)
            mem1, mem2 = s1.memory, s2.memory
            out.append(max(float((a - b).abs().max()) for a, b in zip(mem1.W, mem2.W)))
    return min(out)
