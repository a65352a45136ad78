"""Recurrent Memory Transformer (RMT): memory tokens carried from segment to segment.

Papers: Bulatov, Kuratov, Burtsev, "Recurrent Memory Transformer" (NeurIPS 2022); Bulatov et
al., "Scaling Transformer to 1M tokens and beyond with RMT" (2023); Kuratov et al., "BABILong"
(2024). Public code: ``booydar/recurrent-memory-transformer``, ``modeling_rmt/language_modeling.py``
(``MemoryCell``, ``RecurrentWrapper``) -- followed here.

Glossary (paper symbol -> variable)::

    X_tau        segment tau of the input (segment_size tokens)     x[:, tau*S:(tau+1)*S]  [B, S, d]
    M_tau        memory entering segment tau (m tokens)             state.memory           [B, m, d]
    M_0          learned initial memory                             self.M0                [m, d]
    [M; X; M]    the cell's input: read copy, segment, write copy   (positions 0 .. 2m+S-1)
    H            the backbone's last hidden states                  h                      [B, 2m+S, d]
    k2           BPTT depth in segments (-1 = full BPTT)            self.k2

Equations (decoder variant: the read copy first, the write copy last; causal attention, so the
segment's tokens see the memory read copy and their own past, and the write copy sees all)::

    H_tau = Transformer([M_tau ; X_tau ; M_tau] + P)
    Y_tau = H_tau[m : m+S]                  (outputs for the segment's tokens)
    M_{tau+1} = LN(H_tau[m+S : 2m+S])       (the write positions; LN = GPT-2's final norm,
                                              which ``hidden_states[-1]`` includes)
    gradient into M_tau kept only if tau + k2 > n_segments (booydar's manage_gradients): the
    gradient runs through the last k2 segments (k2 <= 1: through no memory); k2 = -1 keeps all
    of it (full BPTT); k2 = 0 detaches every memory (no gradient ever reaches the write copy:
    only M_0 learns, from segment 0).

Constants: BABILong uses m = 16 memory tokens, segment 512, full BPTT (K2 = -1); the small
associative-retrieval config uses m = 4, d = 64, 4 heads, 4 layers. ``M_0 ~ N(0, init_std^2)``
with init_std = 0.02, the std of memlab's embeddings (booydar: randn * std(input embeddings)).

Streaming (the ``SequenceMemory`` contract): a segment that is not complete yet is kept in
``state.buffer``; its tokens are answered from ``[M_tau; X_partial]`` (the write copy comes
after them, so causal attention makes this equal to the full-segment pass), and the memory is
written once the segment completes. ``forward`` over chunks therefore equals one ``forward``
and the token-by-token ``step`` loop.

Not included: encoder (BERT) RMT with memory at the front only, segment alignment left/center,
the pretrained GPT-2 backbone (every public result fine-tunes one; here the backbone is trained
from scratch), gradient checkpointing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from memlab.attention import CausalSelfAttention
from memlab.memory import SequenceMemory, check_shape
from memlab.train import Block

__all__ = ["RMT", "RMTState", "SegmentBackbone", "detach_memory"]


@dataclass
class RMTState:
    memory: torch.Tensor        # [B, m, d] memory entering the current segment
    buffer: torch.Tensor        # [B, n, d] tokens of the current (incomplete) segment, n < S
    segments: int = 0           # completed segments


def detach_memory(seg_num: int, n_segments: int, k2: int) -> bool:
    """booydar's ``manage_gradients``: True when the memory entering ``seg_num`` is detached."""
    if seg_num == 0 or k2 == -1:
        return False
    return not seg_num + k2 > n_segments


class SegmentBackbone(nn.Module):
    """A small causal transformer over one segment: positions + ``n_layers`` pre-norm blocks."""

    def __init__(self, d_model: int, n_layers: int, n_heads: int, max_len: int,
                 mlp_ratio: float = 2):
        super().__init__()
        for name, v in (("n_layers", n_layers), ("n_heads", n_heads), ("max_len", max_len)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.pos = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.pos.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(d_model, CausalSelfAttention(d_model, n_heads), mlp_ratio)
                                    for _ in range(n_layers))

    def forward(self, h: torch.Tensor, need_weights: bool = False):
        """``h: [B, L, d] -> [B, L, d]``; with ``need_weights`` also the last layer's attention."""
        h = h + self.pos.weight[:h.shape[1]]
        weights = None
        for i, block in enumerate(self.blocks):
            if need_weights and i == len(self.blocks) - 1:
                y, _, weights = block.mixer.attend(block.norm1(h), None, need_weights=True)
                h = h + y
                h = h + block.mlp(block.norm2(h)) if block.mlp is not None else h
            else:
                h, _ = block(h)
        return (h, weights) if need_weights else h


