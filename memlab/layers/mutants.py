"""Chapter 08's mutants: realistic bugs in the product-key memory, and the checks that catch them.

Apply one in a ``with`` block::

    from memlab.testing.mutants import MUTANTS
    with MUTANTS["pkm_candidate_missed"].apply():
        ...   # product-key top-k no longer equals the exhaustive top-k

The checks are chapter 08's claim ``topk_match_fraction`` at test size, two equalities (the fast
read vs the exhaustive one, a read computed by hand) and a fast memorisation check that an
addressing bug destroys (``pkm_write_recall``: facts stored by sparse writes, read back). The
claim ``pkm_tail_gain`` trains two models (seconds): too slow to run once per mutant, it is
tested against the input-blind addressing mutant in tests/test_claims_ch08.py.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from unittest import mock

import torch

import memlab.layers.experiments as X
import memlab.layers.product_keys as pk
from memlab.report import at_least, at_most
from memlab.testing.mutants import check, mutant

M_PKM = "product-key memory (PKM)"


def _topk(fn):
    """Patch product_key_topk where it is looked up: the layer (pk) and the experiments (X)."""
    from contextlib import ExitStack
    stack = ExitStack()
    for m in (pk, X):
        stack.enter_context(mock.patch.object(m, "product_key_topk", fn))
    return stack


@mutant("08", M_PKM)
@contextmanager
def pkm_candidate_missed():
    """A product-key candidate missed: the pruning bound written (a + 1)(b + 1) < k instead
    of <= k, so pairs such as (0, k - 1) -- best of one half, k-th of the other -- are lost."""
    real = pk.candidate_pairs.__wrapped__

    @functools.lru_cache(maxsize=32)
    def candidate_pairs(k, prune=True, device="cpu"):
        a, b = real(k, False, device)
        keep = ((a + 1) * (b + 1) < k) | (torch.tensor(k) == 1) if prune else torch.ones_like(a, dtype=torch.bool)
        return a[keep], b[keep]

    with mock.patch.object(pk, "candidate_pairs", candidate_pairs):
        yield


@mutant("08", M_PKM)
@contextmanager
def pkm_top_k_minus_one_per_half():
    """Only the top k - 1 sub-keys of each half kept (an off-by-one in the per-half top-k):
    the k^2 candidates no longer always contain the true top-k."""
    def product_key_topk(q, keys, k, prune=True):
        pk._check_keys(q, keys, k)
        n, H, _ = q.shape
        n_keys, half = keys.shape[2], keys.shape[3]
        sub = torch.einsum("nhpd,hpKd->hpnK", q.reshape(n, H, 2, half), keys)
        s_half, i_half = sub.topk(max(1, k - 1), dim=-1)
        (s1, s2), (i1, i2) = s_half.unbind(1), i_half.unbind(1)
        cand = (s1[..., :, None] + s2[..., None, :]).flatten(-2)
        idx = (i1[..., :, None] * n_keys + i2[..., None, :]).flatten(-2)
        scores, pos = cand.topk(min(k, cand.shape[-1]), dim=-1)
        return scores.transpose(0, 1), idx.gather(-1, pos).transpose(0, 1)

    with _topk(product_key_topk):
        yield


@mutant("08", M_PKM)
def pkm_subkey_halves_swapped():
    """Sub-key halves swapped: q1 is scored against K2 and q2 against K1."""
    real = pk.product_key_topk
    return _topk(lambda q, keys, k, prune=True: real(q, keys.flip(1), k, prune))


@mutant("08", M_PKM)
@contextmanager
def pkm_slot_index_transposed():
    """Slot (i, j) stored at j |K| + i instead of i |K| + j: the value read is another slot's."""
    real = pk.product_key_topk

    def product_key_topk(q, keys, k, prune=True):
        s, idx = real(q, keys, k, prune)
        n = keys.shape[2]
        return s, (idx % n) * n + idx // n

    with _topk(product_key_topk):
        yield


