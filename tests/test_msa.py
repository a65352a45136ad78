"""MSA: chunk pooling, routing and the sparse read, by hand and against the naive loops."""

import math

import pytest
import torch

from memlab.retrieval import msa


def test_chunk_pool_by_hand_with_a_partial_last_chunk():
    x = torch.tensor([[1.0], [3.0], [5.0], [7.0], [10.0]])
    assert msa.chunk_pool(x, 2).flatten().tolist() == [2.0, 6.0, 10.0]
    assert msa.chunk_pool(x, 5).item() == pytest.approx(5.2)
    with pytest.raises(ValueError, match="chunk"):
        msa.chunk_pool(x, 0)


def test_route_and_read_by_hand():
    """Two documents of one chunk each (c = 2, one head, d = 2).
    doc 0: keys (1, 0), (1, 0) -> K_bar (1, 0), value 10; doc 1: keys (0, 2), (0, 0) ->
    K_bar (0, 1), value 20. q = (0, 3): cos = 0 and 1 -> doc 1; with k = 1 the read is 20.
    With k = 2: weights softmax(q . K_bar / sqrt 2) = softmax(0, 3 / sqrt 2)."""
    m = msa.MSAMemory(2, value_dim=1, chunk=2, top_k=1)
    m.write(torch.tensor([[1.0, 0], [1, 0]]), torch.tensor([[10.0], [10.0]]))
    m.write(torch.tensor([[0.0, 2], [0, 0]]), torch.tensor([[20.0], [20.0]]))
    q = torch.tensor([[0.0, 3.0]])
    s, d = m.route(q)
    assert d.tolist() == [[1]] and s.item() == pytest.approx(1.0)
    assert m.read(q).item() == pytest.approx(20.0)
    w = torch.softmax(torch.tensor([0.0, 3 / math.sqrt(2)]), 0)
    assert m.read(q, top_k=2).item() == pytest.approx(float(w[0] * 10 + w[1] * 20))
    assert m.state_size() == 2 * 1 * (2 * 2 + 1)
    assert m.read_cost() == {"sparse_chunks": 1, "dense_chunks": 2, "routing_scores": 2}


def test_routing_is_mean_over_heads_then_max_over_chunks():
    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])                       # [n=1, H=2, d=2]
    K_r = torch.tensor([[[1.0, 0.0], [1.0, 0.0]],                      # chunk 0: cos 1, 0
                        [[0.0, 1.0], [0.0, 1.0]],                      # chunk 1: cos 0, 1
                        [[1.0, 0.0], [0.0, 1.0]]])                     # chunk 2: cos 1, 1
    s = msa.route_scores(q, K_r, torch.tensor([0, 0, 1]), 2)
    assert s.tolist() == [[0.5, 1.0]]


def _memory(seed=0, heads=2):
    g = torch.Generator().manual_seed(seed)
    m = msa.MSAMemory(8, heads=heads, value_dim=4, chunk=3, top_k=2)
    for L in (7, 9, 3, 12, 5):
        m.write(torch.randn(L, heads, 8, generator=g, dtype=torch.float64),
                torch.randn(L, heads, 4, generator=g, dtype=torch.float64))
    return m, torch.randn(16, heads, 8, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("heads", [1, 3])
def test_fast_read_equals_naive_loops(heads):
    m, q = _memory(1, heads)
    assert torch.allclose(m.read(q), m.read_naive(q), atol=1e-12)
    assert torch.allclose(m.read(q, top_k=m.n_docs), m.read_dense(q), atol=1e-12)


def test_write_many_equals_writing_each_document():
    g = torch.Generator().manual_seed(0)
    K, V = torch.randn(3, 32, 8, generator=g), torch.randn(3, 32, 8, generator=g)
    a, b = msa.MSAMemory(8, chunk=16), msa.MSAMemory(8, chunk=16)
    a.write_many(K, V)
    for i in range(3):
        b.write(K[i], V[i])
    q = torch.randn(5, 8, generator=g)
    assert torch.allclose(a.read(q), b.read(q)) and a.n_tokens == b.n_tokens == 96


def test_bad_input_names_the_argument():
    m = msa.MSAMemory(4)
    with pytest.raises(ValueError, match="empty"):
        m.read(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="keys"):
        m.write(torch.zeros(3, 5), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="same length"):
        m.write(torch.zeros(3, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="top_k"):
        msa.MSAMemory(4, top_k=0)
    m.write(torch.zeros(3, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="q must"):
        m.read(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="keys must"):
        m.write_many(torch.zeros(2, 8, 5), torch.zeros(2, 8, 4))


def test_sparse_read_cost_is_flat_and_accuracy_holds_while_memory_grows():
    rows = msa.scaling_sweep([1 << 14, 1 << 16], n_queries=128, dense_up_to=0)
    assert rows[0]["sparse_chunks"] == rows[1]["sparse_chunks"] == 64
    assert rows[1]["routing_scores"] == 4 * rows[0]["routing_scores"]
    assert min(r["accuracy"] for r in rows) >= 0.9
