"""Titans neural long-term memory: a small network whose weights are trained at test time.

Paper: Behrouz, Zhong, Mirrokni, "Titans: Learning to Memorize at Test Time" (2024/2025),
sections 3.1 (the memory), 3.2 (the chunk-parallel form). The windowed objective is from
Behrouz et al., "ATLAS: Learning to Optimally Memorize the Context at Test Time" (2025); see
:mod:`memlab.testtime.omega`.

Glossary (paper symbol -> variable; per-head tensors are [batch, time, heads, dim])::

    k_t, v_t, q_t   key / value / query of token t          k, v, q    [B, T, H, d_k | d_v]
    M_t             memory weights after token t: an MLP     W          list of [B, H, out, in]
                    with L_M layers (L_M = 1: linear M(k) = W k)
    S_t             "surprise" (momentum of the gradients)   S          same shapes as W
    theta_t         step size of the momentary surprise      theta      [B, T, H]
    eta_t           surprise decay (the MOMENTUM gate)       eta        [B, T, H]
    alpha_t         forgetting gate (weight DECAY)           alpha      [B, T, H]
    l(M; x_t)       associative loss ||M(k_t) - v_t||^2      assoc_loss()
    b               chunk size of the parallel form          chunk_size
    M_{t'}          weights at the start of t's chunk        state.anchor

(flash-linear-attention's Titans docstring calls alpha "momentum decay" and eta "step size";
in the equations alpha is the forget gate and eta the momentum. The names here follow the
equations.)

Equations (write, then read -- "retrieve after write" is this module's default)::

    S_t = eta_t S_{t-1} - theta_t grad_M l(M_{t'}; x_t)       (surprise, with momentum)
    M_t = (1 - alpha_t) M_{t-1} + S_t                         (forgetting, then the write)
    y_t = M_t(q_t)            read_after_write=True  (the read sees token t's own write)
    y_t = M_{t-1}(q_t)        read_after_write=False (retrieve, then store)

The paper leaves the order open (titans-pytorch issue #4: "I'll just make sure it can do both
ways"); both are here. The gradient is taken at M_{t'}, the weights at the start of the current
chunk of ``chunk_size`` tokens (section 3.2). ``chunk_size=1`` gives t' = t - 1: the
token-by-token recurrence of section 3.1. With ``chunk_size=b > 1`` the memory does
mini-batch gradient descent inside each chunk: a DIFFERENT (cheaper, parallel) rule that agrees
with the token-by-token one up to O(theta^2) terms; chapter 06 measures the gap.

With L_M = 1, eta = alpha = 0: W_t = W_{t-1} - 2 theta_t (W_{t-1} k_t - v_t) k_t^T, the delta
rule with beta_t = 2 theta_t (the paper's loss has no 1/2).

Two forms of the same rule, tested equal (float64: ~1e-12) for every chunk size:
  :func:`titans_recurrent` -- a loop over tokens; the gradient comes from autograd, as written.
  :func:`titans_chunked`   -- per chunk, all tokens at once. Because every gradient in a chunk
    is taken at the same M_{t'}, the per-token gradients u_j = delta_j h_j^T (layer by layer) are
    known up front, and S, M are linear recurrences in them. With D_g[i, j] = prod_{j<l<=i} g_l:
        M_i = abar_i M_s + c_i S_s - sum_j P[i, j] u_j,    P = D_{1-alpha} D_eta diag(theta) G
    so each layer's read is (like linear attention) a masked matmul, without materialising M_i:
        M_i a_i = abar_i M_s a_i + c_i S_s a_i - sum_j P[i, j] delta_j (h_j . a_i).
    G mixes per-token losses: the identity for Titans, a band of width c for ATLAS's Omega rule.

Not included: the 1-D depthwise convolutions after the q/k/v projections, per-chunk (rather than
per-token) gates, weight-tying of the gate networks, and the paper's fused kernels.
Memories have no biases, so a zero key/value pair has zero loss and zero gradient (used to pad
the Omega window at the start of a sequence).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

__all__ = [
    "ACTIVATIONS",
    "TitansState",
    "assoc_loss",
    "check_inputs",
    "init_state",
    "mlp_apply",
    "titans_chunked",
    "titans_recurrent",
]


@dataclass
class TitansState:
    """What the memory carries along a sequence (per batch element and head)."""

    W: list          # memory weights M, per layer [B, H, out, in]
    S: list          # surprise / momentum S, same shapes
    anchor: list     # M_{t'}: weights at the start of the current chunk (== W when pos == 0)
    kbuf: torch.Tensor | None  # last (window - 1) keys [B, window-1, H, d_k] (Omega); None if 1
    vbuf: torch.Tensor | None  # last (window - 1) values [B, window-1, H, d_v]
    pos: int = 0     # tokens already seen in the current chunk


def init_state(W0: list, batch: int, window: int = 1) -> TitansState:
    """State at t = 0 from initial weights ``W0`` (list of [H, out, in] or [B, H, out, in])."""
    W = [w.expand(batch, *w.shape[-3:]) if w.dim() == 3 else w for w in W0]
    H, d_k, d_v = W[0].shape[1], W[0].shape[-1], W[-1].shape[-2]
    z = W[0].new_zeros
    kbuf, vbuf = (z(batch, window - 1, H, d_k), z(batch, window - 1, H, d_v)) if window > 1 \
        else (None, None)
    return TitansState(W=list(W), S=[torch.zeros_like(w) for w in W], anchor=list(W),
                       kbuf=kbuf, vbuf=vbuf)


def _dsilu(z):
    s = torch.sigmoid(z)
    return s * (1 + z * (1 - s))


# name -> (sigma, sigma'): the derivative is written out so that the chunked form can be
# differentiated again (training through the memory) exactly like the autograd recurrence.
ACTIVATIONS = {
    "silu": (F.silu, _dsilu),                        # the paper's choice
    "relu": (F.relu, lambda z: (z > 0).to(z.dtype)),
    "tanh": (torch.tanh, lambda z: 1 - torch.tanh(z) ** 2),
}


def mlp_apply(W: list, x: torch.Tensor, act="silu") -> torch.Tensor:
    """M(x): ``x [B, H, N, in] -> [B, H, N, out]``; act between layers, none after the last."""
    for i, w in enumerate(W):
        x = x @ w.transpose(-1, -2)
        if i < len(W) - 1:
            x = ACTIVATIONS[act][0](x)
    return x


def assoc_loss(W: list, k: torch.Tensor, v: torch.Tensor, act="silu") -> torch.Tensor:
    """l(M; x) = ||M(k) - v||^2 per token: k [B, H, N, d_k], v [B, H, N, d_v] -> [B, H, N]."""
    return (mlp_apply(W, k, act) - v).pow(2).sum(-1)


def check_inputs(q, k, v, theta, eta, alpha, state: TitansState, act="silu"):
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.dim() != 4:
            raise ValueError(f"{name} must be a [batch, time, heads, dim] tensor, got "
                             f"{getattr(t, 'shape', type(t).__name__)}")
    if q.shape != k.shape or v.shape[:3] != k.shape[:3]:
        raise ValueError(f"q, k must be [B, T, H, d_k] and v [B, T, H, d_v] with the same B, T, "
                         f"H; got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    for name, g in (("theta", theta), ("eta", eta), ("alpha", alpha)):
        if not isinstance(g, torch.Tensor) or g.shape != k.shape[:3]:
            raise ValueError(f"{name} must be a [B, T, H] = {tuple(k.shape[:3])} tensor, got "
                             f"{getattr(g, 'shape', type(g).__name__)}")
    W = state.W
    if act not in ACTIVATIONS:
        raise ValueError(f"act={act!r} is not known; use one of {sorted(ACTIVATIONS)}")
    if W[0].shape[:2] != (k.shape[0], k.shape[2]) or W[0].shape[-1] != k.shape[-1] \
            or W[-1].shape[-2] != v.shape[-1]:
        raise ValueError(f"memory weights {[tuple(w.shape) for w in W]} do not fit "
                         f"k {tuple(k.shape)} and v {tuple(v.shape)}")


# --------------------------------------------------------------------------- naive form
def _window_grads(anchor, K, V, gamma, act):
    """grad_M sum_i gamma ||M(k_i) - v_i||^2 at M = anchor, by autograd (K: [B, H, c, d_k])."""
    # keep the graph when training through the memory (the output depends on k, v via grads)
    keep = torch.is_grad_enabled() and any(x.requires_grad for x in [*anchor, K, V])
    with torch.enable_grad():
        ws = [w if (keep and w.requires_grad) else w.detach().requires_grad_() for w in anchor]
        loss = gamma * assoc_loss(ws, K, V, act).sum()   # sum over B, H: each has its own M
        return torch.autograd.grad(loss, ws, create_graph=keep)


def titans_recurrent(q, k, v, theta, eta, alpha, state: TitansState, *, chunk_size=1,
                     gamma=1.0, read_after_write=True, act="silu"):
    """The rule as written, one token at a time. Returns ``(y [B, T, H, d_v], state)``."""
    check_inputs(q, k, v, theta, eta, alpha, state, act)
    W, S, anchor, kbuf, vbuf, pos = (state.W, state.S, state.anchor, state.kbuf, state.vbuf,
                                     state.pos)
    ys = []
    for t in range(k.shape[1]):
        def g(x, t=t):                                       # a gate at token t, [B,H,1,1]
            return x[:, t, :, None, None]
        K, V = k[:, t:t + 1], v[:, t:t + 1]                      # the window: [B, c, H, d_k]
        if kbuf is not None:
            K, V = torch.cat([kbuf, K], 1), torch.cat([vbuf, V], 1)
        grads = _window_grads(anchor, K.transpose(1, 2), V.transpose(1, 2), gamma, act)
        S = [g(eta) * s - g(theta) * gr for s, gr in zip(S, grads)]         # surprise
        W_prev = W
        W = [(1 - g(alpha)) * w + s for w, s in zip(W, S)]                  # forget + write
        read_W = W if read_after_write else W_prev
        ys.append(mlp_apply(read_W, q[:, t, :, None, :], act)[:, :, 0])    # y_t = M(q_t)
        if kbuf is not None:
            kbuf, vbuf = K[:, 1:], V[:, 1:]
        pos = (pos + 1) % chunk_size
        if pos == 0:
            anchor = W                                  # a new chunk starts at the current M
    return torch.stack(ys, 1), TitansState(W, S, anchor, kbuf, vbuf, pos)


# --------------------------------------------------------------------------- chunked form
def _decay(g):
    """D[i, j] = prod_{j<l<=i} g_l for i >= j, else 0.  g [..., C] -> [..., C, C] (exact at 0)."""
    C = g.shape[-1]
    ones = torch.ones(C, C, dtype=torch.bool, device=g.device)
    G = torch.where(ones.tril(-1), g.unsqueeze(-1), torch.ones_like(g).unsqueeze(-1))
    return torch.cumprod(G, dim=-2).masked_fill(~ones.tril(), 0.0)


def _anchor_terms(anchor, K, V, act):
    """Per-token gradient factors at M_{t'}: grad_{W_l} l = delta_l h_{l-1}^T (manual backprop)."""
    hs, zs, x = [K], [], K
    for i, w in enumerate(anchor):
        z = x @ w.transpose(-1, -2)
        zs.append(z)
        x = ACTIVATIONS[act][0](z) if i < len(anchor) - 1 else z
        hs.append(x)
    delta = 2 * (zs[-1] - V)                                    # d l / d (M(k)) for ||.||^2
    deltas = [delta]
    for i in range(len(anchor) - 1, 0, -1):
        delta = (delta @ anchor[i]) * ACTIVATIONS[act][1](zs[i - 1])
        deltas.insert(0, delta)
    return hs[:-1], deltas                                     # h_{l-1}, delta_l per layer


def _chunk(q, k, v, theta, eta, alpha, st: TitansState, gamma, read_after_write, act):
    """One chunk that shares the anchor. q, k, v: [B, H, C, d]; gates [B, H, C]."""
    C, c1 = k.shape[2], 0 if st.kbuf is None else st.kbuf.shape[1]   # c1 = window - 1
    Kx, Vx = k, v                                              # [B, H, c1 + C, d_k | d_v]
    if c1:
        Kx, Vx = torch.cat([st.kbuf.transpose(1, 2), k], 2), torch.cat([st.vbuf.transpose(1, 2), v], 2)
    hs, deltas = _anchor_terms(st.anchor, Kx, Vx, act)
    A, E = _decay(1 - alpha), _decay(eta)                      # forgetting / momentum decays
    abar, ebar = torch.cumprod(1 - alpha, -1), torch.cumprod(eta, -1)
    cS = (A @ ebar.unsqueeze(-1)).squeeze(-1)                  # coefficient of S_s in M_i
    band = torch.ones(C, C + c1, dtype=k.dtype, device=k.device).triu(0).tril(c1) * gamma
    thG = theta.unsqueeze(-1) * band                           # diag(theta) G
    P, PS = A @ E @ thG, E @ thG                               # [B, H, C, c1 + C]
    if read_after_write:
        ra, rc, rP = abar, cS, P
    else:                                                      # rows of M_{i-1}
        ra = torch.cat([torch.ones_like(abar[..., :1]), abar[..., :-1]], -1)
        rc = torch.cat([torch.zeros_like(cS[..., :1]), cS[..., :-1]], -1)
        rP = torch.cat([torch.zeros_like(P[..., :1, :]), P[..., :-1, :]], -2)
    a = q
    for i, (ws, ss, h, d) in enumerate(zip(st.W, st.S, hs, deltas)):
        r = (ra.unsqueeze(-1) * (a @ ws.transpose(-1, -2)) + rc.unsqueeze(-1) *
             (a @ ss.transpose(-1, -2)) - (rP * (a @ h.transpose(-1, -2))) @ d)
        a = ACTIVATIONS[act][0](r) if i < len(st.W) - 1 else r
    last = lambda x: x[..., -1, None, None]
    W = [last(abar) * ws + last(cS) * ss - torch.einsum("bhj,bhjo,bhji->bhoi", P[..., -1, :], d, h)
         for ws, ss, h, d in zip(st.W, st.S, hs, deltas)]
    S = [last(ebar) * ss - torch.einsum("bhj,bhjo,bhji->bhoi", PS[..., -1, :], d, h)
         for ss, h, d in zip(st.S, hs, deltas)]
    kb, vb = st.kbuf, st.vbuf
    if c1:
        kb, vb = Kx[:, :, -c1:].transpose(1, 2), Vx[:, :, -c1:].transpose(1, 2)
    return a, replace(st, W=W, S=S, kbuf=kb, vbuf=vb)


def _token(q, k, v, theta, eta, alpha, st: TitansState, gamma, read_after_write, act):
    """chunk_size = 1: nothing to parallelise; the same step with the hand-written gradients."""
    Kx, Vx = k, v                                              # [B, H, 1 (+ c1), d]
    if st.kbuf is not None:
        Kx, Vx = torch.cat([st.kbuf.transpose(1, 2), k], 2), torch.cat([st.vbuf.transpose(1, 2), v], 2)
    hs, deltas = _anchor_terms(st.W, Kx, Vx, act)              # anchor == W when b = 1
    g = lambda x: x[..., None]
    S = [g(eta) * s - g(theta) * gamma * (d.transpose(-1, -2) @ h)
         for s, h, d in zip(st.S, hs, deltas)]
    W = [(1 - g(alpha)) * w + s for w, s in zip(st.W, S)]
    y = mlp_apply(W if read_after_write else st.W, q, act)
    kb, vb = st.kbuf, st.vbuf
    if kb is not None:
        kb, vb = Kx[:, :, 1:].transpose(1, 2), Vx[:, :, 1:].transpose(1, 2)
    return y, replace(st, W=W, S=S, kbuf=kb, vbuf=vb)


def titans_chunked(q, k, v, theta, eta, alpha, state: TitansState, *, chunk_size=16,
                   gamma=1.0, read_after_write=True, act="silu"):
    """Chunk-parallel form: same arguments and results as :func:`titans_recurrent`.

    (With ``chunk_size=1`` there is nothing to parallelise: a loop of :func:`_token` steps.)"""
    check_inputs(q, k, v, theta, eta, alpha, state, act)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    tr = lambda x: x.transpose(1, 2)
    q, k, v, theta, eta, alpha = map(tr, (q, k, v, theta, eta, alpha))
    T, st, ys, t = k.shape[2], state, [], 0
    while t < T:
        n = min(chunk_size - st.pos, T - t)                    # the rest of the current chunk
        sl = slice(t, t + n)
        y, st = (_token if chunk_size == 1 else _chunk)(
            q[:, :, sl], k[:, :, sl], v[:, :, sl], theta[..., sl], eta[..., sl], alpha[..., sl],
            st, gamma, read_after_write, act)
        ys.append(y)
        pos = (st.pos + n) % chunk_size
        st = replace(st, pos=pos, anchor=st.W if pos == 0 else st.anchor)
        t += n
    y = torch.cat(ys, 2) if ys else q.new_zeros(*q.shape[:3], state.W[-1].shape[-2])
    return y.transpose(1, 2), st
