"""MEMORY-VQ: store integer codes instead of memory vectors (k-means / product quantisation).

Paper: Zemlyanskiy, de Jong, Vilnis, Ontanon, Cohen, Sanghai, Ainslie, "MEMORY-VQ: Compression
for Tractable Internet-Scale Memory" (NAACL 2024). A memory of pre-computed token vectors is
huge; MEMORY-VQ splits every vector into subspaces, quantises each subspace with its own
codebook (product quantisation, learned as a VQ-VAE) and stores the integer codes: "a 16x
compression rate with comparable performance on the KILT benchmark".

Glossary (paper -> code)
    z               a memory vector of dimension d          x  [n, dim]
    m               number of subspaces                     n_sub (1 = plain VQ)
    e^(j)_c         codeword c of subspace j's codebook     codebooks [n_sub, K, dim / n_sub]
    K               codebook size                           codebook_size
    c(z)            the stored codes                        codes [n, n_sub] (uint8 when K <= 256)

Equations
    z = [z^(1); ...; z^(m)],   c_j(z) = argmin_c || z^(j) - e^(j)_c ||^2        (encode)
    z_hat = [e^(1)_{c_1}; ...; e^(m)_{c_m}]                                     (decode)
    codebooks by k-means (Lloyd): assign each point to its nearest codeword, move each
    codeword to the mean of its points, repeat.
    compression = (d * bits_per_float) / (m * log2 K)   (codebooks not counted: they are shared
                  by the whole memory; :meth:`ProductQuantizer.compression_ratio` can count them.
                  They are not negligible at teaching sizes: d = 128, m = 32, K = 256 is "16x"
                  for the codes, 8x at M = 4096 vectors once a codebook is counted)
    search on codes without decoding (asymmetric distance computation, ADC):
        q . z_hat = sum_j LUT[j, c_j],   LUT[j, c] = q^(j) . e^(j)_c

Not included: the VQ-VAE training of the codebooks jointly with the model (straight-through
estimator, commitment loss); here codebooks are fitted by k-means on a sample of memory
vectors and the model is frozen. faiss has a fast ``ProductQuantizer`` / ``IndexPQ``; this one
is written out because it is what the chapter teaches.
"""

from __future__ import annotations

import math

import torch

from memlab.memory import check_shape

__all__ = ["ProductQuantizer", "VQMemory", "kmeans"]


def kmeans(x: torch.Tensor, K: int, iters: int = 15, seed: int = 0) -> torch.Tensor:
    """Lloyd's k-means: ``x [n, d] -> centroids [K, d]``; or batched, ``[m, n, d] -> [m, K, d]``.

    Init: K distinct random points. A codeword left without points is moved to a random point.
    """
    if x.dim() == 2:
        return kmeans(x[None], K, iters, seed)[0]
    check_shape(x, "x", ndim=3)
    m, n, _ = x.shape
    if not 1 <= K <= n:
        raise ValueError(f"K must be in [1, n={n}], got {K}")
    g = torch.Generator().manual_seed(seed)
    C = x[:, torch.randperm(n, generator=g)[:K].to(x.device)].clone()          # [m, K, d]
    x2 = (x * x).sum(-1, keepdim=True)                                          # [m, n, 1]
    offset = (torch.arange(m, device=x.device) * K)[:, None]
    for _ in range(iters):
        dist = torch.baddbmm(x2 + (C * C).sum(-1)[:, None, :], x, C.transpose(1, 2), alpha=-2)
        assign = dist.argmin(-1)                                                # [m, n]
        flat = (assign + offset).reshape(-1)
        sums = torch.zeros(m * K, x.shape[-1], dtype=x.dtype, device=x.device)
        sums.index_add_(0, flat, x.reshape(-1, x.shape[-1]))
        counts = torch.bincount(flat, minlength=m * K).to(x.dtype)[:, None]
        new = (sums / counts.clamp_min(1)).view(m, K, -1)
        empty = (counts == 0).view(m, K)
        if bool(empty.any()):
            new[empty] = x[torch.nonzero(empty)[:, 0],
                           torch.randint(0, n, (int(empty.sum()),), generator=g).to(x.device)]
        C = new
    return C


