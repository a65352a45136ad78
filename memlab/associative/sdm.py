"""Kanerva's sparse distributed memory (SDM): a random-access memory addressed by content.

Book: P. Kanerva, "Sparse Distributed Memory", MIT Press (1988). Short form: Kanerva,
"Sparse distributed memory and related models", in Associative Neural Memories (1993).
Link to attention: Bricken & Pehlevan, "Attention Approximates Sparse Distributed Memory",
NeurIPS 2021.

Glossary (book symbol -> code)
    n            word length: addresses and data are n-bit binary words   ``n``
    M            number of hard locations                                 ``M``
    A_m          address of hard location m, random in {0,1}^n            ``A[m]``  ([M, n])
    C_m          n counters of location m                                 ``C[m]``  ([M, n])
    x            read/write address, [n]                                  ``x``     ([batch, n])
    w            data word written at x ([n]); autoassociative: w = x     ``w``
    r            activation (Hamming) radius                              ``r``
    d(x, A_m)    Hamming distance                                         ``hamming(x, A)``
    y_m          1 if location m is activated (d(x, A_m) <= r)            ``y``     ([batch, M])
    s            summed counters of the active locations                  ``s``

Equations
    activate:  y_m = [ d(x, A_m) <= r ]
    write:     C_m <- C_m + y_m (2 w - 1)          (each counter +1 for a 1-bit, -1 for a 0-bit)
    read:      s = sum_m y_m C_m ,   z_j = [ s_j > 0 ]
    iterated read (autoassociative): x <- z(x) converges to a stored word from a cue inside
    its "critical distance".
    A location is activated with probability p = P[Binomial(n, 1/2) <= r]; choose r from
    p with ``radius_for(n, p)`` (Kanerva's n = 1000, r = 451 gives p ~ 0.001).

Not included: the hyperplane / "Jaeckel" variants, multiple-bit data with different
widths, and counter saturation (the counters here are unbounded floats).
"""

from __future__ import annotations

import math

import torch

from memlab.memory import check_shape

__all__ = ["SparseDistributedMemory", "hamming", "hamming_loop", "radius_for"]


def radius_for(n: int, p: float) -> int:
    """Smallest radius r whose activation probability P[Bin(n, 1/2) <= r] is >= p."""
    if not 0 < p <= 1:
        raise ValueError(f"activation probability p must be in (0, 1], got {p}")
    total = 0
    for r in range(n + 1):
        total += math.comb(n, r)
        if total / 2**n >= p:
            return r
    return n


def hamming_loop(x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """Naive Hamming distances, bit by bit: ``x: [batch, n]``, ``A: [M, n]`` -> ``[batch, M]``."""
    out = torch.zeros(x.shape[0], A.shape[0])
    for b in range(x.shape[0]):
        for m in range(A.shape[0]):
            out[b, m] = sum(int(x[b, j] != A[m, j]) for j in range(x.shape[1]))
    return out


def hamming(x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """Vectorised: with bipolar u = 2x-1, d(x, a) = (n - u . v) / 2."""
    u, v = 2 * x - 1, 2 * A - 1
    return (x.shape[-1] - u @ v.T) / 2


class SparseDistributedMemory:
    """``M`` hard locations with random ``n``-bit addresses and counters; a :class:`Memory`."""

    def __init__(self, n: int, M: int, r: int | None = None, p: float | None = None,
                 seed: int = 0, device: torch.device | str | None = None):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n (word length) must be a positive integer, got {n!r}")
        if not isinstance(M, int) or M < 1:
            raise ValueError(f"M (hard locations) must be a positive integer, got {M!r}")
        if (r is None) == (p is None):
            raise ValueError("give exactly one of r (radius) or p (activation probability)")
        self.n, self.M = n, M
        self.r = radius_for(n, p) if r is None else int(r)
        if not 0 <= self.r <= n:
            raise ValueError(f"radius r must be in [0, n={n}], got {r}")
        g = torch.Generator()
        g.manual_seed(seed)
        self.A = torch.randint(0, 2, (M, n), generator=g).float().to(device)
        self.C = torch.zeros(M, n, device=device)
        self.n_written = 0

    def _check_bits(self, x: torch.Tensor, name: str) -> torch.Tensor:
        if isinstance(x, torch.Tensor) and x.dim() == 1:
            x = x.unsqueeze(0)
        check_shape(x, name, ndim=2, last=self.n)
        if not bool(((x == 0) | (x == 1)).all()):
            raise ValueError(f"{name} must be a binary word (entries 0 and 1)")
        return x.to(self.C)

    def activate(self, x: torch.Tensor) -> torch.Tensor:
        """y: ``[batch, M]`` 0/1, locations within Hamming radius r of each address."""
        return (hamming(self._check_bits(x, "address"), self.A) <= self.r).to(self.C)

    def write(self, address: torch.Tensor, data: torch.Tensor | None = None) -> None:
        """Add 2w-1 to the counters of every active location (``data=None``: w = address)."""
        x = self._check_bits(address, "address")
        w = x if data is None else self._check_bits(data, "data")
        if w.shape[0] != x.shape[0]:
            raise ValueError(f"address and data batch sizes differ: {x.shape[0]} vs {w.shape[0]}")
        self.C += self.activate(x).T @ (2 * w - 1)
        self.n_written += x.shape[0]

    def forget(self, address: torch.Tensor, data: torch.Tensor | None = None) -> None:
        """Undo a write exactly (subtract the same counter increments)."""
        x = self._check_bits(address, "address")
        w = x if data is None else self._check_bits(data, "data")
        self.C -= self.activate(x).T @ (2 * w - 1)
        self.n_written = max(0, self.n_written - x.shape[0])

    def read(self, address: torch.Tensor, iterations: int = 1) -> torch.Tensor:
        """z = [sum of active counters > 0]; ``iterations > 1`` feeds z back as the address."""
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        z = self._check_bits(address, "address")
        for _ in range(iterations):
            s = self.activate(z) @ self.C
            z = (s > 0).to(self.C)
        return z

    def state_size(self) -> int:
        """Numbers stored: M x n counters (the M x n random addresses are fixed, not learned)."""
        return self.M * self.n

    def reset(self) -> None:
        self.C.zero_()
        self.n_written = 0

    def __repr__(self) -> str:
        return (f"SparseDistributedMemory(n={self.n}, M={self.M}, r={self.r}, "
                f"written={self.n_written})")
