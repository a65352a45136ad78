"""Unit tests for memlab.layers (product-key memory)."""

import math

import pytest
import torch

from memlab.layers import (
    ProductKeyMemory,
    candidate_pairs,
    count_scores,
    exhaustive_topk,
    product_key_topk,
)
from memlab.memory import Memory
from memlab.testing import assert_close

F64 = torch.float64


def _rand(n=64, H=2, n_keys=16, d_key=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, H, d_key, generator=g, dtype=F64)
    keys = torch.randn(H, 2, n_keys, d_key // 2, generator=g, dtype=F64)
    return q, keys


# ------------------------------------------------------------------ hand-computed case
def test_tiny_hand_computed():
    # one head, |K| = 3 sub-keys per half, d_key = 2 (scalars per half)
    keys = torch.tensor([[[[1.0], [3.0], [2.0]],           # K1: k1_0=1, k1_1=3, k1_2=2
                          [[-1.0], [0.5], [4.0]]]], dtype=F64)  # K2
    q = torch.tensor([[[1.0, 1.0]]], dtype=F64)          # q1 = q2 = 1 -> s_ij = k1_i + k2_j
    scores, idx = product_key_topk(q, keys, k=2)
    # best: (1, 2) = 3 + 4 = 7 -> slot 1*3 + 2 = 5; next (2, 2) = 6 -> slot 8
    assert idx.tolist() == [[[5, 8]]]
    assert scores.tolist() == [[[7.0, 6.0]]]
    s_ex, i_ex = exhaustive_topk(q, keys, k=2)
    assert i_ex.tolist() == [[[5, 8]]] and s_ex.tolist() == [[[7.0, 6.0]]]


# ------------------------------------------------------------------ the equality claim
@pytest.mark.parametrize("prune", [False, True])
@pytest.mark.parametrize("n_keys,k", [(8, 1), (16, 5), (32, 32), (64, 16)])
def test_product_keys_equal_exhaustive(prune, n_keys, k):
    q, keys = _rand(n=128, H=3, n_keys=n_keys, d_key=10, seed=n_keys + k)
    s_pk, i_pk = product_key_topk(q, keys, k, prune=prune)
    s_ex, i_ex = exhaustive_topk(q, keys, k)
    assert torch.equal(i_pk, i_ex)                       # same slots, same order
    assert_close(s_pk, s_ex, 1e-12, "scores")


def test_candidate_pairs_count_and_rule():
    a, b = candidate_pairs(32, prune=True)
    assert len(a) == sum(32 // i for i in range(1, 33)) == 119
    assert bool(((a + 1) * (b + 1) <= 32).all())
    a, b = candidate_pairs(5, prune=False)
    assert len(a) == 25
    assert count_scores(256, 32, "product") == 2 * 256 + 32 * 32
    assert count_scores(256, 32, "exhaustive") == 65536
    assert count_scores(256, 32, "pruned") == 512 + 119
    with pytest.raises(ValueError, match="method"):
        count_scores(8, 2, "magic")


def test_pruned_drops_a_needed_pair_if_rule_is_wrong():
    # The rule is tight: the pair (a, b) = (k-1, 0) is needed when list 2 has one huge score.
    keys = torch.zeros(1, 2, 8, 1, dtype=F64)
    keys[0, 0, :, 0] = torch.arange(8, 0, -1, dtype=F64)     # k1 = 8, 7, ..., 1
    keys[0, 1, :, 0] = torch.tensor([100.0, 0, 0, 0, 0, 0, 0, 0], dtype=F64)
    keys[0, 1, 1:, 0] = -torch.arange(1, 8, dtype=F64) * 100
    q = torch.ones(1, 1, 2, dtype=F64)
    _, i_pk = product_key_topk(q, keys, 4, prune=True)
    _, i_ex = exhaustive_topk(q, keys, 4)
    assert torch.equal(i_pk, i_ex)
    assert i_ex[0, 0].tolist() == [0, 8, 16, 24]            # (0,0), (1,0), (2,0), (3,0)


# ------------------------------------------------------------------ the layer
def _layer(**kw):
    torch.manual_seed(0)
    cfg = {"d_model": 24, "n_keys": 12, "heads": 3, "k": 5, "d_key": 8}
    cfg.update(kw)
    return ProductKeyMemory(**cfg).double()


@pytest.mark.parametrize("prune", [False, True])
def test_forward_equals_naive_and_shapes(prune):
    m = _layer(prune=prune)
    m.eval()
    x = torch.randn(2, 7, 24, dtype=F64)
    y = m(x)
    assert y.shape == (2, 7, 24)
    assert_close(y.detach(), m.forward_naive(x).detach(), 1e-12, "embedding-bag read vs dense gather")
    assert m(x[0, 0]).shape == (24,)                      # a single token works too
    idx, w = m.address(x)
    assert idx.shape == w.shape == (14, 3 * 5)
    assert_close(w.detach().reshape(14, 3, 5).sum(-1), torch.ones(14, 3, dtype=F64), 1e-12, "softmax")
    assert int(idx.max()) < 12 * 12 and int(idx.min()) >= 0


def test_d_value_and_state_size():
    m = _layer(d_value=7, query_norm=False)
    assert m(torch.randn(3, 24, dtype=F64)).shape == (3, 7)
    assert m.state_size() == 144 * 7 + 3 * 2 * 12 * 4
    assert isinstance(m, Memory)


def test_gradients_reach_only_read_slots_and_keys_and_queries():
    m = _layer()
    x = torch.randn(4, 24, dtype=F64)
    m(x).pow(2).sum().backward()
    idx, _ = m.address(x)
    hit = torch.zeros(144, dtype=torch.bool)
    hit[idx.reshape(-1)] = True
    row_has_grad = m.values.grad.abs().sum(-1) > 0
    assert torch.equal(row_has_grad, hit)                  # sparse write: only the k slots per head
    assert m.keys.grad.abs().sum() > 0 and m.W_q.weight.grad.abs().sum() > 0


def test_gradcheck_through_scores():
    m = _layer(query_norm=False, n_keys=6, heads=1, k=3, d_key=4, d_model=5)
    x = torch.randn(3, 5, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: m(inp), (x,), eps=1e-6, atol=1e-6)


def test_write_moves_read_toward_target_and_touches_only_hit_slots():
    m = _layer()
    m.eval()
    x = torch.randn(1, 24, dtype=F64)
    target = torch.randn(1, 24, dtype=F64)
    before = m.values.detach().clone()
    err0 = (m(x) - target).norm()
    slots = m.write(x, target, lr=1.0)
    changed = (m.values.detach() != before).any(-1)
    assert set(torch.nonzero(changed).flatten().tolist()) <= set(slots.flatten().tolist())
    assert (m(x) - target).norm() < err0
    m.reset()
    assert not torch.equal(m.values.detach(), before)


def test_batch_norm_query_changes_with_mode():
    m = _layer()
    x = torch.randn(32, 24, dtype=F64) * 3 + 1
    m.train()
    y_train = m(x)
    m.eval()
    assert not torch.allclose(y_train, m(x))               # eval uses running stats


# ------------------------------------------------------------------ bad input
def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="d_key must be even"):
        ProductKeyMemory(8, n_keys=4, heads=1, k=2, d_key=7)
    with pytest.raises(ValueError, match="k=9 must be <= n_keys=4"):
        ProductKeyMemory(8, n_keys=4, heads=1, k=9, d_key=8)
    with pytest.raises(ValueError, match="heads"):
        ProductKeyMemory(8, n_keys=4, heads=0, k=2, d_key=8)
    with pytest.raises(ValueError, match="n_keys"):
        ProductKeyMemory(8, n_keys=2.5, heads=1, k=2, d_key=8)


def test_bad_inputs():
    m = _layer()
    with pytest.raises(ValueError, match="d_model=24"):
        m(torch.randn(3, 23, dtype=F64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        m([1.0] * 24)
    with pytest.raises(ValueError, match="target must have shape"):
        m.write(torch.randn(2, 24, dtype=F64), torch.randn(2, 5, dtype=F64))
    q, keys = _rand()
    with pytest.raises(ValueError, match="k must be"):
        product_key_topk(q, keys, 0)
    with pytest.raises(ValueError, match="k must be"):
        exhaustive_topk(q, keys, 17)
    with pytest.raises(ValueError, match="q must have shape"):
        product_key_topk(q[:, :1], keys, 3)
    with pytest.raises(ValueError, match="keys must have shape"):
        product_key_topk(q, keys[:, :1], 3)


def test_float32_agrees_with_float64():
    q, keys = _rand(n=256, H=2, n_keys=32, d_key=16, seed=3)
    s64, i64 = product_key_topk(q, keys, 8)
    s32, i32 = product_key_topk(q.float(), keys.float(), 8)
    # ties aside (measure zero), float32 picks the same slots
    assert (i32 == i64).float().mean() > 0.99
    assert math.isclose(float((s32.double() - s64).abs().max()), 0.0, abs_tol=1e-4)


def test_slot_usage_counts_every_read():
    from memlab.layers.experiments import slot_usage
    m = _layer()
    x = torch.randn(10, 24, dtype=F64)
    counts = slot_usage(m, x)
    assert counts.shape == (144,) and int(counts.sum()) == 10 * 3 * 5


def test_bench_entries_registered():
    from memlab.bench import entries
    e = entries()
    assert {"pkm_forward", "pkm_scoring"} <= set(e) and e["pkm_forward"].family == "layers"
