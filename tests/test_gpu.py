"""Device-agnostic code: the same results on CUDA as on the CPU (runs on GPU runners only)."""

import pytest
import torch

from memlab.testing import rel_err
from memlab.viz.tour import sequence_memories

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("name", list(sequence_memories(16)))
def test_sequence_memory_same_on_cuda(name):
    torch.manual_seed(0)
    mem = sequence_memories(16)[name].double()
    x = torch.randn(2, 40, 16, dtype=torch.float64)
    y_cpu, _ = mem(x)
    y_gpu, state = mem.to("cuda")(x.to("cuda"))
    assert y_gpu.device.type == "cuda"
    assert rel_err(y_gpu.cpu(), y_cpu) < 1e-8
    y_step, _ = mem.step(x[:, 0].to("cuda"), mem.init_state(2, device="cuda", dtype=torch.float64))
    assert y_step.device.type == "cuda"


def test_modern_hopfield_on_cuda():
    from memlab.associative import ModernHopfield

    X = torch.sign(torch.randn(50, 64))
    m = ModernHopfield(d=64, beta=8.0, device="cuda")
    m.write(X.to("cuda"))
    out = m.read(X[:5].to("cuda"))
    assert out.device.type == "cuda"
    assert torch.equal(torch.sign(out).cpu(), X[:5])