@mutant("08", M_PKM)
@contextmanager
def pkm_softmax_over_all_keys():
    """Read weights normalised over ALL N scores (softmax over every key), then only the top-k
    values read: the k weights no longer sum to one."""
    def address(self, x, exhaustive=False):
        q = self.queries(x)
        fn = pk.exhaustive_topk if exhaustive else pk.product_key_topk
        scores, idx = (fn(q, self.keys, self.k) if exhaustive
                       else fn(q, self.keys, self.k, prune=self.prune))
        half = self.d_key // 2
        sub = torch.einsum("nhpd,hpKd->nhpK", q.reshape(*q.shape[:2], 2, half), self.keys)
        all_s = (sub[:, :, 0, :, None] + sub[:, :, 1, None, :]).flatten(-2)   # all N scores
        w = (scores - all_s.logsumexp(-1, keepdim=True)).exp()
        return idx.reshape(idx.shape[0], -1), w.reshape(w.shape[0], -1)

    with mock.patch.object(pk.ProductKeyMemory, "address", address):
        yield


@mutant("08", M_PKM)
@contextmanager
def pkm_address_ignores_input():
    """Addressing that ignores its input: every token gets the same query (the bias-only
    query of a zero input), so every fact reads the same k slots per head."""
    real = pk.ProductKeyMemory.queries

    def queries(self, x):
        return real(self, torch.zeros_like(x))

    with mock.patch.object(pk.ProductKeyMemory, "queries", queries):
        yield


# --------------------------------------------------------------------------- checks
@check("08", "topk_match_fraction")
def _match():
    return pk_topk_match()


def pk_topk_match(seed=0):
    return X.topk_equality(n_queries=128, n_keys=64, heads=2, k=16, d_key=32,
                           seed=seed)["match_fraction"]


@check("08", "pkm_forward_vs_naive_err", target=at_most(1e-10))
def _forward():
    """The layer's read (product keys + embedding bag) vs exhaustive top-k + dense gather."""
    torch.manual_seed(0)
    m = pk.ProductKeyMemory(16, n_keys=16, heads=2, k=6, d_key=8).double().eval()
    x = torch.randn(64, 16, dtype=torch.float64)
    with torch.no_grad():
        return float((m(x) - m.forward_naive(x)).abs().max())


@check("08", "pkm_read_by_hand_err", target=at_most(1e-12))
def _hand():
    """One head, |K| = 2, k = 2, identity query, no batch norm: the read computed by hand.

    q = [1, 0 | 0, 2]; K1 = [[1, 0], [0, 1]], K2 = [[0, 1], [1, 0]]: s_ij = q1.k1_i + q2.k2_j
    = [[1 + 2, 1 + 0], [0 + 2, 0 + 0]] -> top-2 slots (0, 0) = 3 and (1, 0) = 2, i.e. slot ids
    0 and 2, weights softmax(3, 2); values V_s = s (one number per slot)."""
    dt = torch.float64
    m = pk.ProductKeyMemory(4, n_keys=2, heads=1, k=2, d_key=4, d_value=1,
                            query_norm=False).to(dt)
    with torch.no_grad():
        m.W_q.weight.copy_(torch.eye(4, dtype=dt))
        m.keys.copy_(torch.tensor([[[[1, 0], [0, 1]], [[0, 1], [1, 0]]]], dtype=dt))
        m.values.copy_(torch.arange(4, dtype=dt)[:, None])
        y = m(torch.tensor([[1.0, 0.0, 0.0, 2.0]], dtype=dt))
    w = torch.softmax(torch.tensor([3.0, 2.0], dtype=dt), 0)
    return float((y[0, 0] - (w[0] * 0 + w[1] * 2)).abs())


def write_recall(seed=0, n=256, passes=10):
    """Store n random facts x -> t by sparse writes (``ProductKeyMemory.write``, values only,
    10 passes), then read every x: fraction whose read-out is nearest (cosine) to its own t.
    A small, fast stand-in for the tail claim: the memory must keep facts apart by address."""
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    m = pk.ProductKeyMemory(32, n_keys=64, heads=1, k=2, d_key=16, d_value=16, query_norm=False)
    with torch.no_grad():
        m.W_q.weight.mul_(4)                                   # sharper addressing
    x = F.normalize(torch.randn(n, 32, generator=g), dim=-1)
    t = F.normalize(torch.randn(n, 16, generator=g), dim=-1)
    for _ in range(passes):
        for i in range(0, n, 64):
            m.write(x[i:i + 64], t[i:i + 64], lr=1.0)
    with torch.no_grad():
        y = m(x)
    return float(((F.normalize(y, dim=-1) @ t.T).argmax(-1) == torch.arange(n)).float().mean())


