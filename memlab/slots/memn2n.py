"""End-to-end memory network (MemN2N), Sukhbaatar, Szlam, Weston, Fergus 2015.

*End-To-End Memory Networks* (NeurIPS 2015); constants from facebook's MATLAB code
(``facebookarchive/MemNN``, ``MemN2N-babi-matlab``: ``config_babi.m``, ``build_model.m``, ``train.m``).

Glossary (paper symbol -> variable)::

    x_ij      word j of memory sentence i              story[b, i, j]   (0 = nil word)
    q_j       word j of the question                   query[b, j]
    A^k, C^k  input / output embeddings of hop k       tables[k], tables[k + 1]   (adjacent tying)
    B         question embedding  (= A^1)              tables[0]
    W         answer matrix       (= C^K transposed)   tables[K][:V]
    l_j       position-encoding weights of word j      position_weights(...)
    T_A(i)    temporal encoding of slot i              a "time word" V + age_i, embedded by A / C
    u^k       controller state before hop k            u
    p_i       attention of the hop over the slots      p   (attention[b, k, i])
    d, K      embedding size 20, hops 3                d, hops

Equations (one hop k = 1..K)::

    m_i = sum_j l_j * A x_ij + T_A(i)      c_i = sum_j l_j * C x_ij + T_C(i)
    p_i = softmax_i(u^T m_i)               o = sum_i p_i c_i           u <- u + o
    a_hat = softmax(W u^{K+1}),            u^1 = sum_j l_j * B q_j

Adjacent weight tying (``share_type = 1`` of the code): ``A^{k+1} = C^k``, ``B = A^1``,
``W^T = C^K``: K + 1 embedding tables in all. Position encoding, the paper (``pe="paper"``, the
default; J = words in the sentence, j, k 1-based)::

    l_kj = (1 - j/J) - (k/d) (1 - 2 j/J)

and the public code's form (``pe="code"``, J = the padded sentence length)::

    l_kj = 1 + 4 (k - (d+1)/2) (j - (J+1)/2) / (d J)

The maintainers called the difference unintentional ("mostly a constant factor"); entries differ
by up to about 1, and both train to the same accuracy on task 1. Temporal encoding as the code
does it: one time word per slot (age counted from the most recent sentence, 0 = newest),
embedded by A and C and not position-weighted. Random noise (``random_noise=0.1``): in training,
up to ``ceil(0.1 n)`` blank ages are inserted among the n slots. Linear start: while
``model.linear_start`` is True the softmax of every hop is removed (``p = u^T m``). Empty slots
are masked (their logits set to -inf; ``domluna/memn2n`` found unmasked empty slots hurt).

Not included: layer-wise (RNN-like) tying with the matrix H and the non-linearity
(``share_type = 2``, ``add_proj``, ``add_nonlin``), joint training on 20 tasks, the paper's
best-of-10 restarts (the chapter prints the seed spread instead).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "PE_FORMS",
    "MemN2N",
    "ages",
    "memn2n_reference",
    "next_controller",
    "noisy_ages",
    "position_weights",
]

PE_FORMS = ("paper", "code", "none")


def position_weights(words: torch.Tensor, d: int, form: str = "paper",
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``l`` for every word of ``words [..., J]`` -> ``[..., J, d]`` (0 at nil words)."""
    if form not in PE_FORMS:
        raise ValueError(f"pe must be one of {PE_FORMS}, got {form!r}")
    J_pad = words.shape[-1]
    j = torch.arange(1, J_pad + 1, dtype=dtype, device=words.device)[:, None]
    k = torch.arange(1, d + 1, dtype=dtype, device=words.device)[None, :]
    present = (words != 0).unsqueeze(-1).to(dtype)
    if form == "none":
        return present.expand(*words.shape, d)
    if form == "code":
        return (1 + 4 * (k - (d + 1) / 2) * (j - (J_pad + 1) / 2) / (d * J_pad)) * present
    J = (words != 0).sum(-1).clamp_min(1).to(dtype)[..., None, None]       # words in the sentence
    return ((1 - j / J) - (k / d) * (1 - 2 * j / J)) * present


