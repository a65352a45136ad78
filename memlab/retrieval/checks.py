"""Chapter 07's fast checks (for ``memlab mutants``): its claims at test size and equalities.

The claims need a trained side reader (4 s); it is trained ONCE, on first use, and reused
(``trained_reader``), as are the product quantizers fitted to its memory. ``memlab mutants``
runs every check unbroken first, so the cache holds an unbroken reader: a mutant of the read
is then judged at evaluation (and by the equalities below), a mutant of training by
``writer_keys_drift`` (which trains a small reader of its own), a mutant of ``fit`` by
``vq_fit_error_ratio`` (which fits its own codebooks).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

import memlab.retrieval.memorizing as mz
from memlab.report import at_least, at_most
from memlab.retrieval import emat, emllm, infllm
from memlab.retrieval import experiments as X
from memlab.retrieval.knn import KNNMemory, have_faiss
from memlab.retrieval.vq import ProductQuantizer
from memlab.testing.mutants import check

W = 8


@functools.lru_cache(maxsize=4)
def trained_reader(seed: int = 0):
    """The claim tests' reader: 120 Adam steps on 1000 short sequences (window 8)."""
    train = X.define_then_use(1000, 64, 4, min_gap=W + 2, seed=seed)
    reader = X.build_reader(train, d_embed=64, window=W, top_k=64, seed=seed)
    X.train_reader(reader, train, steps=120, batch_size=16, lr=0.1, seed=seed)
    return reader, train


@functools.lru_cache(maxsize=4)
def claim_streams(seed: int = 0, n: int = 2, length: int = 4096, pairs: int = 64):
    return X.define_then_use(n, length, pairs, min_gap=64, seed=seed + 1000)


@functools.lru_cache(maxsize=2)
def fitted_quantizers(seed: int = 0, ratio: int = 16):
    reader, train = trained_reader(seed)
    return X.fit_quantizers(reader, train, ratio, n_fit=2048, iters=8, seed=seed)


def reach_gap(reader, data, capacity, top_k=8, device="cpu"):
    """Accuracy on the queries whose definition is within reach of a memory of ``capacity``
    tokens, minus accuracy on the others (the memory answers exactly what it holds)."""
    r = X.evaluate(reader, data, capacity, top_k, device=device)
    reach = data.gaps <= reader.attn.window - 1 + capacity
    hits = r["hits"].float()
    return float(hits[reach].mean() - hits[~reach].mean()), r["accuracy"], float(reach.float().mean())


@check("07", "no_memory_accuracy")
def _no_memory():
    """Holds by construction (every gap exceeds the window): a control, not evidence."""
    reader, _ = trained_reader()
    return X.evaluate(reader, claim_streams(), 0, 8)["accuracy"]


@check("07", "full_memory_accuracy")
def _full():
    reader, _ = trained_reader()
    return X.evaluate(reader, claim_streams(), 4096, 8)["accuracy"]


@check("07", "partial_memory_reach_gap")
def _reach():
    reader, _ = trained_reader()
    return reach_gap(reader, claim_streams(), 1024)[0]


@check("07", "vq16_accuracy_drop")
def _vq16():
    reader, _ = trained_reader()
    data = claim_streams(0, 1, 2048, 32)
    comp = fitted_quantizers()
    return (X.evaluate(reader, data, 2048, 8)["accuracy"]
            - X.evaluate(reader, data, 2048, 8, compress=comp)["accuracy"])


def ann_recall(nprobe=8):
    keys, queries = X.clustered_keys(5000, 64, n_clusters=50, spread=1.2, noise=0.6,
                                     n_queries=128, seed=0)
    return X.ann_vs_exact(keys, queries, k=10, nlist=32, nprobe=nprobe, repeat=1)["recall_at_k"]


if have_faiss():
    @check("07", "ann_recall_at_10")
    def _ann():
        return ann_recall(8)


