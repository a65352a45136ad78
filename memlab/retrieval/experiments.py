"""Chapter 07's experiments, shared by the notebook and ``tests/test_claims_ch07.py``.

The task: *define-then-use*. A long stream of filler tokens contains definitions ``key value``
(two adjacent tokens) and, much later, a query: the key alone; the model must output the value
at the query. Gaps are drawn uniformly from ``[min_gap, seq_len)``, so with a local window much
shorter than ``min_gap`` the definition is never in the window and a model without memory is at
chance (1 / n_values). A kNN memory of the ``capacity`` tokens before the window answers every
query whose gap is at most ``window + capacity``: accuracy grows with memory size.

The model is :class:`memlab.retrieval.longmem.SideReader`: a frozen random writer (the memory's
keys and values never change) and a small trained reader (query projection, gate, output head),
trained for a few seconds on short sequences; then evaluated on long streams with memories of
growing size, uncompressed or product-quantised.

Two ways to evaluate, tested equal (``tests/test_retrieval_store_eval.py``):
``backend="store"`` (default) streams each test sequence through a real store -- the keys and
values of tokens leaving the window are written into a :class:`KNNMemory` (exact torch search,
or faiss with ``index=``) or, compressed, into a :class:`VQMemory` of PQ codes searched by ADC --
and each query reads its top-k there (:func:`logits_through_store`). ``backend="dense"`` is the
layer's vectorised masked read (:meth:`SideReader.logits_at`), used in training, where the
whole memory of a short sequence is a tensor anyway.

Also here: :func:`regime_switching_stream`, the token stream of the EM-LLM demonstration.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
import torch

from memlab.device import cpu_threads
from memlab.retrieval.knn import KNNMemory, exact_topk, recall_at_k
from memlab.retrieval.longmem import SideReader
from memlab.retrieval.vq import ProductQuantizer, VQMemory

__all__ = [
    "DefineThenUse",
    "ann_vs_exact",
    "build_reader",
    "clustered_keys",
    "compression_sweep",
    "define_then_use",
    "evaluate",
    "fit_quantizers",
    "logits_through_store",
    "memory_keys_and_queries",
    "memory_size_sweep",
    "pq_for_ratio",
    "regime_switching_stream",
    "train_reader",
]


@dataclass
class DefineThenUse:
    tokens: torch.Tensor      # [n, T] token ids
    targets: torch.Tensor     # [n, T] value id at query positions, -100 elsewhere
    query_pos: torch.Tensor   # [n, P]
    def_pos: torch.Tensor     # [n, P] position of the key token of each definition
    answers: torch.Tensor     # [n, P]
    vocab_size: int
    n_values: int

    @property
    def gaps(self) -> torch.Tensor:
        return self.query_pos - self.def_pos

    def to(self, device):
        return DefineThenUse(self.tokens.to(device), self.targets.to(device),
                             self.query_pos.to(device), self.def_pos.to(device),
                             self.answers.to(device), self.vocab_size, self.n_values)


def define_then_use(n_streams: int, seq_len: int, n_pairs: int, n_keys: int = 512,
                    n_values: int = 64, n_filler: int = 256, min_gap: int = 32,
                    max_gap: int | None = None, seed: int = 0) -> DefineThenUse:
    """Streams of filler with ``n_pairs`` definitions each, queried ``min_gap..max_gap`` later.

    Vocabulary: filler ``[0, n_filler)``, keys ``[n_filler, n_filler + n_keys)``, values after.
    Each key appears in a stream only at its definition and its query.
    """
    max_gap = seq_len - 2 if max_gap is None else max_gap
    if not 2 <= min_gap <= max_gap <= seq_len - 2:
        raise ValueError(f"need 2 <= min_gap <= max_gap <= seq_len - 2, got min_gap={min_gap}, "
                         f"max_gap={max_gap}, seq_len={seq_len}")
    if n_pairs > n_keys or 3 * n_pairs > seq_len // 2:
        raise ValueError(f"n_pairs={n_pairs} too large for n_keys={n_keys}, seq_len={seq_len}")
    rng = np.random.default_rng(seed)
    V = n_filler + n_keys + n_values
    tokens = rng.integers(0, n_filler, size=(n_streams, seq_len))
    targets = np.full((n_streams, seq_len), -100)
    qpos, dpos, ans = (np.zeros((n_streams, n_pairs), dtype=np.int64) for _ in range(3))
    for s in range(n_streams):
        used = np.zeros(seq_len + 1, dtype=bool)
        keys = rng.choice(n_keys, n_pairs, replace=False) + n_filler
        vals = rng.integers(0, n_values, n_pairs) + n_filler + n_keys
        for i in range(n_pairs):
            while True:
                gap = int(rng.integers(min_gap, max_gap + 1))
                d = int(rng.integers(0, seq_len - gap))
                q = d + gap
                if not (used[d] or used[d + 1] or used[q]):
                    break
            used[[d, d + 1, q]] = True
            tokens[s, d], tokens[s, d + 1], tokens[s, q] = keys[i], vals[i], keys[i]
            targets[s, q] = vals[i]
            qpos[s, i], dpos[s, i], ans[s, i] = q, d, vals[i]
    order = np.argsort(qpos, axis=1)
    take = lambda a: torch.from_numpy(np.take_along_axis(a, order, axis=1))
    return DefineThenUse(torch.from_numpy(tokens), torch.from_numpy(targets), take(qpos),
                         take(dpos), take(ans), V, n_values)


def build_reader(data: DefineThenUse, d_embed: int = 32, window: int = 16, top_k: int = 8,
                 combine: str = "gate", seed: int = 0) -> SideReader:
    """A SideReader sized for ``data`` (training capacity = a whole training sequence)."""
    return SideReader(data.vocab_size, d_embed, window=window, capacity=data.tokens.shape[1],
                      top_k=top_k, combine=combine, seed=seed)


def train_reader(model: SideReader, data: DefineThenUse, steps: int = 300, batch_size: int = 32,
                 lr: float = 3e-3, seed: int = 0, device="cpu", progress: bool = False):
    """Adam on the reader's parameters only (the writer is frozen). Returns the loss curve."""
    model.to(device).train()
    opt = torch.optim.Adam(model.trainable(), lr=lr)
    with cpu_threads(1, device):    # tiny ops: a second thread only adds contention
        return _train_loop(model, data, opt, steps, batch_size, seed, device, progress)