class ProductQuantizer:
    """Split ``dim`` into ``n_sub`` subspaces, one k-means codebook of ``codebook_size`` each."""

    def __init__(self, dim: int, n_sub: int = 16, codebook_size: int = 256):
        if dim % n_sub:
            raise ValueError(f"n_sub={n_sub} must divide dim={dim}")
        if not 2 <= codebook_size <= 65536:
            raise ValueError(f"codebook_size must be in [2, 65536], got {codebook_size}")
        self.dim, self.n_sub, self.K = dim, n_sub, codebook_size
        self.d_sub = dim // n_sub
        self.codebooks: torch.Tensor | None = None      # [n_sub, K, d_sub]

    @property
    def bits_per_vector(self) -> float:
        return self.n_sub * math.log2(self.K)

    def compression_ratio(self, bits_per_float: int = 32, n_vectors: int | None = None) -> float:
        """Bits of the raw vectors / bits of the codes (+ the codebooks when n_vectors given)."""
        raw = self.dim * bits_per_float
        if n_vectors is None:
            return raw / self.bits_per_vector
        book = self.n_sub * self.K * self.d_sub * bits_per_float
        return raw * n_vectors / (self.bits_per_vector * n_vectors + book)

    def _split(self, x):
        check_shape(x, "x", ndim=2, last=self.dim)
        return x.reshape(x.shape[0], self.n_sub, self.d_sub).transpose(0, 1)   # [m, n, d_sub]

    def fit(self, x: torch.Tensor, iters: int = 15, seed: int = 0) -> ProductQuantizer:
        xs = self._split(x.detach())
        self.codebooks = kmeans(xs.contiguous(), self.K, iters, seed)   # all subspaces at once
        return self

    def _need_fit(self):
        if self.codebooks is None:
            raise RuntimeError("call fit(x) first: the codebooks are not trained yet")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``x [n, dim] -> codes [n, n_sub]`` (uint8 when K <= 256, else int32)."""
        self._need_fit()
        xs = self._split(x.detach().to(self.codebooks))                        # [m, n, d_sub]
        codes = torch.cat([torch.cdist(xs[:, s:s + 4096], self.codebooks).argmin(-1)
                           for s in range(0, xs.shape[1], 4096)], dim=1).T     # [n, m]
        return codes.to(torch.uint8 if self.K <= 256 else torch.int32)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes [n, n_sub] -> x_hat [n, dim]``: concatenate the chosen codewords."""
        self._need_fit()
        c = codes.long()
        parts = [self.codebooks[j, c[:, j]] for j in range(self.n_sub)]
        return torch.cat(parts, dim=-1)

    def adc_scores(self, query: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """``q . decode(codes)`` without decoding: lookup tables. ``[q, dim], [n, m] -> [q, n]``."""
        self._need_fit()
        qs = self._split(query.to(self.codebooks))                             # [m, q, d_sub]
        lut = torch.einsum("mqd,mkd->mqk", qs, self.codebooks)                 # [m, q, K]
        c = codes.long().T                                                     # [m, n]
        return torch.stack([lut[j][:, c[j]] for j in range(self.n_sub)]).sum(0)


class VQMemory:
    """A FIFO (key, value) memory that stores PQ codes of both; searched by ADC inner product."""

    def __init__(self, key_pq: ProductQuantizer, value_pq: ProductQuantizer, capacity: int):
        if key_pq.codebooks is None or value_pq.codebooks is None:
            raise RuntimeError("fit both quantizers before building a VQMemory")
        self.key_pq, self.value_pq, self.capacity = key_pq, value_pq, capacity
        dev = key_pq.codebooks.device
        self.key_codes = torch.zeros(capacity, key_pq.n_sub, dtype=torch.uint8, device=dev)
        self.value_codes = torch.zeros(capacity, value_pq.n_sub, dtype=torch.uint8, device=dev)
        if key_pq.K > 256 or value_pq.K > 256:
            self.key_codes, self.value_codes = self.key_codes.int(), self.value_codes.int()
        self.ids = torch.full((capacity,), -1, dtype=torch.long, device=dev)
        self.n_written = 0

    def __len__(self):
        return min(self.n_written, self.capacity)

    def compression_ratio(self, bits_per_float: int = 32) -> float:
        raw = (self.key_pq.dim + self.value_pq.dim) * bits_per_float
        return raw / (self.key_pq.bits_per_vector + self.value_pq.bits_per_vector)

    def state_size(self) -> int:
        """Bytes of codes stored (the codebooks are shared and not counted)."""
        return len(self) * (self.key_codes.shape[1] * self.key_codes.element_size()
                            + self.value_codes.shape[1] * self.value_codes.element_size())

    def write(self, keys, values) -> torch.Tensor:
        n = keys.shape[0]
        ids = torch.arange(self.n_written, self.n_written + n, device=self.ids.device)
        keep = slice(max(0, n - self.capacity), n)
        slots = ids[keep] % self.capacity
        self.key_codes[slots] = self.key_pq.encode(keys[keep]).to(self.key_codes.dtype)
        self.value_codes[slots] = self.value_pq.encode(values[keep]).to(self.value_codes.dtype)
        self.ids[slots] = ids[keep]
        self.n_written += n
        return ids

    def read(self, query: torch.Tensor, k: int):
        """``(scores [q, k], decoded values [q, k, dv], ids [q, k])`` by ADC over all codes."""
        alive = (self.ids >= 0).nonzero().squeeze(-1)
        s = self.key_pq.adc_scores(query, self.key_codes[alive])
        top_s, j = s.topk(min(k, alive.numel()), dim=-1)
        slots = alive[j]
        vals = self.value_pq.decode(self.value_codes[slots.reshape(-1)])
        return top_s, vals.reshape(*slots.shape, -1), self.ids[slots]
