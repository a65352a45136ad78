"""GeRe: general-sample replay with a threshold-based margin loss (Zhang et al. 2025, ``Qznan/GeRe``).

A fixed set of general samples (here: digits of the pre-training task) is replayed in every
batch. Before the new training starts, the *initial* model's hidden activations ``h0`` on those
samples are saved, with per-dimension mean ``mu`` and standard deviation ``sigma`` over all of
them; ``pos = mu + sigma``, ``neg = mu - sigma``. The threshold-margin (TM) loss keeps each
activation on the side of the band where it started::

    h0 >= pos  ->  relu(pos - h)            (stay above pos)
    h0 <= neg  ->  relu(h - neg)            (stay below neg)
    otherwise  ->  relu(h - pos) + relu(neg - h)   (stay inside the band)

averaged over the non-zero entries (so it is exactly 0 at step 0). Total loss in the code:
``mean(CE_task, CE_general) + w * TM`` with ``w = 100``.

Glossary: ``h`` current activations [n, d]; ``h0`` saved ones; ``mu``, ``sigma`` [d].
Not included: the ``"dy"`` dynamic weight, the KL / L1 / L2 imitation baselines of the paper.
"""

from __future__ import annotations

import torch

__all__ = ["tm_thresholds", "tm_loss", "GERE_WEIGHT"]

GERE_WEIGHT = 100.0


def tm_thresholds(h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(pos, neg) = mu +- sigma per dimension, over the saved activations h0: [n, d]."""
    if h0.dim() != 2 or h0.shape[0] < 2:
        raise ValueError(f"h0 must be [n >= 2, d], got {tuple(h0.shape)}")
    mu, sigma = h0.mean(0), h0.std(0)
    return mu + sigma, mu - sigma


def tm_loss(h: torch.Tensor, h0: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """The threshold-margin loss, averaged over its non-zero entries (0 when all are zero)."""
    if h.shape != h0.shape:
        raise ValueError(f"h {tuple(h.shape)} and h0 {tuple(h0.shape)} differ")
    above, below = h0 >= pos, h0 <= neg
    inside = torch.relu(h - pos) + torch.relu(neg - h)
    loss = torch.where(above, torch.relu(pos - h), torch.where(below, torch.relu(h - neg), inside))
    nonzero = (loss > 0).sum()
    return loss.sum() / nonzero.clamp_min(1)