def _train_loop(model, data, opt, steps, batch_size, seed, device, progress):
    from tqdm.auto import tqdm

    g = torch.Generator().manual_seed(seed)
    n = data.tokens.shape[0]
    losses = []
    for _ in tqdm(range(steps), disable=not progress, desc="train reader", leave=False):
        idx = torch.randint(0, n, (batch_size,), generator=g)
        x, y = data.tokens[idx].to(device), data.targets[idx].to(device)
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(),
                                                 ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


@torch.no_grad()
def logits_through_store(model: SideReader, tokens: torch.Tensor, positions: torch.Tensor,
                         capacity: int, top_k: int | None = None, compress=None,
                         index: str = "exact", nlist: int = 256, nprobe: int = 8):
    """Logits ``[P, vocab]`` at ``positions [P]`` (increasing) of one stream ``tokens [1, T]``,
    with the memory held in a real store.

    Stream order: before the query at position t, every token up to t - W has been written (in
    order) into a FIFO store of ``capacity`` pairs, so the store holds exactly the tokens
    ``t-W-capacity < i <= t-W``; the query reads its top-k there (``store.read``) and the window
    ``(t-W, t]`` directly. The store is a :class:`KNNMemory` (``index`` "exact", "flat" or "ivf")
    or, when ``compress`` (from :func:`fit_quantizers`) is given, a :class:`VQMemory` that keeps
    only PQ codes. Same numbers as ``model.logits_at`` (up to float rounding and tie order).
    """
    if tokens.dim() != 2 or tokens.shape[0] != 1:
        raise ValueError(f"tokens must be one stream [1, T], got shape {tuple(tokens.shape)}")
    pos = positions.tolist()
    if any(b <= a for a, b in itertools.pairwise(pos)):
        raise ValueError("positions must be strictly increasing (the store is written in order)")
    a = model.attn
    W, k = a.window, top_k or a.top_k
    h = model.writer(tokens)[0]                                       # [T, d_h]
    K, V, Q = a.W_k(h), a.W_v(h), a.W_q(h[positions])                 # [T, d], [T, d], [P, d]
    d = K.shape[-1]
    scale, g = d ** -0.5, a.g[0]
    store = None
    if capacity > 0:
        if compress is not None:
            store = VQMemory(compress.key_pq, compress.value_pq, capacity)
        else:
            store = KNNMemory(d, capacity, value_dim=d, index=index, nlist=nlist, nprobe=nprobe,
                              device=K.device, dtype=K.dtype)
    written, outs = 0, []
    for j, t in enumerate(pos):
        upto = t - W + 1                                              # tokens <= t - W are stored
        if store is not None and upto > written:
            store.write(K[written:upto], V[written:upto])
            written = upto
        lo = max(0, t - W + 1)
        s_loc, V_loc = (K[lo:t + 1] @ Q[j]) * scale, V[lo:t + 1]
        s_mem, V_mem = s_loc[:0], V_loc[:0]
        if store is not None and len(store) > 0:
            s, vals, ids = store.read(Q[j:j + 1], k)
            ok = ids[0] >= 0
            s_mem, V_mem = s[0][ok].to(K) * scale, vals[0][ok].to(V)
        if a.combine == "gate":
            o = (1 - g) * torch.softmax(s_loc, -1) @ V_loc
            if s_mem.numel():
                o = o + g * torch.softmax(s_mem, -1) @ V_mem
        else:
            w = torch.softmax(torch.cat([s_loc, s_mem]), -1)
            o = w[:len(s_loc)] @ V_loc + w[len(s_loc):] @ V_mem
        outs.append(o)
    return model.head(a.W_o(torch.stack(outs)))


