"""MSA (Memory Sparse Attention): route each query to a few documents of a huge memory.

Paper: Y. Chen, R. Chen, S. Yi et al. (EverMind), "MSA: Memory Sparse Attention for Efficient
End-to-End Memory Model Scaling to 100M Tokens", 2026 (arXiv:2603.23516); the design section of
the authors' README (github.com/EverMind-AI/MSA). Its headline: "less than 9% degradation when
scaling from 16K to 100M tokens".

Glossary (paper symbol -> variable)
    document d        a written block of tokens, encoded once           ``write(keys, values)``
    K, V              its token keys / values  [L, H, d] / [L, H, d_v]    ``keys``, ``values``
    c                 chunk length of the mean pooling (KV compression)  ``chunk``
    K_bar, V_bar      chunk-mean-pooled keys / values [L/c, H, .]        ``K_bar``, ``V_bar``
    K_r               routing keys: chunk-pooled keys, unit length       ``K_r``
    Q_r, q            routing query / attention query  [n, H, d]         ``q``
    k                 documents read per query (top-k)                   ``top_k``
    chunk_doc         the document each stored chunk belongs to          ``chunk_doc``

Equations (one query q; cos = cosine similarity):
    compress (offline):   K_bar_j = mean of the c keys of chunk j,  V_bar_j likewise,
                          K_r_j = K_bar_j / |K_bar_j|                      (per head)
    route:                s_d = max_{j in d} mean_h cos(q_h, K_r_{j,h})     (heads, then tokens)
                          D(q) = top_k over documents of s_d
    read (per head):      o_h = sum_{j in D(q)} softmax_j(q_h . K_bar_{j,h} / sqrt(d)) V_bar_{j,h}
The read attends to k * (L/c) chunks whatever the memory size (flat cost); only the routing
scan grows with the memory (one d-vector per chunk, on the GPU in the paper, CPU RAM holding
K_bar, V_bar). With k >= the number of documents, the read is dense attention over every
compressed chunk (:meth:`MSAMemory.read_dense`): tested equal.

Naive form first: :meth:`MSAMemory.read_naive` loops over queries and documents as written
above; :meth:`MSAMemory.read` is the vectorised form (one score matrix, one gather of the
selected documents' chunks, padded to the longest document). Tested equal.

Constants: the abstract and README give neither k nor c (the paper adapts k per query,
"MSA (adaptive)"); the defaults here (k = 4 documents, c = 16 tokens) are ours. The routing
rule (cosine, "mean over heads, then max over tokens") is the README's.

Not included: training (the paper continues pre-training 158.95B tokens with an auxiliary
routing loss; here keys and queries are given, the mechanism is the untrained read path),
the router projector (Q_r = W_r q; here Q_r = q), the query's local K/V concatenated after the
memory, document-wise RoPE (positions restarting at 0 in each document: it matters for a
trained model extrapolating from 64K training contexts, not for this position-free read),
Memory Parallel sharding, and Memory Interleave (multi-round retrieval for multi-hop QA).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["MSAMemory", "chunk_pool", "route_scores"]


def chunk_pool(x: torch.Tensor, chunk: int) -> torch.Tensor:
    """Mean of each run of ``chunk`` rows: ``[L, ...] -> [ceil(L / chunk), ...]`` (the last,
    partial chunk is the mean of the rows it has)."""
    if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1:
        raise ValueError(f"chunk must be an int >= 1, got {chunk!r}")
    if x.dim() < 1 or x.shape[0] < 1:
        raise ValueError(f"x must have at least one row, got shape {tuple(x.shape)}")
    L = x.shape[0]
    n = -(-L // chunk)
    pad = n * chunk - L
    if pad:
        x = torch.cat([x, x.new_zeros((pad, *x.shape[1:]))])
    sums = x.reshape(n, chunk, *x.shape[1:]).sum(1)
    counts = torch.full((n,), float(chunk), dtype=x.dtype, device=x.device)
    counts[-1] = chunk - pad
    return sums / counts.reshape(n, *([1] * (x.dim() - 1)))


def route_scores(q: torch.Tensor, K_r: torch.Tensor, chunk_doc: torch.Tensor, n_docs: int):
    """Document scores s_d = max over the document's chunks of mean_h cos(q_h, K_r_j,h).

    ``q: [n, H, d]``, ``K_r: [C, H, d]`` (unit rows), ``chunk_doc: [C]`` -> ``[n, n_docs]``.
    """
    cos = torch.einsum("nhd,chd->nc", F.normalize(q, dim=-1), K_r) / q.shape[1]
    out = cos.new_full((q.shape[0], n_docs), -math.inf)
    return out.scatter_reduce(1, chunk_doc.expand(q.shape[0], -1), cos, reduce="amax")


class MSAMemory:
    """A document memory with chunk-pooled (compressed) K/V and top-k document routing.

    ``dim`` = d (per head), ``heads`` = H, ``value_dim`` = d_v, ``chunk`` = c, ``top_k`` = k.
    Memory protocol: ``write`` (one document), ``read``, ``state_size``, ``reset``.
    """

    def __init__(self, dim: int, heads: int = 1, value_dim: int | None = None,
                 chunk: int = 16, top_k: int = 4):
        for name, v in (("dim", dim), ("heads", heads), ("chunk", chunk), ("top_k", top_k)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        self.dim, self.heads, self.chunk, self.top_k = dim, heads, chunk, top_k
        self.value_dim = dim if value_dim is None else int(value_dim)
        self.reset()

    def reset(self) -> None:
        self._K, self._V, self._docs = [], [], []      # per written block, concatenated lazily
        self._cache = None
        self.n_docs = 0
        self.n_tokens = 0

    def state_size(self) -> int:
        """Numbers stored: C chunks x H x (d for K_bar + d for K_r + d_v for V_bar)."""
        return self.n_chunks * self.heads * (2 * self.dim + self.value_dim)

    @property
    def n_chunks(self) -> int:
        return sum(k.shape[0] for k in self._K)

    def write(self, keys: torch.Tensor, values: torch.Tensor) -> int:
        """Encode one document (``keys [L, H, d]``, ``values [L, H, d_v]``; 2-D means H = 1):
        pool it into chunks and store. Returns its document id."""
        keys, values = self._shape(keys, "keys", self.dim), self._shape(values, "values", self.value_dim)
        if keys.shape[0] != values.shape[0]:
            raise ValueError(f"keys and values must have the same length, got {keys.shape[0]} "
                             f"and {values.shape[0]}")
        Kb, Vb = chunk_pool(keys, self.chunk), chunk_pool(values, self.chunk)
        self._K.append(Kb)
        self._V.append(Vb)
        self._docs.append(torch.full((Kb.shape[0],), self.n_docs, dtype=torch.long, device=Kb.device))
        self._cache = None
        self.n_docs += 1
        self.n_tokens += keys.shape[0]
        return self.n_docs - 1

    def write_many(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Write B equal-length documents at once: ``keys [B, L, H, d]`` (or [B, L, d])."""
        if keys.dim() == 3 and values.dim() == 3:
            keys, values = keys[:, :, None], values[:, :, None]
        if (keys.dim() != 4 or keys.shape[2:] != (self.heads, self.dim) or values.dim() != 4
                or values.shape[:3] != keys.shape[:3] or values.shape[3] != self.value_dim):
            raise ValueError(f"keys must have shape [B, L, heads={self.heads}, {self.dim}] and values "
                             f"[B, L, heads, {self.value_dim}], got {tuple(keys.shape)} and "
                             f"{tuple(values.shape)}")
        B, L = keys.shape[:2]
        Kb = chunk_pool(keys.transpose(0, 1), self.chunk).transpose(0, 1)   # [B, L/c, H, d]
        Vb = chunk_pool(values.transpose(0, 1), self.chunk).transpose(0, 1)
        self._K.append(Kb.reshape(-1, *Kb.shape[2:]))
        self._V.append(Vb.reshape(-1, *Vb.shape[2:]))
        ids = torch.arange(self.n_docs, self.n_docs + B, device=Kb.device)
        self._docs.append(ids.repeat_interleave(Kb.shape[1]))
        self._cache = None
        self.n_docs += B
        self.n_tokens += B * L

    def _shape(self, x, name, last):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() == 2:
            x = x[:, None]
        if x.dim() != 3 or x.shape[1] != self.heads or x.shape[2] != last or x.shape[0] < 1:
            raise ValueError(f"{name} must have shape [L >= 1, heads={self.heads}, {last}], "
                             f"got {tuple(x.shape)}")
        return x

    def _stored(self):
        if self._cache is None:
            if not self._K:
                raise ValueError("the memory is empty: write documents before reading")
            K_bar, V_bar, chunk_doc = torch.cat(self._K), torch.cat(self._V), torch.cat(self._docs)
            counts = torch.bincount(chunk_doc, minlength=self.n_docs)
            start = torch.cumsum(counts, 0) - counts
            self._K, self._V, self._docs = [K_bar], [V_bar], [chunk_doc]
            self._cache = (K_bar, F.normalize(K_bar, dim=-1), V_bar, chunk_doc, start, counts)
        return self._cache

    def _query(self, q):
        if not isinstance(q, torch.Tensor):
            raise TypeError(f"q must be a torch.Tensor, got {type(q).__name__}")
        q = self._shape(q, "q", self.dim) if q.dim() == 2 else q
        if q.dim() != 3 or q.shape[1:] != (self.heads, self.dim):
            raise ValueError(f"q must have shape [n, heads={self.heads}, {self.dim}], got {tuple(q.shape)}")
        return q

    # ------------------------------------------------------------------ read paths
    def route(self, q: torch.Tensor, top_k: int | None = None):
        """Top-k documents per query: ``(scores, doc_ids)``, each ``[n, k]``."""
        q = self._query(q)
        _, K_r, _, chunk_doc, _, _ = self._stored()
        k = min(top_k or self.top_k, self.n_docs)
        return route_scores(q, K_r, chunk_doc, self.n_docs).topk(k, dim=-1)

    def read(self, q: torch.Tensor, top_k: int | None = None) -> torch.Tensor:
        """Sparse read: attention over the chunks of the routed documents -> ``[n, H, d_v]``."""
        q = self._query(q)
        K_bar, _, V_bar, _, start, counts = self._stored()
        _, docs = self.route(q, top_k)                                  # [n, k]
        width = int(counts.max())
        offs = torch.arange(width, device=q.device)
        idx = start[docs][..., None] + offs                             # [n, k, width]
        valid = offs < counts[docs][..., None]
        idx = torch.where(valid, idx, 0).flatten(1)                     # [n, k * width]
        logits = torch.einsum("nhd,nchd->nhc", q, K_bar[idx]) / math.sqrt(self.dim)
        logits = logits.masked_fill(~valid.flatten(1)[:, None, :], -math.inf)
        return torch.einsum("nhc,nchv->nhv", logits.softmax(-1), V_bar[idx])

    def read_dense(self, q: torch.Tensor) -> torch.Tensor:
        """No routing: attention over every compressed chunk of the memory (cost grows with it)."""
        q = self._query(q)
        K_bar, _, V_bar, _, _, _ = self._stored()
        logits = torch.einsum("nhd,chd->nhc", q, K_bar) / math.sqrt(self.dim)
        return torch.einsum("nhc,chv->nhv", logits.softmax(-1), V_bar)

    def read_naive(self, q: torch.Tensor, top_k: int | None = None) -> torch.Tensor:
        """Reference: the equations with loops (one query, one document, one head at a time)."""
        q = self._query(q)
        K_bar, K_r, V_bar, chunk_doc, _, _ = self._stored()
        k = min(top_k or self.top_k, self.n_docs)
        out = []
        for qi in q:
            s = []
            for d in range(self.n_docs):
                rows = K_r[chunk_doc == d]                              # this document's chunks
                cos = torch.stack([F.cosine_similarity(qi[h][None], rows[:, h]) for h in range(self.heads)])
                s.append(cos.mean(0).max())                             # mean heads, max tokens
            docs = torch.stack(s).topk(k).indices
            sel = torch.cat([torch.nonzero(chunk_doc == d)[:, 0] for d in docs])
            heads = []
            for h in range(self.heads):
                w = torch.softmax(K_bar[sel, h] @ qi[h] / math.sqrt(self.dim), 0)
                heads.append(w @ V_bar[sel, h])
            out.append(torch.stack(heads))
        return torch.stack(out)

    def read_cost(self, top_k: int | None = None) -> dict:
        """Per query: chunks attended by the sparse read, by the dense read, routing scores."""
        _, _, _, _, _, counts = self._stored()
        k = min(top_k or self.top_k, self.n_docs)
        return {"sparse_chunks": int(counts.sort(descending=True).values[:k].sum()),
                "dense_chunks": self.n_chunks, "routing_scores": self.n_chunks * self.heads}


