"""LM2-style gated slot memory (an interpretation of Kang et al. 2025, *Large Memory Models*).

LM2 adds a memory bank beside each decoder block: tokens read it by cross-attention, an output
gate decides how much of what was read enters the residual stream, and input / forget gates
(LSTM-like) update the bank. No official code was found, and the paper's shapes do not fit
together (slots written as d x d matrices, a per-token E_mem used to update per-slot M). This
module is labelled **LM2-style**: the read and the gate algebra follow the paper; the write path
is our interpretation (marked below).

Glossary (paper symbol -> variable)::

    M_t            memory bank, N slots of width d          M [B, N, d]  (slot i starts as e_i,
                                                            the rows of I: our reading of "I_d")
    E_t            token embeddings of the segment          x [B, T, d]
    W_Q, W_K, W_V  read projections                         W_Q, W_K, W_V
    E_mem          what the tokens read                     e_mem [B, T, d]
    g_out          output gate                              g_out [B, T, d]
    g_in, g_forget input / forget gates (per slot here)     g_in, g_forget [B, N, d]

Equations::

    read  (paper):  E_mem = softmax(Q K^T / sqrt(d)) V,  Q = x W_Q, K = M W_K, V = M W_V
                    g_out = sigma(E_mem W_out),  y = x + g_out * E_mem
    write (interpretive): slot-wise candidates by attention of the slots over the segment
                    (Memformer style)  c = softmax((M U_Q)(x U_K)^T / sqrt(d)) (x U_V)
                    g_in = sigma(c W_in),  g_forget = sigma(c W_forget)
                    M' = g_in * tanh(c) + g_forget * M

Gate algebra (tested exactly): g_forget = 1, g_in = 0 freezes M; g_forget = 0, g_in = 1
overwrites it with tanh(c); g_out = 0 gives y = x (the base model unchanged). The paper writes
the output as ``g_out * M_t``; reimplementations use ``g_out * E_mem``, as here.

Not included: the decoder blocks around it (Llama-3.2), memory at every layer, the paper's
training (pre-training on SmolLM corpus), BABILong evaluation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["LM2Memory", "gated_update"]


def gated_update(M: torch.Tensor, c: torch.Tensor, g_in: torch.Tensor,
                 g_forget: torch.Tensor) -> torch.Tensor:
    """``M' = g_in * tanh(c) + g_forget * M`` (LSTM-like; every argument broadcasts to M)."""
    return g_in * torch.tanh(c) + g_forget * M


class LM2Memory(nn.Module):
    """N slots of width ``d``, read by cross-attention, written per segment through gates.

    ``read(x [B, T, d], M) -> y``; ``write(x, M) -> M'``; ``forward(x, M=None, segment=T)``
    reads then writes segment by segment, carrying ``M``. Gates may be forced (``gates=
    {"g_in": 0.0, ...}``) to check the algebra.
    """

    def __init__(self, d: int, n_slots: int = 8):
        super().__init__()
        if d < 1 or n_slots < 1:
            raise ValueError(f"d and n_slots must be >= 1, got d={d}, n_slots={n_slots}")
        self.d, self.n_slots = d, n_slots
        lin = lambda: nn.Linear(d, d, bias=False)
        self.W_Q, self.W_K, self.W_V, self.W_out = lin(), lin(), lin(), lin()
        self.U_Q, self.U_K, self.U_V = lin(), lin(), lin()
        self.W_in, self.W_forget = nn.Linear(d, d), nn.Linear(d, d)
        self._M = None

    def init_memory(self, batch: int, device=None, dtype=None) -> torch.Tensor:
        """Slot i = e_i (rows of the identity; zero rows past d)."""
        dtype = dtype or self.W_Q.weight.dtype
        return torch.eye(self.n_slots, self.d, device=device, dtype=dtype).expand(
            batch, -1, -1).clone()

    def _bank(self, x: torch.Tensor) -> torch.Tensor:
        if self._M is None or self._M.shape[0] != x.shape[0]:
            self._M = self.init_memory(x.shape[0], x.device, x.dtype)
        return self._M

    def read(self, x: torch.Tensor, M: torch.Tensor | None = None,
             gates: dict | None = None) -> torch.Tensor:
        """``x + g_out * E_mem``; without ``M`` the module's own bank is read."""
        if x.dim() != 3 or x.shape[-1] != self.d:
            raise ValueError(f"x must be [B, T, {self.d}], got {tuple(x.shape)}")
        M = self._bank(x) if M is None else M
        att = torch.softmax(self.W_Q(x) @ self.W_K(M).transpose(1, 2) / math.sqrt(self.d), -1)
        e_mem = att @ self.W_V(M)
        g_out = self._gate(gates, "g_out", lambda: torch.sigmoid(self.W_out(e_mem)))
        return x + g_out * e_mem

    def candidates(self, x: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
        """Interpretive: each slot attends over the segment's tokens -> ``c [B, N, d]``."""
        att = torch.softmax(self.U_Q(M) @ self.U_K(x).transpose(1, 2) / math.sqrt(self.d), -1)
        return att @ self.U_V(x)

    def write(self, x: torch.Tensor, M: torch.Tensor | None = None,
              gates: dict | None = None) -> torch.Tensor:
        """The gated update of ``M`` (or of the module's own bank, which then keeps it)."""
        own = M is None
        M = self._bank(x) if own else M
        c = self.candidates(x, M)
        g_in = self._gate(gates, "g_in", lambda: torch.sigmoid(self.W_in(c)))
        g_forget = self._gate(gates, "g_forget", lambda: torch.sigmoid(self.W_forget(c)))
        M_new = gated_update(M, c, g_in, g_forget)
        if own:
            self._M = M_new
        return M_new

    @staticmethod
    def _gate(gates, name, compute):
        if gates and name in gates:
            return torch.as_tensor(gates[name])
        return compute()

    def forward(self, x: torch.Tensor, M: torch.Tensor | None = None, segment: int | None = None,
                gates: dict | None = None):
        """Read then write, one segment at a time: ``(y [B, T, d], M)``."""
        M = self.init_memory(x.shape[0], x.device, x.dtype) if M is None else M
        segment = segment or x.shape[1]
        ys = []
        for s in range(0, x.shape[1], segment):
            xs = x[:, s:s + segment]
            ys.append(self.read(xs, M, gates))
            M = self.write(xs, M, gates)
        return torch.cat(ys, 1), M

    # Memory protocol (one bank, kept between calls)
    def reset(self) -> None:
        self._M = None

    def state_size(self) -> int:
        return self.n_slots * self.d
