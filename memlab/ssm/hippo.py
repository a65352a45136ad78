"""HiPPO-LegS: remember a whole history in N numbers by projecting it onto Legendre polynomials.

Papers: Gu, Dao, Ermon, Rudra, Re, "HiPPO: Recurrent Memory with Optimal Polynomial
Projections" (NeurIPS 2020); Gu, Johnson, Goel, Saab, Dao, Rudra, Re, "Combining Recurrent,
Convolutional, and Continuous-time Models with Linear State-Space Layers" (LSSL, NeurIPS 2021);
the LTI reading of LegS from Gu et al., "How to Train Your HiPPO" (2022).

Glossary (paper symbol -> variable)::

    f(s), u_k      the input signal, its k-th sample          u            [batch, T]
    c(t), x_k      the state: Legendre coefficients           c            [batch, T, N]
    N              number of coefficients (state size)        N
    A, B           HiPPO-LegS matrices (A negative here)      A [N, N], B [N]
    Delta          step size of the LTI discretisation        dt
    A_bar, B_bar   discretised matrices                       A_bar, B_bar
    P_n            Legendre polynomial of degree n            legendre(n_max, x)

Equations::

    A_nk = -sqrt(2n+1) sqrt(2k+1)  (n > k),   -(n+1)  (n = k),   0  (n < k);   B_n = sqrt(2n+1)
    LegS (scale invariant, remembers [0, t] uniformly):   dc/dt = (1/t) A c + (1/t) B f(t)
    LTI (LSSL / S4, remembers ~ the last 1/Delta steps):  dx/dt = A x + B u
    bilinear:  A_bar = (I - dt/2 A)^-1 (I + dt/2 A),   B_bar = (I - dt/2 A)^-1 dt B
    ZOH:       A_bar = exp(dt A),                      B_bar = A^-1 (A_bar - I) B
    read-out (LegS):  f(s) ~= sum_n c_n(t) sqrt(2n+1) P_n(2 s / t - 1),        0 <= s <= t
    read-out (LTI):   u(t - s) ~= sum_n x_n(t) sqrt(2n+1) P_n(2 exp(-s Delta) - 1)  (warped)

Discrete LegS: step k (k = 1..T) sees samples u_1..u_k standing for f on [0, k]. We start at
c_1 = u_1 e_0 (the exact projection of one sample), then integrate the ODE over [k-1, k]:
bilinear with A/k, B/k (as in the public HiPPO code), or ZOH in log-time (dc/d log t = A c + B f
is time-invariant, so exp(A log(k/(k-1))) is exact for a held input). A constant input therefore
stays exactly at c = e_0 (a test pins this).

Not included: LegT/LagT measures, the normal-plus-low-rank (NPLR/DPLR) forms of S4, gradient
training of A (see :mod:`memlab.ssm.s4d` for a trained diagonal SSM).
"""

from __future__ import annotations

import torch

__all__ = [
    "discretize",
    "legendre",
    "legs_matrices",
    "legs_online",
    "legs_online_fast",
    "lti_online",
    "reconstruct_legs",
    "reconstruct_lti",
]

_METHODS = ("bilinear", "zoh")


def _check_N(N: int) -> None:
    if not isinstance(N, int) or isinstance(N, bool) or N < 1:
        raise ValueError(f"N (number of Legendre coefficients) must be a positive int, got {N!r}")


def _check_method(method: str) -> None:
    if method not in _METHODS:
        raise ValueError(f"method={method!r} is not allowed: use one of {_METHODS}")


