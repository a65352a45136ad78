"""One learner for every continual-learning method of chapter 16: naive, ER, EWC, joint.

The network is an MLP 64-128-10 (9,610 parameters = 38,440 bytes in float32, the size of
about 590 stored digits: a built-in "a model or 603 exemplars" comparison). Tasks arrive one
after another; each is trained for ``epochs`` passes with Adam (lr 1e-3, batch 16), and after
each task the model is tested on every task, filling the accuracy matrix::

    R[i, j] = test accuracy on task j after training on tasks 0..i

    average accuracy  A_T   = mean_j R[T-1, j]
    forgetting        f_j   = max_{i < T-1} R[i, j] - R[T-1, j]           (Chaudhry et al. 2018)
    backward transfer BWT   = mean_{j < T-1} (R[T-1, j] - R[j, j])        (Lopez-Paz & Ranzato 2017)

Methods:
- ``naive``: fine-tune on each task in turn;
- ``er``: experience replay, each batch of the new task joined by an equal-sized batch drawn
  from a reservoir buffer (:mod:`memlab.continual.buffer`) that sees the whole stream;
- ``ewc``: online EWC (:mod:`memlab.continual.ewc`);
- ``joint``: all tasks at once (the upper bound; one row).
Scenarios: ``class`` (one 10-way head) and ``task`` (the logits are masked to the task's classes
in training and at test time: a multi-head model in one matrix).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from memlab.continual.buffer import ReservoirBuffer
from memlab.continual.ewc import OnlineEWC
from memlab.tasks.split_digits import EXEMPLAR_BYTES

__all__ = ["make_mlp", "model_bytes", "task_mask", "accuracy", "ContinualRun", "run_continual",
           "average_accuracy", "forgetting", "backward_transfer", "METHODS", "SCENARIOS"]

METHODS = ("naive", "er", "ewc", "joint")
SCENARIOS = ("class", "task")


def make_mlp(seed: int, d_in: int = 64, hidden: int = 128, n_classes: int = 10) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))


def model_bytes(model: nn.Module) -> int:
    """Bytes of the parameters as stored (float32: 4 per parameter)."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def task_mask(y: torch.Tensor, classes_per_task: int, n_classes: int = 10) -> torch.Tensor:
    """[n, n_classes] True for the classes of each label's own task (the task-IL head)."""
    t = y // classes_per_task
    cls = torch.arange(n_classes)
    return (cls[None] // classes_per_task) == t[:, None]


def _logits(model, x, y, scenario: str, per: int):
    out = model(x)
    if scenario == "task":
        out = out.masked_fill(~task_mask(y, per, out.shape[-1]), float("-inf"))
    return out


def accuracy(model, x, y, scenario: str = "class", per: int = 2) -> float:
    with torch.no_grad():
        return float((_logits(model, x, y, scenario, per).argmax(-1) == y).float().mean())


@dataclass
class ContinualRun:
    R: np.ndarray                       # [T, T] accuracy matrix (joint: one row repeated)
    memory_bytes: int                   # exemplar bytes held at the end (ER), else 0
    model: nn.Module = field(repr=False)


def _batches(n: int, batch_size: int, g: torch.Generator):
    perm = torch.randperm(n, generator=g)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def run_continual(tasks, method: str = "naive", scenario: str = "class", buffer_size: int = 0,
                  ewc_lambda: float = 0.0, ewc_gamma: float = 1.0, epochs: int = 5,
                  batch_size: int = 16, lr: float = 1e-3, seed: int = 0) -> ContinualRun:
    """Train on ``tasks`` in order with ``method``; return the accuracy matrix."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS}, got {scenario!r}")
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ValueError(f"need epochs >= 1, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}")
    per = len(tasks[0].classes)
    model = make_mlp(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    ce = nn.CrossEntropyLoss()
    buffer = ReservoirBuffer(buffer_size if method == "er" else 0, EXEMPLAR_BYTES, seed)
    ewc = OnlineEWC(ewc_lambda if method == "ewc" else 0.0, ewc_gamma)
    T = len(tasks)
    stages = [tasks] if method == "joint" else [[t] for t in tasks]
    R = np.zeros((T, T))
    for i, stage in enumerate(stages):
        x = torch.cat([t.x_train for t in stage])
        y = torch.cat([t.y_train for t in stage])
        for _ in range(epochs):
            for idx in _batches(x.shape[0], batch_size, g):
                xb, yb = x[idx], y[idx]
                replay = buffer.read(len(idx), g)
                if replay is not None:
                    xb, yb = torch.cat([xb, replay[0]]), torch.cat([yb, replay[1]])
                loss = ce(_logits(model, xb, yb, scenario, per), yb) + ewc.penalty(model)
                opt.zero_grad()
                loss.backward()
                opt.step()
                buffer.write(x[idx], y[idx])
        if method == "ewc" and ewc_lambda > 0:
            ewc.consolidate(model, x, y, task_mask(y, per) if scenario == "task" else None)
        row = [accuracy(model, t.x_test, t.y_test, scenario, per) for t in tasks]
        if method == "joint":
            R[:] = row
        else:
            R[i] = row
    return ContinualRun(R, buffer.state_size(), model)


def average_accuracy(R: np.ndarray) -> float:
    return float(R[-1].mean())


def forgetting(R: np.ndarray) -> float:
    """Mean over the first T-1 tasks of (best earlier accuracy - final accuracy)."""
    T = R.shape[0]
    if T < 2:
        return 0.0
    return float(np.mean([R[:T - 1, j].max() - R[T - 1, j] for j in range(T - 1)]))


def backward_transfer(R: np.ndarray) -> float:
    """Mean over the first T-1 tasks of (final accuracy - accuracy just after learning it)."""
    T = R.shape[0]
    if T < 2:
        return 0.0
    return float(np.mean([R[T - 1, j] - R[j, j] for j in range(T - 1)]))
