"""Mamba's selective scan: a diagonal SSM whose step size, B and C depend on the input.

Paper: Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces" (2023),
Algorithm 2 (S6). The naive loop mirrors ``selective_scan_ref`` of state-spaces/mamba and
johnma2006/mamba-minimal; the fast form below is memlab's own (a blocked "scan of scans").

Glossary (paper symbol -> variable), shapes ``[batch, time, ...]``::

    x_t (the paper's input, "u" in code)   u      [b, L, D]    D = d_inner channels
    Delta_t   input-dependent step size    delta  [b, L, D]    (already softplus'ed, > 0)
    A         diagonal, real, negative     A      [D, N]       N = d_state
    B_t, C_t  input-dependent in/out maps  B, C   [b, L, N]    (shared by the D channels)
    D         skip                         D      [D]
    h_t       the state                    h      [b, D, N]

Equations (ZOH for A; for B the simplified Euler step of the paper's code by default)::

    A_bar_t = exp(Delta_t A)
    B_bar_t = Delta_t B_t                              B_disc="euler" (state-spaces/mamba code)
    B_bar_t = (Delta_t A)^-1 (exp(Delta_t A) - I) Delta_t B_t
            = (exp(Delta_t A) - 1) / A * B_t           B_disc="zoh"   (the paper's eq. 4, ZOH)
    h_t = A_bar_t * h_{t-1} + B_bar_t x_t         y_t = C_t . h_t + D x_t

The two B_bar agree to first order in Delta A (exp(z) - 1 = z + O(z^2)); the paper's
Section 3.5 / its code use the Euler form for B, the paper's equations the ZOH form.
memlab's Mamba uses Euler for B by default, as the public code does (state-spaces/mamba#114).
The paper's Theorem 1 (selection = gating: with N = 1, A = -1, B = 1 and Delta = softplus(z)
the scan is h_t = (1 - g_t) h_{t-1} + g_t x_t, g_t = sigmoid(z_t)) needs ZOH for B: memlab's
scan matches the gated RNN to ~5e-16 with ``B_disc="zoh"`` and is off by ~2.8 with Euler
(:func:`memlab.ssm.experiments.theorem1_gap`).

A token with a small Delta_t barely touches the state (it is skipped); a large Delta_t resets
the state towards the new input (it is kept, and the past is forgotten). Since A_bar_t changes
with t there is no single convolution kernel (unlike S4D): a scan is needed.

Fast form (:func:`selective_scan_chunked`): cut the sequence into ``n_c`` chunks of length
``L_c`` (~2 sqrt(L)) and lay them side by side. (1) run the recurrence inside all chunks at
once from a zero state (L_c steps, each on a ``[b, n_c, D, N]`` tensor that stays in cache) and
keep each chunk's end state; (2) carry the true state across chunk ends (n_c small steps);
(3) run every chunk again from its true start state and read ``y_t``. About ``2 L_c + n_c``
Python steps instead of L. Only decays <= 1 are ever multiplied, so it is as stable as the loop.
For small inputs (training batches) ``inner="auto"`` replaces the steps inside a chunk by the
cumsum trick (mamba-minimal #18): ``h_t = P_t (h_start + sum_{s<=t} B_bar_s x_s / P_s)`` with
``P_t`` the decay since the chunk start -- one vectorised pass, used only when ``1 / P`` cannot
overflow (checked per call; otherwise the loop form runs).

Not included: the hardware-aware CUDA kernel (SRAM fusion, recomputation in backward),
complex A (Mamba-1 supports it), variable-length packing.
"""

from __future__ import annotations

import math

import torch

__all__ = ["B_DISCRETIZATIONS", "b_bar_factor", "check_scan_inputs", "selective_scan_chunked",
           "selective_scan_ref"]

B_DISCRETIZATIONS = ("euler", "zoh")

# the cumsum trick multiplies by exp(-log P); keep that far from overflow (fp32 max ~ e^88).
# Its backward pass divides by P twice (d(x / P) / dP = -x / P^2), so when gradients flow the
# bound is halved: with 60 for float32 the forward was finite but the gradients were inf / NaN
# (seen as a trained Mamba stuck at accuracy 0 on sequences of 128+ tokens)
_SAFE_LOG = {torch.float16: 8.0, torch.bfloat16: 60.0, torch.float32: 60.0, torch.float64: 600.0}
_AUTO_CUMSUM_MAX = 2 ** 21          # elements of [b, L, D, N] up to which "auto" may vectorise


