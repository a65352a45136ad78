"""Synaptic Resonance (our interpretation): relevance-gated Hebbian fast weights."""

import pytest
import torch

from memlab.associative import resonance as R
from memlab.associative.resonance import SynapticResonance
from memlab.memory import Memory


def test_is_a_memory_and_state_size():
    m = SynapticResonance(8)
    assert isinstance(m, Memory)
    assert m.state_size() == 8 * 8 + 8


def test_hand_computed_two_steps():
    # h = e1, e2 with r = 1, 0.5, eta = 2, lambda = 0.5, W0 = 0:
    # t=1: W = 2 * 1 * e1 h_0^T = 0 (h_0 = 0); t=2: W = 0.5 * 0 + 2 * 0.5 * e2 e1^T
    m = SynapticResonance(2, eta=2.0, lam=0.5)
    m.write(torch.eye(2, dtype=torch.float64), torch.tensor([1.0, 0.5]))
    assert torch.equal(m.W[0], torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64))
    # a third write of e1 with r = 1: W = 0.5 W + 2 e1 e2^T
    m.write(torch.tensor([[1.0, 0.0]]), torch.tensor([1.0]))
    assert torch.equal(m.W[0], torch.tensor([[0.0, 2.0], [0.5, 0.0]], dtype=torch.float64))
    # read: W e1 = [0, 0.5]
    assert torch.allclose(m.read(torch.tensor([[1.0, 0.0]]))[0, 0],
                          torch.tensor([0.0, 0.5], dtype=torch.float64))
    m.forget(2)
    assert torch.allclose(m.W[0], torch.tensor([[0.0, 0.5], [0.125, 0.0]], dtype=torch.float64))


@pytest.mark.parametrize("lam", [0.0, 0.1])
def test_loop_equals_closed_form_across_chunks(lam):
    g = torch.Generator().manual_seed(0)
    h = torch.randn(3, 20, 6, generator=g, dtype=torch.float64)
    r = torch.rand(3, 20, generator=g, dtype=torch.float64)
    loop = SynapticResonance(6, eta=0.3, lam=lam, batch=3, form="loop")
    closed = SynapticResonance(6, eta=0.3, lam=lam, batch=3)
    loop.write(h, r)
    for a, b in ((0, 7), (7, 8), (8, 20)):
        closed.write(h[:, a:b], r[:, a:b])
    assert torch.allclose(loop.W, closed.W, rtol=1e-12, atol=1e-12)
    assert torch.equal(closed.h_prev, h[:, -1])


def test_relevance_gate_values():
    c = torch.tensor([1.0, 0.0])
    h = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.3, 0.954]])
    r = R.relevance(h, c, beta=20.0, theta=0.3)
    assert r[0] > 0.999 and r[1] < 0.003
    assert abs(float(r[2]) - 0.5) < 0.01          # cos = theta -> r = 1/2


def test_bad_inputs_raise_naming_the_argument():
    with pytest.raises(ValueError, match="lam"):
        SynapticResonance(4, lam=1.0)
    with pytest.raises(ValueError, match="eta"):
        SynapticResonance(4, eta=0.0)
    with pytest.raises(ValueError, match="form"):
        SynapticResonance(4, form="fast")
    m = SynapticResonance(4)
    with pytest.raises(ValueError, match="h"):
        m.write(torch.zeros(1, 3, 5))
    with pytest.raises(ValueError, match="relevance"):
        m.write(torch.zeros(1, 3, 4), torch.full((1, 3), 2.0))
    with pytest.raises(ValueError, match="context"):
        R.relevance(torch.zeros(3, 4), torch.zeros(5))
    with pytest.raises(ValueError, match="beta"):
        R.relevance(torch.zeros(3, 4), torch.zeros(4), beta=0.0)


def test_stream_layout():
    s = R.interference_stream(n_pairs=3, n_filler=10, d=64, seed=0)
    assert s["h"].shape == (1, 10 + 4 * 3, 64)
    # every relevant target resonates with the context, the cues and irrelevant ones do not
    r = R.relevance(torch.cat([s["b"], s["x"]]), s["context"])
    assert (r[:3] > 0.9).all() and (r[3:] < 0.5).all()
