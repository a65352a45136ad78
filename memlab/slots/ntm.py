"""NTM-style slot memory: content addressing, erase/add writes, location addressing.

Graves, Wayne, Danihelka, *Neural Turing Machines* (2014), section 3. Stability fixes from the
tested public code: ``loudinthecloud/pytorch-ntm`` (``ntm/memory.py``: epsilon in the cosine,
gamma = 1 + softplus, beta = softplus, e = sigmoid) and Collier & Beel, *Implementing Neural
Turing Machines* (2018, ``MarkPKCollier/NeuralTuringMachine``: memory initialised to the
constant 1e-6). No controller here: the head's outputs (k, beta, g, s, gamma, e, a) are given,
which is what lets the chapter test the memory untrained.

Glossary (paper symbol -> variable)::

    M_t        memory, N slots of width W            M [N, W]   (leading batch dims allowed)
    k_t        key                                   k [W]
    beta_t     key strength >= 0                     beta
    w^c, w     content / final weighting over slots  w [N]  (sums to 1)
    g_t        interpolation gate in [0, 1]          g
    s_t        shift weighting over (-1, 0, +1)      s [3]
    gamma_t    sharpening exponent >= 1              gamma
    e_t, a_t   erase vector in [0,1]^W, add vector   e [W], a [W]
    r_t        read vector                           r [W]

Equations::

    w^c_i = softmax_i(beta * K[k, M_i]),  K[u, v] = u.v / max(|u| |v|, eps)     (3.2.1)
    w^g   = g w^c + (1 - g) w_{t-1}                                              (3.3.1, 7)
    w~_i  = sum_j w^g_j s_{(i - j) mod N}   (circular convolution)               (8)
    w_i   = w~_i^gamma / sum_j w~_j^gamma                                        (9)
    r     = sum_i w_i M_i                                                        (2)
    M_i  <- M_i * (1 - w_i e) + w_i a        (erase, then add)                   (3, 4)

With e = 0 the write is ``M <- M + w a^T``: the outer-product (linear-attention) memory of
chapter 04 with key w and value a. With a one-hot w and e = 1 it replaces the slot, as the delta
rule with beta = 1 replaces a value.

Not included: the controller (LSTM / feed-forward) and the head's activations that produce
(k, beta, g, s, gamma, e, a) from it, multiple heads, training on copy / associative recall
(not promised at CPU size: "other seeds may not perform as well", pytorch-ntm README).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "EPS",
    "INIT",
    "NTMMemory",
    "address",
    "content_weights",
    "interpolate",
    "ntm_read",
    "ntm_write",
    "sharpen",
    "shift",
]

EPS = 1e-8        # in the cosine denominator: a zero slot gives 0, not NaN
INIT = 1e-6       # Collier & Beel: constant memory initialisation


def cosine(M: torch.Tensor, k: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``K[k, M_i]`` for every slot: ``[..., N]``."""
    return torch.einsum("...nw,...w->...n", M, k) / (
        M.norm(dim=-1) * k.norm(dim=-1, keepdim=True)).clamp_min(eps)


def content_weights(M: torch.Tensor, k: torch.Tensor, beta: float | torch.Tensor) -> torch.Tensor:
    """``softmax_i(beta * cos(k, M_i))`` -> ``[..., N]``."""
    if M.shape[-1] != k.shape[-1]:
        raise ValueError(f"key k has width {k.shape[-1]}, memory M has width {M.shape[-1]}")
    beta = torch.as_tensor(beta, dtype=M.dtype, device=M.device)
    if torch.any(beta < 0):
        raise ValueError(f"beta must be >= 0, got {beta}")
    return torch.softmax((beta[..., None] if beta.dim() else beta) * cosine(M, k), dim=-1)


def interpolate(w_c: torch.Tensor, w_prev: torch.Tensor, g: float | torch.Tensor) -> torch.Tensor:
    """``g w^c + (1 - g) w_{t-1}``; g = 1 is pure content, g = 0 keeps the last weighting."""
    if torch.any(torch.as_tensor(g) < 0) or torch.any(torch.as_tensor(g) > 1):
        raise ValueError(f"g must be in [0, 1], got {g}")
    return g * w_c + (1 - g) * w_prev


