"""Chapter 03's fast checks: the claims at test size and equalities against naive forms.

One small MQAR model (120 AdamW steps, ~4 s on one core) is trained once per process, the
first time a check needs it, and kept; every check re-runs :func:`~memlab.attention.
experiments.prepare` on it, so a bug in the cache, the attention recording, a policy, the
quantiser or the episodes is seen (the trained weights themselves are not re-trained).
Registered for ``memlab mutants 03`` by :mod:`memlab.attention.mutants`.
"""

from __future__ import annotations

import functools
import math

import torch

from memlab.attention import experiments as X
from memlab.attention import policies as PL
from memlab.attention import quantize as Q
from memlab.attention.softmax import CausalSelfAttention
from memlab.report import at_most
from memlab.testing.mutants import check

N_CTX, BUDGET = 16, 8


@functools.lru_cache(maxsize=1)
def _trained():
    model, test, _, _ = X.train_mqar(n_train=4000, n_test=100, steps=120, lr=1e-2, seed=1,
                                     progress=False)
    return model, test


def _prep():
    model, test = _trained()
    return X.prepare(model, test, N_CTX)


def _mismatch(got: torch.Tensor, want) -> float:
    want = torch.as_tensor(want)
    if got.shape != want.shape:
        return float(abs(got.numel() - want.numel()) + 1000)
    return float((got != want).sum())


# ----------------------------------------------------------------------- claims at test size
@check("03", "full_cache_acc")
def full_cache_acc():
    """Accuracy with the full cache: parallel form and prefill + cached decode (the smaller)."""
    from memlab.train import accuracy
    model, test = _trained()
    return min(accuracy(model, test), X.evaluate(_prep(), "full")["acc"])


@check("03", "old_needle_query_aware_minus_recency")
def old_needle_gap():
    """Old-pair accuracy, query-aware minus the better of window and sinks+window (2 sinks)."""
    return X.old_needle_gap(_prep(), BUDGET, recent=PL.sinks_window(2))["gap"]


@check("03", "kv4bit_drop")
def kv4bit_drop():
    """Full-cache accuracy minus accuracy with K, V quantised to 4 bits (KIVI axes)."""
    prep = _prep()
    return X.evaluate(prep, "full")["acc"] - X.bits_curve(prep, [4])[0]


@check("03", "kv1bit_drop")
def kv1bit_drop():
    """Full-cache accuracy minus accuracy at 1 bit (KIVI axes)."""
    prep = _prep()
    return X.evaluate(prep, "full")["acc"] - X.bits_curve(prep, [1])[0]


@check("03", "kv2bit_nll_ratio")
def kv2bit_nll_ratio():
    """Answer NLL at 2 bits over answer NLL in float."""
    prep = _prep()
    return X.evaluate(prep, "full", None, 2)["nll"] / X.evaluate(prep, "full")["nll"]


