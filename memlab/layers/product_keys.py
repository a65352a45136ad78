"""Product-key memory (PKM): a huge trainable key-value table, read sparsely and exactly.

Paper: G. Lample, A. Sablayrolles, M. Ranzato, L. Denoyer, H. Jegou,
"Large Memory Layers with Product Keys", NeurIPS 2019 (arXiv:1907.05242).
Scaled up in V.-P. Berges et al., "Memory Layers at Scale", 2024 (arXiv:2412.09764).

Glossary (paper symbol -> variable)
    x                 input token vector                        ``x``      [..., d_model]
    q(x)              query network: linear + batch norm        ``W_q``, ``query_bn``
    d_q               query dimension per head                  ``d_key``
    q = [q1; q2]      the query cut into two halves of d_q / 2  ``q1``, ``q2``
    K1, K2            the two sets of sub-keys, |K1| = |K2|     ``keys[h, 0]``, ``keys[h, 1]``
    |K|               sub-keys per half                         ``n_keys``
    N = |K|^2         memory slots (full keys k_ij = [k1_i; k2_j])  ``n_slots``
    k                 slots read per head                       ``k``
    H                 heads (own keys, shared values)           ``heads``
    I_C, w            the top-k slots and their weights         ``idx``, ``w``
    V, m_i            value table, one row per slot             ``values`` [N, d_value]

Equations (one head):
    I1 = top_k(q1 . K1),  I2 = top_k(q2 . K2)                       # 2 |K| sub-scores
    candidates C = {(i, j) : i in I1, j in I2},  s_ij = q1.k1_i + q2.k2_j  # k^2 sums
    I = top_k over C of s_ij                                        # == top_k over all N
    w = softmax(s_I),   m(x) = sum_{i in I} w_i V_i                 # read: embedding bag
    output = sum over heads of m_h(x)
Exactness: if (i, j) is in the top-k of all N keys, then i is in top_k(q1 . K1) -- else k
better i' would give k better pairs (i', j) -- and likewise j; so the k^2 candidates
always contain the true top-k. Cost: 2 |K| + k^2 = O(sqrt(N) + k^2) scores instead of N.

Naive form first: :func:`exhaustive_topk` scores every full key [k1_i; k2_j]; the fast
form :func:`product_key_topk` is tested equal to it (tests/test_layers.py). Beyond the
paper, ``prune=True`` (default) sums only the ~k ln k pairs that can still win
(:func:`candidate_pairs`); ``prune=False`` is the paper's k^2. Both are exact.
Writing is gradient descent on ``values`` (and keys); only the k slots a query hit get a
gradient, which :meth:`ProductKeyMemory.write` makes explicit. Forgetting is interference.

Defaults follow the paper and its code (facebookresearch/XLM): |K| = 512 (N = 262,144
slots), H = 4, k = 32, d_q = 256, batch norm on queries. Public code differs:
lucidrains/product-key-memory 0.3 defaults to ``num_keys=128, dim_head=128`` and a layer norm;
the XLM maintainer calls batch norm best but leaves it off by default because padding breaks
batch statistics (XLM issue #171). Here ``query_norm=True`` (paper) or False.

Not included: the memory at several layers / shared across layers and the SiLU-gated output
of Memory Layers at Scale (its "memory+"), their custom CUDA embedding-bag kernels, input /
query / value dropout, sparse optimisers for the values (``F.embedding_bag`` gives dense
gradients here; fine at teaching sizes), and masking of padding in the batch norm.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ProductKeyMemory",
    "candidate_pairs",
    "count_scores",
    "exhaustive_topk",
    "product_key_topk",
]


def _check_keys(q: torch.Tensor, keys: torch.Tensor, k: int) -> None:
    if not isinstance(q, torch.Tensor) or not isinstance(keys, torch.Tensor):
        raise TypeError("q and keys must be torch.Tensors")
    if keys.dim() != 4 or keys.shape[1] != 2:
        raise ValueError(f"keys must have shape [heads, 2, n_keys, d_key/2], got {tuple(keys.shape)}")
    H, _, n_keys, half = keys.shape
    if q.dim() != 3 or q.shape[1] != H or q.shape[2] != 2 * half:
        raise ValueError(f"q must have shape [n, heads={H}, d_key={2 * half}], got {tuple(q.shape)}")
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= n_keys:
        raise ValueError(f"k must be an int in [1, n_keys={n_keys}], got {k!r}")


def exhaustive_topk(q: torch.Tensor, keys: torch.Tensor, k: int):
    """Naive reference: score all N = |K1| |K2| full keys k_ij = [k1_i; k2_j], keep the top k.

    ``q: [n, H, d_key]``, ``keys: [H, 2, n_keys, d_key/2]`` -> ``(scores, idx)``, each
    ``[n, H, k]``, sorted by decreasing score; slot index ``idx = i * n_keys + j``.
    Memory O(N d_key) per head: for checking, not for use at scale.
    """
    _check_keys(q, keys, k)
    H, _, n_keys, half = keys.shape
    K1 = keys[:, 0, :, None, :].expand(H, n_keys, n_keys, half)      # k1_i on rows
    K2 = keys[:, 1, None, :, :].expand(H, n_keys, n_keys, half)      # k2_j on columns
    full_keys = torch.cat([K1, K2], dim=-1).reshape(H, n_keys * n_keys, 2 * half)
    scores = torch.einsum("nhd,hNd->nhN", q, full_keys)              # q . k_ij, all N of them
    return scores.topk(k, dim=-1)


@functools.lru_cache(maxsize=32)
def candidate_pairs(k: int, prune: bool = True, device: str = "cpu"):
    """Positions ``(a, b)`` in the two sorted top-k lists whose sums are candidates.

    ``prune=False``: all k^2 pairs (the paper). ``prune=True``: only pairs with
    (a + 1)(b + 1) <= k -- pair (a, b) is beaten by every (a', b') with a' <= a, b' <= b,
    so any other pair has at least k better ones. About k ln k pairs (119 for k = 32), exact.
    """
    a, b = torch.meshgrid(torch.arange(k), torch.arange(k), indexing="ij")
    keep = ((a + 1) * (b + 1) <= k) if prune else torch.ones_like(a, dtype=torch.bool)
    return a[keep].to(device), b[keep].to(device)


def product_key_topk(q: torch.Tensor, keys: torch.Tensor, k: int, prune: bool = True):
    """Fast exact form: top-k per half, then top-k over the candidate sums s_ij.

    Same shapes and result as :func:`exhaustive_topk`, from 2 |K| sub-scores + k^2 sums
    (``prune=False``, the paper) or about k ln k sums (``prune=True``, see
    :func:`candidate_pairs`).
    """
    _check_keys(q, keys, k)
    n, H, _ = q.shape
    n_keys, half = keys.shape[2], keys.shape[3]
    q12 = q.reshape(n, H, 2, half)                                   # [q1; q2]
    sub = torch.einsum("nhpd,hpKd->hpnK", q12, keys)                 # q1.K1 and q2.K2
    s_half, i_half = sub.topk(k, dim=-1)                             # sorted, [H, 2, n, k]
    (s1, s2), (i1, i2) = s_half.unbind(1), i_half.unbind(1)          # [H, n, k] each
    a, b = candidate_pairs(k, prune, str(q.device))                  # positions in the lists
    if prune:                                                        # s_ij = q1.k1_i + q2.k2_j
        cand = s1.gather(-1, a.expand(H, n, -1)) + s2.gather(-1, b.expand(H, n, -1))
    else:                                                            # all k^2, row-major (a, b)
        cand = (s1[..., :, None] + s2[..., None, :]).flatten(-2)
    scores, pos = cand.topk(k, dim=-1)                               # best k candidates
    i, j = i1.gather(-1, a[pos]), i2.gather(-1, b[pos])              # their sub-key ids
    return scores.transpose(0, 1), (i * n_keys + j).transpose(0, 1)  # slot (i, j) -> i |K| + j


def count_scores(n_keys: int, k: int, method: str = "product") -> int:
    """Scores per query per head: N (exhaustive), 2|K| + k^2 (product), 2|K| + ~k ln k (pruned)."""
    if method == "exhaustive":
        return n_keys * n_keys
    if method in ("product", "pruned"):
        return 2 * n_keys + len(candidate_pairs(k, method == "pruned")[0])
    raise ValueError(f"method must be 'product', 'pruned' or 'exhaustive', got {method!r}")


class ProductKeyMemory(nn.Module):
    """A product-key memory layer: ``x: [..., d_model] -> [..., d_value]``.

    Parameters are the paper's names: ``n_keys`` = |K| (N = n_keys^2 slots), ``heads`` = H,
    ``k`` slots per head, ``d_key`` = d_q (even), ``query_norm`` = batch norm on q(x),
    ``prune``: True (the default here, beyond the paper) sums only the ~k ln k candidate
    pairs that can still win; False is the paper's (and its code's) k^2 pairs. Same result.
    Also a :class:`memlab.memory.Memory`: ``read``, ``write``, ``state_size``, ``reset``.
    """

    def __init__(self, d_model: int, n_keys: int = 512, heads: int = 4, k: int = 32,
                 d_key: int = 256, d_value: int | None = None, query_norm: bool = True,
                 prune: bool = True):
        super().__init__()
        for name, v, lo in (("d_model", d_model, 1), ("n_keys", n_keys, 1), ("heads", heads, 1),
                            ("k", k, 1), ("d_key", d_key, 2)):
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
        if d_key % 2:
            raise ValueError(f"d_key must be even (it is cut into two halves), got {d_key}")
        if k > n_keys:
            raise ValueError(f"k={k} must be <= n_keys={n_keys}")
        self.d_model, self.n_keys, self.heads, self.k, self.d_key = d_model, n_keys, heads, k, d_key
        self.d_value = d_model if d_value is None else int(d_value)
        self.prune = bool(prune)
        self.n_slots = n_keys * n_keys
        self.W_q = nn.Linear(d_model, heads * d_key, bias=False)               # q(x)
        self.query_bn = nn.BatchNorm1d(heads * d_key) if query_norm else nn.Identity()
        self.keys = nn.Parameter(torch.empty(heads, 2, n_keys, d_key // 2))     # K1, K2 per head
        self.values = nn.Parameter(torch.empty(self.n_slots, self.d_value))     # V
        self.reset()

    # ---------------------------------------------------------------- Memory protocol
    def reset(self) -> None:
        """Fresh keys (uniform, +-1/sqrt(d_key/2) as in XLM) and values (N(0, 1/d_value))."""
        bound = 1.0 / math.sqrt(self.d_key // 2)
        nn.init.uniform_(self.keys, -bound, bound)
        nn.init.normal_(self.values, 0.0, self.d_value ** -0.5)
        self.W_q.reset_parameters()
        if isinstance(self.query_bn, nn.BatchNorm1d):
            self.query_bn.reset_parameters()
            self.query_bn.reset_running_stats()

    def state_size(self) -> int:
        """Numbers stored in the memory: N * d_value values + 2 H |K| (d_key/2) sub-key numbers."""
        return self.values.numel() + self.keys.numel()

    def read(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)

    @torch.no_grad()
    def write(self, x: torch.Tensor, target: torch.Tensor, lr: float = 1.0) -> torch.Tensor:
        """One gradient step on the values only: make ``read(x)`` closer to ``target`` (MSE).

        Only the slots ``x`` hits change (sparse write). Returns the slots written, [n, H*k].
        """
        if target.shape[:-1] != x.shape[:-1] or target.shape[-1] != self.d_value:
            raise ValueError(f"target must have shape {tuple(x.shape[:-1]) + (self.d_value,)}, "
                             f"got {tuple(target.shape)}")
        idx, w = self.address(x)                                # [n, H*k] each
        err = (self.read_values(idx, w) - target.reshape(-1, self.d_value))   # dL/dm (MSE / 2)
        grad = torch.zeros_like(self.values)
        grad.index_add_(0, idx.reshape(-1), (w[..., None] * err[:, None, :]).reshape(-1, self.d_value))
        self.values -= lr * grad
        return idx

    # ---------------------------------------------------------------- the layer
    def queries(self, x: torch.Tensor) -> torch.Tensor:
        """q(x) = BatchNorm(W_q x), reshaped per head: ``[n, H, d_key]`` (n = all tokens)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() < 1 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must have last dimension d_model={self.d_model}, got shape {tuple(x.shape)}")
        q = self.query_bn(self.W_q(x.reshape(-1, self.d_model)))
        return q.reshape(-1, self.heads, self.d_key)

    def address(self, x: torch.Tensor, exhaustive: bool = False):
        """The slots read and their weights: ``idx, w`` of shape ``[n, H*k]`` (softmax per head)."""
        q = self.queries(x)
        if exhaustive:
            scores, idx = exhaustive_topk(q, self.keys, self.k)
        else:
            scores, idx = product_key_topk(q, self.keys, self.k, prune=self.prune)
        w = scores.softmax(dim=-1)
        return idx.reshape(idx.shape[0], -1), w.reshape(w.shape[0], -1)

    def read_values(self, idx: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """m = sum_i w_i V_i over the H*k slots (heads summed): one fused embedding-bag call."""
        return F.embedding_bag(idx, self.values, per_sample_weights=w.to(self.values.dtype),
                               mode="sum")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idx, w = self.address(x)
        return self.read_values(idx, w).reshape(*x.shape[:-1], self.d_value)

    def forward_naive(self, x: torch.Tensor) -> torch.Tensor:
        """Reference: exhaustive top-k and a dense gather-and-sum. Equal to :meth:`forward`."""
        idx, w = self.address(x, exhaustive=True)
        m = (w[..., None] * self.values[idx]).sum(dim=1)
        return m.reshape(*x.shape[:-1], self.d_value)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, n_slots={self.n_slots} ({self.n_keys}^2), "
                f"heads={self.heads}, k={self.k}, d_key={self.d_key}, d_value={self.d_value}")
