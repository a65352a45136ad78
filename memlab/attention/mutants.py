"""Chapter 03's mutants: realistic one-line bugs in the cache, the policies, the quantiser and
the episodes. The checks that must catch them are in :mod:`memlab.attention.checks`."""

from __future__ import annotations

import math
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from types import SimpleNamespace
from unittest import mock

import torch

from memlab.attention import checks as _checks  # noqa: F401  (registers chapter 03's checks)
from memlab.attention import episodes as EP
from memlab.attention import experiments as X
from memlab.attention import policies as PL
from memlab.attention import quantize as Q
from memlab.attention import softmax as S
from memlab.attention.softmax import CausalSelfAttention, KVCache
from memlab.testing.mutants import mutant

SOFT, POL = "causal softmax attention + KV cache", "KV-cache policies"
QUANT, EPI = "KV quantisation", "EpiCache-style episodic KV caches"
_patch = mock.patch.object
_real_keep = PL.keep_index


def _keep(fn):
    """Patch keep_index where it is looked up: the policies, the experiments, the episodes."""
    es = ExitStack()
    for mod in (PL, X, EP):
        es.enter_context(_patch(mod, "keep_index", fn))
    return es


# ------------------------------------------------------------------ softmax attention + cache
@mutant("03", SOFT)
@contextmanager
def cache_written_after_read():
    """The decoding step reads the cache *before* appending k_t, v_t: a token cannot see itself."""
    def step(self, x_t, state):
        q, k, v = self.qkv(x_t[:, None])
        scores = torch.einsum("bhd,bnhd->bhn", q[:, 0], state.k) / math.sqrt(self.d_head)
        a = torch.softmax(scores, -1)
        o = torch.einsum("bhn,bnhd->bhd", a, state.v) if len(state) else torch.zeros_like(q[:, 0])
        return self.W_o(o.reshape(x_t.shape[0], -1)), state.append(k, v)
    with _patch(CausalSelfAttention, "step", step):
        yield


@mutant("03", SOFT)
@contextmanager
def attention_scale_missing():
    """The 1/sqrt(d_head) of the scores dropped where they are written out (the step and the
    weights path); the fused SDPA call still scales, so the forms disagree."""
    with _patch(S, "math", SimpleNamespace(sqrt=lambda x: 1.0)):
        yield


@mutant("03", SOFT)
@contextmanager
def positions_not_advanced():
    """KVCache.append forgets to advance ``seen``: every chunk's positions restart at 0."""
    real = KVCache.append

    def append(self, k, v):
        return replace(real(self, k, v), seen=self.seen)
    with _patch(KVCache, "append", append):
        yield


@mutant("03", SOFT)
@contextmanager
def causal_mask_off_by_one():
    """The chunk mask is ``tril(n0 - 1)``: each query misses its own key (and the first chunk
    goes through the same explicit mask, as the weights path does)."""
    real_attend, real_tril = CausalSelfAttention.attend, torch.Tensor.tril

    def tril(self, diagonal=0):
        return real_tril(self, diagonal - 1 if self.dtype == torch.bool else diagonal)

    def attend(self, x, state=None, need_weights=False):
        with _patch(torch.Tensor, "tril", tril):
            y, st, w = real_attend(self, x, state, True)
        return y, st, (w if need_weights else None)
    with _patch(CausalSelfAttention, "attend", attend):
        yield


# ------------------------------------------------------------------ KV policies
@mutant("03", POL)
@contextmanager
def kv_cache_evicts_the_sinks():
    """The sinks are not protected: the first tokens compete with the rest on the score alone
    (a StreamingLLM cache that lets its attention sinks go)."""
    def keep(view, budget, policy):
        return _real_keep(view, budget, replace(policy, sinks=0))
    with _keep(keep):
        yield


@mutant("03", POL)
@contextmanager
def sinks_counted_twice():
    """The sinks are subtracted from the budget a second time: the cache keeps budget - sinks."""
    def keep(view, budget, policy):
        return _real_keep(view, max(0, budget - policy.sinks) if policy.sinks else budget, policy)
    with _keep(keep):
        yield


@mutant("03", POL)
@contextmanager
def window_keeps_one_too_few():
    """The recency window is one short (``pos[-budget + 1:]``): budget - 1 entries kept."""
    def keep(view, budget, policy):
        if policy.score is PL.recency:
            return _real_keep(view, max(0, budget - 1), policy)
        return _real_keep(view, budget, policy)
    with _keep(keep):
        yield


