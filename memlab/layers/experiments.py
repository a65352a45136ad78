"""Chapter 08 experiments, shared by the notebook and the claim tests.

1. :func:`topk_equality` -- product-key top-k vs the exhaustive top-k over all N keys.
2. :func:`memorise_long_tail` -- a Zipf-distributed lookup table of random facts, learned by a
   product-key memory and by an MLP of equal FLOPs per token; accuracy on head and tail facts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import nn

from memlab.device import cpu_threads as threads_on_cpu
from memlab.layers.product_keys import (
    ProductKeyMemory,
    count_scores,
    exhaustive_topk,
    product_key_topk,
)

__all__ = [
    "FactTable",
    "build_memoriser",
    "fact_accuracy",
    "make_fact_table",
    "memorise_long_tail",
    "mlp_flops",
    "mlp_hidden_for_flops",
    "pkm_flops",
    "slot_usage",
    "topk_equality",
    "train_memoriser",
]


# ---------------------------------------------------------------- 1. equality
def topk_equality(n_queries: int = 256, n_keys: int = 64, heads: int = 2, k: int = 16,
                  d_key: int = 32, seed: int = 0, dtype: torch.dtype = torch.float64,
                  device: str | torch.device = "cpu") -> dict:
    """Random queries and sub-keys; compare the product-key and the exhaustive top-k.

    Returns ``match_fraction`` (share of (query, head) pairs whose k slots are the same set),
    ``max_score_diff``, and the scores computed per query per head by each method.
    """
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n_queries, heads, d_key, generator=g, dtype=dtype).to(device)
    keys = torch.randn(heads, 2, n_keys, d_key // 2, generator=g, dtype=dtype).to(device)
    out = {"n_slots": n_keys * n_keys, "k": k}
    s_ex, i_ex = exhaustive_topk(q, keys, k)
    for prune in (False, True):
        s_pk, i_pk = product_key_topk(q, keys, k, prune=prune)
        same = (i_pk.sort(-1).values == i_ex.sort(-1).values).all(-1)
        tag = "pruned" if prune else "product"
        out[f"match_fraction_{tag}"] = float(same.float().mean())
        out[f"max_score_diff_{tag}"] = float((s_pk - s_ex).abs().max())
        out[f"scores_{tag}"] = count_scores(n_keys, k, tag)
    out["match_fraction"] = min(out["match_fraction_product"], out["match_fraction_pruned"])
    out["scores_exhaustive"] = count_scores(n_keys, k, "exhaustive")
    out["score_ratio"] = out["scores_exhaustive"] / out["scores_product"]
    return out


# ---------------------------------------------------------------- 2. long-tail table
@dataclass
class FactTable:
    """``x[i]`` (a fixed random unit vector, the 'subject') -> ``y[i]`` (a random label).

    ``p[i]`` is fact i's frequency in the training stream, Zipf: p_i ~ 1 / (i + 1)^zipf_a.
    """

    x: torch.Tensor
    y: torch.Tensor
    p: torch.Tensor
    n_classes: int
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.x.shape[0]


def make_fact_table(n_facts: int = 4096, d_in: int = 64, n_classes: int = 256,
                    zipf_a: float = 1.0, seed: int = 0) -> FactTable:
    if n_facts < 2 or d_in < 1 or n_classes < 2 or zipf_a < 0:
        raise ValueError(f"bad fact table: n_facts={n_facts}, d_in={d_in}, "
                         f"n_classes={n_classes}, zipf_a={zipf_a}")
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.normalize(torch.randn(n_facts, d_in, generator=g), dim=-1)
    y = torch.randint(0, n_classes, (n_facts,), generator=g)
    p = 1.0 / torch.arange(1, n_facts + 1, dtype=torch.float64) ** zipf_a
    return FactTable(x, y, (p / p.sum()).float(), n_classes, {"zipf_a": zipf_a, "seed": seed})


def pkm_flops(d_model: int, n_keys: int, heads: int, k: int, d_key: int,
              d_value: int | None = None, prune: bool = True) -> int:
    """Multiply-adds per token (x2 = FLOPs) of a PKM read: query, sub-scores, sums, values."""
    d_value = d_model if d_value is None else d_value
    query = d_model * heads * d_key
    sub = heads * 2 * n_keys * (d_key // 2)
    sums = heads * (count_scores(n_keys, k, "pruned" if prune else "product") - 2 * n_keys)
    read = heads * k * d_value
    return 2 * (query + sub + sums + read)


def mlp_flops(d_model: int, hidden: int) -> int:
    """FLOPs per token of ``Linear(d, h) -> GELU -> Linear(h, d)``."""
    return 2 * 2 * d_model * hidden


def mlp_hidden_for_flops(d_model: int, flops: int) -> int:
    return max(1, round(flops / (4 * d_model)))


def build_memoriser(kind: str, d_in: int, n_classes: int, n_keys: int = 64, heads: int = 4,
                    k: int = 16, d_key: int = 32, hidden: int | None = None) -> nn.Module:
    """``x -> block(x) -> Linear(d_in, n_classes)``; block = PKM or an equal-FLOPs MLP."""
    if kind == "pkm":
        block = ProductKeyMemory(d_in, n_keys=n_keys, heads=heads, k=k, d_key=d_key)
    elif kind == "mlp":
        if hidden is None:
            hidden = mlp_hidden_for_flops(d_in, pkm_flops(d_in, n_keys, heads, k, d_key))
        block = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Linear(hidden, d_in))
    else:
        raise ValueError(f"kind must be 'pkm' or 'mlp', got {kind!r}")
    return nn.Sequential(block, nn.Linear(d_in, n_classes))


def fact_accuracy(model: nn.Module, table: FactTable, batch_size: int = 4096) -> torch.Tensor:
    """Per-fact correctness (bool [n_facts]) with the model in eval mode."""
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        hits = [model(table.x[i:i + batch_size].to(dev)).argmax(-1).cpu()
                == table.y[i:i + batch_size] for i in range(0, len(table), batch_size)]
    model.train(was_training)
    return torch.cat(hits)


def train_memoriser(model: nn.Module, table: FactTable, steps: int = 1000, batch_size: int = 256,
                    lr: float = 3e-3, value_lr: float | None = None, seed: int = 0,
                    device: str | torch.device = "cpu", progress: bool = False,
                    desc: str = "", cpu_threads: int | None = 1) -> dict:
    """Adam on Zipf-sampled batches of facts (cross-entropy). ``value_lr``: PKM values' rate.

    ``cpu_threads``: torch threads during the loop on CPU (restored after). Its ops are tiny,
    so one thread is as fast on an idle machine and far faster on a busy one, where several
    OpenMP threads per process thrash (measured ~10x slower with 2 threads under load).
    """
    dev = torch.device(device)
    if dev.type == "cpu" and cpu_threads:
        with threads_on_cpu(cpu_threads, dev):
            return train_memoriser(model, table, steps, batch_size, lr, value_lr, seed, device,
                                   progress, desc, cpu_threads=None)
    model.to(dev)
    values = [p for m in model.modules() if isinstance(m, ProductKeyMemory) for p in [m.values]]
    rest = [p for p in model.parameters() if all(p is not v for v in values)]
    groups = [{"params": rest, "lr": lr}]
    if values:
        groups.append({"params": values, "lr": value_lr or lr})
    opt = torch.optim.Adam(groups)
    g = torch.Generator().manual_seed(seed)
    x, y = table.x.to(dev), table.y.to(dev)
    losses, t0 = [], time.perf_counter()
    it = range(steps)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc=f"training {desc}", leave=False)
    model.train()
    for _ in it:
        i = torch.multinomial(table.p, batch_size, replacement=True, generator=g).to(dev)
        loss = nn.functional.cross_entropy(model(x[i]), y[i])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {"losses": losses, "wall_s": time.perf_counter() - t0}


def slot_usage(pkm: ProductKeyMemory, x: torch.Tensor) -> torch.Tensor:
    """How often each of the N slots is read (over all heads) for the inputs ``x``."""
    was_training = pkm.training
    pkm.eval()
    with torch.no_grad():
        idx, _ = pkm.address(x.to(pkm.values.device))
    pkm.train(was_training)
    return torch.bincount(idx.reshape(-1).cpu(), minlength=pkm.n_slots)


def memorise_long_tail(n_facts: int = 4096, d_in: int = 64, n_classes: int = 256,
                       zipf_a: float = 1.0, n_keys: int = 64, heads: int = 4, k: int = 16,
                       d_key: int = 32, steps: int = 300, batch_size: int = 256,
                       lr: float = 3e-3, value_lr: float = 0.1, mlp_lr: float = 3e-2,
                       tail_from: float = 0.5,
                       seed: int = 0, device: str | torch.device = "cpu",
                       progress: bool = False) -> dict:
    """Train a PKM and an equal-FLOPs MLP on the same Zipf stream; compare per-fact accuracy.

    Learning rates are each model's best on a small grid at the defaults (4096 facts, 300
    steps, seed 0): MLP ``mlp_lr`` from {3e-3, 1e-2, 3e-2, 1e-1} (tail accuracy 0.01, 0.03,
    0.22, 0.09); PKM (``lr``, ``value_lr`` for its value table) from (3e-3, 3e-2), (3e-3, 0.1),
    (1e-2, 3e-2), (1e-2, 0.1), (3e-2, 3e-2) (tail 0.54-0.76, best (3e-3, 0.1)).
    ``tail_from``: facts ranked beyond this fraction of the table (by frequency) are the tail.
    """
    table = make_fact_table(n_facts, d_in, n_classes, zipf_a, seed)
    flops = pkm_flops(d_in, n_keys, heads, k, d_key)
    hidden = mlp_hidden_for_flops(d_in, flops)
    tail = torch.arange(n_facts) >= int(tail_from * n_facts)
    res = {"flops_per_token_pkm": flops, "flops_per_token_mlp": mlp_flops(d_in, hidden),
           "mlp_hidden": hidden, "tail_facts": int(tail.sum()),
           "tail_mass": float(table.p[tail].sum())}
    for kind in ("pkm", "mlp"):
        torch.manual_seed(seed)
        model = build_memoriser(kind, d_in, n_classes, n_keys, heads, k, d_key, hidden)
        tr = train_memoriser(model, table, steps, batch_size, lr if kind == "pkm" else mlp_lr,
                             value_lr if kind == "pkm" else None, seed, device, progress, kind)
        hit = fact_accuracy(model, table).float()
        res[kind] = {"params_block": sum(p.numel() for p in model[0].parameters()),
                     "acc_all": float(hit.mean()), "acc_stream": float((hit * table.p).sum()),
                     "acc_head": float(hit[~tail].mean()), "acc_tail": float(hit[tail].mean()),
                     "wall_s": tr["wall_s"], "final_loss": sum(tr["losses"][-20:]) / len(tr["losses"][-20:]),
                     "hit": hit, "model": model}
    res["tail_gain"] = res["pkm"]["acc_tail"] - res["mlp"]["acc_tail"]
    res["stream_gain"] = res["pkm"]["acc_stream"] - res["mlp"]["acc_stream"]
    res["table"] = table
    return res
