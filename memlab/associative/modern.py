"""Modern (dense, continuous) Hopfield network: one softmax step retrieves a pattern.

Paper: H. Ramsauer, B. Schafl, J. Lehner, et al., "Hopfield Networks is All You Need",
ICLR 2021 (arXiv:2008.02217, 2020). Builds on Krotov & Hopfield, "Dense Associative Memory
for Pattern Recognition", NeurIPS 2016, and Demircigil et al. (2017): storage capacity
grows exponentially in the dimension d instead of linearly.

Glossary (paper symbol -> code). The paper calls the number of stored patterns N; in memlab
it is ``P`` (N is the classical net's neuron count).
    d            pattern dimension                             ``d``
    x_i          stored pattern i, [d]                         ``X[i]``   (X: [P, d], rows)
    X            the stored patterns (paper: columns of X)      ``X``
    xi           state / query pattern, [d]                     ``xi``     ([batch, d])
    beta         inverse temperature                            ``beta``
    p            softmax(beta X^T xi): weight on each pattern   ``p``      ([batch, P])
    M            largest pattern norm max_i ||x_i||             ``M``
    lse          log-sum-exp, lse(beta, z) = beta^-1 log sum_i exp(beta z_i)
    R, Y         query / stored inputs of a Hopfield layer      ``R``, ``Y``
    W_Q,W_K,W_V  projections of a Hopfield layer                ``W_Q``, ``W_K``, ``W_V``

Equations
    energy (eq. 2):   E(xi) = -lse(beta, X^T xi) + 1/2 xi^T xi + beta^-1 log P + 1/2 M^2
    update (eq. 3):   xi_new = X softmax(beta X^T xi)          (one step of CCCP on E:
                      E(xi_new) <= E(xi); it converges, usually in one step)
    as attention (eq. 10): Z = softmax(beta Q K^T) V,  Q = R W_Q, K = Y W_K, V = Y W_K W_V
                      with beta = 1/sqrt(d_k): the transformer's attention is this update
                      with the stored patterns as keys and values.
    regimes of beta:  large beta -> fixed points next to single patterns (retrieval);
                      intermediate -> metastable states averaging a subset of similar
                      patterns; small beta -> one global fixed point, the mean of all.

Not included: the separation-based capacity bounds (Theorems 3-5), Hopfield pooling and the
``hflayers`` options (normalisation flags, static patterns, out-projection); Krotov & Hopfield's
polynomial / exponential interaction functions on binary states.
"""

from __future__ import annotations

import math

import torch

from memlab.memory import check_shape

__all__ = ["ModernHopfield", "energy", "hopfield_layer", "update", "update_loop"]


def _check_beta(beta: float) -> float:
    if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a positive finite number, got {beta!r}")
    return float(beta)


# ----------------------------------------------------------------------------- naive form
def update_loop(xi: torch.Tensor, X: torch.Tensor, beta: float) -> torch.Tensor:
    """xi_new = X softmax(beta X^T xi), written as loops over queries and patterns."""
    beta = _check_beta(beta)
    out = torch.zeros_like(xi)
    for b in range(xi.shape[0]):
        scores = [beta * float(X[i] @ xi[b]) for i in range(X.shape[0])]
        top = max(scores)                                  # subtract the max: stable exp
        weights = [math.exp(a - top) for a in scores]
        total = sum(weights)
        for i in range(X.shape[0]):
            out[b] += (weights[i] / total) * X[i]
    return out


# ----------------------------------------------------------------------------- fast form
def update(xi: torch.Tensor, X: torch.Tensor, beta: float,
           return_weights: bool = False):
    """Vectorised update. ``xi: [batch, d]``, ``X: [P, d]`` -> ``[batch, d]`` (and ``p``)."""
    beta = _check_beta(beta)
    check_shape(xi, "xi", ndim=2)
    check_shape(X, "X", ndim=2, last=xi.shape[-1])
    p = torch.softmax(beta * xi @ X.T, dim=-1)            # [batch, P]
    new = p @ X
    return (new, p) if return_weights else new