@torch.no_grad()
def evaluate(model: SideReader, data: DefineThenUse, capacity: int, top_k: int | None = None,
             compress=None, device="cpu", backend: str = "store", index: str = "exact") -> dict:
    """Accuracy at the query positions of long streams with a memory of ``capacity`` tokens.

    ``backend="store"``: through a KNNMemory / VQMemory (:func:`logits_through_store`);
    ``"dense"``: the layer's masked read (:meth:`SideReader.logits_at`). Same answers.
    """
    if backend not in ("store", "dense"):
        raise ValueError(f"backend must be 'store' or 'dense', got {backend!r}")
    correct, total, hits = 0, 0, []
    for s in range(data.tokens.shape[0]):
        tok = data.tokens[s:s + 1].to(device)
        pos = data.query_pos[s].to(device)
        if backend == "store":
            logits = logits_through_store(model, tok, pos, capacity, top_k, compress, index)
        else:
            logits = model.logits_at(tok, pos, capacity=capacity, top_k=top_k,
                                     compress=compress)[0]
        pred = logits.argmax(-1).cpu()
        ok = pred == data.answers[s]
        hits.append(ok)
        correct += int(ok.sum())
        total += ok.numel()
    hits = torch.stack(hits)
    return {"accuracy": correct / total, "hits": hits, "chance": 1 / data.n_values}


def memory_size_sweep(model, data, capacities, top_k=None, device="cpu",
                      backend: str = "store") -> list[dict]:
    """Accuracy for each memory size; also the fraction of queries within reach (gap)."""
    rows = []
    for c in capacities:
        r = evaluate(model, data, c, top_k, device=device, backend=backend)
        reach = float((data.gaps <= model.attn.window - 1 + c).float().mean())
        rows.append({"capacity": c, "accuracy": r["accuracy"], "within_reach": reach})
    return rows