@mutant("03", POL)
@contextmanager
def h2o_without_causal_mask():
    """H2O's accumulator records attention computed *before* the causal mask: every query
    attends to the whole context, future tokens included (the output still uses the mask)."""
    real = CausalSelfAttention.attend

    def attend(self, x, state=None, need_weights=False):
        y, st, w = real(self, x, state, need_weights)
        if need_weights:
            q = self.W_q(x).view(*x.shape[:2], self.n_heads, self.d_head).transpose(1, 2)
            k = st.k.transpose(1, 2)
            w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.d_head), -1)
        return y, st, w
    with _patch(CausalSelfAttention, "attend", attend):
        yield


@mutant("03", POL)
@contextmanager
def h2o_sums_over_keys():
    """H2O's sum over the wrong axis (keys, not queries): every row sums to 1, all scores tie."""
    def score(view):
        return view.need("attn", "h2o").sum(dim=(1, 3))   # [B, Tc]: == [B, n] for a prefill
    with _swap_score(PL.accumulated_attention, score):
        yield


@mutant("03", POL)
@contextmanager
def recent_window_off_by_one():
    """The protected recent window is ``pos > seen - recent``: one recent entry fewer (H2O)."""
    def keep(view, budget, policy):
        if policy.recent is None and policy.recent_frac:
            return _real_keep(view, budget, replace(
                policy, recent=max(0, int(policy.recent_frac * budget) - 1)))
        return _real_keep(view, budget, policy)
    with _keep(keep):
        yield


@mutant("03", POL)
@contextmanager
def sirllm_decay_inverted():
    """delta ** (-age): older tokens are *boosted* each turn instead of decayed."""
    def token_entropy(delta=0.9, turn_len=8):
        def score(view):
            age = (view.seen - 1 - view.pos.float()) / turn_len
            return -view.need("logp", "sirllm") * delta ** (-age)
        return score
    with _patch(PL, "token_entropy", token_entropy):
        yield


@mutant("03", POL)
@contextmanager
def sirllm_entropy_sign():
    """log p instead of -log p: the cache keeps the *least* surprising tokens."""
    def token_entropy(delta=0.9, turn_len=8):
        def score(view):
            age = (view.seen - 1 - view.pos.float()) / turn_len
            return view.need("logp", "sirllm") * delta ** age
        return score
    with _patch(PL, "token_entropy", token_entropy):
        yield


@mutant("03", POL)
@contextmanager
def sirllm_age_from_start():
    """Age counted from the first token (pos / turn_len): the *newest* tokens decay most."""
    def token_entropy(delta=0.9, turn_len=8):
        def score(view):
            return -view.need("logp", "sirllm") * delta ** (view.pos.float() / turn_len)
        return score
    with _patch(PL, "token_entropy", token_entropy):
        yield


@mutant("03", POL)
@contextmanager
def query_aware_reads_context_attention():
    """The query-aware score sums the context's own attention (view.attn), not the question's."""
    with _swap_score(PL.question_attention, lambda v: v.need("attn", "qa").sum(dim=(1, 2))):
        yield


@mutant("03", POL)
@contextmanager
def query_aware_keeps_least_attended():
    """A sign slip: the entries the question attends to *least* are kept."""
    with _swap_score(PL.question_attention, lambda v: -v.need("probe", "qa").sum(dim=(1, 2))):
        yield


@mutant("03", POL)
@contextmanager
def query_aware_first_question_token_only():
    """Only the first question token's attention is summed (``probe[:, :, :1]``): a window of one
    token, which knows one of the questions."""
    with _swap_score(PL.question_attention,
                     lambda v: v.need("probe", "qa")[:, :, :1].sum(dim=(1, 2))):
        yield


@mutant("03", POL)
@contextmanager
def cake_variance_subtracted():
    """CAKE's indicator as mean - gamma * var: entries whose importance shifts are evicted."""
    def cake_score(gamma=200.0):
        def score(view):
            a = view.need("probe", "cake")
            var = a.var(dim=2, unbiased=False) if a.shape[2] > 1 else torch.zeros_like(a[:, :, 0])
            return (a.mean(dim=2) - gamma * var).sum(dim=1)
        return score
    with _patch(PL, "cake_score", cake_score):
        yield


@mutant("03", POL)
@contextmanager
def cake_budget_not_redistributed():
    """A layer's share above the cache length is clipped and lost, not handed to the others."""
    with _patch(PL, "_redistribute", lambda budgets, cap, prefs: [min(b, cap) for b in budgets]):
        yield


