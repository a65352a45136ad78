"""KV-cache policies, layer budgets and the quantiser (memlab.attention.policies / quantize)."""

import pytest
import torch

from memlab.attention.policies import (
    POLICIES,
    CacheView,
    Policy,
    cake_score,
    get_policy,
    keep_index,
    layer_budgets,
    question_attention,
    recency,
    token_entropy,
)
from memlab.attention.quantize import levels_of, quantize, quantize_cache


def view(n=10, B=1, **kw):
    pos = torch.arange(n, dtype=torch.float32).expand(B, n).clone()
    return CacheView(pos=pos, seen=n, **kw)


def test_window_keeps_the_last_entries():
    idx = keep_index(view(10), 4, POLICIES["window"])
    assert idx.tolist() == [[6, 7, 8, 9]]


def test_sinks_plus_window():
    idx = keep_index(view(10), 7, POLICIES["sinks+window"])
    assert idx.tolist() == [[0, 1, 2, 3, 7, 8, 9]]


def test_h2o_keeps_heavy_hitters_and_recent_half():
    attn = torch.zeros(1, 1, 10, 10)
    attn[..., 2] = 1.0   # entry 2 is the heavy hitter
    attn[..., 4] = 0.5
    idx = keep_index(view(10, attn=attn), 4, POLICIES["h2o"])
    assert idx.tolist() == [[2, 4, 8, 9]]


def test_query_aware_keeps_what_the_question_reads():
    probe = torch.zeros(2, 2, 3, 10)
    probe[0, :, :, 1] = 1.0
    probe[1, 0, 0, 7] = 1.0
    probe[1, 1, 2, 3] = 0.9
    idx = keep_index(view(10, B=2, probe=probe), 2, POLICIES["query_aware"])
    assert 1 in idx[0].tolist()
    assert idx[1].tolist() == [3, 7]
    assert question_attention(view(10, B=2, probe=probe))[0, 1] == pytest.approx(6.0)


def test_sirllm_entropy_with_decay_by_hand():
    logp = torch.tensor([[-1.0, -4.0, -2.0, -3.0]])
    s = token_entropy(delta=0.5, turn_len=1)(view(4, logp=logp))
    # ages 3, 2, 1, 0 -> factors 1/8, 1/4, 1/2, 1
    assert torch.allclose(s, torch.tensor([[1 / 8, 1.0, 1.0, 3.0]]))
    pol = Policy("s", token_entropy(delta=1.0), sinks=0)
    assert keep_index(view(4, logp=logp), 2, pol).tolist() == [[1, 3]]
    with pytest.raises(ValueError, match="delta"):
        token_entropy(delta=0.0)


def test_cake_score_mean_plus_gamma_var():
    probe = torch.tensor([[[[0.5, 0.5], [0.0, 1.0]]]])  # [B=1, H=1, Tq=2, n=2]
    s = cake_score(gamma=2.0)(view(2, probe=probe))
    # entry 0: mean .25, var .0625 -> .375; entry 1: mean .75, var .0625 -> .875
    assert torch.allclose(s, torch.tensor([[0.375, 0.875]]))


def test_layer_budgets_sum_and_prefer_spread_and_shifting_layers():
    peaked = torch.zeros(1, 1, 4, 8)
    peaked[..., 0] = 1.0                                  # no entropy, no shift
    spread = torch.softmax(torch.randn(1, 1, 4, 8, generator=torch.Generator().manual_seed(0)), -1)
    b = layer_budgets([peaked + 1e-3, spread], total=12)
    assert sum(b) == 12 and b[1] > b[0] and min(b) >= 1
    with pytest.raises(ValueError, match="total budget"):
        layer_budgets([spread, spread], total=1)


def test_layer_budgets_hand_the_excess_over_the_cache_to_other_layers():
    """CAKE's adjust_budgets: a layer cannot keep more than n entries; its excess must go to
    the other layers so that the total (and the comparison with other policies) is unchanged."""
    g = torch.Generator().manual_seed(0)
    spread = torch.softmax(torch.randn(1, 1, 4, 8, generator=g), -1)
    peaked = torch.zeros(1, 1, 4, 8)
    peaked[..., 0] = 1.0
    raw = layer_budgets([spread, peaked + 1e-3, peaked + 1e-3], total=18)
    assert raw[0] > 8                                     # the spread layer wants more than n=8
    b = layer_budgets([spread, peaked + 1e-3, peaked + 1e-3], total=18, cap=8)
    assert sum(b) == 18 and max(b) == 8 and min(b) >= 1, b
    # more than the caches hold: every layer full, nothing invented
    assert layer_budgets([spread, spread], total=30, cap=8) == [8, 8]
    # a broken redistribution (clip only) loses entries: the check above would fail
    assert sum(min(x, 8) for x in raw) < 18
    with pytest.raises(ValueError, match="tau1"):
        layer_budgets([spread], total=4, tau1=0.0)


