"""Memory as a Gate (MAG) and Memory as a Layer (MAL): Titans' other two architectures.

Paper: Behrouz, Zhong, Mirrokni, "Titans: Learning to Memorize at Test Time" (2024), sec. 4.2
(MAG) and 4.3 (MAL). Both pair the long-term memory with sliding-window attention (SWA) whose
context always includes the persistent memory tokens p_1..p_Np (x~ = [p || x]).

Equations::

    MAG:  y = SW-Attn*(x~);   o = y (x) M(x~)         two branches, combined by a gate
    MAL:  y = M(x~);          o = SW-Attn(y)          the memory is a layer before attention

The memory reads x~ = [p || x] as the paper writes it: the persistent tokens are the first
tokens the memory ever sees. Since the memory is recurrent, this is done once, in
:meth:`init_state`: the initial state is the memory after writing p_1..p_Np (so the
persistent tokens reach the memory's weights, and gradients reach them through it). Outputs
are returned for the tokens of x only. In MAL the attention's fixed prefix is still the
learned persistent tokens p (not M(p)): a simplification, stated.

Glossary: window -> ``window`` (tokens each query sees, itself included); p -> ``persistent``;
(x) -> ``y * sigmoid(z)`` (the paper's "non-linear gating"; its normalisations are left out);
M(.) -> a :class:`NeuralMemory` (write, then read each token).

State: the memory's state + the last (window - 1) inputs of the attention (the SWA "KV cache",
kept as inputs and re-projected), so ``forward`` on pieces == ``forward`` on the whole.
Not included: the paper's normalisations, residuals and MLPs around the block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from memlab.memory import SequenceMemory, check_shape
from memlab.testtime.neural_memory import NeuralMemory
from memlab.testtime.titans import TitansState

__all__ = ["MemoryAsGate", "MemoryAsLayer", "SWAState"]


@dataclass
class SWAState:
    memory: TitansState
    cache: torch.Tensor   # the attention's last (window - 1) inputs [B, window - 1, d_model]


class _SWAMemory(SequenceMemory):
    def __init__(self, d_model: int, n_heads: int = 1, window: int = 16, n_persistent: int = 4,
                 **memory_kw):
        super().__init__()
        for name, val, lo in (("d_model", d_model, 1), ("n_heads", n_heads, 1),
                              ("window", window, 1), ("n_persistent", n_persistent, 0)):
            if not isinstance(val, int) or val < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {val!r}")
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model, self.n_heads, self.window = d_model, n_heads, window
        self.persistent = nn.Parameter(torch.randn(n_persistent, d_model) / math.sqrt(d_model))
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)
        self.memory = NeuralMemory(d_model, **memory_kw)

    def init_state(self, batch, device=None, dtype=None) -> SWAState:
        """The memory after reading the persistent tokens (x~ = [p || x]), an empty SWA cache."""
        mem = self.memory.init_state(batch, device, dtype)
        p = self.persistent.to(device=mem.W[0].device, dtype=mem.W[0].dtype)
        if p.shape[0]:
            _, mem = self.memory(p.expand(batch, *p.shape), mem)
        return SWAState(mem, mem.W[0].new_zeros(batch, 0, self.d_model))

    def state_size(self, seq_len: int | None = None) -> int:
        return self.memory.state_size() + (self.window - 1) * self.d_model

    def _swa(self, x, cache):
        """Causal sliding-window attention of x's tokens over [persistent || cache || x]."""
        B, T, D = x.shape
        H, dh, Np, r = self.n_heads, D // self.n_heads, self.persistent.shape[0], cache.shape[1]
        xx = torch.cat([cache, x], 1)
        ctx = torch.cat([self.persistent.to(x.dtype).expand(B, Np, D), xx], 1)
        q = self.qkv(x)[..., :D].view(B, T, H, dh).transpose(1, 2)
        _, k, v = self.qkv(ctx).view(B, -1, 3, H, dh).permute(2, 0, 3, 1, 4)
        i = torch.arange(T, device=x.device)[:, None] + r          # query positions in xx
        j = torch.arange(r + T, device=x.device)[None, :]
        seen = (j <= i) & (j > i - self.window)                     # causal, last `window`
        mask = torch.cat([seen.new_ones(T, Np), seen], 1)
        att = ((q @ k.transpose(-1, -2)) / math.sqrt(dh)).masked_fill(~mask, float("-inf"))
        y = self.o_proj((att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D))
        return y, xx[:, max(xx.shape[1] - (self.window - 1), 0):]

    def _prepare(self, x, state):
        check_shape(x, "x", ndim=3, last=self.d_model)
        return self.init_state(x.shape[0], x.device, x.dtype) if state is None else state

    def step(self, x_t, state):
        check_shape(x_t, "x_t", ndim=2, last=self.d_model)
        y, state = self.forward(x_t[:, None], state)
        return y[:, 0], state


class MemoryAsGate(_SWAMemory):
    """MAG: o = SW-Attn*(x~) (x) M(x~), the memory and the attention side by side."""

    def forward(self, x, state=None):
        state = self._prepare(x, state)
        y, cache = self._swa(x, state.cache)
        z, mem = self.memory(x, state.memory)
        return y * torch.sigmoid(z), SWAState(mem, cache)


class MemoryAsLayer(_SWAMemory):
    """MAL: o = SW-Attn(M(x~)), the memory as a layer in front of the attention."""

    def forward(self, x, state=None):
        state = self._prepare(x, state)
        m, mem = self.memory(x, state.memory)
        y, cache = self._swa(m, state.cache)
        return y, SWAState(mem, cache)
