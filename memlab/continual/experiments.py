"""Chapter 16's experiments: forgetting, replay vs buffer size, EWC in three scenarios, budgets.

Every function takes a seed and returns plain numbers, so that the notebook, the claim tests and
the mutant checks run the same code.
"""

from __future__ import annotations

import numpy as np
import torch

from memlab.continual.buffer import ReservoirBuffer
from memlab.continual.learner import (average_accuracy, forgetting, make_mlp, model_bytes,
                                      run_continual)
from memlab.tasks.split_digits import EXEMPLAR_BYTES, split_digits

__all__ = ["scenario_table", "buffer_sweep", "permuted_ewc", "reservoir_inclusion", "final_acc", "buffer_gain",
           "equal_to_naive", "budget_curve", "permuted_tasks"]


def scenario_table(seed: int = 0, epochs: int = 10, ewc_lambda: float = 1e3,
                   buffer_size: int = 50) -> dict[str, dict]:
    """Final average accuracy, forgetting and the matrix R on split digits: naive, ER, EWC and
    joint in class-IL; naive and EWC in task-IL."""
    tasks = split_digits(seed=seed)
    out = {}
    runs = [("naive", "class", {}), ("er", "class", {"buffer_size": buffer_size}),
            ("ewc", "class", {"ewc_lambda": ewc_lambda}), ("joint", "class", {}),
            ("naive", "task", {}), ("ewc", "task", {"ewc_lambda": ewc_lambda})]
    for method, scenario, kw in runs:
            r = run_continual(tasks, method, scenario, epochs=epochs, seed=seed, **kw)
            out[f"{method}_{scenario}"] = {"acc": average_accuracy(r.R),
                                           "forgetting": forgetting(r.R), "R": r.R.tolist()}
    return out


def buffer_sweep(sizes: list[int], seed: int = 0, epochs: int = 10) -> dict[str, list]:
    """Class-IL final accuracy of ER for each buffer size, with the bytes each buffer holds."""
    tasks = split_digits(seed=seed)
    acc, nbytes = [], []
    for m in sizes:
        r = run_continual(tasks, "er" if m > 0 else "naive", "class", buffer_size=m,
                          epochs=epochs, seed=seed)
        acc.append(average_accuracy(r.R))
        nbytes.append(r.memory_bytes)
    return {"sizes": list(sizes), "acc": acc, "bytes": nbytes}


def permuted_tasks(n_tasks: int = 4, seed: int = 0):
    """Domain-incremental: all ten digits, task k under its own fixed pixel permutation."""
    return [split_digits(n_tasks=1, seed=100 * seed + k, permute_pixels=k > 0)[0]
            for k in range(n_tasks)]


def permuted_ewc(seed: int = 0, ewc_lambda: float = 100.0, n_tasks: int = 3,
                 epochs: int = 5) -> dict[str, float]:
    """Naive vs EWC on permuted digits (EWC's own benchmark): accuracy and forgetting."""
    tasks = permuted_tasks(n_tasks, seed)
    naive = run_continual(tasks, "naive", "class", epochs=epochs, seed=seed)
    ewc = run_continual(tasks, "ewc", "class", ewc_lambda=ewc_lambda, epochs=epochs, seed=seed)
    return {"naive_acc": average_accuracy(naive.R), "ewc_acc": average_accuracy(ewc.R),
            "naive_forgetting": forgetting(naive.R), "ewc_forgetting": forgetting(ewc.R),
            "forgetting_reduction": forgetting(naive.R) - forgetting(ewc.R)}


def reservoir_inclusion(n: int = 20, capacity: int = 10, trials: int = 2000,
                        seed: int = 0) -> dict[str, float]:
    """Offer items 0..n-1 to a reservoir ``trials`` times; each should be kept with p = M/n.

    Returns the chi-square p-value of the inclusion counts against M/n (a uniformity test:
    small p means some positions of the stream are favoured) and the worst |freq - M/n|."""
    from scipy.stats import chisquare

    counts = np.zeros(n)
    x = torch.arange(n, dtype=torch.float32)[:, None]
    y = torch.arange(n)
    for t in range(trials):
        buf = ReservoirBuffer(capacity, seed=seed * 100_003 + t)
        buf.write(x, y)
        counts[buf.y[:buf.n_kept].numpy()] += 1
    expected = np.full(n, trials * capacity / n)
    return {"p_value": float(chisquare(counts, expected).pvalue),
            "max_abs_dev": float(np.abs(counts / trials - capacity / n).max()),
            "p_keep": capacity / n}


def equal_to_naive(seed: int = 0, epochs: int = 2) -> dict[str, float]:
    """EWC with lambda 0 and ER with an empty buffer are naive fine-tuning, exactly:
    the largest difference of final weights and of accuracy matrices (0.0 when equal)."""
    tasks = split_digits(seed=seed)[:3]
    naive = run_continual(tasks, "naive", epochs=epochs, seed=seed)
    out = {}
    for name, kw in (("ewc_lambda0", {"method": "ewc", "ewc_lambda": 0.0}),
                     ("er_buffer0", {"method": "er", "buffer_size": 0})):
        r = run_continual(tasks, epochs=epochs, seed=seed, **kw)
        dw = max(float((a - b).detach().abs().max()) for a, b in
                 zip(r.model.parameters(), naive.model.parameters()))
        out[name] = max(dw, float(np.abs(r.R - naive.R).max()))
    return out


def budget_curve(sweep: dict) -> dict:
    """The buffer sweep on a byte axis, with the model's own size in bytes and in exemplars."""
    mb = model_bytes(make_mlp(0))
    return {"bytes": sweep["bytes"], "acc": sweep["acc"], "model_bytes": mb,
            "exemplars_per_model": mb / EXEMPLAR_BYTES}


def final_acc(method: str, scenario: str, seed: int, epochs: int = 10, **kw) -> float:
    """Final average accuracy of one run on split digits (one point of a seed spread)."""
    return average_accuracy(run_continual(split_digits(seed=seed), method, scenario,
                                          epochs=epochs, seed=seed, **kw).R)


def buffer_gain(seed: int, small: int = 10, large: int = 200, epochs: int = 10) -> float:
    """ER class-IL accuracy with ``large`` exemplars minus with ``small``."""
    return (final_acc("er", "class", seed, epochs, buffer_size=large)
            - final_acc("er", "class", seed, epochs, buffer_size=small))
