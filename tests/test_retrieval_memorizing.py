"""Memorizing-Transformer attention: the three equalities, a hand case, stop-gradient, errors."""

import pytest
import torch

from memlab.retrieval.memorizing import MemorizingAttention
from memlab.testing import check_sequence_memory


@pytest.mark.parametrize("combine", ["gate", "joint"])
@pytest.mark.parametrize("capacity,top_k", [(0, 2), (5, 2), (5, 50), (40, 3)])
def test_three_equalities(combine, capacity, top_k):
    torch.manual_seed(0)
    m = MemorizingAttention(8, n_heads=2, window=4, capacity=capacity, top_k=top_k,
                            combine=combine, gate_init=0.4).double()
    x = torch.randn(2, 29, 8, dtype=torch.float64)
    check_sequence_memory(m, x, [6, 1, 13, 9], rtol=1e-10)


def identity_layer(d=2, window=1, capacity=2, top_k=1, gate=0.0):
    m = MemorizingAttention(d, n_heads=1, window=window, capacity=capacity, top_k=top_k)
    with torch.no_grad():
        for lin in (m.W_q, m.W_k, m.W_v, m.W_o):
            lin.weight.copy_(torch.eye(d))
        m.b_gate.fill_(gate)
    return m


def test_hand_case_gate_reads_the_matching_memory():
    """W=1 (a token sees only itself locally), M=2, top-1, g = sigmoid(0) = 1/2."""
    e1, e2 = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    x = torch.stack([e1, e2, e1])[None]                        # [1, 3, 2]
    y, state, info = identity_layer()(x, return_retrieved=True)
    # t=0: memory empty -> o_mem = 0;  t=1: memory {0} -> v_0 = e1;  t=2: top-1 of {0, 1} is 0
    expected = torch.stack([0.5 * e1, 0.5 * (e1 + e2), e1])
    assert torch.allclose(y[0], expected)
    assert info["positions"][0, 0, :, 0].tolist() == [-1, 0, 0]
    assert state.t == 3 and state.k.shape == (1, 2, 1, 2)       # keeps W - 1 + M = 2 tokens


def test_memory_beyond_capacity_is_forgotten():
    e1, e2 = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    x = torch.stack([e1, e2, e2, e2, e1])[None]
    # memory for t=4 holds positions 2, 3 (capacity 2): e1 at position 0 is gone
    _, _, info = identity_layer()(x, return_retrieved=True)
    assert info["positions"][0, 0, 4, 0].item() in (2, 3)
    y_big, _, info_big = identity_layer(capacity=10)(x, return_retrieved=True)
    assert info_big["positions"][0, 0, 4, 0].item() == 0
    assert torch.allclose(y_big[0, 4], e1)


def test_joint_attention_is_one_softmax_over_local_and_retrieved():
    e1 = torch.tensor([1.0, 0.0])
    x = torch.stack([e1, e1])[None]
    m = MemorizingAttention(2, window=1, capacity=2, top_k=1, combine="joint")
    with torch.no_grad():
        for lin in (m.W_q, m.W_k, m.W_v, m.W_o):
            lin.weight.copy_(torch.eye(2))
    y, _ = m(x)
    # t=1: local score = memory score = 1/sqrt(2): equal weights on two copies of e1 -> e1
    assert torch.allclose(y[0, 1], e1, atol=1e-6)


def test_no_gradient_flows_into_stored_memories():
    torch.manual_seed(1)
    m = MemorizingAttention(4, window=1, capacity=8, top_k=2, gate_init=30.0)  # g ~ 1
    x = torch.randn(1, 6, 4, requires_grad=True)
    y, _ = m(x)
    y[0, -1].sum().backward()
    assert x.grad[0, :-1].abs().max() < 1e-8, "memory keys/values must be stop-gradient"
    assert x.grad[0, -1].abs().max() > 0                      # the query is trained
    assert m.W_q.weight.grad.abs().max() > 0 and m.b_gate.grad is not None


def test_state_size_formula():
    m = MemorizingAttention(16, n_heads=2, window=4, capacity=100)
    assert m.state_size(10) == 2 * 2 * 8 * 10
    assert m.state_size() == m.state_size(10_000) == 2 * 2 * 8 * 103


def test_bad_input():
    with pytest.raises(ValueError, match="window"):
        MemorizingAttention(8, window=0)
    with pytest.raises(ValueError, match="combine"):
        MemorizingAttention(8, combine="sum")
    m = MemorizingAttention(8)
    with pytest.raises(ValueError, match="x must have last dimension 8"):
        m(torch.randn(1, 3, 7))
    with pytest.raises(ValueError, match="3 dimensions"):
        m(torch.randn(3, 8))


@pytest.mark.gpu
def test_cuda_matches_cpu():
    from memlab.retrieval.experiments import build_reader, define_then_use, evaluate

    torch.manual_seed(0)
    m = MemorizingAttention(16, n_heads=2, window=4, capacity=20, top_k=3)
    x = torch.randn(2, 40, 16)
    y_cpu, _ = m(x)
    y_gpu, state = m.to("cuda")(x.to("cuda"))
    assert state.k.device.type == "cuda"
    assert torch.allclose(y_gpu.cpu(), y_cpu, atol=1e-4)
    data = define_then_use(1, 512, 8, n_keys=64, n_values=8, n_filler=32, min_gap=40)
    reader = build_reader(data, d_embed=16, window=4, top_k=8)
    a = evaluate(reader, data, 512)["accuracy"]
    b = evaluate(reader.to("cuda"), data, 512, device="cuda")["accuracy"]
    assert a == b
