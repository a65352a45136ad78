"""ATLAS's Omega rule: fit the memory to a sliding window of the last c tokens, not just one.

Paper: Behrouz, Li, Kacham, Daliri, Deng, Zhong, Razaviyayn, Mirrokni, "ATLAS: Learning to
Optimally Memorize the Context at Test Time" (2025), section 3 ("Omega rule").

Glossary (ATLAS symbol -> memlab; the memory code is shared with Titans, :mod:`.titans`)::

    c             window length (c = 1: the online delta rule; Titans' loss)   window
    gamma_i^(t)   weight of token i's loss inside the window, in [0, 1]       gamma (a constant)
    alpha_t       retention: M_t = alpha_t M_{t-1} ...                        1 - alpha (Titans'
                                                                              forget gate)
    eta_t         learning rate                                               theta
    phi(.)        feature map of the keys (polynomial in ATLAS)               identity here

Equation (ATLAS's OmegaNet update, one gradient step on a windowed objective)::

    M_t = alpha_t M_{t-1} - eta_t grad sum_{i=t-c+1..t} gamma_i^(t) ||M(phi(k_i)) - v_i||^2

In Titans' notation this is the Titans rule with eta (momentum) = 0 and the per-token loss
replaced by the window's sum: ``titans_recurrent(..., eta=0, gamma=gamma)`` with a state made by
``init_state(W0, batch, window=c)``. The chunked form handles the window with a band matrix G
(see :mod:`.titans`). With gamma = 1/c the step is on the window's mean loss, so a value written
c times with independent noise is pulled towards the mean of the c copies (chapter 06).

Not included: ATLAS's Muon optimiser (Atlas = Omega + Muon), polynomial feature maps,
input-dependent gamma, and the DeepTransformers family.
"""

from __future__ import annotations

import torch

from memlab.testtime.neural_memory import NeuralMemory
from memlab.testtime.titans import init_state, titans_chunked, titans_recurrent

__all__ = ["OmegaMemory", "omega_rule"]


def omega_rule(q, k, v, lr, retention, W0, c: int, gamma: float | None = None,
               chunk_size: int = 1, parallel: bool = True, act: str = "silu"):
    """The Omega rule in ATLAS's notation. q, k [B, T, H, d_k]; v [B, T, H, d_v];
    lr (eta_t) and retention (alpha_t) [B, T, H]; W0: initial memory weights, list of
    [H, out, in]; gamma defaults to 1/c (the window's mean loss). Returns (y, TitansState)."""
    if not isinstance(c, int) or c < 1:
        raise ValueError(f"window c must be an int >= 1, got {c!r}")
    gamma = 1.0 / c if gamma is None else gamma
    state = init_state(W0, k.shape[0], window=c)
    fn = titans_chunked if parallel else titans_recurrent
    return fn(q, k, v, lr, torch.zeros_like(lr), 1 - retention, state, chunk_size=chunk_size,
              gamma=gamma, act=act)


class OmegaMemory(NeuralMemory):
    """A NeuralMemory layer with the Omega rule: window c, no momentum, gamma = 1/c by default."""

    def __init__(self, d_model: int, c: int = 4, gamma: float | None = None, **kw):
        if not isinstance(c, int) or c < 1:
            raise ValueError(f"window c must be an int >= 1, got {c!r}")
        kw.setdefault("eta", 0.0)
        super().__init__(d_model, window=c, gamma=1.0 / c if gamma is None else gamma, **kw)