# ---------------------------------------------------------------------- the chapter's task
def fact_memory(n_tokens: int, doc_len: int = 256, chunk: int = 16, dim: int = 64,
                n_answers: int = 64, jitter: float = 0.3, top_k: int = 4, seed: int = 0,
                block_docs: int = 256):
    """A memory of ``n_tokens // doc_len`` documents of random filler tokens (keys, values
    ~ N(0, I)), each hiding ONE fact: a chunk-aligned span of c tokens whose keys are
    k_f + jitter * noise and whose values are the embedding of its answer (one of
    ``n_answers``). Returns ``(memory, answers [n_answers, dim], fact_keys [D, dim],
    fact_answer [D])``. Generated and written in blocks, so only the compressed memory is kept.
    """
    if n_tokens < doc_len or doc_len % chunk:
        raise ValueError(f"n_tokens must be >= doc_len={doc_len} and doc_len a multiple of "
                         f"chunk={chunk}, got n_tokens={n_tokens}")
    g = torch.Generator().manual_seed(seed)
    answers = torch.randn(n_answers, dim, generator=g)
    mem = MSAMemory(dim, chunk=chunk, top_k=top_k)
    n_docs, keys, ans = n_tokens // doc_len, [], []
    for b0 in range(0, n_docs, block_docs):
        B = min(block_docs, n_docs - b0)
        K = torch.randn(B, doc_len, dim, generator=g)
        V = torch.randn(B, doc_len, dim, generator=g)
        k_f = torch.randn(B, dim, generator=g)
        y = torch.randint(n_answers, (B,), generator=g)
        rows = torch.randint(doc_len // chunk, (B, 1), generator=g) * chunk + torch.arange(chunk)
        b = torch.arange(B)[:, None]
        K[b, rows] = k_f[:, None] + jitter * torch.randn(B, chunk, dim, generator=g)
        V[b, rows] = answers[y][:, None]
        mem.write_many(K, V)
        keys.append(k_f)
        ans.append(y)
    return mem, answers, torch.cat(keys), torch.cat(ans)


def fact_accuracy(mem, answers, fact_keys, fact_answer, n_queries: int = 256,
                  noise: float = 1.0, seed: int = 0, dense: bool = False) -> float:
    """Ask ``n_queries`` facts (query = k_f + noise * N(0, I)); the answer is the answer
    embedding with the largest inner product with the read. Chance is 1 / n_answers."""
    g = torch.Generator().manual_seed(seed + 7)
    i = torch.randint(len(fact_keys), (n_queries,), generator=g)
    q = (fact_keys[i] + noise * torch.randn(n_queries, fact_keys.shape[1], generator=g))[:, None]
    o = mem.read_dense(q) if dense else mem.read(q)
    return float(((o[:, 0] @ answers.T).argmax(-1) == fact_answer[i]).float().mean())


def scaling_sweep(sizes, seed: int = 0, n_queries: int = 256, dense_up_to: int = 1 << 20,
                  **kw) -> list[dict]:
    """Accuracy and per-query read cost of MSA (and of dense attention over the same compressed
    memory, up to ``dense_up_to`` tokens) at each memory size in tokens."""
    import time
    rows = []
    for n in sizes:
        mem, A, K, y = fact_memory(n, seed=seed, **kw)
        t0 = time.perf_counter()
        acc = fact_accuracy(mem, A, K, y, n_queries, seed=seed)
        dt = (time.perf_counter() - t0) / n_queries
        dense = fact_accuracy(mem, A, K, y, n_queries, seed=seed, dense=True) if n <= dense_up_to else None
        rows.append({"tokens": n, "docs": mem.n_docs, "accuracy": acc, "dense_accuracy": dense,
                     "read_s_per_query": dt, **mem.read_cost()})
    return rows