# --------------------------------------------------------------------------- equalities
@check("07", "store_vs_bruteforce_mismatches", target=at_most(0))
def _store():
    """KNNMemory (exact, and faiss flat when present) vs brute force over the last
    ``capacity`` writes: (query, rank) entries whose id differs. FIFO, order, searchability."""
    g = torch.Generator().manual_seed(0)
    keys, q = torch.randn(250, 16, generator=g), torch.randn(20, 16, generator=g)
    cap, bad = 96, 0
    truth = (q @ keys[-cap:].T).topk(5, -1).indices + 250 - cap
    for index in ("exact", "flat") if have_faiss() else ("exact",):
        mem = KNNMemory(16, cap, value_dim=1, index=index)
        for s in range(0, 250, 7):
            mem.write(keys[s:s + 7], torch.zeros(len(keys[s:s + 7]), 1))
        _, ids = mem.search(q, 5)
        bad += int((ids != truth).sum())
    return bad


def naive_read(q, K, V, window, capacity, top_k, gate):
    """Per query, per head, as the paper reads: softmax over the window, softmax over the
    top-k of the memory, mixed by the gate. q, K, V: [T, H, d] (positions 0..T-1)."""
    T, H, d = q.shape
    out = torch.zeros_like(q)
    for t in range(T):
        for h in range(H):
            loc = list(range(max(0, t - window + 1), t + 1))
            mem = list(range(max(0, t - window - capacity + 1), max(0, t - window + 1)))
            s = K[:, h] @ q[t, h] / d ** 0.5
            o_loc = torch.softmax(s[loc], 0) @ V[loc, h]
            o_mem = torch.zeros(d, dtype=q.dtype)
            if mem:
                top = torch.tensor(mem)[s[mem].topk(min(top_k, len(mem))).indices]
                o_mem = torch.softmax(s[top], 0) @ V[top, h]
            out[t, h] = gate[h] * o_mem + (1 - gate[h]) * o_loc
    return out


@check("07", "memorizing_read_vs_naive_err", target=at_most(1e-10))
def _read_naive():
    """The vectorised read (memorizing_read) and the layer's step() vs the loop above."""
    g = torch.Generator().manual_seed(0)
    dt = torch.float64
    q, K, V = (torch.randn(14, 2, 4, generator=g, dtype=dt) for _ in range(3))
    gate = torch.tensor([0.3, 0.8], dtype=dt)
    pos = torch.arange(14)
    ref = naive_read(q, K, V, 3, 5, 2, gate)
    o = mz.memorizing_read(q[None], K[None], V[None], pos, pos, 3, 5, 2, gate)[0]
    return float((o - ref).abs().max())


@check("07", "store_vs_dense_logit_err", target=at_most(1e-3))
def _store_dense():
    """The trained reader's logits read through a KNNMemory vs the layer's dense read."""
    reader, _ = trained_reader()
    data = claim_streams(0, 1, 2048, 32)
    with torch.no_grad():
        a = X.logits_through_store(reader, data.tokens[:1], data.query_pos[0], 512, 8)
        b = reader.logits_at(data.tokens[:1], data.query_pos[0], capacity=512, top_k=8)[0]
    return float((a - b).abs().max())


@check("07", "writer_keys_drift", target=at_most(0.0))
def _frozen():
    """Two training steps of a small reader must not move what the writer stores."""
    data = X.define_then_use(32, 32, 2, n_keys=16, n_values=8, n_filler=16, min_gap=10, seed=0)
    reader = X.build_reader(data, d_embed=8, window=4, top_k=4, seed=0)
    with torch.no_grad():
        k0, v0 = reader.memory_entries(data.tokens[:2])
    X.train_reader(reader, data, steps=2, batch_size=4, lr=0.1, seed=0)
    with torch.no_grad():
        k1, v1 = reader.memory_entries(data.tokens[:2])
    return max(float((k1 - k0).abs().max()), float((v1 - v0).abs().max()))