def pq_for_ratio(dim: int, ratio: int, codebook_size: int = 256, bits_per_float: int = 32):
    """The number of subspaces giving ``ratio`` compression of float vectors with K codes."""
    bits = dim * bits_per_float / ratio
    n_sub = round(bits / np.log2(codebook_size))
    if n_sub < 1 or dim % n_sub or abs(n_sub * np.log2(codebook_size) - bits) > 1e-9:
        raise ValueError(f"compression {ratio}x is not reachable with dim={dim}, "
                         f"K={codebook_size} (n_sub={n_sub} must divide dim)")
    return n_sub


def fit_quantizers(model: SideReader, data: DefineThenUse, ratio: int = 16,
                   codebook_size: int = 256, n_fit: int = 4096, iters: int = 10, seed: int = 0):
    """Product quantizers for the memory's keys and values, fitted on writer outputs of ``data``.

    Returns ``compress(x, kind="key"|"value") -> x_hat`` with attributes ``ratio``,
    ``key_pq``, ``value_pq``.
    """
    d = model.attn.d_head
    n_sub = pq_for_ratio(d, ratio, codebook_size)
    with torch.no_grad():
        K, V = model.memory_entries(data.tokens.to(model.writer.E.device))
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(K.shape[0] * K.shape[1], generator=g)[:n_fit]
    kpq = ProductQuantizer(d, n_sub, codebook_size).fit(K.reshape(-1, d)[pick], iters, seed)
    vpq = ProductQuantizer(d, n_sub, codebook_size).fit(V.reshape(-1, d)[pick], iters, seed + 99)

    def compress(x, kind="key"):
        pq = kpq if kind == "key" else vpq
        return pq.decode(pq.encode(x)).to(x)

    compress.ratio = kpq.compression_ratio()
    compress.key_pq, compress.value_pq = kpq, vpq
    return compress


def compression_sweep(model, data, fit_data, ratios=(4, 16, 64), capacity=None, top_k=None,
                      codebook_size=256, seed=0, device="cpu", backend: str = "store") -> list[dict]:
    """Accuracy with the memory stored uncompressed (ratio 1, a KNNMemory) and product-quantised
    (a VQMemory holding only the codes, with ``backend="store"``)."""
    cap = capacity if capacity is not None else data.tokens.shape[1]
    rows = [{"ratio": 1, "accuracy": evaluate(model, data, cap, top_k, device=device,
                                              backend=backend)["accuracy"]}]
    for r in ratios:
        comp = fit_quantizers(model, fit_data, r, codebook_size, seed=seed)
        acc = evaluate(model, data, cap, top_k, compress=comp, device=device,
                       backend=backend)["accuracy"]
        rows.append({"ratio": r, "accuracy": acc})
    return rows


def ann_vs_exact(keys: torch.Tensor, queries: torch.Tensor, k: int = 10, nlist: int = 256,
                 nprobe: int = 8, repeat: int = 3) -> dict:
    """Recall@k of a faiss IVF KNNMemory against exact torch search, and the time ratio.

    ``recall_at_k``: the fraction of the exact top-k ids that faiss returns (id-based, as in
    the benchmark ``knn_exact_vs_faiss_ivf`` and the issue's target). ``recall_tie_tolerant``
    counts a returned neighbour as correct when its exact score is at least the k-th best exact
    score: where keys repeat (a reader's memory of repeated tokens) ties make the id-based
    number understate the search; on continuous keys without ties the two are equal.
    """
    n, d = keys.shape
    ivf = KNNMemory(d, n, value_dim=1, index="ivf", nlist=nlist, nprobe=nprobe)
    t0 = time.perf_counter()
    ivf.write(keys, torch.zeros(n, 1))
    build_s = time.perf_counter() - t0

    def best(fn):
        ts, out = [], None
        for _ in range(repeat):
            t = time.perf_counter()
            out = fn()
            ts.append(time.perf_counter() - t)
        return min(ts), out

    t_exact, (true_s, truth) = best(lambda: exact_topk(queries, keys, k))
    t_ann, (_, found) = best(lambda: ivf.search(queries, k))
    found_s = torch.where(found >= 0, (queries[:, None, :] * keys[found.clamp_min(0)]).sum(-1),
                          torch.tensor(float("-inf")))
    kth = true_s[:, -1:]
    recall = float((found_s >= kth - 1e-5 * kth.abs().clamp_min(1)).float().mean())
    return {"n_keys": n, "recall_at_k": recall_at_k(found, truth), "recall_tie_tolerant": recall,
            "exact_ms": 1e3 * t_exact, "ann_ms": 1e3 * t_ann,
            "speedup": t_exact / max(t_ann, 1e-9), "build_s": build_s}