def ages(n_mem: torch.Tensor, M: int) -> torch.Tensor:
    """Age of each slot, counted from the most recent sentence (0): ``[B, M]`` (clamped >= 0)."""
    return (n_mem[:, None] - 1 - torch.arange(M, device=n_mem.device)).clamp_min(0)


def noisy_ages(n_mem: torch.Tensor, M: int, max_age: int, frac: float = 0.1,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Random noise (RN): ages with up to ``ceil(frac n)`` blank slots inserted (order kept)."""
    n = n_mem.long()
    blank = (torch.rand(n.shape, generator=generator) * (torch.ceil(frac * n.float()) + 1)).long()
    L = M + math.ceil(frac * M)
    r = torch.rand(n.shape[0], L, generator=generator).to(n.device)
    r[torch.arange(L, device=n.device)[None] >= (n + blank)[:, None]] = 2.0   # not drawable
    chosen = r.argsort(1)                                   # a random subset: the n first
    chosen[torch.arange(L, device=n.device)[None] >= n[:, None]] = -1
    picked = chosen.sort(1, descending=True).values[:, :M]  # oldest slot gets the largest age
    out = ages(n_mem, M)
    return torch.where(picked >= 0, picked.clamp_max(max_age - 1), out)


def next_controller(u: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
    """``u^{k+1} = u^k + o^k`` (no H matrix, no non-linearity: ``add_proj = false``)."""
    return u + o


class MemN2N(nn.Module):
    """MemN2N with adjacent tying. ``vocab_size`` counts the nil word 0.

    ``forward(story [B, M, J], query [B, J], n_mem [B], time=None)`` returns answer logits
    ``[B, vocab_size]`` and ``attention [B, hops, M]``.
    """

    def __init__(self, vocab_size: int, memory_size: int = 50, d: int = 20, hops: int = 3,
                 pe: str = "paper", temporal: bool = True, init_std: float = 0.1):
        super().__init__()
        for name, v, lo in (("vocab_size", vocab_size, 2), ("memory_size", memory_size, 1),
                            ("d", d, 1), ("hops", hops, 1)):
            if not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
        if pe not in PE_FORMS:
            raise ValueError(f"pe must be one of {PE_FORMS}, got {pe!r}")
        self.V, self.memory_size, self.d, self.hops = vocab_size, memory_size, d, hops
        self.pe, self.temporal, self.linear_start = pe, temporal, False
        # K + 1 tables over words and time words: A^1 = B, A^{k+1} = C^k, W^T = C^K
        self.weight = nn.Parameter(torch.randn(hops + 1, vocab_size + memory_size, d) * init_std)
        self._stored = None

    @property
    def tables(self) -> list[torch.Tensor]:
        """The K + 1 embedding tables ``[V + M, d]``: ``tables[k]`` is A^{k+1} (and C^k)."""
        return list(self.weight)

    # ---------------------------------------------------------------- the model
    def embed(self, table: torch.Tensor, words: torch.Tensor,
              l: torch.Tensor | None = None) -> torch.Tensor:
        """``sum_j l_j * table[x_j]`` over the last axis of ``words [..., J]`` -> ``[..., d]``."""
        l = position_weights(words, self.d, self.pe, self.weight.dtype) if l is None else l
        return (table[words] * l).sum(-2)

    def hop_attention(self, u: torch.Tensor, m: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``p = softmax(u^T m)`` over the filled slots (or ``u^T m`` during linear start)."""
        logits = (m @ u[:, :, None]).squeeze(-1)
        if self.linear_start:
            return logits * mask
        return torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)

    def forward(self, story: torch.Tensor, query: torch.Tensor, n_mem: torch.Tensor,
                time: torch.Tensor | None = None, l: torch.Tensor | None = None):
        """``l``: the story's position weights, if precomputed (they are fixed)."""
        if story.dim() != 3 or query.dim() != 2 or story.shape[0] != query.shape[0]:
            raise ValueError(f"story must be [B, M, J] and query [B, J], got "
                             f"{tuple(story.shape)} and {tuple(query.shape)}")
        _B, M, _ = story.shape
        if M > self.memory_size:
            raise ValueError(f"story has {M} slots, more than memory_size={self.memory_size}")
        mask = torch.arange(M, device=story.device)[None] < n_mem[:, None]
        time = ages(n_mem, M) if time is None else time
        u = self.embed(self.weight[0], query)
        l = position_weights(story, self.d, self.pe, self.weight.dtype) if l is None else l
        # adjacent tying: hop k's output memory c^k IS hop k+1's input memory m^{k+1};
        # all K + 1 tables are embedded at once: mem [K + 1, B, M, d]
        mem = (self.weight[:, story] * l).sum(-2)
        if self.temporal:
            mem = mem + self.weight[:, self.V + time]
        att = []
        for k in range(self.hops):
            p = self.hop_attention(u, mem[k], mask)
            u = next_controller(u, (p[:, None] @ mem[k + 1]).squeeze(1))
            att.append(p)
        logits = u @ self.weight[self.hops, :self.V].T
        logits = logits.clone()
        logits[:, 0] = float("-inf")                      # never answer the nil word
        return logits, torch.stack(att, 1)

    def zero_nil(self) -> None:
        """The code zeroes the nil word's embedding after every update (masked here anyway)."""
        with torch.no_grad():
            self.weight[:, 0].zero_()

    # ---------------------------------------------------------------- Memory protocol
    def write(self, story: torch.Tensor, n_mem: torch.Tensor) -> None:
        """Store the sentences (``[B, M, J]``) that the next :meth:`read` attends over."""
        self._stored = (story, n_mem)

    def read(self, query: torch.Tensor):
        if self._stored is None:
            raise ValueError("read before write: the memory is empty")
        return self(self._stored[0], query, self._stored[1])

    def reset(self) -> None:
        self._stored = None

    def state_size(self) -> int:
        """Numbers held per story: m and c for every slot and hop; adjacent tying shares
        m^{k+1} = c^k, so (K + 1) * M * d."""
        return (self.hops + 1) * self.memory_size * self.d