@check("08", "pkm_write_recall", target=at_least(0.9))
def _write_recall():
    return write_recall(0)


# --------------------------------------------------------------------------- Memory Layers at Scale
import math

import memlab.layers.engram as eg
import memlab.layers.memory_at_scale as mas
from memlab.report import between as _between

M_PLUS = "Memory Layers at Scale (memory+, shared values)"
M_ENGRAM = "Engram hashed n-gram memory"


@mutant("08", M_PLUS)
def memplus_sigmoid_gate():
    """The gate written sigmoid(W1 x) instead of SiLU(W1 x) = W1 x * sigmoid(W1 x)."""
    return mock.patch.object(mas.MemoryPlus, "gate", lambda self, x: torch.sigmoid(self.W1(x)))


@mutant("08", M_PLUS)
def memplus_gate_dropped():
    """The gate forgotten: memory+ reads W2 mem(x), a plain PKM with an output projection."""
    return mock.patch.object(mas.MemoryPlus, "gate", lambda self, x: torch.ones_like(x))


@mutant("08", M_PLUS)
def memplus_values_copied_per_layer():
    """Each layer gets a COPY of the value table (``.clone()`` instead of the same Parameter):
    three tables of N d numbers, and what one layer learns never reaches the others."""
    def share_values(self):
        for layer in self.layers[1:]:
            layer.memory.values = torch.nn.Parameter(self.layers[0].memory.values.detach().clone())
    return mock.patch.object(mas.SharedMemoryStack, "share_values", share_values)


@mutant("08", M_ENGRAM)
def engram_hash_current_token_only():
    """The n-gram hash reads only the current token (the shifted copies never XORed in): every
    order collapses to a unigram table and context is lost."""
    real = eg.ngram_hash
    return mock.patch.object(eg, "ngram_hash", lambda ids, n, m, sizes, pad_id=0: real(ids, 1, m, sizes, pad_id))


@mutant("08", M_ENGRAM)
def engram_gate_ignores_hidden_state():
    """The gate computed from the key alone (norm(W_K e) . 1): it can no longer suppress a
    recalled embedding that contradicts the context."""
    def gate(self, h, e):
        z = eg._rms(self.W_K(e)).sum(-1, keepdim=True) / math.sqrt(self.d_model)
        return torch.sigmoid(eg.signed_sqrt(z))
    return mock.patch.object(eg.Engram, "gate", gate)


@mutant("08", M_ENGRAM)
def engram_gate_without_signed_sqrt():
    """The signed square root dropped: alpha = sigmoid(z) (a sharper, differently scaled gate)."""
    def gate(self, h, e):
        z = (eg._rms(self.W_K(e)) * eg._rms(h)).sum(-1, keepdim=True) / math.sqrt(self.d_model)
        return torch.sigmoid(z)
    return mock.patch.object(eg.Engram, "gate", gate)


@mutant("08", M_ENGRAM)
@contextmanager
def engram_conv_keeps_future():
    """The padded convolution trimmed at the wrong end (``[..., -T:]`` for ``[..., :T]``): each
    position mixes in values from later tokens."""
    def forward(self, h, ids):
        self._check(h, ids)
        e = self.embed(ids)
        v = self.gate(h, e) * self.W_V(e)
        c = self.conv(eg._rms(v).transpose(1, 2))[..., -v.shape[1]:].transpose(1, 2)
        return v + torch.nn.functional.silu(c)

    with mock.patch.object(eg.Engram, "forward", forward):
        yield


@check("08", "memplus_by_hand_err", target=at_most(1e-12))
def _memplus_hand():
    """memory+ = W2 (SiLU(W1 x) * mem(x)) on a case computed by hand (memory_plus_by_hand)."""
    out, want = mas.memory_plus_by_hand()
    return abs(out - want)


