"""The Mamba block: a gated MLP around a selective SSM, usable as a ``SequenceMemory``.

Paper: Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces" (2023),
Section 3.4 / Figure 3; structure and initialisation as in state-spaces/mamba's ``Mamba``
module and johnma2006/mamba-minimal's ``MambaBlock``.

Glossary (paper symbol -> variable)::

    D_model, E, N            d_model, expand (d_inner = E * d_model), d_state
    in_proj                  x -> (x, z), the SSM branch and the gate
    conv1d (kernel d_conv)   causal depthwise convolution before the SSM
    s_Delta(x) = Broadcast_D(Linear_1(x)), here Linear_{dt_rank} then dt_proj (the paper's code)
    Delta = softplus(dt_proj(x_proj_dt(x)))    delta  [b, L, d_inner]
    s_B(x), s_C(x)           B, C = x_proj(x) split   [b, L, N]
    A = -exp(A_log)          S4D-Real init A_n = -(n+1)
    y = SSM(x) * silu(z)     out_proj(y)

``B_disc``: how B is discretised -- ``"euler"`` (default): ``B_bar = Delta B``, as in
state-spaces/mamba's code and mamba-minimal; ``"zoh"``: ``B_bar = (exp(Delta A) - 1) / A * B``,
the zero-order hold of the paper's equation (4). See :mod:`memlab.ssm.scan`.

``ssm="selective"`` is Mamba (S6). ``ssm="s4d"`` keeps the same block but replaces the
selective SSM by an LTI :class:`memlab.ssm.s4d.S4D` with the same state size (N real numbers per
channel as N/2 complex modes): the Mamba paper's ablation "H3/Mamba block with an S4 layer".

State (carried between chunks, so ``forward`` over chunks == one pass): ``(conv_state
[b, d_inner, d_conv-1], h)`` with ``h [b, d_inner, N]`` (real, selective) or complex
``[b, d_inner, N/2]`` (s4d).

Not included: the fused CUDA kernels, complex A for Mamba-1, weight tying/residual handling
(the block is a mixer; norm + residual live in :mod:`memlab.train`), inference caches beyond the
two state tensors.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from memlab.memory import SequenceMemory, check_shape
from memlab.ssm.s4d import S4D
from memlab.ssm.scan import (
    B_DISCRETIZATIONS,
    b_bar_factor,
    selective_scan_chunked,
    selective_scan_ref,
)

__all__ = ["Mamba"]


class Mamba(SequenceMemory):
    """Mamba mixer ``x [batch, time, d_model] -> y [batch, time, d_model]``."""

    def __init__(self, d_model: int, d_state: int = 16, expand: int = 2, d_conv: int = 4,
                 dt_rank: int | str = "auto", dt_min: float = 1e-3, dt_max: float = 1e-1,
                 ssm: str = "selective", scan: str = "chunked", chunk: int | None = None,
                 B_disc: str = "euler"):
        super().__init__()
        if ssm not in ("selective", "s4d"):
            raise ValueError(f"ssm={ssm!r} is not allowed: use 'selective' (Mamba) or 's4d' (LTI)")
        if B_disc not in B_DISCRETIZATIONS:
            raise ValueError(f"B_disc={B_disc!r} is not allowed: use one of {B_DISCRETIZATIONS}")
        if scan not in ("chunked", "ref"):
            raise ValueError(f"scan={scan!r} is not allowed: use 'chunked' or 'ref'")
        if d_model < 1 or d_state < 1 or expand < 1 or d_conv < 1:
            raise ValueError(f"d_model, d_state, expand, d_conv must be >= 1, got "
                             f"{d_model}, {d_state}, {expand}, {d_conv}")
        if ssm == "s4d" and d_state % 2:
            raise ValueError(f"ssm='s4d' needs an even d_state (N/2 complex modes), got {d_state}")
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = d_inner = expand * d_model
        self.ssm, self.scan, self.chunk, self.B_disc = ssm, scan, chunk, B_disc
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv_weight = nn.Parameter(torch.empty(d_inner, d_conv).uniform_(
            -1 / math.sqrt(d_conv), 1 / math.sqrt(d_conv)))
        self.conv_bias = nn.Parameter(torch.zeros(d_inner))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)
        if ssm == "s4d":
            self.s4d = S4D(d_inner, d_state, dt_min=dt_min, dt_max=dt_max)
            return
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, d_inner, bias=True)
        nn.init.uniform_(self.dt_proj.weight, -self.dt_rank ** -0.5, self.dt_rank ** -0.5)
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min))
                       + math.log(dt_min)).clamp(min=1e-4)
        with torch.no_grad():                       # softplus(bias) = dt at init
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32))
                                  .repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))

    # ------------------------------------------------------------------ pieces
    def _ssm_inputs(self, xc: torch.Tensor):
        """``xc [..., d_inner]`` -> ``delta [..., d_inner]``, ``B, C [..., N]`` (the selection)."""
        dbc = self.x_proj(xc)
        dt, B, C = torch.split(dbc, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        return F.softplus(self.dt_proj(dt)), B, C

    def _conv(self, xi: torch.Tensor, conv_state: torch.Tensor):
        """Causal depthwise conv over ``[conv_state, xi]``; ``xi [b, L, d_inner]``."""
        padded = torch.cat([conv_state, xi.transpose(1, 2)], dim=2)     # [b, d_inner, K-1+L]
        out = F.conv1d(padded, self.conv_weight[:, None, :], self.conv_bias,
                       groups=self.d_inner)
        return F.silu(out.transpose(1, 2)), padded[:, :, padded.shape[2] - (self.d_conv - 1):]

    def delta(self, x: torch.Tensor) -> torch.Tensor:
        """Mamba's step sizes ``Delta [batch, time, d_inner]`` for a sequence (from a zero state).

        Small Delta: the token barely enters the state (skipped); large: the state is reset
        towards it (kept). Not defined for ``ssm='s4d'`` (there Delta is a constant).
        """
        if self.ssm != "selective":
            raise ValueError("delta() is input-dependent only for ssm='selective'")
        check_shape(x, "x", ndim=3, last=self.d_model)
        xi, _ = self.in_proj(x).chunk(2, dim=-1)
        xc, _ = self._conv(xi, xi.new_zeros(x.shape[0], self.d_inner, self.d_conv - 1))
        return self._ssm_inputs(xc)[0]

    # ------------------------------------------------------------------ SequenceMemory
    def init_state(self, batch, device=None, dtype=None):
        device = device or self.in_proj.weight.device
        dtype = dtype or self.in_proj.weight.dtype
        conv = torch.zeros(batch, self.d_inner, self.d_conv - 1, device=device, dtype=dtype)
        if self.ssm == "s4d":
            return conv, self.s4d.init_state(batch, device=device, dtype=dtype)
        return conv, torch.zeros(batch, self.d_inner, self.d_state, device=device, dtype=dtype)

    def state_size(self, seq_len=None) -> int:
        """``d_inner * N`` (SSM state) ``+ d_inner * (d_conv - 1)`` (conv window)."""
        return self.d_inner * self.d_state + self.d_inner * (self.d_conv - 1)

    def step(self, x_t, state):
        """One token, as the paper writes it: ``h = exp(Delta A) h + B_bar x;  y = C h + D x``
        with ``B_bar = Delta B`` (``B_disc="euler"``) or ``(exp(Delta A) - 1) / A B`` ("zoh")."""
        check_shape(x_t, "x_t", ndim=2, last=self.d_model)
        conv_state, h = state
        xi, z = self.in_proj(x_t).chunk(2, dim=-1)
        xc, conv_state = self._conv(xi[:, None], conv_state)
        xc = xc[:, 0]                                                   # [b, d_inner]
        if self.ssm == "s4d":
            y, h = self.s4d.step(xc, h)
        else:
            delta, B, C = self._ssm_inputs(xc)
            A = -torch.exp(self.A_log)
            B_bar = b_bar_factor(delta, A, self.B_disc) * B[:, None, :]     # [b, d_inner, N]
            h = torch.exp(delta[..., None] * A) * h + B_bar * xc[..., None]
            y = (h * C[:, None, :]).sum(-1) + self.D * xc
        return self.out_proj(y * F.silu(z)), (conv_state, h)

    def forward(self, x, state=None):
        check_shape(x, "x", ndim=3, last=self.d_model)
        if state is None:
            state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        conv_state, h = state
        xi, z = self.in_proj(x).chunk(2, dim=-1)
        xc, conv_state = self._conv(xi, conv_state)
        if self.ssm == "s4d":
            y, h = self.s4d(xc, h)
        else:
            delta, B, C = self._ssm_inputs(xc)
            A = -torch.exp(self.A_log)
            if self.scan == "ref":
                y, h = selective_scan_ref(xc, delta, A, B, C, self.D, h, B_disc=self.B_disc)
            else:
                y, h = selective_scan_chunked(xc, delta, A, B, C, self.D, h, chunk=self.chunk,
                                              B_disc=self.B_disc)
        return self.out_proj(y * F.silu(z)), (conv_state, h)
