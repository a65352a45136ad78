"""Engram: hashed n-gram embedding tables read in O(1), gated into the residual stream.

Paper: DeepSeek-AI (X. Cheng et al.), "Conditional Memory via Scalable Lookup: A New Axis of
Sparsity for Large Language Models", 2026 (arXiv:2601.07372); constants from the authors'
demo code (github.com/deepseek-ai/Engram, ``engram_demo_v1.py``).

Glossary (paper symbol -> variable)
    x_t              token id at position t (after tokenizer compression)   ``ids`` [B, T]
    n                n-gram order, 2..N                                     ``max_ngram`` = N
    h(.)             multiplicative-XOR hash of the n-gram, one per head     ``ngram_hash``
    E_{n,j}          embedding table of order n, head j; M_{n,j} rows (prime) ``tables``
    e_t              concatenation of every E_{n,j}[h_{n,j}(x_{t-n+1..t})]  [B, T, (N-1) d_e]
    h_t              the residual stream (hidden state) at the Engram layer ``h`` [B, T, d]
    W_K, W_V         key and value projections of e_t                       ``W_K``, ``W_V``
    alpha_t          the context-aware gate (scalar per token)              ``gate``
    Conv             causal depthwise convolution, kernel 4, dilation N     ``conv``

Equations (one token; RMSNorm without weights shown as norm):
    h_{n,j}(t) = ( XOR_{i<n} x_{t-i} * m_i ) mod M_{n,j}     (m_i odd multipliers; x_{<0} = pad)
    e_t        = [ E_{n,j}[h_{n,j}(t)] ]_{n = 2..N, j = 1..heads}
    alpha_t    = sigmoid( ssqrt( norm(W_K e_t) . norm(h_t) / sqrt(d) ) ),  ssqrt(z) = sign z sqrt|z|
    v_t        = alpha_t W_V e_t
    Y_t        = v_t + SiLU( Conv( norm(v) )_t )
    h_t       <- h_t + Y_t                                   (before attention and the MLP)
The gate compares what the table recalls with what the context already holds: a recalled
embedding that disagrees with the hidden state is suppressed (hash collisions, polysemy).

Naive form: :func:`ngram_hash_naive` loops over tokens and n-gram positions as written;
:func:`ngram_hash` is the vectorised form (tested equal). :meth:`Engram.forward_naive` runs
the causal convolution as an explicit sum over the kernel taps (tested equal to ``Conv1d``).

Paper constants as defaults (demo code): N = 3 (2- and 3-grams), 8 hash heads per order,
512 embedding numbers per order (d_e = 64 per head), kernel 4, dilation N, table rows the
primes above 5 x 129,280 (5 x the vocabulary); one Engram at layers 1 and 15 of 30.

Ours: the convolution starts at zero (Y = v at initialisation; the demo keeps PyTorch's
default init). The chapter's toy (:class:`EngramClassifier`, :func:`allocation_sweep`) splits a
fixed parameter budget between a bigram table and an MLP, on memorised entities plus modular
addition scored on held-out pairs; the paper's split is between Engram and MoE experts at
equal FLOPs, measured by validation loss.

Not included: tokenizer compression (NFKC / lower-casing merges ids; here ids are given),
the hyper-connection streams (hc_mult = 4 copies of the residual, one gate each; here 1), the
host-memory prefetch that deterministic addresses allow, and the MoE backbone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Engram", "next_primes", "ngram_hash", "ngram_hash_naive", "signed_sqrt"]


def next_primes(start: int, count: int, exclude: set | None = None) -> list[int]:
    """The ``count`` smallest primes > ``start`` not in ``exclude`` (distinct table sizes)."""
    out, c, seen = [], start, set(exclude or ())
    while len(out) < count:
        c += 1
        if c > 1 and all(c % p for p in range(2, math.isqrt(c) + 1)) and c not in seen:
            out.append(c)
    return out


def _check_ids(ids):
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"ids must be an integer tensor [batch, time], got "
                         f"{getattr(ids, 'dtype', type(ids))} {tuple(getattr(ids, 'shape', ()))}")


def ngram_hash(ids: torch.Tensor, n: int, multipliers, sizes, pad_id: int = 0) -> torch.Tensor:
    """Hash of the n-gram ending at each position, one per head: ``[B, T] -> [B, T, heads]``.

    mix = XOR_{i<n} (x_{t-i} * m_i), positions before the start read ``pad_id``; head j takes
    mix mod sizes[j].
    """
    _check_ids(ids)
    ids = ids.long()
    mix = ids * int(multipliers[0])
    for i in range(1, n):
        shifted = F.pad(ids, (i, 0), value=pad_id)[:, :ids.shape[1]]
        mix = torch.bitwise_xor(mix, shifted * int(multipliers[i]))
    return torch.stack([mix % int(m) for m in sizes], dim=-1)


def ngram_hash_naive(ids: torch.Tensor, n: int, multipliers, sizes, pad_id: int = 0) -> torch.Tensor:
    """Reference: the hash token by token with Python integers (64-bit wrap-around emulated)."""
    _check_ids(ids)
    B, T = ids.shape
    out = torch.zeros(B, T, len(sizes), dtype=torch.long)
    wrap = lambda v: (v + 2 ** 63) % 2 ** 64 - 2 ** 63  # int64 overflow, as in torch
    for b in range(B):
        for t in range(T):
            mix = 0
            for i in range(n):
                x = int(ids[b, t - i]) if t - i >= 0 else pad_id
                mix ^= wrap(x * int(multipliers[i]))
            for j, m in enumerate(sizes):
                out[b, t, j] = mix % int(m)                 # Python % is floor mod, like torch
    return out


def signed_sqrt(z: torch.Tensor) -> torch.Tensor:
    return z.sign() * z.abs().clamp_min(1e-6).sqrt()


def _rms(x: torch.Tensor) -> torch.Tensor:
    return F.rms_norm(x, (x.shape[-1],), eps=1e-6)


class Engram(nn.Module):
    """Hashed n-gram memory with a context-aware gate: ``(h [B, T, d], ids [B, T]) -> Y``.

    The caller adds ``Y`` to the residual stream (``h + engram(h, ids)``). ``table_rows`` sets
    the rows per hash head (rounded up to distinct primes); parameters: ``n_params()``.
    The paper's defaults hold 16 tables of 646,403 rows x 64 numbers (2.6 GB in float32):
    pass a small ``table_rows`` on a laptop.
    """

    def __init__(self, d_model: int, table_rows: int = 5 * 129_280, max_ngram: int = 3,
                 heads: int = 8, d_embed: int = 512, kernel_size: int = 4, pad_id: int = 0,
                 seed: int = 0, conv: bool = True):
        super().__init__()
        for name, v, lo in (("d_model", d_model, 1), ("table_rows", table_rows, 2),
                            ("max_ngram", max_ngram, 2), ("heads", heads, 1),
                            ("d_embed", d_embed, 1), ("kernel_size", kernel_size, 1)):
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
        if d_embed % heads:
            raise ValueError(f"d_embed={d_embed} must be a multiple of heads={heads}")
        self.d_model, self.max_ngram, self.heads, self.pad_id = d_model, max_ngram, heads, pad_id
        self.d_head = d_embed // heads
        g = torch.Generator().manual_seed(seed)
        self.multipliers = (torch.randint(0, 2 ** 30, (max_ngram,), generator=g) * 2 + 1).tolist()
        self.sizes, seen = [], set()
        for _ in range(2, max_ngram + 1):                         # distinct primes per head
            ps = next_primes(table_rows - 1, heads, seen)
            seen.update(ps)
            self.sizes.append(ps)
        self.tables = nn.ModuleList(nn.Embedding(sum(s), self.d_head) for s in self.sizes)
        self.offsets = [torch.tensor([0, *torch.tensor(s).cumsum(0)[:-1].tolist()]) for s in self.sizes]
        d_e = (max_ngram - 1) * d_embed
        self.W_K = nn.Linear(d_e, d_model, bias=False)
        self.W_V = nn.Linear(d_e, d_model, bias=False)
        self.use_conv = conv
        self.conv = nn.Conv1d(d_model, d_model, kernel_size, groups=d_model, bias=False,
                              dilation=max_ngram, padding=(kernel_size - 1) * max_ngram)
        nn.init.zeros_(self.conv.weight)        # ours: Y = v at start (the demo keeps the default init)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def table_params(self) -> int:
        return sum(t.weight.numel() for t in self.tables)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """e_t: every order's every head's row, concatenated -> ``[B, T, (N-1) d_embed]``."""
        parts = []
        for n, (sizes, table, off) in enumerate(zip(self.sizes, self.tables, self.offsets), start=2):
            idx = ngram_hash(ids, n, self.multipliers, sizes, self.pad_id) + off.to(ids.device)
            parts.append(table(idx).flatten(-2))
        return torch.cat(parts, dim=-1)

    def gate(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """alpha_t = sigmoid(ssqrt(norm(W_K e) . norm(h) / sqrt(d))) -> ``[B, T, 1]``."""
        z = (_rms(self.W_K(e)) * _rms(h)).sum(-1, keepdim=True) / math.sqrt(self.d_model)
        return torch.sigmoid(signed_sqrt(z))

    def _check(self, h, ids):
        _check_ids(ids)
        if h.dim() != 3 or h.shape[:2] != ids.shape or h.shape[-1] != self.d_model:
            raise ValueError(f"h must have shape [batch, time, d_model={self.d_model}] matching ids "
                             f"{tuple(ids.shape)}, got {tuple(h.shape)}")

    def forward(self, h: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        self._check(h, ids)
        e = self.embed(ids)
        v = self.gate(h, e) * self.W_V(e)
        if not self.use_conv:
            return v
        c = self.conv(_rms(v).transpose(1, 2))[..., :v.shape[1]].transpose(1, 2)
        return v + F.silu(c)

    def forward_naive(self, h: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """The causal dilated convolution as an explicit sum over taps (checking only)."""
        self._check(h, ids)
        e = self.embed(ids)
        v = self.gate(h, e) * self.W_V(e)
        if not self.use_conv:
            return v
        u, w, K = _rms(v), self.conv.weight[:, 0, :], self.conv.weight.shape[-1]
        c = torch.zeros_like(v)
        for t in range(v.shape[1]):
            for i in range(K):                 # tap i reads position t - (K - 1 - i) * dilation
                s = t - (K - 1 - i) * self.max_ngram
                if s >= 0:
                    c[:, t] += w[:, i] * u[:, s]
        return v + F.silu(c)


# ---------------------------------------------------------------------- the chapter's task
class EngramClassifier(nn.Module):
    """A tiny model for the table-vs-MLP split: ``(a, b) -> label``.

    Frozen input features x = [f(a); f(b)] (random for entity tokens, Fourier for numbers),
    h = W_in x, h <- h + Engram(h, ids) (hashed 2-grams, no conv), logits = W_out h +
    W2 relu(W1 h). The sparse budget is split between the Engram table (``table_params``)
    and the MLP (``mlp_params`` = width (d + C)); W_in, W_out and the gate are fixed costs.
    """

    def __init__(self, feats: torch.Tensor, n_classes: int, d: int, rows: int, width: int,
                 heads: int = 2, d_embed: int = 32, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.register_buffer("feats", feats)
        self.W_in = nn.Linear(2 * feats.shape[1], d)
        self.engram = (Engram(d, table_rows=rows, max_ngram=2, heads=heads, d_embed=d_embed,
                              seed=seed, conv=False) if rows > 0 else None)
        self.mlp = (nn.Sequential(nn.Linear(d, width), nn.ReLU(), nn.Linear(width, n_classes, bias=False))
                    if width > 0 else None)
        self.W_out = nn.Linear(d, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.W_in(self.feats[ids].flatten(1))[:, None]            # [B, 1, d] at t = 1
        if self.engram is not None:
            y = self.engram(torch.cat([torch.zeros_like(h), h], 1), ids)[:, 1:]
            h = h + y
        h = h[:, 0]
        out = self.W_out(h)
        return out + self.mlp(h) if self.mlp is not None else out


def split_task(n_entities: int = 1024, n_entity_tokens: int = 128, p: int = 31,
               train_frac: float = 0.8, n_freq: int = 4, seed: int = 0):
    """Memorised entities plus a reasoning task, as token pairs with labels in [0, C = p + 1).

    Entities: ``n_entities`` random token pairs (a, b) with a random label (recall = memory).
    Reasoning: number pairs (a, b) -> (a + b) mod p, trained on ``train_frac`` of the p^2 pairs,
    tested on the rest (held-out pairs: a table cannot have stored them).
    """
    g = torch.Generator().manual_seed(seed)
    C = p + 1
    ang = 2 * math.pi * torch.arange(p)[:, None] * torch.arange(1, n_freq + 1) / p
    f_num = torch.cat([ang.cos(), ang.sin()], 1)
    f_ent = torch.randn(n_entity_tokens, 2 * n_freq, generator=g) / math.sqrt(2)
    feats = torch.cat([f_ent, f_num])
    pairs = torch.randperm(n_entity_tokens ** 2, generator=g)[:n_entities]
    ent = torch.stack([pairs // n_entity_tokens, pairs % n_entity_tokens], 1)
    ent_y = torch.randint(C, (n_entities,), generator=g)
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    num = torch.stack([a.flatten(), b.flatten()], 1) + n_entity_tokens
    num_y = (a.flatten() + b.flatten()) % p
    perm = torch.randperm(p * p, generator=g)
    n_tr = int(train_frac * p * p)
    return {"feats": feats, "C": C, "ent": ent, "ent_y": ent_y, "num_tr": num[perm[:n_tr]],
            "num_tr_y": num_y[perm[:n_tr]], "num_te": num[perm[n_tr:]], "num_te_y": num_y[perm[n_tr:]]}


def allocation_point(task: dict, budget: int, rho: float, d: int = 32, heads: int = 2,
                     d_embed: int = 32, steps: int = 400, lr: float = 1e-2, seed: int = 0) -> dict:
    """Train one model with a fraction ``rho`` of ``budget`` parameters in the Engram table and
    the rest in the MLP; return entity recall, held-out reasoning accuracy and their mean."""
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"rho must be in [0, 1], got {rho}")
    C = task["C"]
    rows = int(rho * budget) // (heads * (d_embed // heads)) if rho > 0 else 0
    width = int((1 - rho) * budget) // (d + 1 + C)
    model = EngramClassifier(task["feats"], C, d, rows, width, heads, d_embed, seed)
    X = torch.cat([task["ent"], task["num_tr"]])
    Y = torch.cat([task["ent_y"], task["num_tr_y"]])
    n_ent = len(task["ent"])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):                        # the two tasks weigh the same in the loss
        ce = F.cross_entropy(model(X), Y, reduction="none")
        loss = ce[:n_ent].mean() + ce[n_ent:].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        ent = float((model(task["ent"]).argmax(-1) == task["ent_y"]).float().mean())
        num = float((model(task["num_te"]).argmax(-1) == task["num_te_y"]).float().mean())
    return {"rho": rho, "rows": rows, "width": width, "entity_recall": ent,
            "reasoning_accuracy": num, "score": (ent + num) / 2}


def allocation_sweep(n_rhos: int = 3, seeds=(0,), budget: int = 4096, steps: int = 300,
                     **task_kw) -> list[dict]:
    """``allocation_point`` at ``n_rhos`` evenly spaced table shares, for each seed (each seed
    draws its own task). Rows: rho, rows, width, and per-seed lists of the three accuracies."""
    rhos = [i / (n_rhos - 1) for i in range(n_rhos)]
    tasks = {s: split_task(seed=s, **task_kw) for s in seeds}
    out = []
    for rho in rhos:
        pts = [allocation_point(tasks[s], budget, rho, steps=steps, seed=s) for s in seeds]
        out.append({"rho": rho, "rows": pts[0]["rows"], "width": pts[0]["width"],
                    **{k: [p[k] for p in pts] for k in ("entity_recall", "reasoning_accuracy", "score")}})
    return out


def u_shape_margin(rows: list[dict]) -> float:
    """How far the best interior split beats BOTH ends, worst seed (> 0: a U in the error,
    an inverted U in the score, on every seed). Needs at least 3 splits."""
    if len(rows) < 3:
        raise ValueError("rows must hold at least 3 splits (both ends and an interior one)")
    n = len(rows[0]["score"])
    return min(max(r["score"][s] for r in rows[1:-1]) - max(rows[0]["score"][s], rows[-1]["score"][s])
               for s in range(n))
