"""The Titans long-term memory as a layer (a ``SequenceMemory``): projections, gates, memory.

Paper: Behrouz, Zhong, Mirrokni, "Titans: Learning to Memorize at Test Time" (2024), sec. 3.1.
The rule itself (equations, both forms, glossary) is in :mod:`memlab.testtime.titans`.

    x_t [B, d_model] -> q_t = norm(SiLU(W_Q x_t)), k_t = norm(SiLU(W_K x_t)), v_t = SiLU(W_V x_t)
                        (per head; "SiLU(.) activation for computing query, key and value and
                        normalize queries and keys using l2-norm", sec. 4.4)
                     -> theta_t, eta_t, alpha_t = sigmoid(w . x_t + b) per head  (data-dependent)
                     -> the memory rule -> y_t = M(q_t) -> W_O -> [B, d_model]

Gates start constant (w = 0, b = logit(init)) and become data-dependent when trained; an init of
0 switches a gate off exactly (``eta=0``: no momentum, ``alpha=0``: no forgetting).
``forward`` is the chunk-parallel form, ``step`` the token-by-token loop; with the same
``chunk_size`` they compute the same function (tested), and ``chunk_size=1`` is the paper's
per-token recurrence (sec. 3.1). The initial memory M_0 is a learned parameter (zeros for a linear
memory, like the delta rule's S_0; random for deeper memories, whose hidden layers would get no
gradient from zeros).

Defaults (theta 0.02, eta 0.9, alpha 0.01, depth 2, chunk 16) are memlab's choices for small
tasks: the paper gives no initial gate values; it uses L_M = 2 as its main deep memory.
Stability. With alpha = 0 the rule is heavy-ball gradient descent: M_t - M_{t-1} =
eta (M_{t-1} - M_{t-2}) - theta grad. On a quadratic of curvature lambda heavy ball converges
iff 0 <= eta < 1 and 0 < theta lambda < 2 (1 + eta) (Polyak 1964). A linear memory written
with one unit key again and again has lambda = 2 (the loss ||W k - v||^2, gamma * window = 1
for Omega's mean loss), so the exact bound is theta < 1 + eta: theta = eta = 0.9 converges
(chapter 06 checks it; theta = 1.95 with eta = 0.9 diverges). For a stream of different keys
and for MLP memories there is no such closed form; "keep the effective step
theta / (1 - eta) below about 1" is a HEURISTIC from our runs, not a necessary condition: at
theta 0.1 (effective step 1) the depth-2 memory diverged on every seed we tried at T = 300,
at 0.02 none did at T = 1000. A diverging memory raises FloatingPointError, never NaN.
Not included: the short convolutions, output norm and gating of the paper's block.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from memlab.memory import SequenceMemory, check_shape
from memlab.testtime.titans import (
    ACTIVATIONS,
    TitansState,
    init_state,
    mlp_apply,
    titans_chunked,
    titans_recurrent,
)

__all__ = ["Gate", "NeuralMemory"]


class Gate(nn.Module):
    """g_t = sigmoid(w . x_t + b), one per head, in (0, 1); starts at ``init`` (w = 0).

    ``init=0`` -> the gate is off: exactly 0, no parameters. ``data_dependent=False`` -> b only.
    """

    def __init__(self, d_model: int, n_heads: int, init: float, name: str,
                 data_dependent: bool = True):
        super().__init__()
        if not isinstance(init, (int, float)) or not 0 <= init < 1:
            raise ValueError(f"{name}={init!r} must be in [0, 1) (0 switches the gate off)")
        self.n_heads, self.off, self.init = n_heads, init == 0, float(init)
        if self.off:
            return
        self.bias = nn.Parameter(torch.full((n_heads,), math.log(init / (1 - init))))
        self.proj = nn.Linear(d_model, n_heads, bias=False) if data_dependent else None
        if self.proj is not None:
            nn.init.zeros_(self.proj.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, T, d_model] -> [B, T, heads]."""
        if self.off:
            return x.new_zeros(*x.shape[:2], self.n_heads)
        logits = self.bias.to(x.dtype).expand(*x.shape[:2], self.n_heads)
        if self.proj is not None:
            logits = logits + self.proj(x)
        return torch.sigmoid(logits)