def vq_fit_ratio(seed=0):
    """Reconstruction error of PQ codebooks fitted by k-means / codebooks of Gaussian noise
    with the data's mean and std, on clustered (non-Gaussian) vectors."""
    keys, _ = X.clustered_keys(2048, 16, n_clusters=12, spread=0.1, n_queries=1, seed=seed)
    pq = ProductQuantizer(16, 4, 16).fit(keys, iters=10, seed=seed)
    err = (pq.decode(pq.encode(keys)) - keys).pow(2).mean()
    xs = pq._split(keys)
    g = torch.Generator().manual_seed(seed)
    noise = ProductQuantizer(16, 4, 16)
    noise.codebooks = xs.mean(1, keepdim=True) + xs.std(1, keepdim=True) * torch.randn(
        4, 16, 4, generator=g)
    err_noise = (noise.decode(noise.encode(keys)) - keys).pow(2).mean()
    return float(err / err_noise)


@check("07", "vq_fit_error_ratio", target=at_most(0.5))
def _vq_fit():
    return vq_fit_ratio(0)


@check("07", "vq_adc_vs_decode_err", target=at_most(1e-4))
def _adc():
    """Scores from lookup tables (ADC) == inner products with the decoded vectors."""
    g = torch.Generator().manual_seed(0)
    x, q = torch.randn(512, 16, generator=g), torch.randn(8, 16, generator=g)
    pq = ProductQuantizer(16, 4, 16).fit(x, iters=5)
    codes = pq.encode(x)
    return float((pq.adc_scores(q, codes) - q @ pq.decode(codes).T).abs().max())


# --------------------------------------------------------------------------- InfLLM / EM-LLM / EMAT
@check("07", "infllm_repr_scores_vs_naive_err", target=at_most(1e-5))
def _infllm_repr():
    g = torch.Generator().manual_seed(0)
    k, q = torch.randn(20, 8, generator=g), torch.randn(20, 8, generator=g)
    r = infllm.representative_scores(k, q, 3)
    ref = torch.stack([torch.stack([q[j] @ k[m] for j in range(m + 1, min(20, m + 4))]).mean()
                       if m < 19 else torch.tensor(0.0) for m in range(20)])
    return float((r - ref).abs().max())


@check("07", "infllm_planted_block_found", target=at_least(1.0))
def _infllm_block():
    """A block whose representative keys point along the queries must be the one loaded."""
    g = torch.Generator().manual_seed(0)
    mem = infllm.BlockMemory(8, block_size=4, n_repr=2)
    keys = torch.randn(32, 8, generator=g) * 0.1
    target = F.normalize(torch.randn(8, generator=g), dim=0)
    keys[20:24] += 2 * target                                 # block 5
    mem.write(keys, keys.clone(), keys @ target)
    ids, _, _ = mem.lookup(target[None] + 0.05 * torch.randn(3, 8, generator=g), 1)
    return float(ids.tolist() == [5])


@check("07", "emllm_boundary_f1", target=at_least(0.6))
def _emllm():
    """Surprise boundaries on the regime-switching stream vs the true switches (F1, +-2)."""
    tokens, truth, _ = X.regime_switching_stream(seed=0)
    s = emllm.BigramSurprise(int(tokens.max()) + 1)(tokens)
    return emllm.boundary_f1(emllm.surprise_boundaries(s, window=32, gamma=2.0, min_gap=8), truth)


@check("07", "emat_mips_reduction_agree", target=at_least(1.0))
def _emat():
    """Nearest neighbour (L2) after mips_to_nn == largest inner product: fraction of queries."""
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(200, 8, generator=g) * torch.rand(200, 1, generator=g) * 3
    q = torch.randn(32, 8, generator=g)
    k2, q2 = emat.mips_to_nn(keys, q)
    return float((torch.cdist(q2, k2).argmin(-1) == (q @ keys.T).argmax(-1)).float().mean())
