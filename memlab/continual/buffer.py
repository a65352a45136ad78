"""Reservoir exemplar memory with byte accounting (experience replay, Chaudhry et al. 2019).

Reservoir sampling keeps a uniform sample of a stream of unknown length in ``M`` slots. After
``n`` items each one is in the buffer with probability ``M / n``:

    reservoir(n_seen, M):  if n_seen < M: slot = n_seen               (fill)
                           j ~ Uniform{0, ..., n_seen}                (n_seen + 1 choices)
                           slot = j if j < M else drop

(the rule of mammoth's ``utils/buffer.py`` and its forks; ``n_seen`` counts items before this one).

Glossary: ``M`` = ``capacity`` (slots), ``n_seen`` = items offered so far, ``j`` = the drawn slot.
The memory's size is counted in bytes, so that a stored model and stored exemplars compete for
one budget ("A Model or 603 Exemplars", Zhou et al. 2023): ``state_size()`` = kept items x
``item_bytes``.

Not included: class-balanced or herding selection (iCaRL), reservoir over a distributed stream.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["reservoir_slot", "ReservoirBuffer"]


def reservoir_slot(n_seen: int, capacity: int, rng: np.random.Generator) -> int:
    """The slot the next stream item goes to, or -1 to drop it."""
    if n_seen < capacity:
        return n_seen
    j = int(rng.integers(0, n_seen + 1))      # uniform on {0, ..., n_seen}
    return j if j < capacity else -1


class ReservoirBuffer:
    """``capacity`` exemplars (x, y) kept by reservoir sampling. A ``Memory``."""

    def __init__(self, capacity: int, item_bytes: int = 65, seed: int = 0):
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        if item_bytes < 1:
            raise ValueError(f"item_bytes must be >= 1, got {item_bytes}")
        self.capacity, self.item_bytes = capacity, item_bytes
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None
        self.n_seen = 0
        self.n_kept = 0

    def write(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Offer a batch of items to the reservoir, one by one, in order."""
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x has {x.shape[0]} items, y {y.shape[0]}")
        if self.capacity == 0:
            self.n_seen += x.shape[0]
            return
        if self.x is None:
            self.x = torch.zeros(self.capacity, *x.shape[1:], dtype=x.dtype)
            self.y = torch.zeros(self.capacity, dtype=y.dtype)
        # the rule runs item by item (it is sequential in n_seen); the tensor copies are batched,
        # the last item drawn to a slot winning, as in the item-by-item loop
        chosen: dict[int, int] = {}
        for i in range(x.shape[0]):
            slot = reservoir_slot(self.n_seen, self.capacity, self.rng)
            if slot >= 0:
                chosen[slot] = i
                self.n_kept = min(self.n_kept + 1, self.capacity)
            self.n_seen += 1
        if chosen:
            slots = torch.tensor(list(chosen.keys()))
            items = torch.tensor(list(chosen.values()))
            self.x[slots], self.y[slots] = x[items], y[items]

    def read(self, n: int, generator: torch.Generator | None = None):
        """A uniform sample of ``n`` stored items (with replacement), or None when empty."""
        if self.n_kept == 0 or n <= 0:
            return None
        idx = torch.randint(0, self.n_kept, (n,), generator=generator)
        return self.x[idx], self.y[idx]

    def state_size(self) -> int:
        """Bytes held: kept exemplars x bytes per exemplar."""
        return self.n_kept * self.item_bytes

    def __len__(self) -> int:
        return self.n_kept
