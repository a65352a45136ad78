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


def test_chapter01_memories_same_on_cuda():
    """Classical Hopfield (sync dynamics), SDM and Sparsey codes give the CPU's answers."""
    from memlab.associative import ClassicalHopfield
    from memlab.associative.sdm import SparseDistributedMemory
    from memlab.associative.sdr import SparseyCodes

    g = torch.Generator().manual_seed(0)
    X = torch.randint(0, 2, (10, 100), generator=g).float() * 2 - 1
    outs = {}
    for dev in ("cpu", "cuda"):
        net = ClassicalHopfield(100, device=dev)
        net.write(X.to(dev))
        outs[dev] = net.read(X[:4].to(dev), mode="sync")
    assert outs["cuda"].device.type == "cuda" and torch.equal(outs["cuda"].cpu(), outs["cpu"])

    bits = (X[:5] > 0).float()
    for cls, kw in ((SparseDistributedMemory, {"n": 100, "M": 500, "p": 0.05}),
                    (SparseyCodes, {"n_in": 100, "Q": 5, "K": 4})):
        outs = {}
        for dev in ("cpu", "cuda"):
            mem = cls(**kw, seed=0, device=dev)
            mem.write(bits.to(dev))
            outs[dev] = mem.read(bits.to(dev))
        assert outs["cuda"].device.type == "cuda", cls.__name__
        assert torch.equal(outs["cuda"].cpu(), outs["cpu"]), cls.__name__