@check("03", "episodic_minus_single_cache")
def episodes_gap():
    """4 episode caches of n_ctx/4 entries minus one query-aware cache of n_ctx/4."""
    from memlab.attention.episodes import evaluate_episodic
    prep = _prep()
    return (evaluate_episodic(prep, 4, N_CTX // 4)["acc"]
            - X.evaluate(prep, "query_aware", N_CTX // 4)["acc"])


# ----------------------------------------------------------------------- equalities
@check("03", "attention_parallel_equals_step", target=at_most(1e-10))
def parallel_equals_step():
    """Parallel form vs token-by-token vs chunked (outputs and cache), float64, 2 heads."""
    from memlab.testing import check_sequence_memory
    torch.manual_seed(0)
    attn = CausalSelfAttention(8, n_heads=2).double()
    x = torch.randn(2, 7, 8, dtype=torch.float64)
    return max(check_sequence_memory(attn, x, chunks=[3, 1, 3], rtol=1e-10).values())


@check("03", "window_and_sinks_keep_hand_computed", target=at_most(0.0))
def window_and_sinks():
    """16 entries, budget 8: window keeps 8..15; 4 sinks + window keeps 0..3, 12..15."""
    view = PL.CacheView(pos=torch.arange(16.0)[None], seen=16)
    return (_mismatch(PL.keep_index(view, 8, PL.Policy("window", PL.recency)), [list(range(8, 16))])
            + _mismatch(PL.keep_index(view, 8, PL.sinks_window(4)), [[0, 1, 2, 3, 12, 13, 14, 15]]))


def _naive_h2o_scores(prep, layer: int = 0) -> torch.Tensor:
    """sum over heads and context queries tau of softmax_{j <= tau}(q_tau k_j / sqrt d)_i."""
    model = prep.model
    ctx = prep.batch.inputs[:, :prep.n_ctx]
    x = model.embed_tokens(ctx, 0, None)
    for block in model.blocks[:layer]:
        x = x + block.mixer(block.norm1(x))[0]
        if block.mlp is not None:
            x = x + block.mlp(block.norm2(x))
    mix = model.blocks[layer].mixer
    q, k, _ = mix.qkv(model.blocks[layer].norm1(x))              # [B, T, H, d]
    B, T, _, d = q.shape
    s = torch.zeros(B, T)
    for tau in range(T):
        scores = torch.einsum("bhd,bjhd->bhj", q[:, tau], k[:, :tau + 1]) / math.sqrt(d)
        a = torch.softmax(scores, -1)
        s[:, :tau + 1] += a.sum(1)
    return s


@check("03", "h2o_equals_naive_causal", target=at_most(0.0))
def h2o_equals_naive():
    """H2O at budget 8: scores vs a loop over causal rows (rel. err > 1e-4 counts 1000) plus
    entries kept differently from 4 recent + the 4 heaviest older ones."""
    prep = _prep()
    with torch.no_grad():
        naive = _naive_h2o_scores(prep)
    view = prep.view(0)
    lib = PL.POLICIES["h2o"].score(view)
    bad = 1000.0 * float(((lib - naive).norm() / naive.norm()) > 1e-4)
    n, recent = N_CTX, BUDGET // 2
    older = naive[:, :n - recent].topk(BUDGET - recent, dim=1).indices
    newest = torch.arange(n - recent, n).expand(len(naive), recent)
    want = torch.cat([older, newest], 1).sort(1).values
    return bad + _mismatch(PL.keep_index(view, BUDGET, PL.Policy("h2o", PL.accumulated_attention,
                                                                  recent_frac=0.5)), want)


@check("03", "sirllm_keep_hand_computed", target=at_most(0.0))
def sirllm_hand():
    """SirLLM (1 sink, no recent window, delta = 0.5, turns of 2 tokens), 8 entries, budget 4.
    Surprise -logp = [.5, 3, 2.2, 4, 1, 8, .5, .3]; s_i = -logp_i * 0.5^((7 - i) / 2)
    = [.04, .375, .389, 1, .354, 4, .354, .3]: keep the sink 0, then 5, 3 and 2."""
    logp = -torch.tensor([[0.5, 3.0, 2.2, 4.0, 1.0, 8.0, 0.5, 0.3]])
    view = PL.CacheView(pos=torch.arange(8.0)[None], seen=8, logp=logp)
    pol = PL.sirllm(sinks=1, recent=0, delta=0.5, turn_len=2)
    return _mismatch(PL.keep_index(view, 4, pol), [[0, 2, 3, 5]])


@check("03", "cake_budgets_hand_computed", target=at_most(0.0))
def cake_hand():
    """CAKE: layer budgets from two synthetic probes of known entropy and variance (naive
    formula), the cap (a share above n goes to the other layer), and the keep set of the
    mean + gamma * variance score on a hand-computed probe."""
    n = 8
    flat = torch.full((1, 1, 2, n), 1.0 / n)                        # H = log 8, V = 0
    peaked = torch.zeros(1, 1, 2, n)
    peaked[0, 0, 0, 0] = peaked[0, 0, 1, 1] = 1.0                   # H = 0 (clamped), V > 0
    mixed = 0.5 * flat + 0.5 * peaked                               # both H, V > 0
    H = lambda a: float(-(a.clamp_min(1e-12) * a.clamp_min(1e-12).log()).sum(-1).mean())
    V = lambda a: float(a.var(dim=2, unbiased=False).sum(-1).mean())
    p = [H(mixed) * V(mixed), max(H(peaked), 1e-6) * V(peaked)]
    share = [x / sum(p) * (12 - 2) for x in p]
    want = [1 + math.floor(s) for s in share]
    frac = [x - math.floor(x) for x in share]
    want[0 if frac[0] >= frac[1] else 1] += 12 - sum(want)
    got = PL.layer_budgets([mixed, peaked], total=12)
    capped = PL.layer_budgets([mixed, 1e-3 * mixed + peaked], total=14, cap=n)
    # and the score: rows [.5 0 .3 .2], [.6 .3 .1 0] -> mean + 200 var = [1.05 4.65 2.2 2.1]
    probe = torch.tensor([[0.5, 0.0, 0.3, 0.2], [0.6, 0.3, 0.1, 0.0]])[None, None]
    view = PL.CacheView(pos=torch.arange(4.0)[None], seen=4, probe=probe)
    return (_mismatch(torch.tensor(got), want) + float(sum(capped) != 14 or max(capped) > n)
            + _mismatch(PL.keep_index(view, 2, PL.cake()), [[1, 2]]))


@check("03", "quantize_hand_computed", target=at_most(1e-6))
def quantize_hand():
    """2 bits per token on [0, .9, 2.1, 3] -> [0, 1, 2, 3]; per channel on its transpose too;
    1.58 bits -> 3 levels (ternary) on [-1, -.2, .4, 1] -> [-1, 0, 0, 1]."""
    x = torch.tensor([0.0, 0.9, 2.1, 3.0])
    want = torch.tensor([0.0, 1.0, 2.0, 3.0])
    tok = Q.quantize(x.view(1, 1, 1, 4), 2, "token").flatten()
    ch = Q.quantize(x.view(1, 4, 1, 1), 2, "channel").flatten()
    ter = Q.quantize(torch.tensor([-1.0, -0.2, 0.4, 1.0]).view(1, 1, 1, 4), 1.58, "token").flatten()
    errs = [(tok - want).abs().max(), (ch - want).abs().max(),
            (ter - torch.tensor([-1.0, 0.0, 0.0, 1.0])).abs().max()]
    # and the axis: per-token groups of a [1, 2, 1, 2] tensor are its rows
    y = torch.tensor([[0.0, 1.0], [10.0, 30.0]]).view(1, 2, 1, 2)
    errs.append((Q.quantize(y, 1, "token") - y).abs().max())
    return float(max(errs))


@check("03", "query_aware_keep_hand_computed", target=at_most(0.0))
def query_aware_hand():
    """Query-aware at budget 2 keeps what the *question* attends to (entries 2, 3), not what
    the context attended to (entries 0, 1) nor the newest."""
    attn = torch.tensor([[0.6, 0.3, 0.05, 0.05]]).expand(4, 4)[None, None]
    probe = torch.tensor([[0.1, 0.0, 0.5, 0.4], [0.0, 0.1, 0.3, 0.6]])[None, None]
    view = PL.CacheView(pos=torch.arange(4.0)[None], seen=4, attn=attn, probe=probe)
    return _mismatch(PL.keep_index(view, 2, PL.POLICIES["query_aware"]), [[2, 3]])