def _safe_log(*ts) -> float:
    """Largest total decay (in log) a chunk may have for the cumsum trick; halved under autograd."""
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in ts)
    return _SAFE_LOG[ts[0].dtype] / (2 if grad else 1)


def check_scan_inputs(u, delta, A, B, C, D=None, h0=None) -> None:
    for name, t in (("u", u), ("delta", delta), ("A", A), ("B", B), ("C", C)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if u.dim() != 3:
        raise ValueError(f"u must be [batch, time, d_inner], got shape {tuple(u.shape)}")
    b, L, Dn = u.shape
    if delta.shape != u.shape:
        raise ValueError(f"delta must have u's shape {tuple(u.shape)}, got {tuple(delta.shape)}")
    if A.dim() != 2 or A.shape[0] != Dn:
        raise ValueError(f"A must be [d_inner={Dn}, d_state], got shape {tuple(A.shape)}")
    N = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        if t.shape != (b, L, N):
            raise ValueError(f"{name} must be [batch, time, d_state] = {(b, L, N)}, "
                             f"got {tuple(t.shape)}")
    if D is not None and D.shape != (Dn,):
        raise ValueError(f"D must be [d_inner={Dn}], got shape {tuple(D.shape)}")
    if h0 is not None and h0.shape != (b, Dn, N):
        raise ValueError(f"h0 must be [batch, d_inner, d_state] = {(b, Dn, N)}, "
                         f"got {tuple(h0.shape)}")


def _check_B_disc(B_disc: str) -> None:
    if B_disc not in B_DISCRETIZATIONS:
        raise ValueError(f"B_disc={B_disc!r} is not allowed: use 'euler' (B_bar = Delta B, the "
                         f"paper's code) or 'zoh' (B_bar = (exp(Delta A) - 1) / A B, its eq. 4)")


def b_bar_factor(delta, A, B_disc: str = "euler"):
    """``f`` with ``B_bar = f * B``: ``Delta [..., D, 1]`` (euler) or ``(exp(Delta A) - 1) / A
    [..., D, N]`` (zoh, exact for diagonal A; ``expm1`` keeps it accurate for small Delta)."""
    _check_B_disc(B_disc)
    if B_disc == "euler":
        return delta[..., None]
    return torch.expm1(delta[..., None] * A) / A


def selective_scan_ref(u, delta, A, B, C, D=None, h0=None, B_disc: str = "euler"):
    """Naive form: the recurrence, one token at a time. Returns ``(y [b, L, D], h_L [b, D, N])``.

    ``B_disc``: ``"euler"`` (``B_bar = Delta B``, the paper's code, default) or ``"zoh"``."""
    check_scan_inputs(u, delta, A, B, C, D, h0)
    _check_B_disc(B_disc)
    b, L, Dn = u.shape
    h = h0 if h0 is not None else u.new_zeros(b, Dn, A.shape[1])
    ys = []
    for t in range(L):
        A_bar = torch.exp(delta[:, t, :, None] * A)                     # [b, D, N]
        B_bar = b_bar_factor(delta[:, t], A, B_disc) * B[:, t, None, :]  # [b, D, N]
        B_bar_x = B_bar * u[:, t, :, None]
        h = A_bar * h + B_bar_x
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, t]))
    y = torch.stack(ys, dim=1)
    if D is not None:
        y = y + u * D
    return y, h


def _cumsum_chunks(logP, Bx, Cc, start, b, L, Dn, u, D):
    """Inside each chunk at once: h_t = P_t (h_start + sum_{s<=t} Bx_s / P_s), P_t = exp(logP_t).

    Only called when ``exp(-logP)`` cannot overflow (the caller checks the chunk's total decay).
    """
    P = torch.exp(logP)                                                 # [b, nc, Lc, D, N]
    H = torch.cumsum(Bx / P, 2)                                         # sum_s Bx_s / P_s
    ends, decay = (P[:, :, -1] * H[:, :, -1]).unbind(1), P[:, :, -1].unbind(1)  # chunk ends
    starts = []
    for c in range(len(ends)):
        starts.append(start)
        start = decay[c] * start + ends[c]
    h = P * (H + torch.stack(starts, 1)[:, :, None])
    y = (h * Cc[:, :, :, None, :]).sum(-1).reshape(b, -1, Dn)[:, :L]    # C_t . h_t
    return (y + u * D if D is not None else y), start