@check("08", "memplus_forward_vs_naive_err", target=at_most(1e-10))
def _memplus_naive():
    torch.manual_seed(0)
    layer = mas.MemoryPlus(16, n_keys=8, heads=2, k=4).double().eval()
    x = torch.randn(32, 16, dtype=torch.float64)
    with torch.no_grad():
        return float((layer(x) - layer.forward_naive(x)).abs().max())


@check("08", "shared_write_reaches_every_layer", target=_between(1.0, 1.0))
def _shared():
    """One SGD step on layer 0's loss must change what layers 1 and 2 read (one shared table):
    the fraction of the other layers whose read changed."""
    torch.manual_seed(0)
    stack = mas.SharedMemoryStack(16, n_layers=3, n_keys=8, heads=2, k=4, query_norm=False)
    x = torch.randn(8, 16)
    before = [layer.memory(x).detach() for layer in stack.layers[1:]]
    stack.layers[0].memory(x).pow(2).sum().backward()
    with torch.no_grad():
        stack.layers[0].memory.values -= 0.5 * stack.layers[0].memory.values.grad
    after = [layer.memory(x).detach() for layer in stack.layers[1:]]
    return sum(float((a - b).abs().max() > 1e-6) for a, b in zip(after, before)) / len(before)


def _small_engram(seed=0):
    torch.manual_seed(seed)
    m = eg.Engram(8, table_rows=31, max_ngram=3, heads=2, d_embed=8, seed=seed).double()
    torch.nn.init.normal_(m.conv.weight)
    ids = torch.randint(0, 20, (2, 13), generator=torch.Generator().manual_seed(seed))
    return m, ids, torch.randn(2, 13, 8, dtype=torch.float64)


@check("08", "engram_hash_vs_naive_mismatch", target=at_most(0.0))
def _hash():
    """Fast n-gram hashes (inside the layer) vs the token-by-token loop: ids that differ."""
    m, ids, _ = _small_engram()
    bad = 0
    for n, sizes in enumerate(m.sizes, start=2):
        bad += int((eg.ngram_hash(ids, n, m.multipliers, sizes) !=
                    eg.ngram_hash_naive(ids, n, m.multipliers, sizes)).sum())
    return bad


@check("08", "engram_forward_vs_naive_err", target=at_most(1e-10))
def _engram_naive():
    m, ids, h = _small_engram()
    with torch.no_grad():
        return float((m(h, ids) - m.forward_naive(h, ids)).abs().max())


@check("08", "engram_causal_leak", target=at_most(0.0))
def _causal():
    """Change the last 4 tokens: outputs at earlier positions must not move."""
    m, ids, h = _small_engram()
    ids2, h2 = ids.clone(), h.clone()
    ids2[:, -4:] = (ids2[:, -4:] + 1) % 20
    h2[:, -4:] += 1.0
    with torch.no_grad():
        return float((m(h, ids)[:, :-4] - m(h2, ids2)[:, :-4]).abs().max())


@check("08", "engram_gate_by_hand_err", target=at_most(1e-6))
def _gate():
    """alpha = sigmoid(ssqrt(norm(W_K e) . norm(h) / sqrt d)) by hand (RMS norm, eps 1e-6):
    d = 2, W_K e = (3, 0) -> norm (sqrt 2, 0); h = (1, 0) -> (sqrt 2, 0): z = 2 / sqrt 2 =
    sqrt 2, alpha = sigmoid(2^(1/4)); h = (-1, 0): alpha = sigmoid(-2^(1/4))."""
    m = eg.Engram(2, table_rows=5, max_ngram=2, heads=1, d_embed=2, conv=False).double()
    with torch.no_grad():
        m.W_K.weight.copy_(torch.eye(2, dtype=torch.float64))
        e = torch.tensor([[[3.0, 0.0]]], dtype=torch.float64)
        g1 = float(m.gate(torch.tensor([[[1.0, 0.0]]], dtype=torch.float64), e))
        g2 = float(m.gate(torch.tensor([[[-1.0, 0.0]]], dtype=torch.float64), e))
    s = lambda z: 1 / (1 + math.exp(-z))
    return max(abs(g1 - s(2 ** 0.25)), abs(g2 - s(-(2 ** 0.25))))
