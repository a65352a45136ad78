"""Benchmarks of chapter 08 (product-key memory): printed, never asserted.

``memlab bench`` runs them; run alone (two processes on two cores thrash).
"""

from __future__ import annotations

import torch

from memlab.bench import entry, timeit
from memlab.layers import ProductKeyMemory, count_scores, exhaustive_topk, product_key_topk

# lucidrains/product-key-memory, a public readable implementation: about 51 ms per forward
# at 65,536 slots, top-32, 4 heads, dim 256, 8 x 128 tokens on 2 CPU cores. This is a
# PUBLISHED number from ANOTHER machine (quoted in the chapter's issue), not a measurement
# here: pkm_forward labels it so in every row. When the package is importable, pkm_forward
# times it beside ours on this machine instead.
PUBLIC_FORWARD_MS = 51.0
QUOTED_LABEL = (f"quoted: {PUBLIC_FORWARD_MS:g} ms published for the public PKM on another "
                "machine (2 cores); NOT measured here")


def _same_sets(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.sort(-1).values == b.sort(-1).values).all(-1).float().mean())


@entry("pkm_scoring", family="layers")
def pkm_scoring(quick: bool) -> list[dict]:
    """Product-key vs exhaustive top-k search: scores per query, time, agreement."""
    heads, k, d_key, n_q = 4, 32, 256, 128
    rows = []
    for n_keys in ((64, 128) if quick else (64, 128, 256)):
        g = torch.Generator().manual_seed(n_keys)
        q = torch.randn(n_q, heads, d_key, generator=g)
        keys = torch.randn(heads, 2, n_keys, d_key // 2, generator=g)
        full = torch.cat([keys[:, 0, :, None].expand(-1, -1, n_keys, -1),
                          keys[:, 1, None].expand(-1, n_keys, -1, -1)], -1).reshape(heads, -1, d_key)
        def dense(q=q, full=full):
            return torch.einsum("nhd,hNd->nhN", q, full).topk(k, dim=-1)

        rep = 3 if quick else 7
        t_naive = timeit(lambda q=q, keys=keys: exhaustive_topk(q, keys, k), repeat=rep)
        t_dense = timeit(dense, repeat=rep)
        t_pk = timeit(lambda q=q, keys=keys: product_key_topk(q, keys, k, prune=False), repeat=rep)
        t_pr = timeit(lambda q=q, keys=keys: product_key_topk(q, keys, k, prune=True), repeat=rep)
        _, i_ex = dense()
        rows.append({"N": n_keys * n_keys, "scores_exh": count_scores(n_keys, k, "exhaustive"),
                     "scores_pk": count_scores(n_keys, k, "product"),
                     "scores_pruned": count_scores(n_keys, k, "pruned"),
                     "score_ratio": count_scores(n_keys, k, "exhaustive") / count_scores(n_keys, k, "product"),
                     "naive_ms": t_naive, "dense_ms": t_dense, "pk_ms": t_pk, "pruned_ms": t_pr,
                     "speedup_vs_dense": t_dense / t_pr,
                     "match_pk": _same_sets(product_key_topk(q, keys, k, prune=False)[1], i_ex),
                     "match_pruned": _same_sets(product_key_topk(q, keys, k)[1], i_ex)})
    return rows


def _public_pkm():
    """lucidrains' PKM with the benchmark's shape, when ``product-key-memory`` is installed."""
    try:
        from product_key_memory import PKM
    except ImportError:  # not a memlab dependency: fall back to the quoted number
        return None
    return PKM(dim=256, heads=4, num_keys=256, topk=32, dim_head=128)


def _interleaved(models: dict, x: torch.Tensor, rounds: int) -> dict:
    """(min, median) ms per model, timing one call of each model per round, in turn.

    Interleaving makes the comparison fair on a busy machine: every form sees the same load.
    """
    import statistics
    import time

    ts = {name: [] for name in models}
    with torch.no_grad():
        for m in models.values():
            m(x), m(x)                                   # warm up
        for _ in range(rounds):
            for name, m in models.items():
                t0 = time.perf_counter()
                m(x)
                ts[name].append((time.perf_counter() - t0) * 1e3)
    return {n: (min(v), statistics.median(v)) for n, v in ts.items()}


@entry("pkm_forward", family="layers")
def pkm_forward(quick: bool) -> list[dict]:
    """PKM forward at 65,536 slots, top-32, 4 heads, dim 256, 8 x 128 tokens (vs public PKM).

    ``reference``: the public PKM timed here when ``product-key-memory`` is installed, else the
    published 51 ms from another machine (labelled as quoted; the ratio is then only indicative).
    """
    torch.manual_seed(0)
    x = torch.randn(8, 128, 256)
    rep = 5 if quick else 20
    models = {"paper k^2": ProductKeyMemory(256, n_keys=256, heads=4, k=32, d_key=256, prune=False),
              "pruned ~k ln k": ProductKeyMemory(256, n_keys=256, heads=4, k=32, d_key=256)}
    public = _public_pkm()
    if public is not None:
        models["public (lucidrains)"] = public
    rows = []
    for mode in ("train", "eval"):
        for m in models.values():
            m.train(mode == "train")
        times = _interleaved(models, x, rounds=rep)
        ref_min, ref_med = times.get("public (lucidrains)", (PUBLIC_FORWARD_MS, PUBLIC_FORWARD_MS))
        ref = "measured here: public PKM timed beside ours" if public is not None else QUOTED_LABEL
        for name, (t_min, t_med) in times.items():
            rows.append({"form": name, "mode": mode, "threads": torch.get_num_threads(),
                         "min_ms": t_min, "median_ms": t_med, "reference": ref,
                         "reference_over_this_min": ref_min / t_min,
                         "reference_over_this_median": ref_med / t_med})
    for name in ("paper k^2", "pruned ~k ln k"):
        m = models[name].train()
        fb = timeit(lambda m=m: m(x).sum().backward(), repeat=3 if quick else 7)
        rows.append({"form": name, "mode": "train fwd+bwd", "threads": torch.get_num_threads(),
                     "median_ms": fb})
    return rows
