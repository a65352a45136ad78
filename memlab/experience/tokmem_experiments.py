"""Chapter 14's TokMem-lite experiment: learn new procedures one after another.

One run (one seed): pre-train the backbone (cached), then learn ``n_new`` compositions in a
seeded order, ``steps`` Adam steps each on ``n_train`` examples, under two memories:

* ``tokmem``: :class:`~memlab.experience.tokmem.TokenProcedureMemory` (one row trained, mask);
* ``finetune``: :class:`~memlab.experience.tokmem.FineTuneMemory` (every parameter trained,
  same rows, same steps, same examples): sequential full fine-tuning.

Accuracy (exact match on 256 fresh inputs) of each new procedure just after it was learned
(``just``) and after all were learned (``final``); the untrained baseline is the best of a
fresh row (mean init, no training) and every existing token of the backbone, on each new
procedure (routing a new task to the nearest known procedure). In-context demonstrations are
not a baseline here: the tiny backbone was never trained to read demonstrations.
"""

from __future__ import annotations

import numpy as np
import torch

from memlab.experience import tokmem as T

__all__ = ["out_of_reach", "retention", "tokmem_claims", "tokmem_run"]


def tokmem_run(seed: int = 0, n_new: int = 5, steps: int = 200, n_train: int = 128,
               pretrain_steps: int = 800, d: int = 64, n_eval: int = 256,
               backbone_seed: int | None = None, methods=("tokmem", "finetune")) -> dict:
    """``order`` (the new procedures, a seeded draw of the compositions) and, per method,
    ``just`` [n_new], ``final`` [n_new], ``base_before`` / ``base_after`` [8] accuracies;
    plus ``untrained`` [n_new]. The backbone is pre-trained with ``backbone_seed`` (default:
    ``seed``); ``seed`` draws the order, the examples and the minibatches."""
    if not isinstance(n_new, int) or not 1 <= n_new <= len(T.COMPOSITIONS):
        raise ValueError(f"n_new must be an int in [1, {len(T.COMPOSITIONS)}], got {n_new!r}")
    if not set(methods) <= {"tokmem", "finetune"}:
        raise ValueError(f"methods must be drawn from ('tokmem', 'finetune'), got {methods!r}")
    bseed = seed if backbone_seed is None else backbone_seed
    order = [T.COMPOSITIONS[i] for i in
             torch.randperm(len(T.COMPOSITIONS), generator=torch.Generator().manual_seed(seed))[:n_new]]
    out = {"order": order}
    for method in methods:
        mem = (T.TokenProcedureMemory if method == "tokmem" else T.FineTuneMemory)(
            T.pretrain(bseed, pretrain_steps, d))
        base_before = [mem.accuracy(n, n_eval) for n in T.BASE]
        just = []
        for k, name in enumerate(order):
            mem.learn(name, T.examples(name, n_train, seed=1000 * seed + k), steps, seed=seed + k)
            just.append(mem.accuracy(name, n_eval))
        out[method] = {"just": np.array(just),
                       "final": np.array([mem.accuracy(n, n_eval) for n in order]),
                       "base_before": np.array(base_before),
                       "base_after": np.array([mem.accuracy(n, n_eval) for n in T.BASE]),
                       "state_size": mem.state_size(), "memory": mem}
    mem = T.TokenProcedureMemory(T.pretrain(bseed, pretrain_steps, d))
    untrained = []
    for name in order:
        mem.add_procedure(name)
        untrained.append(max(mem.accuracy(t, n_eval, truth=name) for t in mem.rows))
    out["untrained"] = np.array(untrained)
    return out


def retention(m: dict) -> float:
    """min over stored procedures of final / reference accuracy (reference: before, for the
    base procedures; just learned, for the new ones); a procedure never learned (reference 0)
    counts as 1: nothing to lose."""
    ref = np.concatenate([m["base_before"], m["just"]])
    now = np.concatenate([m["base_after"], m["final"]])
    r = np.where(ref > 0, now / np.where(ref > 0, ref, 1.0), 1.0)
    return float(r.min())


def tokmem_claims(seed: int = 0, **kw) -> dict:
    """The claims of one seed (see the chapter module). Retention = min over every stored
    procedure (the 8 base ones and the new ones) of its final accuracy / its accuracy before
    (base) or just after it was learned (new)."""
    r = tokmem_run(seed, **kw)
    tm, ft = r["tokmem"], r["finetune"]
    return {"tokmem_retention_min": retention(tm),
            "finetune_retention_min": retention(ft),
            "finetune_mean_forgetting": float(np.mean(ft["just"][:-1] - ft["final"][:-1])),
            "finetune_first_drop": float(ft["just"][0] - ft["final"][0]),
            "tokmem_minus_untrained": float(np.mean(tm["just"]) - np.mean(r["untrained"])),
            "run": r}


def out_of_reach(seed: int = 0, steps: int = 200, n_train: int = 128, pretrain_steps: int = 800,
                 d: int = 64, n_eval: int = 256, name: str = T.OUT_OF_REACH) -> float:
    """Accuracy of one token learned (``steps`` steps) for a procedure the backbone never
    computed (default: swap adjacent pairs): the limit of one token on a frozen backbone."""
    mem = T.TokenProcedureMemory(T.pretrain(seed, pretrain_steps, d))
    mem.learn(name, T.examples(name, n_train, seed=seed), steps, seed=seed)
    return mem.accuracy(name, n_eval)