def test_policy_defaults_are_the_papers_and_public_codes():
    from memlab.attention import policies as pol
    assert POLICIES["sinks+window"].sinks == 4                      # StreamingLLM paper + code
    assert POLICIES["sirllm"].sinks == 4 and POLICIES["sirllm"].recent == 0   # SirLLM README
    assert POLICIES["cake"].tau1 == POLICIES["cake"].tau2 == 1.0 and pol.CAKE_GAMMA == 200.0
    assert keep_index(view(10), 6, pol.sinks_window()).tolist() == [[0, 1, 2, 3, 8, 9]]
    assert keep_index(view(10), 5, pol.sinks_window(2)).tolist() == [[0, 1, 7, 8, 9]]
    two = pol.make_policies(sinks=2)
    assert two["sinks+window"].sinks == two["sirllm"].sinks == 2 and two["h2o"] is POLICIES["h2o"]
    with pytest.raises(ValueError, match="sinks"):
        pol.sinks_window(-1)
    with pytest.raises(ValueError, match="gamma"):
        pol.cake(gamma=-1.0)


def test_budget_edge_cases():
    v = view(5)
    assert keep_index(v, 9, POLICIES["window"]).tolist() == [[0, 1, 2, 3, 4]]
    assert keep_index(v, 2, POLICIES["full"]).shape == (1, 5)
    assert keep_index(v, 0, POLICIES["window"]).shape == (1, 0)
    # more protected entries than budget: still exactly `budget` kept
    pol = Policy("p", recency, sinks=3, recent=3)
    assert keep_index(v, 2, pol).shape == (1, 2)
    with pytest.raises(ValueError, match="budget"):
        keep_index(v, -1, POLICIES["window"])
    with pytest.raises(ValueError, match="needs view.attn"):
        keep_index(v, 2, POLICIES["h2o"])
    with pytest.raises(ValueError, match="unknown policy"):
        get_policy("lru")
    bad = Policy("bad", lambda vw: torch.zeros(3))
    with pytest.raises(ValueError, match="returned scores"):
        keep_index(v, 2, bad)


# ----------------------------------------------------------------------------- quantiser
def test_levels():
    assert levels_of(1) == 2 and levels_of(4) == 16 and levels_of(1.58) == 3
    with pytest.raises(ValueError, match="bits"):
        levels_of(0.5)


def test_quantize_by_hand_and_error_shrinks_with_bits():
    x = torch.tensor([0.0, 0.2, 0.7, 1.0]).view(1, 1, 1, 4)
    assert torch.allclose(quantize(x, 1, "token"), torch.tensor([0.0, 0.0, 1.0, 1.0]).view(1, 1, 1, 4))
    assert torch.allclose(quantize(x, 1.58, "token"), torch.tensor([0.0, 0.0, 0.5, 1.0]).view(1, 1, 1, 4))
    y = torch.randn(2, 16, 2, 8, generator=torch.Generator().manual_seed(0))
    errs = [float((quantize(y, b, "token") - y).abs().max()) for b in (1, 2, 4, 8)]
    assert errs == sorted(errs, reverse=True) and errs[-1] < 0.02
    # each token's group takes exactly 2 values at 1 bit
    q = quantize(y, 1, "token")
    assert all(len(torch.unique(q[0, t, 0])) <= 2 for t in range(16))
    q = quantize(y, 1, "channel")
    assert all(len(torch.unique(q[0, :, 0, c])) <= 2 for c in range(8))


def test_per_channel_suits_keys_with_outlier_channels():
    g = torch.Generator().manual_seed(1)
    k = torch.randn(1, 64, 1, 16, generator=g)
    k[..., 3] = k[..., 3] * 20 + 30                         # one outlier channel (KIVI's finding)
    err_tok = (quantize(k, 2, "token") - k)[..., [i for i in range(16) if i != 3]].abs().mean()
    err_ch = (quantize(k, 2, "channel") - k)[..., [i for i in range(16) if i != 3]].abs().mean()
    assert err_ch < 0.5 * err_tok


def test_quantize_bad_input_and_cache():
    with pytest.raises(ValueError, match="axis"):
        quantize(torch.zeros(1, 2, 1, 2), 4, "head")
    with pytest.raises(ValueError, match="batch, tokens"):
        quantize(torch.zeros(2, 2), 4)
    from memlab.attention import CausalSelfAttention
    m = CausalSelfAttention(8, 2)
    _, st = m(torch.randn(1, 5, 8))
    assert quantize_cache(st, None) is st
    q = quantize_cache(st, 2)
    assert q.k.shape == st.k.shape and not torch.equal(q.k, st.k) and torch.equal(q.pos, st.pos)