@mutant("03", POL)
@contextmanager
def cake_preference_ignores_variance():
    """The layer preference uses the entropy alone (V_l dropped from H_l^(1/tau1) V_l^(1/tau2))."""
    real = PL.layer_budgets

    def layer_budgets(probes, total, tau1=1.0, tau2=1.0, minimum=1, cap=None):
        flat = [a.mean(dim=2, keepdim=True).expand_as(a) for a in probes]   # V = 0 ...
        return real([f + 1e-9 for f in flat], total, tau1, tau2, minimum, cap)
    with _patch(PL, "layer_budgets", layer_budgets), _patch(X, "layer_budgets", layer_budgets):
        yield


def _swap_score(old, new):
    """Patch a scoring function everywhere it is looked up: the module and POLICIES."""
    names = [k for k, v in vars(PL).items() if v is old]
    pols = {k: replace(p, score=new) for k, p in PL.POLICIES.items() if p.score is old}
    stack = [_patch(PL, n, new) for n in names] + [mock.patch.dict(PL.POLICIES, pols)]
    es = ExitStack()
    for s in stack:
        es.enter_context(s)
    return es


# ------------------------------------------------------------------ quantisation
def _quant(fn):
    return _patch(Q, "quantize", fn)


@mutant("03", QUANT)
@contextmanager
def quant_axis_swapped():
    """Per-token and per-channel swapped (reduce over tokens when asked for a token's channels)."""
    real = Q.quantize
    swap = {"token": "channel", "channel": "token"}
    with _quant(lambda x, bits, axis="token": real(x, bits, swap[axis])):
        yield


@mutant("03", QUANT)
@contextmanager
def quant_zero_point_dropped():
    """De-quantised as s * q without adding the zero point z back."""
    def quantize(x, bits, axis="token"):
        L = Q.levels_of(bits)
        dim = -1 if axis == "token" else 1
        zero = x.amin(dim=dim, keepdim=True)
        scale = ((x.amax(dim=dim, keepdim=True) - zero) / (L - 1)).clamp_min(1e-8)
        return ((x - zero) / scale).round().clamp(0, L - 1) * scale
    with _quant(quantize):
        yield


@mutant("03", QUANT)
@contextmanager
def quant_truncates():
    """floor instead of round: every number moves down by up to one step."""
    def quantize(x, bits, axis="token"):
        L = Q.levels_of(bits)
        dim = -1 if axis == "token" else 1
        zero = x.amin(dim=dim, keepdim=True)
        scale = ((x.amax(dim=dim, keepdim=True) - zero) / (L - 1)).clamp_min(1e-8)
        return ((x - zero) / scale).floor().clamp(0, L - 1) * scale + zero
    with _quant(quantize):
        yield


@mutant("03", QUANT)
@contextmanager
def quant_levels_truncated():
    """levels = int(2 ** bits): 1.58 bits gives 2 levels, not 3 (ternary lost)."""
    with _patch(Q, "levels_of", lambda bits: int(2 ** bits)):
        yield


# ------------------------------------------------------------------ episodes
@mutant("03", EPI)
@contextmanager
def episodes_random_routing():
    """The router's choice is ignored: each question reads a uniformly random episode."""
    real = EP.evaluate_episodic
    with _patch(EP, "evaluate_episodic",
                lambda prep, n, b, seg_len=2, seed=0, router="nearest": real(prep, n, b, seg_len,
                                                                             seed, "random")):
        yield


@mutant("03", EPI)
@contextmanager
def episodes_centroids_misaligned():
    """Centroids returned in another order than the cluster labels (rolled by one)."""
    real = EP.kmeans

    def kmeans(x, k, iters=10, seed=0):
        assign, cent = real(x, k, iters, seed)
        return assign, cent.roll(1, dims=1)
    with _patch(EP, "kmeans", kmeans):
        yield


@mutant("03", EPI)
@contextmanager
def episodes_score_whole_context():
    """Every episode's cache is scored by all the context's queries (membership mask lost),
    so the E caches are the same cache."""
    real_einsum = torch.einsum

    def einsum(eq, *ops):
        if eq == "bhqn,bq->bn":
            return real_einsum(eq, ops[0], torch.ones_like(ops[1]))
        return real_einsum(eq, *ops)
    with _patch(EP.torch, "einsum", einsum):
        yield
