"""Chapter 02's experiments: train MemN2N on bAbI-lite, measure accuracy and where each hop looks.

Training follows the public code where a CPU allows (``train.m``): batch 32, gradient norm
clipped at 40, loss summed over the batch, nil word zeroed, linear start then softmax; Adam at
lr 0.01 (as ``domluna/memn2n``) instead of SGD for 100 epochs, so that a run takes seconds.
"""

from __future__ import annotations

import time as _time

import torch
import torch.nn.functional as F

from memlab.slots.memn2n import MemN2N, noisy_ages, position_weights
from memlab.tasks import babi

__all__ = [
    "evaluate",
    "make_data",
    "seed_spread",
    "shuffle_memory",
    "support_hit_rate",
    "train_memn2n",
    "train_seeds",
]


def make_data(task: int, n_train: int = 1000, n_test: int = 1000, seed: int = 0,
              memory_size: int = 50, babi_folder: str | None = None) -> dict:
    """Encoded train/test tensors of bAbI-lite ``task`` (or of a real bAbI folder, if given)."""
    if babi_folder:
        tr = babi.read_babi(babi_folder, task, "train")[:n_train]
        te = babi.read_babi(babi_folder, task, "test")[:n_test]
    else:
        tr = babi.generate(task, n_train, seed=2 * seed)
        te = babi.generate(task, n_test, seed=2 * seed + 1)
    vocab = babi.build_vocab(tr, te)
    J = max(len(s) for ex in tr + te for s in [*ex["story"], ex["question"]])
    return {"train": babi.encode(tr, vocab, memory_size, J), "test": babi.encode(te, vocab, memory_size, J),
            "vocab": vocab, "examples": {"train": tr, "test": te}, "task": task,
            "shortcut": babi.shortcut_accuracy(te), "memory_size": memory_size}


def _to(batch: dict, device) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


def evaluate(model: MemN2N, data: dict, time: torch.Tensor | None = None) -> dict:
    """Accuracy, predictions and attention ``[N, K, M]`` on encoded ``data``."""
    model.eval()
    dev = model.weight.device
    with torch.no_grad():
        d = _to(data, dev)
        logits, att = model(d["story"], d["query"], d["n_mem"],
                            None if time is None else time.to(dev))
    pred = logits.argmax(-1).cpu()
    correct = pred == data["answer"]
    return {"acc": float(correct.float().mean()), "correct": correct, "pred": pred,
            "attention": att.cpu()}


def train_memn2n(data: dict, hops: int = 3, d: int = 20, epochs: int = 40, ls_epochs: int = 10,
                 lr: float = 0.01, batch_size: int = 32, seed: int = 0, pe: str = "paper",
                 temporal: bool = True, random_noise: float = 0.1, max_grad_norm: float = 40.0,
                 device="cpu") -> dict:
    """Train one MemN2N on ``data`` (from :func:`make_data`); returns model, accuracies, seconds."""
    if epochs < 1 or ls_epochs < 0 or ls_epochs > epochs:
        raise ValueError(f"need epochs >= 1 and 0 <= ls_epochs <= epochs, got {epochs}, {ls_epochs}")
    t0 = _time.perf_counter()
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    tr = data["train"]
    model = MemN2N(len(data["vocab"]) + 1, data["memory_size"], d=d, hops=hops, pe=pe,
                   temporal=temporal).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    N, M = tr["story"].shape[:2]
    tr = _to(dict(tr, l=position_weights(tr["story"], d, pe)), device)   # l is fixed: once
    for epoch in range(epochs):
        model.train()
        model.linear_start = epoch < ls_epochs
        for group in opt.param_groups:           # the code halves the lr during linear start
            group["lr"] = lr / 2 if model.linear_start else lr
        order = torch.randperm(N, generator=g).to(device)
        ages_all = (noisy_ages(data["train"]["n_mem"], M, model.memory_size, random_noise, g)
                    .to(device) if random_noise > 0 else None)      # RN: fresh every epoch
        for i in range(0, N, batch_size):
            idx = order[i:i + batch_size]
            logits, _ = model(tr["story"][idx], tr["query"][idx], tr["n_mem"][idx],
                              None if ages_all is None else ages_all[idx], tr["l"][idx])
            loss = F.cross_entropy(logits, tr["answer"][idx], reduction="sum")
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            opt.step()
            model.zero_nil()
    model.linear_start = False
    res = evaluate(model, data["test"])
    return {"model": model, "acc": res["acc"], "train_acc": evaluate(model, data["train"])["acc"],
            "eval": res, "seconds": _time.perf_counter() - t0}


def support_hit_rate(data: dict, res: dict) -> dict:
    """Where the hops look on correctly answered two-fact questions.

    ``first``: hop 1's argmax is the object fact (support[0]); ``chain``: that, and some later
    hop's argmax is the holder's move (support[1]); ``covered``: every supporting fact is the
    argmax of some hop (in any order). Fractions of the correctly answered questions."""
    sup, att, ok = data["support"], res["attention"], res["correct"]
    arg = att.argmax(-1)                                     # [N, K]
    first = arg[:, 0] == sup[:, 0]
    later = (arg[:, 1:] == sup[:, 1:2]).any(-1) if arg.shape[1] > 1 else torch.zeros_like(first)
    has = sup >= 0
    covered = ((arg[:, :, None] == sup[:, None, :]).any(1) | ~has).all(-1)   # every fact looked at
    n = max(int(ok.sum()), 1)
    return {"first": float((first & ok).sum()) / n, "chain": float((first & later & ok).sum()) / n,
            "covered": float((covered & ok).sum()) / n, "n_correct": int(ok.sum())}


def shuffle_memory(data: dict, seed: int = 0) -> dict:
    """The same stories with the filled slots of each story in a random order."""
    g = torch.Generator().manual_seed(seed)
    out = {k: v.clone() for k, v in data.items()}
    for b, n in enumerate(data["n_mem"].tolist()):
        perm = torch.randperm(n, generator=g)
        out["story"][b, :n] = data["story"][b, perm]
        inv = torch.argsort(perm)
        for j in range(out["support"].shape[1]):
            if out["support"][b, j] >= 0:
                out["support"][b, j] = inv[out["support"][b, j]]
    return out


def seed_spread(values: list[float]) -> str:
    """``"0.970 [0.950, 0.990], 3 seeds"``: mean and range, for printing beside a claim."""
    return (f"{sum(values) / len(values):.3f} [{min(values):.3f}, {max(values):.3f}], "
            f"{len(values)} seeds")


def train_seeds(data: dict, seeds: list[int], desc: str = "", **kw) -> list[dict]:
    """:func:`train_memn2n` once per seed (a progress bar over the seeds)."""
    from tqdm.auto import tqdm

    return [train_memn2n(data, seed=s, **kw) for s in tqdm(seeds, desc=desc, leave=False)]
