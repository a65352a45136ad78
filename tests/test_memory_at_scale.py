"""Memory Layers at Scale: the SiLU-gated memory+ read and values shared across layers."""

import pytest
import torch

from memlab.layers import memory_at_scale as mas


def test_memory_plus_by_hand():
    out, want = mas.memory_plus_by_hand()
    assert out == pytest.approx(want, abs=1e-12)


def test_fast_read_equals_exhaustive_read():
    torch.manual_seed(1)
    layer = mas.MemoryPlus(16, n_keys=8, heads=2, k=4).double().eval()
    x = torch.randn(40, 16, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(layer(x), layer.forward_naive(x), atol=1e-12)


def test_layers_share_one_value_table_and_count_it_once():
    stack = mas.SharedMemoryStack(16, n_layers=3, n_keys=8, heads=2, k=4)
    assert stack.n_value_tables() == 1
    assert all(layer.memory.values is stack.values for layer in stack.layers)
    keys = sum(layer.memory.keys.numel() for layer in stack.layers)
    assert stack.state_size() == 64 * 16 + keys
    per_layer = sum(p.numel() for layer in stack.layers for p in layer.parameters())
    assert sum(p.numel() for p in stack.parameters()) == per_layer - 2 * 64 * 16


def test_a_gradient_step_on_one_layer_moves_the_others():
    torch.manual_seed(0)
    stack = mas.SharedMemoryStack(8, n_layers=2, n_keys=4, heads=2, k=4, query_norm=False)
    x = torch.randn(32, 8)                     # 16 slots, 256 reads each: the layers overlap
    before = stack.layers[1].memory(x).detach()
    stack.layers[0].memory(x).sum().backward()
    with torch.no_grad():
        stack.values.sub_(stack.values.grad)
    assert not torch.allclose(stack.layers[1].memory(x), before)


def test_gate_is_silu():
    layer = mas.MemoryPlus(4, n_keys=2, heads=1, k=1, d_key=4)
    x = torch.randn(3, 4)
    assert torch.allclose(layer.gate(x), torch.nn.functional.silu(layer.W1(x)))


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="d_model"):
        mas.MemoryPlus(1)
    with pytest.raises(ValueError, match="n_layers"):
        mas.SharedMemoryStack(8, n_layers=0, n_keys=4, heads=1, k=2)
    from memlab.layers import ProductKeyMemory
    with pytest.raises(ValueError, match="memory must map"):
        mas.MemoryPlus(8, memory=ProductKeyMemory(8, n_keys=4, heads=1, k=2, d_key=4, d_value=4))
