"""Elastic weight consolidation, online form (Kirkpatrick et al. 2017; Schwarz et al. 2018).

After task A the weights ``theta*_A`` are anchored with a quadratic penalty weighted by the
diagonal Fisher information ``F``::

    L(theta) = L_B(theta) + sum_i (lambda / 2) F_i (theta_i - theta*_{A,i})^2
    F_i      = E_x [ (d log p_theta(y | x) / d theta_i)^2 ]          (mean of PER-SAMPLE squares)
    online:   F <- gamma F + F_new,   theta* <- theta   after every task

Glossary: ``ewc_lambda`` = lambda, ``gamma`` = gamma (1.0 = add the tasks' Fishers), ``F`` =
``fisher`` (a dict parameter name -> tensor), ``theta_star`` = the anchor.

``fisher="empirical"`` uses the true label y (the empirical Fisher, as most code does);
``fisher="weighted"`` also weights each sample's squared gradient by p(y | x), as mammoth's
``ewc_on`` does. The Fisher must be the mean of per-sample squared gradients; the square of a
batch-mean gradient (a common slip, kept as a mutant) is far smaller and makes EWC toothless.
Per-sample gradients use ``torch.func.vmap``; :func:`fisher_loop` is the naive loop, tested equal.

Pitfalls (reference notes): lambda must be orders of magnitude above library defaults on split
digits/MNIST; EWC ends near one task's accuracy in class-incremental learning (expected).

Not included: the true Fisher (y sampled from the model), K-FAC, SI, LwF.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

__all__ = ["log_likelihood", "fisher_diagonal", "fisher_loop", "OnlineEWC"]


def log_likelihood(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """log p(y | x) under the (optionally masked: task-IL head) softmax. logits: [n, C]."""
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    return torch.log_softmax(logits, dim=-1).gather(-1, y[:, None])[:, 0]


def fisher_diagonal(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                    mask: torch.Tensor | None = None, mode: str = "empirical") -> dict:
    """Diagonal Fisher: mean over samples of the squared per-sample gradient of log p(y|x)."""
    if mode not in ("empirical", "weighted"):
        raise ValueError(f"mode must be 'empirical' or 'weighted', got {mode!r}")
    params = {k: v.detach() for k, v in model.named_parameters()}
    m = mask if mask is not None else torch.ones(x.shape[0], 1, dtype=torch.bool).expand(
        -1, model(x[:1]).shape[-1])

    def ll_one(p, xi, yi, mi):
        return log_likelihood(functional_call(model, p, (xi[None],)), yi[None], mi[None])[0]

    g = vmap(grad(ll_one), in_dims=(None, 0, 0, 0))(params, x, y, m)
    w = torch.ones(x.shape[0], dtype=x.dtype)
    if mode == "weighted":
        with torch.no_grad():
            w = log_likelihood(model(x), y, mask).exp()
    return {k: (w.view(-1, *[1] * (v.dim() - 1)) * v.pow(2)).mean(0) for k, v in g.items()}


def fisher_loop(model: nn.Module, x, y, mask=None, mode: str = "empirical") -> dict:
    """The same Fisher, one sample at a time with autograd (the naive reference)."""
    acc = {k: torch.zeros_like(v) for k, v in model.named_parameters()}
    for i in range(x.shape[0]):
        model.zero_grad()
        mi = None if mask is None else mask[i:i + 1]
        ll = log_likelihood(model(x[i:i + 1]), y[i:i + 1], mi)[0]
        ll.backward()
        w = ll.detach().exp() if mode == "weighted" else 1.0
        for k, p in model.named_parameters():
            acc[k] += w * p.grad.detach().pow(2)
    model.zero_grad()
    return {k: v / x.shape[0] for k, v in acc.items()}


class OnlineEWC:
    """Holds the running Fisher and the anchor; ``penalty(model)`` is added to the task loss."""

    def __init__(self, ewc_lambda: float, gamma: float = 1.0, mode: str = "empirical"):
        if ewc_lambda < 0:
            raise ValueError(f"ewc_lambda must be >= 0, got {ewc_lambda}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        self.ewc_lambda, self.gamma, self.mode = ewc_lambda, gamma, mode
        self.fisher: dict | None = None
        self.theta_star: dict | None = None

    def consolidate(self, model: nn.Module, x, y, mask=None) -> None:
        """After a task: F <- gamma F + F_new; theta* <- theta."""
        new = fisher_diagonal(model, x, y, mask, self.mode)
        if self.fisher is None:
            self.fisher = new
        else:
            self.fisher = {k: self.gamma * self.fisher[k] + new[k] for k in new}
        self.theta_star = {k: v.detach().clone() for k, v in model.named_parameters()}

    def penalty(self, model: nn.Module) -> torch.Tensor:
        if self.fisher is None or self.ewc_lambda == 0:
            return torch.zeros(())
        return sum((self.ewc_lambda / 2) * (self.fisher[k] * (p - self.theta_star[k]).pow(2)).sum()
                   for k, p in model.named_parameters())