def shift(w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Circular convolution with ``s = (s_-1, s_0, s_+1)``: ``s = (0, 0, 1)`` moves every weight
    one slot forward (slot i -> i + 1)."""
    if s.shape[-1] != 3:
        raise ValueError(f"s must weight the 3 shifts (-1, 0, +1), got shape {tuple(s.shape)}")
    return (s[..., 0:1] * torch.roll(w, -1, dims=-1) + s[..., 1:2] * w
            + s[..., 2:3] * torch.roll(w, 1, dims=-1))


def sharpen(w: torch.Tensor, gamma: float, eps: float = EPS) -> torch.Tensor:
    """``w^gamma / sum w^gamma`` with gamma >= 1 (an exponent below 1 blurs, 0^gamma -> NaN grads)."""
    if gamma < 1:
        raise ValueError(f"gamma must be >= 1 (the code uses 1 + softplus), got {gamma}")
    wg = w.clamp_min(0) ** gamma
    return wg / (wg.sum(-1, keepdim=True) + eps)


def address(M, k, beta, w_prev=None, g=1.0, s=None, gamma=1.0):
    """The full addressing pipeline: content -> interpolate -> shift -> sharpen."""
    w = content_weights(M, k, beta)
    if w_prev is not None:
        w = interpolate(w, w_prev, g)
    if s is not None:
        w = shift(w, s)
    return sharpen(w, gamma) if gamma != 1.0 else w


def ntm_read(M: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``r = sum_i w_i M_i`` -> ``[..., W]``."""
    return torch.einsum("...n,...nw->...w", w, M)


def ntm_write(M: torch.Tensor, w: torch.Tensor, e: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Erase then add: ``M_i * (1 - w_i e) + w_i a`` (a new tensor)."""
    if torch.any(e < 0) or torch.any(e > 1):
        raise ValueError("erase vector e must lie in [0, 1]")
    return M * (1 - w[..., :, None] * e[..., None, :]) + w[..., :, None] * a[..., None, :]


class NTMMemory:
    """An N x W slot memory with NTM addressing (a ``Memory``). ``init`` is Collier & Beel's 1e-6."""

    def __init__(self, n_slots: int = 128, width: int = 20, init: float = INIT, dtype=torch.float64):
        if n_slots < 1 or width < 1:
            raise ValueError(f"n_slots and width must be >= 1, got {n_slots}, {width}")
        self.n_slots, self.width, self.init, self.dtype = n_slots, width, init, dtype
        self.reset()

    def reset(self) -> None:
        self.M = torch.full((self.n_slots, self.width), self.init, dtype=self.dtype)
        self.w_write = F.one_hot(torch.tensor(self.n_slots - 1), self.n_slots).to(self.dtype)

    def address(self, k, beta, w_prev=None, g=1.0, s=None, gamma=1.0) -> torch.Tensor:
        return address(self.M, k, beta, w_prev, g, s, gamma)

    def write(self, w: torch.Tensor, e: torch.Tensor | float, a: torch.Tensor) -> None:
        e = torch.as_tensor(e, dtype=self.dtype).expand(self.width)
        self.M = ntm_write(self.M, w, e, a)
        self.w_write = w

    def next_slot(self) -> torch.Tensor:
        """Location addressing only (g = 0, shift +1): the slot after the last write."""
        s = torch.tensor([0.0, 0.0, 1.0], dtype=self.dtype)
        return shift(self.w_write, s)

    def read(self, query: torch.Tensor | None = None, beta: float = 50.0,
             weights: torch.Tensor | None = None) -> torch.Tensor:
        """``r`` for the content weighting of ``query`` (key strength ``beta``), or for
        ``weights [N]`` given directly."""
        if weights is None:
            if query is None:
                raise ValueError("read needs a query or weights")
            weights = self.address(query, beta)
        return ntm_read(self.M, weights)

    def state_size(self) -> int:
        return self.n_slots * self.width