class RMT(SequenceMemory):
    """Recurrent memory tokens around a segment-level causal transformer (a ``SequenceMemory``).

    ``n_mem = 0`` gives the segment-local baseline (each segment sees only itself).
    """

    def __init__(self, d_model: int, n_mem: int = 4, segment_size: int = 32, n_layers: int = 2,
                 n_heads: int = 4, k2: int = -1, init_std: float = 0.02, mlp_ratio: float = 2):
        super().__init__()
        if not isinstance(d_model, int) or d_model < 1:
            raise ValueError(f"d_model must be a positive int, got {d_model!r}")
        if not isinstance(n_mem, int) or n_mem < 0:
            raise ValueError(f"n_mem must be an int >= 0, got {n_mem!r}")
        if not isinstance(segment_size, int) or segment_size < 1:
            raise ValueError(f"segment_size must be a positive int, got {segment_size!r}")
        if not isinstance(k2, int) or k2 < -1:
            raise ValueError(f"k2 must be -1 (full BPTT) or an int >= 0, got {k2!r}")
        self.d_model, self.n_mem, self.segment_size, self.k2 = d_model, n_mem, segment_size, k2
        self.M0 = nn.Parameter(torch.randn(n_mem, d_model) * init_std)
        self.backbone = SegmentBackbone(d_model, n_layers, n_heads, 2 * n_mem + segment_size,
                                        mlp_ratio)
        self.norm_mem = nn.LayerNorm(d_model)
        self.reset_memory = False       # negative control: every segment starts from M_0

    # ---------------------------------------------------------------- memory vocabulary
    def init_state(self, batch: int, device=None, dtype=None) -> RMTState:
        dtype = dtype or self.M0.dtype
        device = device if device is not None else self.M0.device
        mem = self.M0.to(device=device, dtype=dtype).expand(batch, -1, -1)
        return RMTState(mem, torch.zeros(batch, 0, self.d_model, device=device, dtype=dtype), 0)

    def state_size(self, seq_len: int | None = None) -> int:
        """``m * d`` memory numbers + at most ``(S - 1) * d`` for an incomplete segment."""
        return (self.n_mem + self.segment_size - 1) * self.d_model

    # ---------------------------------------------------------------- the cell
    def cell(self, memory: torch.Tensor, x: torch.Tensor, write: bool, need_weights=False):
        """One segment: ``[M; X; M]`` (``write``) or ``[M; X]``; returns ``(Y, M_next, weights)``."""
        m = self.n_mem
        parts = [memory, x, memory] if write else [memory, x]
        out = self.backbone(torch.cat(parts, dim=1), need_weights=need_weights)
        h, w = out if need_weights else (out, None)
        y = h[:, m:m + x.shape[1]]
        new = self.norm_mem(h[:, m + x.shape[1]:]) if write else memory
        return y, new, w

    def _memory_in(self, state: RMTState, n_total: int) -> torch.Tensor:
        if self.reset_memory:
            return self.init_state(state.memory.shape[0], state.memory.device,
                                   state.memory.dtype).memory
        if detach_memory(state.segments, n_total, self.k2):
            return state.memory.detach()
        return state.memory

    def forward(self, x: torch.Tensor, state: RMTState | None = None):
        """``x: [B, T, d] -> (y [B, T, d], RMTState)``; segments of ``segment_size`` from the start."""
        check_shape(x, "x", ndim=3, last=self.d_model)
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        S, n_old = self.segment_size, state.buffer.shape[1]
        xx = torch.cat([state.buffer, x], dim=1)
        n_total = state.segments + -(-xx.shape[1] // S)
        ys = []
        for start in range(0, xx.shape[1], S):
            seg = xx[:, start:start + S]
            mem = self._memory_in(state, n_total)
            full = seg.shape[1] == S
            y, new, _ = self.cell(mem, seg, write=full)
            ys.append(y)
            state = (RMTState(new, xx[:, :0], state.segments + 1) if full
                     else RMTState(state.memory, seg, state.segments))
        y = torch.cat(ys, dim=1)[:, n_old:] if ys else x[:, :0]
        return y, state

    def step(self, x_t: torch.Tensor, state: RMTState):
        """One token: answered from ``[M; X_so_far]``; the memory is written when X completes."""
        check_shape(x_t, "x_t", ndim=2, last=self.d_model)
        buf = torch.cat([state.buffer, x_t[:, None]], dim=1)
        full = buf.shape[1] == self.segment_size
        mem = self._memory_in(state, state.segments + 1)
        y, new, _ = self.cell(mem, buf, write=full)
        if full:
            return y[:, -1], RMTState(new, buf[:, :0], state.segments + 1)
        return y[:, -1], RMTState(state.memory, buf, state.segments)

    @torch.no_grad()
    def memory_trace(self, x: torch.Tensor):
        """Per full segment: the memory written and the last layer's attention ``[B, H, L, L]``."""
        state, out = self.init_state(x.shape[0], x.device, x.dtype), []
        for start in range(0, x.shape[1] - self.segment_size + 1, self.segment_size):
            _, new, w = self.cell(state.memory, x[:, start:start + self.segment_size], True, True)
            out.append({"memory": new, "weights": w})
            state = RMTState(new, x[:, :0], state.segments + 1)
        return out

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_mem={self.n_mem}, segment_size={self.segment_size}, k2={self.k2}"