def selective_scan_chunked(u, delta, A, B, C, D=None, h0=None, chunk: int | None = None,
                           inner: str = "auto", B_disc: str = "euler"):
    """Fast form (blocked scan of scans), equal to :func:`selective_scan_ref`.

    ``chunk``: the chunk length L_c (default ~ 2 sqrt(L)). ``inner``: how the steps inside the
    chunks run -- ``"loop"`` (L_c vectorised steps, always safe), ``"cumsum"`` (one vectorised
    pass, the cumsum trick: only when exp(+total decay of a chunk) fits the dtype) or ``"auto"``
    (cumsum for small, safe inputs -- e.g. training batches -- loop otherwise).
    ``B_disc``: as in :func:`selective_scan_ref`. Same returns as the reference.
    """
    if inner not in ("auto", "loop", "cumsum"):
        raise ValueError(f"inner={inner!r} is not allowed: use 'auto', 'loop' or 'cumsum'")
    _check_B_disc(B_disc)
    check_scan_inputs(u, delta, A, B, C, D, h0)
    b, L, Dn = u.shape
    N = A.shape[1]
    if chunk is not None and (not isinstance(chunk, int) or chunk < 1):
        raise ValueError(f"chunk must be a positive int, got {chunk!r}")
    Lc = min(L, chunk or 2 * math.ceil(math.sqrt(L)))
    nc = -(-L // Lc)
    pad = nc * Lc - L        # padded steps have delta = 0: A_bar = 1, no input, state unchanged
    pad_t = lambda t: torch.nn.functional.pad(t, (0, 0, 0, pad)) if pad else t

    def blocks(t):           # [b, L, k] -> [b, nc, Lc, k] (a view: chunks side by side)
        return pad_t(t).reshape(b, nc, Lc, t.shape[-1])

    dlt, Cc = blocks(delta), blocks(C)
    log_decay = dlt.sum(2)[..., None] * A           # log of a whole chunk's decay [b, nc, D, N]
    start = h0 if h0 is not None else u.new_zeros(b, Dn, N)
    if inner == "cumsum" or (inner == "auto" and b * nc * Lc * Dn * N <= _AUTO_CUMSUM_MAX
                             and float(-log_decay.detach().min()) < _safe_log(u, delta, B)):
        if B_disc == "euler":
            Bx = blocks(delta * u)[..., None] * blocks(B)[:, :, :, None, :]  # B_bar x [b,nc,Lc,D,N]
        else:
            Bx = (b_bar_factor(dlt, A, "zoh") * blocks(u)[..., None]
                  * blocks(B)[:, :, :, None, :])
        logP = torch.cumsum(dlt, 2)[..., None] * A  # log(A_bar_1 ... A_bar_i) inside each chunk
        return _cumsum_chunks(logP, Bx, Cc, start, b, L, Dn, u, D)
    # one list entry per time-in-chunk (unbind, not indexing in the loop: indexing's backward
    # would write a full-size zero tensor per step); A_bar and B_bar x are made step by step,
    # so that the working set ([b, nc, D, N]) stays in cache
    dlt_s, du_s = dlt.unbind(2), blocks(delta * u).unbind(2)           # Lc x [b, nc, D]
    u_s = blocks(u).unbind(2)
    B_s, C_s = blocks(B).unbind(2), Cc[..., None].unbind(2)            # Lc x [b, nc, N(, 1)]

    def step(i, h):          # the recurrence, in every chunk at once
        dA = dlt_s[i][..., None] * A
        if B_disc == "euler":
            return torch.exp(dA) * h + du_s[i][..., None] * B_s[i][:, :, None]
        return torch.exp(dA) * h + (torch.expm1(dA) / A) * u_s[i][..., None] * B_s[i][:, :, None]

    # (1) every chunk from a zero state: only the chunk-end states are kept
    h = u.new_zeros(b, nc, Dn, N)
    for i in range(Lc):
        h = step(i, h)
    # (2) carry the true state across chunk ends: start_{c+1} = exp(A sum Delta) start_c + h_c
    decay = torch.exp(log_decay).unbind(1)                             # nc x [b, D, N]
    starts, h_ends = [], h.unbind(1)
    for c in range(nc):
        starts.append(start)
        start = decay[c] * start + h_ends[c]
    # (3) run every chunk again from its true start state, now reading y_t = C_t . h_t
    h, ys = torch.stack(starts, 1), []
    for i in range(Lc):
        h = step(i, h)
        ys.append((h @ C_s[i]).squeeze(-1))                             # [b, nc, D]
    y = torch.stack(ys, 2).reshape(b, nc * Lc, Dn)[:, :L]
    if D is not None:
        y = y + u * D
    return y, start
