"""S4D: a diagonal state-space layer, seen two ways -- a recurrence and a convolution.

Paper: Gu, Gupta, Goel, Re, "On the Parameterization and Initialization of Diagonal State
Space Models" (S4D, NeurIPS 2022); built on S4 (Gu, Goel, Re, ICLR 2022) and LSSL (2021).

Glossary (paper symbol -> variable)::

    H                 independent channels (one SSM each)            d_model
    N                 state numbers per channel (N/2 complex modes)  d_state
    A_n               diagonal state matrix, complex, Re < 0          A  [H, N/2]
    B_n               input vector (fixed to 1, folded into C)        --
    C_n               output vector, complex                          C  [H, N/2]
    D                 skip connection                                 D  [H]
    Delta             step size, log-uniform in [dt_min, dt_max]      dt [H]  (= exp(log_dt))
    A_bar, B_bar      discretised A, B                                A_bar, B_bar [H, N/2]
    x_k               state (complex)                                 h  [batch, H, N/2]
    K                 convolution kernel                              K  [H, L]

Equations (conjugate pairs are implicit, hence the 2 Re(.))::

    recurrence:   x_k = A_bar x_{k-1} + B_bar u_k,      y_k = 2 Re(C x_k) + D u_k
    convolution:  y = K * u + D u,     K_l = 2 Re( sum_n C_n B_bar_n A_bar_n^l ),  l = 0..L-1
    ZOH:          A_bar = exp(Delta A),  B_bar = (exp(Delta A) - 1) / A
    bilinear:     A_bar = (1 + Delta A / 2) / (1 - Delta A / 2),  B_bar = Delta / (1 - Delta A / 2)
    init S4D-Lin: A_n = -1/2 + i pi n;   S4D-Inv: A_n = -1/2 + i N/pi (N/(2n+1) - 1)
    with a state x_0 carried in: y_k += 2 Re(C A_bar^(k+1) x_0)  (k = 0..L-1, 0-based)

Because A, B, C and Delta do not depend on the input (linear time-invariant, LTI), the whole
layer is one long convolution (computed here with an FFT). This is exactly what Mamba gives up
to make the state *selective* (see :mod:`memlab.ssm.mamba`).

Not included: the S4 DPLR/NPLR forms, the Cauchy/Vandermonde CUDA kernels, S4D's bidirectional
mode, learning-rate groups for A and Delta (the paper uses a smaller lr for them).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from memlab.memory import SequenceMemory, check_shape

__all__ = ["S4D", "fft_conv"]


def fft_conv(u: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Causal convolution ``y_t = sum_{l<=t} K_l u_{t-l}`` along the last axis, by FFT.

    ``u [..., H, L]``, ``K [H, L]`` -> ``[..., H, L]``. Zero-padding to 2L makes it causal
    (no wrap-around).
    """
    L = u.shape[-1]
    n = 2 * L
    y = torch.fft.irfft(torch.fft.rfft(u, n=n) * torch.fft.rfft(K, n=n), n=n)
    return y[..., :L]


