"""InfLLM: past context kept as blocks, each found through a few representative tokens.

Paper: Xiao, Zhang, Han, Xiao, Lin, Zhang, Liu, Han, Sun, "InfLLM: Training-Free Long-Context
Extrapolation for LLMs with an Efficient Context Memory" (NeurIPS 2024). Training-free: a
frozen LLM attends to (i) a few initial tokens, (ii) a sliding local window and (iii) a few
memory blocks looked up from all evicted context. Evicted tokens are cut into blocks of
``block_size``; each block is indexed by its ``n_repr`` most "representative" keys, those that
received the most attention from the local queries that followed them. Lookup cost grows with
the number of blocks, not tokens; a selected block is read in full.

Glossary (paper -> code)
    I, E, L           initial / evicted / local tokens        K_init, BlockMemory, K_local
    l_bs              block size                                block_size
    r_k               representative tokens per block          n_repr
    r_m               representative score of token m          repr_scores [n]
    k_m               blocks loaded per step                   n_blocks

Equations
    r_m = (1 / l_L) sum_{j=1..l_L} q_{m+j} . k_m     (attention from the next l_L queries)
    sim(X, B) = sum_{i in X} sum_{j in repr(B)} q_i . k_j      (X: the current queries)
    attend over [ I ; the n_blocks blocks with the largest sim ; L ] with one softmax
Since sim is linear in the queries, sum_i q_i . k_j = (sum_i q_i) . k_j: one vector per lookup.

Defaults are the paper's: memory units (blocks) of 128 tokens, each indexed by 4
representative tokens. The chapter's demonstration uses blocks of 16 so that a stream of a few
hundred tokens has enough blocks to choose from.

Not included: offloading blocks to CPU memory with an LRU cache on the GPU, the paper's
chunked prefill, positional-encoding handling (blocks get the same position in the paper).
"""

from __future__ import annotations

import torch

from memlab.memory import check_shape

__all__ = ["BlockMemory", "infllm_attention", "representative_scores"]


def representative_scores(keys: torch.Tensor, queries: torch.Tensor, n_local: int) -> torch.Tensor:
    """``r_m = mean_{j=1..n_local} q_{m+j} . k_m`` (fewer terms at the end). ``[n, d] -> [n]``."""
    check_shape(keys, "keys", ndim=2)
    check_shape(queries, "queries", ndim=2, last=keys.shape[-1])
    n = keys.shape[0]
    S = queries @ keys.T                                          # S[i, m] = q_i . k_m
    i, m = torch.arange(n)[:, None], torch.arange(n)[None, :]
    after = (i > m) & (i <= m + n_local)
    return (S * after).sum(0) / after.sum(0).clamp_min(1)


class BlockMemory:
    """Blocks of evicted (key, value) tokens, each indexed by its representative keys."""

    def __init__(self, dim: int, block_size: int = 128, n_repr: int = 4):
        if not 1 <= n_repr <= block_size:
            raise ValueError(f"need 1 <= n_repr <= block_size, got {n_repr}, {block_size}")
        self.dim, self.block_size, self.n_repr = dim, block_size, n_repr
        self.K: list[torch.Tensor] = []        # per block [block_size, d]
        self.V: list[torch.Tensor] = []
        self.R: list[torch.Tensor] = []        # per block [n_repr, d] representative keys
        self.repr_index: list[torch.Tensor] = []

    def __len__(self) -> int:
        return len(self.K)

    def state_size(self) -> int:
        """Numbers stored: all blocks' keys and values plus representative keys."""
        return len(self) * (2 * self.block_size + self.n_repr) * self.dim

    def write(self, keys: torch.Tensor, values: torch.Tensor, repr_scores: torch.Tensor) -> int:
        """Cut ``keys, values [n, d]`` (n a multiple of block_size) into blocks; return how many."""
        check_shape(keys, "keys", ndim=2, last=self.dim)
        check_shape(values, "values", ndim=2)
        n = keys.shape[0]
        if n % self.block_size or values.shape[0] != n or repr_scores.shape != (n,):
            raise ValueError(f"write whole blocks: n={n} must be a multiple of block_size="
                             f"{self.block_size}, with values [n, d_v] and repr_scores [n]")
        for s in range(0, n, self.block_size):
            k, v = keys[s:s + self.block_size], values[s:s + self.block_size]
            top = repr_scores[s:s + self.block_size].topk(self.n_repr).indices.sort().values
            self.K.append(k.detach())
            self.V.append(v.detach())
            self.R.append(k[top].detach())
            self.repr_index.append(top)                           # positions within the block
        return n // self.block_size

    def relevance(self, queries: torch.Tensor) -> torch.Tensor:
        """``sim(X, B)`` for every block: ``[n_blocks]``."""
        if not self.R:
            return torch.zeros(0)
        R = torch.stack(self.R)                                   # [n_blocks, r, d]
        return torch.einsum("d,brd->b", queries.sum(0), R)

    def lookup(self, queries: torch.Tensor, n_blocks: int):
        """The ``n_blocks`` most relevant blocks: ``(block ids, K [n*bs, d], V [n*bs, d_v])``."""
        check_shape(queries, "queries", ndim=2, last=self.dim)
        sim = self.relevance(queries)
        ids = sim.topk(min(n_blocks, len(self))).indices.sort().values   # keep time order
        if ids.numel() == 0:
            return ids, queries.new_zeros(0, self.dim), queries.new_zeros(0, self.dim)
        return ids, torch.cat([self.K[i] for i in ids]), torch.cat([self.V[i] for i in ids])


def infllm_attention(q, K_init, V_init, memory: BlockMemory, K_local, V_local, n_blocks: int,
                     causal_local: bool = True):
    """One softmax over [initial ; retrieved blocks ; local]. ``q [T, d]``, local ``[T_L, d]``
    (the queries are the last T of the local tokens; ``causal_local`` masks future ones).
    Returns ``(o [T, d_v], ids of the blocks read)``."""
    ids, K_mem, V_mem = memory.lookup(q, n_blocks)
    K = torch.cat([K_init, K_mem, K_local])
    V = torch.cat([V_init, V_mem, V_local])
    s = q @ K.T / q.shape[-1] ** 0.5
    if causal_local:
        T, TL = q.shape[0], K_local.shape[0]
        qi = torch.arange(TL - T, TL)[:, None]
        future = torch.arange(TL)[None, :] > qi
        s[:, K.shape[0] - TL:] = s[:, K.shape[0] - TL:].masked_fill(future, float("-inf"))
    return torch.softmax(s, -1) @ V, ids