def energy(xi: torch.Tensor, X: torch.Tensor, beta: float) -> torch.Tensor:
    """E(xi) of eq. 2 for each row of ``xi: [batch, d]`` -> ``[batch]``."""
    beta = _check_beta(beta)
    lse = torch.logsumexp(beta * xi @ X.T, dim=-1) / beta
    M = X.norm(dim=-1).max()
    return -lse + 0.5 * (xi * xi).sum(-1) + math.log(X.shape[0]) / beta + 0.5 * M**2


def hopfield_layer(R: torch.Tensor, Y: torch.Tensor, W_Q: torch.Tensor, W_K: torch.Tensor,
                   W_V: torch.Tensor, beta: float | None = None) -> torch.Tensor:
    """Eq. 10: Z = softmax(beta R W_Q (Y W_K)^T) Y W_K W_V.

    ``R: [..., S, d_r]`` (state / query patterns), ``Y: [..., T, d_y]`` (stored patterns).

    ``beta`` defaults to 1/sqrt(d_k) as in a transformer.
    """
    Q, K = R @ W_Q, Y @ W_K
    V = K @ W_V
    beta = 1.0 / math.sqrt(Q.shape[-1]) if beta is None else _check_beta(beta)
    return torch.softmax(beta * Q @ K.transpose(-1, -2), dim=-1) @ V


class ModernHopfield:
    """A store of continuous patterns read by the softmax update; a :class:`Memory`.

    Writing appends patterns (the state grows, P x d numbers); forgetting deletes them.
    """

    def __init__(self, d: int, beta: float = 1.0, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32):
        if not isinstance(d, int) or d < 1:
            raise ValueError(f"d (pattern dimension) must be a positive integer, got {d!r}")
        self.d = d
        self.beta = _check_beta(beta)
        self.X = torch.zeros(0, d, device=device, dtype=dtype)

    def write(self, patterns: torch.Tensor) -> None:
        """Store ``patterns: [P, d]`` (or [d])."""
        if isinstance(patterns, torch.Tensor) and patterns.dim() == 1:
            patterns = patterns.unsqueeze(0)
        check_shape(patterns, "patterns", ndim=2, last=self.d)
        self.X = torch.cat([self.X, patterns.to(self.X)], dim=0)

    def read(self, query: torch.Tensor, steps: int = 1, beta: float | None = None,
             return_weights: bool = False):
        """Apply the update ``steps`` times to ``query: [batch, d]`` (default: once)."""
        if self.X.shape[0] == 0:
            raise ValueError("the memory is empty: write patterns before reading")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if isinstance(query, torch.Tensor) and query.dim() == 1:
            query = query.unsqueeze(0)
        check_shape(query, "query", ndim=2, last=self.d)
        xi = query.to(self.X)
        for _ in range(steps):
            xi, p = update(xi, self.X, self.beta if beta is None else beta, return_weights=True)
        return (xi, p) if return_weights else xi

    def energy(self, xi: torch.Tensor, beta: float | None = None) -> torch.Tensor:
        return energy(xi.to(self.X), self.X, self.beta if beta is None else beta)

    def forget(self, index: int | list[int] | torch.Tensor) -> None:
        """Delete the stored patterns at ``index``."""
        keep = torch.ones(self.X.shape[0], dtype=torch.bool, device=self.X.device)
        idx = torch.as_tensor(index, device=self.X.device).reshape(-1)
        if idx.numel() and (idx.min() < -self.X.shape[0] or idx.max() >= self.X.shape[0]):
            raise ValueError(f"index {index!r} out of range for {self.X.shape[0]} patterns")
        keep[idx] = False
        self.X = self.X[keep]

    @property
    def P(self) -> int:
        return self.X.shape[0]

    def state_size(self) -> int:
        """Numbers stored: P x d (grows with every write, like a KV cache)."""
        return self.X.numel()

    def reset(self) -> None:
        self.X = self.X[:0]

    def __repr__(self) -> str:
        return f"ModernHopfield(d={self.d}, beta={self.beta}, patterns={self.P})"