def memn2n_reference(model: MemN2N, story: torch.Tensor, query: torch.Tensor,
                     n_mem: torch.Tensor, time: torch.Tensor | None = None):
    """The equations as loops (one example, slot, word and dimension at a time), float64.

    Slow; it checks :meth:`MemN2N.forward`. Returns ``(logits [B, V], attention [B, K, M])``."""
    V, d, K = model.V, model.d, model.hops
    T = [t.detach().double() for t in model.tables]
    B, M, J_pad = story.shape

    def l(j, k, J):                    # j, k 1-based
        if model.pe == "none":
            return 1.0
        if model.pe == "code":
            return 1 + 4 * (k - (d + 1) / 2) * (j - (J_pad + 1) / 2) / (d * J_pad)
        return (1 - j / J) - (k / d) * (1 - 2 * j / J)

    def emb(table, words):
        J = int((words != 0).sum())
        out = torch.zeros(d, dtype=torch.float64)
        for j, w in enumerate(words.tolist(), start=1):
            if w != 0:
                out += torch.tensor([l(j, k, J) for k in range(1, d + 1)],
                                    dtype=torch.float64) * table[w]
        return out

    logits = torch.zeros(B, V, dtype=torch.float64)
    att = torch.zeros(B, K, M, dtype=torch.float64)
    for b in range(B):
        n = int(n_mem[b])
        u = emb(T[0], query[b])
        for k in range(K):
            m = [emb(T[k], story[b, i]) for i in range(n)]
            c = [emb(T[k + 1], story[b, i]) for i in range(n)]
            if model.temporal:
                for i in range(n):
                    age = (n - 1 - i) if time is None else int(time[b, i])
                    m[i] = m[i] + T[k][V + age]
                    c[i] = c[i] + T[k + 1][V + age]
            s = torch.stack([u @ mi for mi in m])
            p = s if model.linear_start else torch.exp(s - s.max()) / torch.exp(s - s.max()).sum()
            u = u + sum(p[i] * c[i] for i in range(n))
            att[b, k, :n] = p
        logits[b] = T[K][:V] @ u
    logits[:, 0] = float("-inf")
    return logits, att