class NeuralMemory(SequenceMemory):
    """Titans neural long-term memory (LMM) as a mixer: ``x [B, T, d_model] -> y, state``."""

    def __init__(self, d_model: int, n_heads: int = 1, d_key: int | None = None,
                 d_value: int | None = None, depth: int = 2, expansion: int = 2,
                 chunk_size: int = 16, window: int = 1, gamma: float = 1.0,
                 theta: float = 0.02, eta: float = 0.9, alpha: float = 0.01,
                 read_after_write: bool = True, data_dependent: bool = True, act: str = "silu"):
        super().__init__()
        for name, val, lo in (("d_model", d_model, 1), ("n_heads", n_heads, 1),
                              ("depth", depth, 1), ("expansion", expansion, 1),
                              ("chunk_size", chunk_size, 1), ("window", window, 1)):
            if not isinstance(val, int) or val < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {val!r}")
        if (d_key is None or d_value is None) and d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        if act not in ACTIVATIONS:
            raise ValueError(f"act={act!r} is not known; use one of {sorted(ACTIVATIONS)}")
        if not gamma > 0:
            raise ValueError(f"gamma={gamma!r} must be > 0")
        self.d_model, self.n_heads, self.depth = d_model, n_heads, depth
        self.d_key, self.d_value = d_key or d_model // n_heads, d_value or d_model // n_heads
        self.chunk_size, self.window, self.gamma = chunk_size, window, float(gamma)
        self.read_after_write, self.act = read_after_write, act
        H, dk, dv = n_heads, self.d_key, self.d_value
        self.q_proj = nn.Linear(d_model, H * dk, bias=False)
        self.k_proj = nn.Linear(d_model, H * dk, bias=False)
        self.v_proj = nn.Linear(d_model, H * dv, bias=False)
        self.o_proj = nn.Linear(H * dv, d_model, bias=False)
        self.theta = Gate(d_model, H, theta, "theta", data_dependent)
        self.eta = Gate(d_model, H, eta, "eta", data_dependent)
        self.alpha = Gate(d_model, H, alpha, "alpha", data_dependent)
        dims = [dk] + [expansion * dk] * (depth - 1) + [dv]
        self.W0 = nn.ParameterList(
            nn.Parameter(torch.zeros(H, dims[i + 1], dims[i]) if depth == 1 else
                         torch.randn(H, dims[i + 1], dims[i]) / math.sqrt(dims[i]))
            for i in range(depth))

    # ------------------------------------------------------------------ state
    def init_state(self, batch, device=None, dtype=None) -> TitansState:
        W0 = [w.to(device=device or w.device, dtype=dtype or w.dtype) for w in self.W0]
        return init_state(W0, batch, self.window)

    def state_size(self, seq_len: int | None = None) -> int:
        """Numbers per sequence: M and S (+ the chunk's anchor M_{t'} when chunk_size > 1)
        + the last (window - 1) keys and values."""
        n = sum(w[0].numel() for w in self.W0) * self.n_heads
        copies = 2 + (self.chunk_size > 1)
        return copies * n + (self.window - 1) * self.n_heads * (self.d_key + self.d_value)

    # ------------------------------------------------------------------ projections
    def qkv_gates(self, x: torch.Tensor):
        """x [B, T, d_model] -> q, k, v [B, T, H, d] and the gates theta, eta, alpha [B, T, H]."""
        B, T, _ = x.shape
        H = self.n_heads
        q = F.normalize(F.silu(self.q_proj(x)).view(B, T, H, self.d_key), dim=-1)
        k = F.normalize(F.silu(self.k_proj(x)).view(B, T, H, self.d_key), dim=-1)
        v = F.silu(self.v_proj(x)).view(B, T, H, self.d_value)
        return q, k, v, self.theta(x), self.eta(x), self.alpha(x)

    def _kw(self):
        return {"chunk_size": self.chunk_size, "gamma": self.gamma,
                    "read_after_write": self.read_after_write, "act": self.act}

    def forward(self, x, state=None):
        """Chunk-parallel form. ``x [B, T, d_model] -> (y [B, T, d_model], TitansState)``."""
        check_shape(x, "x", ndim=3, last=self.d_model)
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        o, state = titans_chunked(*self.qkv_gates(x), state, **self._kw())
        self._check_finite(o)
        return self.o_proj(o.flatten(2)), state

    def step(self, x_t, state):
        """One token, the loop form (autograd gradient). ``x_t [B, d_model]``."""
        check_shape(x_t, "x_t", ndim=2, last=self.d_model)
        if state is None:
            state = self.init_state(x_t.shape[0], x_t.device, x_t.dtype)
        o, state = titans_recurrent(*self.qkv_gates(x_t[:, None]), state, **self._kw())
        self._check_finite(o)
        return self.o_proj(o[:, 0].flatten(1)), state

    def _check_finite(self, o: torch.Tensor) -> None:
        """Gradient-descent memories diverge when the step is too large for the loss's curvature
        (heavy-ball bound theta * lambda < 2 (1 + eta) on a quadratic; lambda = 2 for one
        unit key of a linear memory); an MLP memory's hidden activations raise the curvature."""
        if not torch.isfinite(o).all():
            raise FloatingPointError(
                f"the neural memory diverged (non-finite read-out): the step is too large "
                f"for this memory's curvature (heuristic: keep theta / (1 - eta) below ~1) (theta gate init "
                f"{self.theta.init}, eta {self.eta.init}, window {self.window}, "
                f"depth {len(self.W0)}); lower theta or eta, or use a shorter window")

    def retrieve(self, x: torch.Tensor, state: TitansState) -> torch.Tensor:
        """Read without writing: M*(q) for every token of x with the state's weights (MAC's h_t)."""
        B, T, _ = x.shape
        q = F.normalize(F.silu(self.q_proj(x)).view(B, T, self.n_heads, self.d_key), dim=-1)
        o = mlp_apply(state.W, q.transpose(1, 2), self.act).transpose(1, 2)
        return self.o_proj(o.flatten(2))
