"""Split-digits: scikit-learn's bundled 8x8 digits as 5 tasks of 2 classes (nothing downloaded).

``load_digits`` ships 1,797 images of 8 x 8 pixels with values 0..16 inside the scikit-learn
wheel. Task t holds classes (2t, 2t+1). Each class is split 70/30 into train/test, stratified,
from the seed. Pixels are scaled to [0, 1] for the model; one stored exemplar costs 64 bytes
(a pixel fits one byte) plus one byte for its label.

Two scenarios read the same tasks:
- class-incremental (class-IL): one 10-way head, no task id at test time;
- task-incremental (task-IL): the task id is given, the prediction is restricted to its 2 classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["SplitTask", "split_digits", "EXEMPLAR_BYTES"]

EXEMPLAR_BYTES = 64 + 1   # 8 x 8 pixels of 0..16 (one byte each) + the label


@dataclass
class SplitTask:
    classes: tuple[int, ...]
    x_train: torch.Tensor   # [n, 64] float in [0, 1]
    y_train: torch.Tensor   # [n] int64 class labels 0..9
    x_test: torch.Tensor
    y_test: torch.Tensor


def split_digits(n_tasks: int = 5, train_fraction: float = 0.7, seed: int = 0,
                 permute_pixels: bool = False) -> list[SplitTask]:
    """The digits as ``n_tasks`` tasks of ``10 // n_tasks`` classes each (in class order)."""
    from sklearn.datasets import load_digits

    if n_tasks not in (1, 2, 5, 10):
        raise ValueError(f"n_tasks must divide the 10 classes (1, 2, 5 or 10), got {n_tasks}")
    if not 0.1 <= train_fraction <= 0.9:
        raise ValueError(f"train_fraction must be in [0.1, 0.9], got {train_fraction}")
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target, dtype=torch.int64)
    rng = np.random.default_rng(seed)
    if permute_pixels:
        x = x[:, torch.as_tensor(rng.permutation(64))]
    per = 10 // n_tasks
    tasks = []
    for t in range(n_tasks):
        classes = tuple(range(t * per, (t + 1) * per))
        tr, te = [], []
        for c in classes:
            idx = np.flatnonzero(data.target == c)
            rng.shuffle(idx)
            k = int(round(train_fraction * len(idx)))
            tr.append(idx[:k])
            te.append(idx[k:])
        tr, te = np.concatenate(tr), np.concatenate(te)
        rng.shuffle(tr)
        tasks.append(SplitTask(classes, x[tr], y[tr], x[te], y[te]))
    return tasks
