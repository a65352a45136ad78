"""What every fast-weight layer in this package shares: checks, feature maps, a short causal
convolution, the q/k/v projections and the per-head output norm.

The mechanism files (``linear_attention.py``, ``delta_rule.py``, ``gated_delta.py``, ``mom.py``)
hold the memory rules; this file holds the plumbing around them so that those files read like
the papers.

State of a layer (a named tuple, so :func:`memlab.testing.flatten_state` sees its tensors)::

    S:    [batch, heads, d_key, d_value]   the fast-weight matrix (one per head)
    conv: [batch, conv_size - 1, d_model]  the last inputs, for the short convolution
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from memlab.memory import SequenceMemory, check_shape

FEATURE_MAPS = ("identity", "elu1", "relu", "silu")


class FastWeightState(NamedTuple):
    S: torch.Tensor
    conv: torch.Tensor


def feature_map(x: torch.Tensor, name: str) -> torch.Tensor:
    """phi(x): 'identity'; 'elu1' = elu(x)+1 (Katharopoulos et al. 2020); 'relu'; 'silu'."""
    if name == "identity":
        return x
    if name == "elu1":
        return F.elu(x) + 1.0
    if name == "relu":
        return F.relu(x)
    if name == "silu":
        return F.silu(x)
    raise ValueError(f"feature_map={name!r} is not known; use one of {FEATURE_MAPS}")


def check_qkv(q, k, v, S0=None, *, name="kernel"):
    """Shapes of the raw kernels: q, k [B, T, H, d_k]; v [B, T, H, d_v]; S0 [B, H, d_k, d_v]."""
    for t, n in ((q, "q"), (k, "k"), (v, "v")):
        check_shape(t, n, ndim=4)
    if q.shape != k.shape:
        raise ValueError(f"{name}: q and k must have the same shape [B, T, H, d_k], "
                         f"got {tuple(q.shape)} and {tuple(k.shape)}")
    if v.shape[:3] != k.shape[:3]:
        raise ValueError(f"{name}: v must be [B, T, H, d_v] with B, T, H of k {tuple(k.shape[:3])}, "
                         f"got {tuple(v.shape)}")
    B, _, H, dk = k.shape
    dv = v.shape[-1]
    if S0 is None:
        return k.new_zeros(B, H, dk, dv)
    check_shape(S0, "S0", ndim=4)
    if tuple(S0.shape) != (B, H, dk, dv):
        raise ValueError(f"{name}: S0 must be [B, H, d_k, d_v] = {(B, H, dk, dv)}, "
                         f"got {tuple(S0.shape)}")
    return S0


def check_gate(g, k, name):
    """A per-token, per-head gate (beta or alpha): [B, T, H]."""
    check_shape(g, name, ndim=3)
    if g.shape != k.shape[:3]:
        raise ValueError(f"{name} must be [B, T, H] = {tuple(k.shape[:3])}, got {tuple(g.shape)}")


def check_chunk_size(chunk_size):
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")


def pad_time(t: torch.Tensor, multiple: int, value: float = 0.0) -> torch.Tensor:
    """Pad dim 1 (time) at the end up to a multiple of ``multiple``."""
    pad = (-t.shape[1]) % multiple
    if pad == 0:
        return t
    shape = list(t.shape)
    shape[1] = pad
    return torch.cat([t, t.new_full(shape, value)], dim=1)


def to_chunks(t: torch.Tensor, C: int) -> torch.Tensor:
    """[B, T, H, d] -> chunk-major [N, B, H, C, d], zero-padded to N * C tokens, contiguous."""
    return pad_time(t, C).unflatten(1, (-1, C)).permute(1, 0, 3, 2, 4).contiguous()


def from_chunks(o: torch.Tensor, T: int) -> torch.Tensor:
    """[N, B, H, C, d] -> [B, T, H, d] (the padding cut off)."""
    return o.permute(1, 0, 3, 2, 4).flatten(1, 2)[:, :T]


class FastWeightLayer(SequenceMemory):
    """Projections around a fast-weight rule; subclasses supply ``_gates``, ``_step``, ``_chunked``.

    x [B, T, d_model] -> short causal conv (depthwise, ``conv_size`` taps; 0 = off)
      -> q = phi(W_q x), k = phi(W_k x) (L2-normalised when ``qk_norm``), v = W_v x,
         each [B, T, heads, dim] -> the rule -> o [B, T, heads, d_value]
      -> per-head RMS norm (``out_norm``) -> W_o -> y [B, T, d_model]
    """

    def __init__(self, d_model: int, n_heads: int = 1, d_key: int | None = None,
                 d_value: int | None = None, feature_map: str = "identity", qk_norm: bool = False,
                 conv_size: int = 4, out_norm: bool = True, chunk_size: int = 64):
        super().__init__()
        for n, val in (("d_model", d_model), ("n_heads", n_heads)):
            if not isinstance(val, int) or val < 1:
                raise ValueError(f"{n} must be a positive int, got {val!r}")
        if (d_key is None or d_value is None) and d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}; "
                             "give d_key and d_value explicitly")
        if feature_map not in FEATURE_MAPS:
            raise ValueError(f"feature_map={feature_map!r} is not known; use one of {FEATURE_MAPS}")
        if not isinstance(conv_size, int) or conv_size < 0:
            raise ValueError(f"conv_size must be an int >= 0, got {conv_size!r}")
        check_chunk_size(chunk_size)
        self.d_model, self.n_heads = d_model, n_heads
        self.d_key = d_key or d_model // n_heads
        self.d_value = d_value or d_model // n_heads
        self.feature_map, self.qk_norm, self.out_norm = feature_map, qk_norm, out_norm
        self.conv_size, self.chunk_size = conv_size, chunk_size
        if conv_size > 0:
            self.conv_weight = nn.Parameter(torch.zeros(d_model, conv_size))
            with torch.no_grad():
                self.conv_weight[:, -1] = 1.0      # starts as the identity (current token)
                self.conv_weight.add_(0.1 * torch.randn(d_model, conv_size) / conv_size)
        H, dk, dv = n_heads, self.d_key, self.d_value
        self.q_proj = nn.Linear(d_model, H * dk, bias=False)
        self.k_proj = nn.Linear(d_model, H * dk, bias=False)
        self.v_proj = nn.Linear(d_model, H * dv, bias=False)
        self.o_proj = nn.Linear(H * dv, d_model, bias=False)
        if out_norm:
            self.o_norm_weight = nn.Parameter(torch.ones(dv))

    # ------------------------------------------------------------------ state
    def init_state(self, batch, device=None, dtype=None) -> FastWeightState:
        dtype = dtype or self.q_proj.weight.dtype
        device = device or self.q_proj.weight.device
        S = torch.zeros(batch, self.n_heads, self.d_key, self.d_value, device=device, dtype=dtype)
        conv = torch.zeros(batch, max(self.conv_size - 1, 0), self.d_model, device=device,
                           dtype=dtype)
        return FastWeightState(S, conv)

    def state_size(self, seq_len: int | None = None) -> int:
        """Numbers in one sequence's state: H * d_k * d_v (+ (conv_size-1) * d_model)."""
        return (self.n_heads * self.d_key * self.d_value
                + max(self.conv_size - 1, 0) * self.d_model)

    # ------------------------------------------------------------------ plumbing
    def _conv(self, x, conv_state):
        """Causal depthwise conv over [conv_state; x]; returns (x_conv, new conv_state)."""
        if self.conv_size == 0:
            return x, conv_state
        xx = torch.cat([conv_state, x], dim=1)                  # [B, c-1+T, D]
        win = xx.unfold(1, self.conv_size, 1)                    # [B, T, D, c]
        out = (win * self.conv_weight).sum(-1)
        return out, xx[:, xx.shape[1] - (self.conv_size - 1):]

    def _qkv(self, xc):
        B, T, _ = xc.shape          # heads = -1: MoM's k, v carry several memories' heads
        q = feature_map(self.q_proj(xc).view(B, T, -1, self.d_key), self.feature_map)
        k = feature_map(self.k_proj(xc).view(B, T, -1, self.d_key), self.feature_map)
        v = self.v_proj(xc).view(B, T, -1, self.d_value)
        if self.qk_norm:
            q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        return q, k, v

    def _out(self, o):
        if self.out_norm:
            o = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + 1e-6) * self.o_norm_weight
        return self.o_proj(o.flatten(2))

    def _prepare(self, x, state):
        check_shape(x, "x", ndim=3, last=self.d_model)
        if state is None:
            state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        xc, conv = self._conv(x, state.conv)
        return xc, conv, state

    # subclasses: _gates(xc) -> dict of [B, T, H] tensors; _step / _chunked run the rule
    def _gates(self, xc):
        return {}

    def forward(self, x, state=None):
        """Chunked form. ``x: [B, T, d_model] -> (y [B, T, d_model], FastWeightState)``."""
        xc, conv, state = self._prepare(x, state)
        q, k, v = self._qkv(xc)
        o, S = self._chunked(q, k, v, self._gates(xc), state.S)
        return self._out(o), FastWeightState(S, conv)

    def step(self, x_t, state):
        """One token, the paper's recurrence. ``x_t: [B, d_model]``."""
        check_shape(x_t, "x_t", ndim=2, last=self.d_model)
        xc, conv, state = self._prepare(x_t[:, None], state)
        q, k, v = self._qkv(xc)
        gates = {n: g[:, 0] for n, g in self._gates(xc).items()}
        o_t, S = self._step(q[:, 0], k[:, 0], v[:, 0], gates, state.S)
        return self._out(o_t[:, None])[:, 0], FastWeightState(S, conv)