def clustered_keys(n: int, dim: int = 64, n_clusters: int | None = None, spread: float = 0.5,
                   n_queries: int = 256, noise: float = 0.3, seed: int = 0):
    """Memory-like search data: keys from a mixture of Gaussians (``n_clusters`` centres
    ~ N(0, 1), within-cluster std ``spread``; default n / 100 clusters) and queries that are
    stored keys plus N(0, noise^2) noise (a query looking for something once written).
    Returns ``(keys [n, dim], queries [n_queries, dim])``."""
    g = torch.Generator().manual_seed(seed)
    n_clusters = n_clusters or max(1, n // 100)
    centres = torch.randn(n_clusters, dim, generator=g)
    keys = centres[torch.randint(0, n_clusters, (n,), generator=g)]
    keys = keys + spread * torch.randn(n, dim, generator=g)
    queries = keys[torch.randint(0, n, (n_queries,), generator=g)]
    return keys, queries + noise * torch.randn(n_queries, dim, generator=g)


@torch.no_grad()
def memory_keys_and_queries(model: SideReader, n_keys: int, n_queries: int = 256, seed: int = 0):
    """The writer's keys over a stream of ``n_keys`` tokens, and the reader's queries at its
    query tokens: the search problem of a kNN memory of that size."""
    n_pairs = max(1, min(n_queries, n_keys // 8, 512))
    data = define_then_use(1, n_keys, n_pairs, min_gap=2, seed=seed)
    K, _ = model.memory_entries(data.tokens)
    h = model.writer(data.tokens)
    q = model.attn.W_q(h[0, data.query_pos[0]])
    return K[0], q


def regime_switching_stream(n_regimes: int = 4, n_states: int = 6, n_segments: int = 12,
                            segment_len: int = 60, seed: int = 0):
    """The EM-LLM demonstration's stream: ``n_segments`` segments of ``segment_len`` tokens, each
    generated by one of ``n_regimes`` Markov chains (regime r owns tokens ``[r*n_states,
    (r+1)*n_states)``; every state has 2 successors drawn at random). The first segment is
    regime 0; each next segment switches to a different regime.
    Returns ``(tokens [n_segments * segment_len], true boundaries [start indices], regimes)``.
    """
    if n_regimes < 2 or n_states < 2 or n_segments < 1 or segment_len < 1:
        raise ValueError(f"need n_regimes >= 2, n_states >= 2, n_segments >= 1, segment_len >= 1; "
                         f"got {n_regimes}, {n_states}, {n_segments}, {segment_len}")
    g = torch.Generator().manual_seed(seed)
    tables = [r * n_states + torch.randint(0, n_states, (n_states, 2), generator=g)
              for r in range(n_regimes)]
    tokens, truth, regimes, regime = [], [], [], 0
    for s in range(n_segments):
        if s:
            regime = (regime + 1 + int(torch.randint(0, n_regimes - 1, (1,), generator=g))) % n_regimes
        truth.append(len(tokens))
        regimes.append(regime)
        x = regime * n_states
        for _ in range(segment_len):
            tokens.append(x)
            x = int(tables[regime][x - regime * n_states, torch.randint(0, 2, (1,), generator=g)])
    return torch.tensor(tokens), truth, regimes
