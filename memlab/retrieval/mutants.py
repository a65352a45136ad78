"""Chapter 07's mutants: realistic bugs in the kNN store, the memory read, LongMem's reader,
MEMORY-VQ, InfLLM, EM-LLM and EMAT. The checks that must catch them are in
:mod:`memlab.retrieval.checks` (chapter 07's claims at test size and its equalities).

Apply one in a ``with`` block::

    from memlab.testing.mutants import MUTANTS
    with MUTANTS["knn_fifo_evicts_newest"].apply():
        ...   # a partial memory now answers the wrong queries
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from unittest import mock

import torch

import memlab.retrieval.memorizing as mz
from memlab.report import at_most as _at_most
from memlab.retrieval import emat, emllm, infllm, knn, longmem, msa, vq
from memlab.testing.mutants import check as _check
from memlab.testing.mutants import mutant

# --------------------------------------------------------------------------- kNN store
M_KNN = "kNN memory (FIFO, exact / faiss IVF)"


@mutant("07", M_KNN)
def knn_writes_never_searchable():
    """Added memories never become searchable: the faiss index is not updated on write
    (memorizing-transformers-pytorch #10: workers added to copies of the index)."""
    return mock.patch.object(knn.KNNMemory, "_sync_index", lambda self, new_ids: None)


@mutant("07", M_KNN)
@contextmanager
def knn_fifo_evicts_newest():
    """FIFO backwards: once the store is full the NEWEST pairs are dropped (``if full:
    return``), so the store keeps the oldest ones instead of the most recent."""
    real = knn.KNNMemory.write

    def write(self, keys, values):
        room = max(0, self.capacity - self.n_written)
        ids = torch.arange(self.n_written, self.n_written + keys.shape[0])
        if room:
            real(self, keys[:room], values[:room])
        self.n_written = int(ids[-1]) + 1 if len(ids) else self.n_written
        return ids

    with mock.patch.object(knn.KNNMemory, "write", write):
        yield


@mutant("07", M_KNN)
@contextmanager
def knn_topk_sorted_wrong():
    """Scores treated as distances: the k LOWEST inner products are returned (ascending)."""
    real = knn.KNNMemory.search

    def search(self, query, k):
        n = max(1, len(self))
        s, i = real(self, query, n)
        return s.flip(-1)[:, :k], i.flip(-1)[:, :k]

    with mock.patch.object(knn.KNNMemory, "search", search):
        yield


@mutant("07", M_KNN)
@contextmanager
def knn_evicted_stay_in_index():
    """Evicted pairs are never removed from the faiss index: searches return ids that the
    FIFO already overwrote (their slots now hold other tokens)."""
    def _sync_index(self, new_ids):
        if self.index_kind == "exact":
            return
        lo = self.oldest_id
        new_ids = new_ids[new_ids >= lo]
        if new_ids.numel():
            slots = new_ids % self.capacity
            self._index.add_with_ids(self.keys[slots].cpu().float().numpy(),
                                     self._id_array(new_ids))

    with mock.patch.object(knn.KNNMemory, "_sync_index", _sync_index):
        yield


@mutant("07", M_KNN)
@contextmanager
def ivf_nprobe_ignored():
    """The IVF index is searched with faiss's default nprobe = 1, not the configured one."""
    real = knn.KNNMemory.__init__

    def init(self, *a, **kw):
        real(self, *a, **kw)
        self.nprobe = 1

    with mock.patch.object(knn.KNNMemory, "__init__", init):
        yield


# --------------------------------------------------------------------------- the memory read
M_READ = "Memorizing-Transformer attention"


@contextmanager
def _read(transform):
    """Wrap memorizing_read where it is looked up (memorizing, longmem)."""
    real = mz.memorizing_read

    def broken(*a, **kw):
        return transform(real, *a, **kw)

    with ExitStack() as st:
        for m in (mz, longmem):
            st.enter_context(mock.patch.object(m, "memorizing_read", broken))
        yield


def _args(a, kw):
    names = ["q", "K", "V", "q_pos", "k_pos", "window", "capacity", "top_k", "gate", "combine",
             "return_retrieved"]
    d = dict(zip(names, a))
    d.update(kw)
    return d


@mutant("07", M_READ)
def memorizing_gate_inverted():
    """The gate weights the local read instead of the memory: o = (1-g) o_mem + g o_local."""
    def tr(real, *a, **kw):
        d = _args(a, kw)
        d["gate"] = 1 - d["gate"]
        return real(**d)
    return _read(tr)


@mutant("07", M_READ)
def memorizing_memory_overlaps_window():
    """Off by one at the window's edge: the local window is W - 1 tokens and the memory
    starts one token later than it should (token t - W + 1 is read from the memory)."""
    def tr(real, *a, **kw):
        d = _args(a, kw)
        d["window"] = max(1, d["window"] - 1)
        return real(**d)
    return _read(tr)


@mutant("07", M_READ)
def memorizing_topk_not_applied():
    """Top-k not applied: the memory softmax runs over every stored token."""
    def tr(real, *a, **kw):
        d = _args(a, kw)
        d["top_k"] = max(d["capacity"], 1)
        return real(**d)
    return _read(tr)


# --------------------------------------------------------------------------- LongMem
M_LONGMEM = "LongMem frozen writer + side reader"


@mutant("07", M_LONGMEM)
def longmem_gate_ignored():
    """LongMem's per-head gate ignored: the two softmax reads are simply added,
    o = o_mem + o_local (the gate parameter exists but is never used)."""
    def tr(real, *a, **kw):
        d = _args(a, kw)
        one = torch.ones_like(d["gate"])
        d_mem, d_loc = dict(d, gate=one), dict(d, gate=0 * one)
        if d.get("return_retrieved"):
            (om, info), (ol, _) = real(**d_mem), real(**d_loc)
            return om + ol, info
        return real(**d_mem) + real(**d_loc)
    return _read(tr)


@mutant("07", M_LONGMEM)
def longmem_writer_no_shift():
    """The writer's previous-token features not shifted: h_t = [E x_t; E x_t], so a stored
    value token no longer carries its key."""
    def forward(self, tokens):
        e = self.E[tokens]
        return torch.cat([e, e], dim=-1)
    return mock.patch.object(longmem.FrozenWriter, "forward", forward)


@mutant("07", M_LONGMEM)
@contextmanager
def longmem_writer_not_frozen():
    """The writer's W_k, W_v left trainable: training moves the keys of the memory, which
    then go stale (the Memorizing Transformer's problem LongMem avoids)."""
    real = longmem.SideReader.__init__

    def init(self, *a, **kw):
        real(self, *a, **kw)
        for lin in (self.attn.W_k, self.attn.W_v):
            lin.weight.requires_grad_(True)

    with mock.patch.object(longmem.SideReader, "__init__", init):
        yield


# --------------------------------------------------------------------------- MEMORY-VQ
M_VQ = "MEMORY-VQ product quantisation"


@mutant("07", M_VQ)
def vq_codebook_unfitted():
    """A VQ codebook left unfitted: codewords drawn from a Gaussian with the data's mean and
    std per subspace, never moved to the data by k-means."""
    def fit(self, x, iters=15, seed=0):
        xs = self._split(x.detach())                                   # [m, n, d_sub]
        g = torch.Generator().manual_seed(seed)
        noise = torch.randn(self.n_sub, self.K, self.d_sub, generator=g).to(xs)
        self.codebooks = xs.mean(1, keepdim=True) + xs.std(1, keepdim=True) * noise
        return self
    return mock.patch.object(vq.ProductQuantizer, "fit", fit)


@mutant("07", M_VQ)
@contextmanager
def vq_encode_farthest():
    """Encode picks the farthest codeword (argmax of the distance, not argmin)."""
    def encode(self, x):
        self._need_fit()
        xs = self._split(x.detach().to(self.codebooks))
        codes = torch.cdist(xs, self.codebooks).argmax(-1).T
        return codes.to(torch.uint8 if self.K <= 256 else torch.int32)

    with mock.patch.object(vq.ProductQuantizer, "encode", encode):
        yield


@mutant("07", M_VQ)
@contextmanager
def vq_adc_subspace_shift():
    """ADC lookup tables indexed with the codes of the next subspace (j + 1 mod m)."""
    def adc(self, query, codes):
        self._need_fit()
        qs = self._split(query.to(self.codebooks))
        lut = torch.einsum("mqd,mkd->mqk", qs, self.codebooks)
        c = codes.long().T.roll(-1, 0)
        return torch.stack([lut[j][:, c[j]] for j in range(self.n_sub)]).sum(0)

    with mock.patch.object(vq.ProductQuantizer, "adc_scores", adc):
        yield


# --------------------------------------------------------------------------- InfLLM / EM-LLM / EMAT
@mutant("07", "InfLLM block memory")
@contextmanager
def infllm_repr_from_past_queries():
    """Representative scores from the queries BEFORE token m (i < m), not the l_L after it."""
    def rs(keys, queries, n_local):
        n = keys.shape[0]
        S = queries @ keys.T
        i, m = torch.arange(n)[:, None], torch.arange(n)[None, :]
        before = (i < m) & (i >= m - n_local)
        return (S * before).sum(0) / before.sum(0).clamp_min(1)

    with mock.patch.object(infllm, "representative_scores", rs):
        yield


@mutant("07", "InfLLM block memory")
@contextmanager
def infllm_lookup_least_relevant():
    """Block lookup sorted the wrong way: the LEAST relevant blocks are loaded."""
    real = infllm.BlockMemory.relevance
    with mock.patch.object(infllm.BlockMemory, "relevance", lambda self, q: -real(self, q)):
        yield


@mutant("07", "EM-LLM surprise events")
def emllm_boundary_on_low_surprise():
    """Event boundaries where surprise is LOW (s_t < mean - gamma std): the sign slipped."""
    real = emllm.surprise_boundaries
    return mock.patch.object(emllm, "surprise_boundaries",
                             lambda s, *a, **kw: real(-s, *a, **kw))


@mutant("07", "EMAT key-value MIPS memory")
def emat_mips_extra_dim_wrong():
    """The MIPS -> nearest-neighbour reduction with the extra coordinate ||k|| instead of
    sqrt(M^2 - ||k||^2): L2 search no longer finds the largest inner product."""
    def mips_to_nn(keys, queries):
        return (torch.cat([keys, keys.norm(dim=-1)[:, None]], -1),
                torch.cat([queries, queries.new_zeros(queries.shape[0], 1)], -1))
    return mock.patch.object(emat, "mips_to_nn", mips_to_nn)


from memlab.retrieval import checks as _checks  # noqa: F401 - registers the checks

# --------------------------------------------------------------------------- MSA
M_MSA = "MSA memory sparse attention"


@mutant("07", M_MSA)
def msa_route_by_document_mean():
    """A document scored by the MEAN of its chunks' cosines (one vector per document, as in
    single-vector retrieval) instead of the max: one relevant chunk is diluted by the rest."""
    def route_scores(q, K_r, chunk_doc, n_docs):
        cos = torch.einsum("nhd,chd->nc", torch.nn.functional.normalize(q, dim=-1), K_r) / q.shape[1]
        tot = cos.new_zeros((q.shape[0], n_docs)).index_add_(1, chunk_doc, cos)
        return tot / torch.bincount(chunk_doc, minlength=n_docs)
    return mock.patch.object(msa, "route_scores", route_scores)


@mutant("07", M_MSA)
def msa_route_bottom_k():
    """Top-k taken ascending (``largest=False``): the router keeps the LEAST similar documents."""
    def route(self, q, top_k=None):
        q = self._query(q)
        _, K_r, _, chunk_doc, _, _ = self._stored()
        k = min(top_k or self.top_k, self.n_docs)
        return msa.route_scores(q, K_r, chunk_doc, self.n_docs).topk(k, dim=-1, largest=False)
    return mock.patch.object(msa.MSAMemory, "route", route)


@mutant("07", M_MSA)
@contextmanager
def msa_values_shifted_one_chunk():
    """Values pooled one chunk out of step with the keys (an off-by-one at chunk boundaries):
    the read returns the value of the chunk after the one its key matched."""
    real = msa.MSAMemory.write_many

    def write_many(self, keys, values):
        real(self, keys, values)
        self._V[-1] = self._V[-1].roll(-1, 0)

    with mock.patch.object(msa.MSAMemory, "write_many", write_many):
        yield


@mutant("07", M_MSA)
@contextmanager
def msa_document_start_off_by_one():
    """Document offsets taken as cumsum(counts) instead of cumsum(counts) - counts: the fast
    read gathers the NEXT document's chunks (clamped at the end of the memory)."""
    real = msa.MSAMemory._stored

    def _stored(self):
        K_bar, K_r, V_bar, chunk_doc, start, counts = real(self)
        return K_bar, K_r, V_bar, chunk_doc, (start + counts).clamp(max=len(chunk_doc) - counts.max()), counts

    with mock.patch.object(msa.MSAMemory, "_stored", _stored):
        yield


def msa_check_rows(seed=0):
    """The claims' sweep at test size (16K and 64K tokens), computed once per state of the
    code: the cache key holds the functions a mutant may patch."""
    key = (seed, msa.route_scores, msa.MSAMemory.route, msa.MSAMemory.read,
           msa.MSAMemory.write_many, msa.MSAMemory._stored)
    if key not in _MSA_ROWS:
        _MSA_ROWS.clear()
        _MSA_ROWS[key] = msa.scaling_sweep([1 << 14, 1 << 16], seed=seed, n_queries=128, dense_up_to=0)
    return _MSA_ROWS[key]


_MSA_ROWS: dict = {}


@_check("07", "msa_accuracy_at_largest_memory")
def _msa_acc():
    """MSA accuracy at a 65,536-token memory (the claim at test size)."""
    return msa_check_rows()[-1]["accuracy"]


@_check("07", "msa_degradation")
def _msa_deg():
    rows = msa_check_rows()
    return rows[0]["accuracy"] - rows[-1]["accuracy"]


def _small_msa(seed=0, heads=2):
    g = torch.Generator().manual_seed(seed)
    m = msa.MSAMemory(8, heads=heads, value_dim=4, chunk=3, top_k=2)
    for L in (7, 9, 3, 12, 5):                      # documents of unequal length, partial chunks
        m.write(torch.randn(L, heads, 8, generator=g, dtype=torch.float64),
                torch.randn(L, heads, 4, generator=g, dtype=torch.float64))
    return m, torch.randn(16, heads, 8, generator=g, dtype=torch.float64)


@_check("07", "msa_read_vs_naive_err", target=_at_most(1e-10))
def _msa_naive():
    """The vectorised sparse read vs the loops of the equations (float64, unequal documents)."""
    m, q = _small_msa()
    return float((m.read(q) - m.read_naive(q)).abs().max())


@_check("07", "msa_all_documents_vs_dense_err", target=_at_most(1e-10))
def _msa_dense():
    """With k = every document the sparse read is dense attention over all compressed chunks."""
    m, q = _small_msa()
    return float((m.read(q, top_k=m.n_docs) - m.read_dense(q)).abs().max())
