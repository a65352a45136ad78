"""Causal softmax attention with an explicit KV cache (memlab.attention.softmax)."""

import math

import pytest
import torch

from memlab.attention import CausalSelfAttention, KVCache
from memlab.testing import check_sequence_memory


def make(d=8, heads=2, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return CausalSelfAttention(d, n_heads=heads).to(dtype)


@pytest.mark.parametrize("heads, chunks", [(1, [10]), (2, [3, 1, 6]), (4, [1] * 10), (2, [7, 3])])
def test_three_equalities(heads, chunks):
    m = make(8, heads)
    x = torch.randn(3, 10, 8, dtype=torch.float64)
    errs = check_sequence_memory(m, x, chunks, rtol=1e-10)
    assert errs["whole_vs_chunked"] < 1e-10


def test_float32_forward_matches_recurrence():
    m = make(16, 4, dtype=torch.float32)
    x = torch.randn(2, 33, 16)
    check_sequence_memory(m, x, [16, 17], rtol=1e-5)


def test_hand_computed_identity_projections():
    """W_Q = W_K = W_V = W_O = I, one head: y_t = sum_j softmax_j(x_t.x_j / sqrt d) x_j."""
    m = CausalSelfAttention(2, n_heads=1).double()
    with torch.no_grad():
        for W in (m.W_q, m.W_k, m.W_v, m.W_o):
            W.weight.copy_(torch.eye(2))
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]], dtype=torch.float64)
    y, state = m(x)
    # t=0: only itself
    assert torch.allclose(y[0, 0], x[0, 0])
    # t=1: scores [0, 1]/sqrt2 over x0, x1
    a = torch.softmax(torch.tensor([0.0, 1.0]) / math.sqrt(2), 0).double()
    assert torch.allclose(y[0, 1], a[0] * x[0, 0] + a[1] * x[0, 1])
    # t=2: scores [1, 1, 2]/sqrt2
    a = torch.softmax(torch.tensor([1.0, 1.0, 2.0]) / math.sqrt(2), 0).double()
    assert torch.allclose(y[0, 2], (a[:, None] * x[0]).sum(0))
    assert torch.equal(state.pos[0], torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64))
    assert state.seen == 3


def test_state_size_is_2dT_and_matches_the_cache():
    m = make(12, 3)
    assert m.state_size(100) == 2 * 12 * 100
    _, st = m(torch.randn(2, 7, 12, dtype=torch.float64))
    assert st.numel() == m.state_size(7) and len(st) == 7
    with pytest.raises(ValueError, match="seq_len"):
        m.state_size()


def test_weights_are_causal_rows_summing_to_one_and_reproduce_output():
    m = make(8, 2)
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    _, st = m(x[:, :4])
    y, _, w = m.attend(x[:, 4:], st, need_weights=True)
    assert w.shape == (2, 2, 2, 6)
    assert torch.allclose(w.sum(-1), torch.ones(2, 2, 2, dtype=torch.float64))
    assert (w[:, :, 0, 5] == 0).all(), "the first new query cannot see the second new key"
    y_fast, _ = m(x[:, 4:], st)
    assert torch.allclose(y, y_fast)


def test_select_keeps_entries_and_positions():
    m = make(8, 2)
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    _, st = m(x)
    idx = torch.tensor([[0, 2, 5], [1, 3, 4]])
    sub = st.select(idx)
    assert len(sub) == 3 and sub.seen == 6
    assert torch.equal(sub.pos, idx.double())
    assert torch.equal(sub.k[1, 0], st.k[1, 1])
    # keeping everything changes nothing
    full = st.select(torch.arange(6).expand(2, 6))
    y1, _ = m(x[:, :2], st)
    y2, _ = m(x[:, :2], full)
    assert torch.equal(y1, y2)
    with pytest.raises(ValueError, match="index"):
        st.select(torch.tensor([0, 1]))


def test_eviction_changes_what_can_be_read():
    """Dropping the one entry a query matches changes its read-out."""
    m = CausalSelfAttention(2, n_heads=1).double()
    with torch.no_grad():
        for W in (m.W_q, m.W_k, m.W_v, m.W_o):
            W.weight.copy_(torch.eye(2) * 4)
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]], dtype=torch.float64)
    _, st = m(x)
    q = torch.tensor([[[1.0, 0.0]]], dtype=torch.float64)
    y_full, _ = m(q, st)
    y_evicted, _ = m(q, st.select(torch.tensor([[1, 2]])))
    assert not torch.allclose(y_full, y_evicted)
    _, _, w = m.attend(q, st, need_weights=True)
    assert w[0, 0, 0, 0] > 0.3, "the matching old entry gets a large share of the attention"


def test_gradients():
    m = make(4, 2)
    x = torch.randn(1, 5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: m(z)[0], (x,))


def test_bad_input():
    with pytest.raises(ValueError, match="divisible"):
        CausalSelfAttention(10, n_heads=3)
    with pytest.raises(ValueError, match="d_model"):
        CausalSelfAttention(0)
    m = make(8, 2)
    with pytest.raises(ValueError, match="last dimension 8"):
        m(torch.randn(2, 3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="3 dimensions"):
        m(torch.randn(3, 8, dtype=torch.float64))
    _, st = m(torch.randn(2, 3, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="batch"):
        m(torch.randn(1, 3, 8, dtype=torch.float64), st)
    with pytest.raises(TypeError, match="x_t"):
        m.step([1.0], st)


def test_explicit_head_dim_and_empty_cache():
    m = CausalSelfAttention(8, n_heads=3, d_head=5)
    st = m.init_state(2)
    assert isinstance(st, KVCache) and len(st) == 0 and st.k.shape == (2, 0, 3, 5)
    y, st = m(torch.randn(2, 4, 8), st)
    assert y.shape == (2, 4, 8) and m.state_size(4) == 2 * 15 * 4