def legs_matrices(N: int, dtype=torch.float64, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """HiPPO-LegS ``A [N, N]`` (lower triangular, negative diagonal) and ``B [N]``."""
    _check_N(N)
    n = torch.arange(N, dtype=dtype, device=device)
    r = torch.sqrt(2 * n + 1)
    A = -torch.tril(r[:, None] * r[None, :], diagonal=-1) - torch.diag(n + 1)
    return A, r.clone()


def discretize(A: torch.Tensor, B: torch.Tensor, dt: float | torch.Tensor,
               method: str = "bilinear") -> tuple[torch.Tensor, torch.Tensor]:
    """Discretise ``dx/dt = A x + B u`` with step ``dt``: returns ``(A_bar, B_bar)``.

    ``dt`` may be a scalar or a tensor ``[K]`` (then the results are ``[K, N, N]`` and ``[K, N]``).
    """
    _check_method(method)
    if A.dim() != 2 or A.shape[0] != A.shape[1] or B.shape != A.shape[:1]:
        raise ValueError(f"A must be [N, N] and B [N], got {tuple(A.shape)} and {tuple(B.shape)}")
    dt = torch.as_tensor(dt, dtype=A.dtype, device=A.device)
    if (dt <= 0).any():
        raise ValueError("dt (step size) must be > 0")
    d = dt.reshape(-1, 1, 1)
    eye = torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
    if method == "bilinear":
        left = eye - d / 2 * A
        A_bar = torch.linalg.solve(left, eye + d / 2 * A)
        B_bar = torch.linalg.solve(left, (d[:, :, 0] * B).unsqueeze(-1)).squeeze(-1)
    else:
        A_bar = torch.linalg.matrix_exp(d * A)
        B_bar = torch.linalg.solve(A.expand_as(A_bar), ((A_bar - eye) @ B).unsqueeze(-1)).squeeze(-1)
    if dt.dim() == 0:
        return A_bar[0], B_bar[0]
    return A_bar, B_bar


def legendre(n_max: int, x: torch.Tensor) -> torch.Tensor:
    """``P_0(x) .. P_{n_max-1}(x)`` stacked on a new last axis (Bonnet's recurrence)."""
    P = [torch.ones_like(x), x]
    for n in range(1, n_max - 1):
        P.append(((2 * n + 1) * x * P[n] - n * P[n - 1]) / (n + 1))
    return torch.stack(P[:n_max], dim=-1)


def _check_u(u: torch.Tensor) -> torch.Tensor:
    if not isinstance(u, torch.Tensor):
        raise TypeError(f"u must be a torch.Tensor, got {type(u).__name__}")
    if u.dim() not in (1, 2) or u.shape[-1] < 1:
        raise ValueError(f"u must be [T] or [batch, T] with T >= 1, got shape {tuple(u.shape)}")
    return u


def _legs_steps(N: int, T: int, method: str, dtype, device):
    """Per-step ``A_bar[k], B_bar[k]`` for k = 2..T (index 0 <-> k = 2)."""
    A, B = legs_matrices(N, dtype=dtype, device=device)
    k = torch.arange(2, T + 1, dtype=dtype, device=device)
    if method == "bilinear":      # A/t, B/t with t = k and dt = 1, as the public HiPPO code does
        return discretize(A, B, 1.0 / k, "bilinear")
    return discretize(A, B, torch.log(k / (k - 1)), "zoh")   # exact in log-time


def _prepare(u: torch.Tensor, N: int, method: str) -> tuple[torch.Tensor, bool]:
    """Check the arguments; ``u`` as ``[batch, T]`` floats, and whether it came in as ``[T]``."""
    _check_N(N)
    _check_method(method)
    u = _check_u(u)
    squeeze = u.dim() == 1
    u = (u if u.dim() == 2 else u[None]).to(u.dtype if u.is_floating_point() else torch.float64)
    return u, squeeze


def legs_online(u: torch.Tensor, N: int, method: str = "bilinear") -> torch.Tensor:
    """Naive form: the LegS recurrence, one step at a time. ``u [batch, T] -> c [batch, T, N]``."""
    u, squeeze = _prepare(u, N, method)
    dtype = u.dtype
    T = u.shape[1]
    c = torch.zeros(u.shape[0], N, dtype=dtype, device=u.device)
    c[:, 0] = u[:, 0]                            # c_1 = u_1 e_0: one sample, a constant
    cs = [c]
    if T > 1:
        A_bar, B_bar = _legs_steps(N, T, method, dtype, u.device)
        for k in range(2, T + 1):
            c = c @ A_bar[k - 2].T + u[:, k - 1, None] * B_bar[k - 2]
            cs.append(c)
    out = torch.stack(cs, dim=1)
    return out[0] if squeeze else out


def legs_online_fast(u: torch.Tensor, N: int, method: str = "bilinear") -> torch.Tensor:
    """Only the final coefficients ``c_T [batch, N]`` -- as one matrix product.

    ``c_T = Phi_T u_1 e_0 + sum_k (A_bar_T ... A_bar_{k+1}) B_bar_k u_k``: the T impulse
    responses are built by a backward product (no batch loop), then applied to all signals at
    once. Use it to read out many signals at one time; tested equal to :func:`legs_online`.
    """
    u, squeeze = _prepare(u, N, method)
    dtype = u.dtype
    T = u.shape[1]
    W = torch.zeros(T, N, dtype=dtype, device=u.device)     # W[k] : weight vector of u_{k+1}
    P = torch.eye(N, dtype=dtype, device=u.device)           # product A_bar_T ... A_bar_{k+2}
    if T > 1:
        A_bar, B_bar = _legs_steps(N, T, method, dtype, u.device)
        for k in range(T, 1, -1):
            W[k - 1] = P @ B_bar[k - 2]
            P = P @ A_bar[k - 2]
    W[0] = P[:, 0]
    out = u @ W
    return out[0] if squeeze else out


def lti_online(u: torch.Tensor, N: int, dt: float, method: str = "bilinear") -> torch.Tensor:
    """LTI HiPPO-LegS SSM (as in LSSL / S4): ``x_k = A_bar x_{k-1} + B_bar u_k``, ``x_0 = 0``.

    ``u [batch, T] -> x [batch, T, N]``. The state weighs the recent past most: roughly the last
    ``few / dt`` steps can be read back (see :func:`reconstruct_lti`).
    """
    _check_N(N)
    u = _check_u(u)
    squeeze = u.dim() == 1
    u = (u if u.dim() == 2 else u[None]).to(u.dtype if u.is_floating_point() else torch.float64)
    dtype = u.dtype
    A, B = legs_matrices(N, dtype=dtype, device=u.device)
    A_bar, B_bar = discretize(A, B, dt, method)
    x = torch.zeros(u.shape[0], N, dtype=dtype, device=u.device)
    xs = []
    for k in range(u.shape[1]):
        x = x @ A_bar.T + u[:, k, None] * B_bar
        xs.append(x)
    out = torch.stack(xs, dim=1)
    return out[0] if squeeze else out


def reconstruct_legs(c: torch.Tensor, T: int) -> torch.Tensor:
    """Read the history back from LegS coefficients ``c [..., N]`` taken at step T.

    Returns ``f_hat [..., T]``, the estimate of ``u_1..u_T`` (sample k read at s = k - 1/2).
    """
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    N = c.shape[-1]
    s = torch.arange(T, dtype=c.dtype, device=c.device) + 0.5
    basis = legendre(N, 2 * s / T - 1) * torch.sqrt(2 * torch.arange(N, dtype=c.dtype,
                                                                      device=c.device) + 1)
    return c @ basis.T


def reconstruct_lti(x: torch.Tensor, lags: int, dt: float) -> torch.Tensor:
    """Read ``u_{t-s}`` for s = 0..lags-1 back from an LTI HiPPO-LegS state ``x [..., N]``.

    Returns ``[..., lags]``, most recent first. Legendre polynomials in the warped time
    ``2 exp(-s dt) - 1`` ("How to Train Your HiPPO"): sharp for the last ~1/dt steps, blurry after.
    """
    if lags < 1 or dt <= 0:
        raise ValueError(f"lags must be >= 1 and dt > 0, got lags={lags}, dt={dt}")
    N = x.shape[-1]
    s = (torch.arange(lags, dtype=x.dtype, device=x.device) + 0.5) * dt
    basis = legendre(N, 2 * torch.exp(-s) - 1) * torch.sqrt(
        2 * torch.arange(N, dtype=x.dtype, device=x.device) + 1)
    return x @ basis.T
