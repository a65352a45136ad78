"""Unit tests for memlab.associative: hand-computed tiny cases, naive == fast, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

from memlab.associative import experiments as E
from memlab.associative import modern
from memlab.associative.hopfield import (
    ClassicalHopfield,
    async_sweep,
    async_sweep_loop,
    sgn_keep,
    sync_step,
)
from memlab.associative.modern import ModernHopfield
from memlab.associative.sdm import SparseDistributedMemory, hamming, hamming_loop, radius_for
from memlab.associative.sdr import SparseyCodes, code_overlap
from memlab.memory import Memory
from memlab.testing import rel_err


def gen(seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


# --------------------------------------------------------------------- classical Hopfield
def test_hebbian_weights_and_energy_by_hand():
    xi = torch.tensor([[1., -1., 1., -1.]])
    net = ClassicalHopfield(4)
    net.write(xi)
    expected = torch.tensor([[0, -1, 1, -1], [-1, 0, -1, 1], [1, -1, 0, -1], [-1, 1, -1, 0]],
                            dtype=torch.float32) / 4
    assert torch.equal(net.W, expected)
    # E = -1/2 sum_{i != j} W_ij xi_i xi_j = -1/2 * 12 * (1/4)
    assert float(net.energy(xi)) == pytest.approx(-1.5)
    assert float(net.energy(-xi)) == pytest.approx(-1.5)        # the mirror state
    assert net.state_size() == 16
    assert isinstance(net, Memory)


def test_sync_two_cycle_while_async_settles():
    # one pattern [1, 1]: W = [[0, 1/2], [1/2, 0]]; from [1, -1] sync flips both forever
    net = ClassicalHopfield(2)
    net.write(torch.tensor([[1., 1.]]))
    s = torch.tensor([[1., -1.]])
    s1 = sync_step(net.J, s)
    assert torch.equal(s1, torch.tensor([[-1., 1.]]))
    assert torch.equal(sync_step(net.J, s1), s)
    # async, neuron 0 first: h_0 = W_01 s_1 < 0 -> s_0 = -1, then [-1, -1] is a fixed point
    out = async_sweep(net.J, s, torch.tensor([0, 1]))
    assert torch.equal(out, torch.tensor([[-1., -1.]]))


def test_tie_keeps_state():
    h = torch.tensor([0., 2., -3.])
    s = torch.tensor([-1., -1., 1.])
    assert torch.equal(sgn_keep(h, s), torch.tensor([-1., 1., -1.]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_async_loop_equals_vectorised(seed):
    g = gen(seed)
    net = ClassicalHopfield(12)
    net.write(E.random_patterns(4, 12, g))                    # P=4 even: ties occur
    s = E.random_patterns(3, 12, g)
    order = torch.randperm(12, generator=g)
    assert torch.equal(async_sweep_loop(net.J, s, order), async_sweep(net.J, s, order))


def test_recall_below_capacity_and_forget():
    g = gen(0)
    xi = E.random_patterns(5, 100, g)
    net = ClassicalHopfield(100)
    net.write(xi)
    out = net.read(E.flip(xi, 0.1, g), generator=g)
    assert torch.equal(out, xi)
    J_before = net.J.clone()
    extra = E.random_patterns(2, 100, g)
    net.write(extra)
    net.forget(extra)
    assert torch.equal(net.J, J_before) and net.n_patterns == 5
    net.reset()
    assert net.J.abs().sum() == 0 and net.n_patterns == 0


def test_energy_trace_never_increases_and_sync_read():
    g = gen(3)
    xi = E.random_patterns(20, 60, g)
    net = ClassicalHopfield(60)
    net.write(xi)
    trace = net.energy_trace(E.flip(xi[:5], 0.3, g), sweeps=2, generator=g)
    assert trace.shape == (2 * 60 + 1, 5)
    assert float((trace[1:] - trace[:-1]).max()) <= 0.0
    assert float((trace[0] - trace[-1]).min()) > 0             # and it does go down
    s, sweeps = net.run(xi[:2], mode="sync")
    assert s.shape == (2, 60) and 1 <= sweeps <= 50


def test_hopfield_bad_input():
    net = ClassicalHopfield(4)
    with pytest.raises(ValueError, match="N"):
        ClassicalHopfield(1)
    with pytest.raises(ValueError, match=r"\+1 and -1"):
        net.write(torch.tensor([[1., 0., 1., -1.]]))
    with pytest.raises(ValueError, match="last dimension 4"):
        net.write(torch.ones(2, 5))
    with pytest.raises(TypeError, match="torch.Tensor"):
        net.read([1, 1, 1, 1])
    with pytest.raises(ValueError, match="mode"):
        net.read(torch.ones(1, 4), mode="parallel")


# ----------------------------------------------------------------------- modern Hopfield
def test_modern_update_by_hand():
    X = torch.tensor([[1., 0.], [0., 1.]], dtype=torch.float64)
    xi = torch.tensor([[1., 0.]], dtype=torch.float64)
    new, p = modern.update(xi, X, beta=math.log(3), return_weights=True)
    # p = softmax(ln3 * [1, 0]) = [3/4, 1/4]
    assert torch.allclose(p, torch.tensor([[0.75, 0.25]], dtype=torch.float64))
    assert torch.allclose(new, torch.tensor([[0.75, 0.25]], dtype=torch.float64))
    # E = -lse + 1/2 |xi|^2 + log(2)/beta + 1/2 M^2, lse = log(3 + 1) / ln 3
    E_expected = -math.log(4) / math.log(3) + 0.5 + math.log(2) / math.log(3) + 0.5
    assert float(modern.energy(xi, X, math.log(3))) == pytest.approx(E_expected)


def test_modern_forms_agree_with_attention():
    g = gen(1)
    X = torch.randn(30, 8, generator=g, dtype=torch.float64)
    xi = torch.randn(5, 8, generator=g, dtype=torch.float64)
    fast = modern.update(xi, X, 0.7)
    assert rel_err(modern.update_loop(xi, X, 0.7), fast) < 1e-12
    sdpa = F.scaled_dot_product_attention(xi[None], X[None], X[None], scale=0.7)[0]
    assert rel_err(fast, sdpa) < 1e-12
    # a Hopfield layer (eq. 10) is attention with projections
    R, Y = torch.randn(2, 4, 6, generator=g), torch.randn(2, 9, 5, generator=g)
    W_Q, W_K, W_V = (torch.randn(6, 3, generator=g), torch.randn(5, 3, generator=g),
                     torch.randn(3, 7, generator=g))
    Z = modern.hopfield_layer(R, Y, W_Q, W_K, W_V)
    ref = F.scaled_dot_product_attention(R @ W_Q, Y @ W_K, Y @ W_K @ W_V)
    assert rel_err(Z, ref) < 1e-5


def test_modern_update_is_gradient_step_and_lowers_energy():
    # dE/dxi = xi - X softmax(beta X^T xi): the update is xi - grad E (CCCP), E decreases
    g = gen(2)
    X = torch.randn(20, 6, generator=g, dtype=torch.float64)
    xi = torch.randn(4, 6, generator=g, dtype=torch.float64, requires_grad=True)
    modern.energy(xi, X, 2.0).sum().backward()
    new = modern.update(xi.detach(), X, 2.0)
    assert rel_err(xi.detach() - xi.grad, new) < 1e-12
    assert bool((modern.energy(new, X, 2.0) <= modern.energy(xi.detach(), X, 2.0) + 1e-12).all())


def test_modern_memory_vocabulary():
    mem = ModernHopfield(4, beta=8.0)
    with pytest.raises(ValueError, match="empty"):
        mem.read(torch.ones(4))
    X = torch.eye(4)
    mem.write(X)
    assert mem.state_size() == 16 and isinstance(mem, Memory)
    out = mem.read(torch.tensor([0.9, 0.1, 0.0, 0.0]))
    assert out.argmax() == 0 and out[0, 0] > 0.9
    mem.forget([0])
    assert mem.P == 3 and mem.read(torch.tensor([0.9, 0.1, 0.0, 0.0])).argmax() == 1
    with pytest.raises(ValueError, match="out of range"):
        mem.forget(7)
    mem.reset()
    assert mem.P == 0


def test_modern_bad_input():
    with pytest.raises(ValueError, match="beta"):
        ModernHopfield(4, beta=0.0)
    with pytest.raises(ValueError, match="beta"):
        modern.update(torch.ones(1, 3), torch.ones(2, 3), beta=float("inf"))
    with pytest.raises(ValueError, match="X must have last dimension 3"):
        modern.update(torch.ones(1, 3), torch.ones(2, 4), beta=1.0)
    mem = ModernHopfield(4)
    with pytest.raises(ValueError, match="patterns must have last dimension 4"):
        mem.write(torch.ones(2, 3))


# ------------------------------------------------------------- sparse distributed memory
def test_radius_for_by_hand():
    # P[Bin(10, 1/2) <= 4] = 386/1024 < 0.5 <= P[<= 5] = 638/1024
    assert radius_for(10, 0.5) == 5
    assert radius_for(10, 1 / 1024) == 0
    assert radius_for(1000, 0.001) == 451                     # Kanerva's example
    with pytest.raises(ValueError, match="probability"):
        radius_for(10, 0.0)


def test_hamming_loop_equals_vectorised():
    g = gen(0)
    x = torch.randint(0, 2, (3, 9), generator=g).float()
    A = torch.randint(0, 2, (7, 9), generator=g).float()
    assert torch.equal(hamming_loop(x, A), hamming(x, A))


def test_sdm_write_read_by_hand():
    mem = SparseDistributedMemory(n=3, M=4, r=1)
    mem.A = torch.tensor([[0., 0., 0.], [1., 1., 1.], [1., 1., 0.], [0., 0., 1.]])
    x = torch.tensor([[1., 1., 0.]])
    assert torch.equal(mem.activate(x), torch.tensor([[0., 1., 1., 0.]]))   # d = 2, 1, 0, 3
    mem.write(x)
    assert torch.equal(mem.C, torch.tensor([[0., 0., 0.], [1., 1., -1.], [1., 1., -1.],
                                            [0., 0., 0.]]))
    assert torch.equal(mem.read(x), x)
    assert torch.equal(mem.read(torch.tensor([[1., 1., 1.]])), x)           # one bit off
    mem.forget(x)
    assert mem.C.abs().sum() == 0
    assert mem.state_size() == 12 and isinstance(mem, Memory)


def test_sdm_recalls_from_noisy_cue():
    g = gen(0)
    mem = SparseDistributedMemory(n=128, M=1000, p=0.02, seed=1)
    x = torch.randint(0, 2, (10, 128), generator=g).float()
    mem.write(x)
    cue = (E.flip(2 * x - 1, 0.1, g) + 1) / 2
    assert torch.equal(mem.read(cue, iterations=3), x)


def test_sdm_bad_input():
    with pytest.raises(ValueError, match="exactly one"):
        SparseDistributedMemory(8, 10)
    with pytest.raises(ValueError, match="radius"):
        SparseDistributedMemory(8, 10, r=9)
    mem = SparseDistributedMemory(8, 10, r=3)
    with pytest.raises(ValueError, match="binary"):
        mem.write(torch.full((1, 8), 2.0))
    with pytest.raises(ValueError, match="batch sizes"):
        mem.write(torch.ones(2, 8), torch.ones(1, 8))


# --------------------------------------------------------------- Sparsey-style SDR codes
def test_sdr_familiarity_by_hand():
    mem = SparseyCodes(n_in=6, Q=3, K=4, seed=0)
    x = torch.tensor([[1., 1., 0., 0., 0., 0.]])
    V, G = mem.familiarity(x)
    assert float(G) == 0.0
    # a novel input: eta = 1, psi = 1 everywhere, every cell equally likely
    assert torch.allclose(mem.probabilities(x), torch.full((1, 3, 4), 0.25))
    code = mem.write(x)
    V, G = mem.familiarity(x)
    assert float(G) == 1.0 and torch.equal(mem.encode(x, sample=False), code)
    assert torch.equal(V[0].gather(1, code[0][:, None]).squeeze(1), torch.ones(3))
    assert torch.equal(mem.read(x), x)
    half = torch.tensor([[1., 0., 0., 0., 0., 0.]])              # V = 1/1 on the same cells
    assert torch.equal(mem.encode(half, sample=False), code)
    assert mem.state_size() == 6 * 3 * 4 and isinstance(mem, Memory)


def test_sdr_similar_inputs_share_codes():
    g = gen(0)
    mem = SparseyCodes(n_in=400, Q=20, K=16, seed=0)
    base = E.sparse_inputs(10, 400, 20, g)
    codes = mem.write(base)
    same = code_overlap(mem.encode(E.morph(base, 0.9, g)), codes).mean()
    far = code_overlap(mem.encode(E.morph(base, 0.0, g)), codes).mean()
    assert same > 0.7 and far < 0.3


def test_sdr_bad_input():
    with pytest.raises(ValueError, match="K"):
        SparseyCodes(10, Q=2, K=1)
    mem = SparseyCodes(10, Q=2, K=3)
    with pytest.raises(ValueError, match="binary"):
        mem.write(torch.full((1, 10), 0.5))
    with pytest.raises(ValueError, match="last dimension 2"):
        mem.decode(torch.zeros(1, 5, dtype=torch.long))


# ------------------------------------------------------------------------- experiments
def test_flip_and_morph_are_exact():
    g = gen(0)
    x = E.random_patterns(6, 50, g)
    assert torch.equal((E.flip(x, 0.1, g) != x).sum(1), torch.full((6,), 5))
    b = E.sparse_inputs(4, 100, 10, g)
    m = E.morph(b, 0.3, g)
    assert torch.equal(m.sum(1), b.sum(1)) and torch.equal((m * b).sum(1), torch.full((4,), 3.))


def test_digits_are_bundled():
    X, y = E.digit_patterns(12)
    assert X.shape == (12, 64) and set(X.unique().tolist()) == {-1.0, 1.0} and len(y) == 12


def test_load_max_must_pass_the_crossing():
    # a sweep that stops at 0.15 never sees the ~0.17 crossing at N = 200: critical would be
    # NaN and the claim would fail with NaN; the parameter model refuses it up front
    from memlab.chapters import get_chapter
    from memlab.params import ParameterError

    Params = get_chapter("01").Params
    with pytest.raises(ParameterError, match=r"'load_max' = 0.15.*0.25"):
        Params.build({"load_max": 0.15})
    assert Params.build({"load_max": 0.25}).load_max == 0.25
    # what the floor prevents: the curve up to 0.15 never drops below one half
    curve = E.recall_curve(200, [0.05, 0.1, 0.15], noise=0.1, trials=1, seed=0)
    assert math.isnan(curve.critical), curve


def test_digit_retrieval_at_the_widget_defaults():
    r = E.digit_retrieval(noise=0.1, n_patterns=5, beta=1.0)
    # 5 correlated digits already defeat the classical net; the modern one returns the digit
    assert r["classical_reached"] != "the digit" and r["overlap_classical"] < 0.95, r
    assert r["modern_recalled"] and r["overlap_modern"] >= 0.95
    # one stored digit: both nets return it
    one = E.digit_retrieval(noise=0.1, n_patterns=1, beta=1.0)
    assert one["classical_reached"] == "the digit" and one["modern_recalled"]
    with pytest.raises(ValueError, match="n_patterns"):
        E.digit_retrieval(n_patterns=0)