class S4D(SequenceMemory):
    """H independent diagonal SSMs. ``x [batch, time, H] -> y [batch, time, H]``.

    ``state``: complex ``h [batch, H, N/2]`` (the N real numbers of each channel's state).
    ``mode="conv"`` (default) runs :meth:`forward` as an FFT convolution, ``"recurrent"`` as
    the loop; both are the same function (tested).
    """

    def __init__(self, d_model: int, d_state: int = 64, dt_min: float = 1e-3,
                 dt_max: float = 1e-1, init: str = "lin", discretization: str = "zoh",
                 mode: str = "conv"):
        super().__init__()
        if d_model < 1 or d_state < 2 or d_state % 2:
            raise ValueError(f"need d_model >= 1 and an even d_state >= 2 (N/2 complex modes), "
                             f"got d_model={d_model}, d_state={d_state}")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got dt_min={dt_min}, dt_max={dt_max}")
        if init not in ("lin", "inv"):
            raise ValueError(f"init={init!r} is not allowed: use 'lin' or 'inv'")
        if discretization not in ("zoh", "bilinear"):
            raise ValueError(f"discretization={discretization!r}: use 'zoh' or 'bilinear'")
        if mode not in ("conv", "recurrent"):
            raise ValueError(f"mode={mode!r}: use 'conv' or 'recurrent'")
        self.d_model, self.d_state = d_model, d_state
        self.discretization, self.mode = discretization, mode
        H, M = d_model, d_state // 2
        n = torch.arange(M, dtype=torch.float32)
        imag = math.pi * n if init == "lin" else M * 2 / math.pi * (M * 2 / (2 * n + 1) - 1)
        self.log_neg_A_re = nn.Parameter(torch.log(0.5 * torch.ones(H, M)))   # Re A = -exp(.)
        self.A_im = nn.Parameter(imag.repeat(H, 1))
        self.C = nn.Parameter(torch.randn(H, M, 2) * math.sqrt(0.5))          # real view
        self.D = nn.Parameter(torch.randn(H))
        self.log_dt = nn.Parameter(torch.rand(H) * (math.log(dt_max) - math.log(dt_min))
                                   + math.log(dt_min))

    # ------------------------------------------------------------------ the discrete system
    def A(self) -> torch.Tensor:
        return torch.complex(-torch.exp(self.log_neg_A_re), self.A_im)

    def discrete(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(A_bar, B_bar)``, complex ``[H, N/2]``."""
        A = self.A()
        dtA = torch.exp(self.log_dt)[:, None] * A
        if self.discretization == "zoh":
            A_bar = torch.exp(dtA)
            return A_bar, (A_bar - 1) / A
        A_bar = (1 + dtA / 2) / (1 - dtA / 2)
        return A_bar, torch.exp(self.log_dt)[:, None] / (1 - dtA / 2)

    def _C(self) -> torch.Tensor:
        return torch.view_as_complex(self.C.contiguous())

    def _powers(self, A_bar: torch.Tensor, L: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Real and imaginary parts of ``A_bar^l``, l = 0..L-1, each ``[H, N/2, L]``.

        ``A^(qS + r) = (A^S)^q A^r`` with S ~ sqrt(L): only ~2 sqrt(L) complex exponentials per
        mode (exp(l log A), in polar form), then one vectorised complex product in real parts.
        """
        S = max(1, math.isqrt(L))
        log_A = torch.log(A_bar)[..., None]
        dt = log_A.real.dtype

        def polar(l):                                          # A_bar^l for a vector of l
            mag, ang = torch.exp(log_A.real * l), log_A.imag * l
            return mag * torch.cos(ang), mag * torch.sin(ang)

        r_re, r_im = polar(torch.arange(S, device=A_bar.device, dtype=dt))           # A^r
        q_re, q_im = polar(S * torch.arange(-(-L // S), device=A_bar.device, dtype=dt))
        re = q_re[..., :, None] * r_re[..., None, :] - q_im[..., :, None] * r_im[..., None, :]
        im = q_re[..., :, None] * r_im[..., None, :] + q_im[..., :, None] * r_re[..., None, :]
        return re.flatten(-2)[..., :L], im.flatten(-2)[..., :L]

    def kernel(self, L: int, powers=None) -> torch.Tensor:
        """The convolution kernel ``K [H, L]``: the layer's response to an impulse."""
        A_bar, B_bar = self.discrete()
        re, im = self._powers(A_bar, L) if powers is None else powers
        CB = self._C() * B_bar                                  # 2 Re(CB A^l), in real parts
        return 2 * (torch.einsum("hn,hnl->hl", CB.real, re) - torch.einsum("hn,hnl->hl", CB.imag, im))

    # ------------------------------------------------------------------ SequenceMemory
    def init_state(self, batch, device=None, dtype=None):
        dtype = dtype or self.D.dtype
        cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        return torch.zeros(batch, self.d_model, self.d_state // 2, dtype=cdtype,
                           device=device or self.D.device)

    def state_size(self, seq_len=None) -> int:
        return self.d_model * self.d_state

    def step(self, x_t, state):
        """One token of the recurrence. ``x_t [batch, H]``."""
        check_shape(x_t, "x_t", ndim=2, last=self.d_model)
        A_bar, B_bar = self.discrete()
        h = A_bar * state + B_bar * x_t[..., None]
        y = 2 * (h * self._C()).sum(-1).real + self.D * x_t
        return y, h

    def forward(self, x, state=None):
        check_shape(x, "x", ndim=3, last=self.d_model)
        if self.mode == "recurrent":
            return self.forward_recurrent(x, state)
        return self.forward_conv(x, state)

    def forward_conv(self, x, state=None):
        """Convolution view, with a carried state: ``y = K * u + D u + 2 Re(C A_bar^(k+1) x_0)``."""
        check_shape(x, "x", ndim=3, last=self.d_model)
        L = x.shape[1]
        u = x.transpose(1, 2)                                   # [batch, H, L]
        A_bar, B_bar = self.discrete()
        P = self._powers(A_bar, L)                              # A_bar^l, l = 0..L-1
        y = fft_conv(u, self.kernel(L, P)) + self.D[:, None] * u
        # the final state: x_L = A_bar^L x_0 + B_bar sum_s A_bar^(L-1-s) u_s
        re, im = (p.flip(-1) for p in P)
        h = B_bar * torch.complex(torch.einsum("hnl,bhl->bhn", re, u),
                                  torch.einsum("hnl,bhl->bhn", im, u))
        if state is not None:                                   # + 2 Re(C A_bar^(k+1) x_0)
            Cx = self._C() * A_bar * state                      # [b, H, N/2]
            y = y + 2 * (torch.einsum("bhn,hnl->bhl", Cx.real, P[0])
                         - torch.einsum("bhn,hnl->bhl", Cx.imag, P[1]))
            h = h + A_bar ** L * state
        return y.transpose(1, 2), h
