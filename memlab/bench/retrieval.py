"""Benchmarks of chapter 07: exact vs faiss kNN search; Memorizing attention fast vs naive."""

from __future__ import annotations

import math
import time

import torch

from memlab.bench import entry, timeit


@entry("knn_exact_vs_faiss_ivf", family="retrieval")
def knn_exact_vs_faiss(quick: bool) -> list[dict]:
    """Exact torch top-10 vs faiss IVF at 1e4..1e6 keys (d=64, 128 queries): time ratio, recall@10.

    Keys: a mixture of Gaussians (n/100 centres ~ N(0,1), within-cluster std 0.5); queries:
    stored keys + N(0, 0.3^2) noise. The full run adds i.i.d. Gaussian keys and queries (no
    structure, the worst case for IVF: recall stays low unless most cells are scanned).
    """
    from memlab.retrieval.experiments import clustered_keys
    from memlab.retrieval.knn import KNNMemory, exact_topk, recall_at_k

    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    cases = [("clustered", n) for n in sizes] + ([] if quick else [("iid", 1_000_000)])
    rows = []
    for data, n in cases:
        if data == "clustered":
            keys, queries = clustered_keys(n, 64, spread=0.5, n_queries=128, seed=0)
        else:                                   # no structure at all: the hard case for IVF
            g = torch.Generator().manual_seed(0)
            keys, queries = torch.randn(n, 64, generator=g), torch.randn(128, 64, generator=g)
        nlist = min(2 ** round(math.log2(4 * math.sqrt(n))), 2 ** int(math.log2(n / 39)))
        ivf = KNNMemory(64, n, value_dim=1, index="ivf", nlist=nlist, train_min=n)
        t0 = time.perf_counter()
        ivf.write(keys, torch.zeros(n, 1))
        build_s = time.perf_counter() - t0
        exact_ms = timeit(lambda q=queries, k=keys: exact_topk(q, k, 10), repeat=3)
        _, truth = exact_topk(queries, keys, 10)
        for nprobe in ((4, 16) if data == "clustered" else (16, 64)):
            ivf.nprobe = nprobe
            ms = timeit(lambda i=ivf, q=queries: i.search(q, 10), repeat=3)
            found = ivf.search(queries, 10)[1]
            rows.append({"data": data, "n_keys": n, "nlist": nlist, "nprobe": nprobe,
                         "exact_ms": exact_ms, "faiss_ms": ms, "ratio": exact_ms / ms,
                         "recall_at_10": recall_at_k(found, truth), "build_s": build_s})
    return rows


@entry("memorizing_forward_vs_step", family="retrieval")
def memorizing_forward_vs_step(quick: bool) -> list[dict]:
    """MemorizingAttention: vectorised forward vs token-by-token step (W=16, M=256, top-8)."""
    from memlab.retrieval.memorizing import MemorizingAttention
    from memlab.testing import rel_err

    rows = []
    for T in ([256] if quick else [256, 1024]):
        torch.manual_seed(0)
        m = MemorizingAttention(64, n_heads=4, window=16, capacity=256, top_k=8).eval()
        x = torch.randn(2, T, 64)
        with torch.no_grad():
            naive_ms = timeit(lambda m=m, x=x: m.forward_recurrent(x), repeat=1)
            fast_ms = timeit(lambda m=m, x=x: m(x), repeat=3)
            diff = rel_err(m(x)[0], m.forward_recurrent(x)[0])
        rows.append({"T": T, "naive_ms": naive_ms, "fast_ms": fast_ms,
                     "ratio": naive_ms / fast_ms, "max_rel_diff": diff})
    return rows
