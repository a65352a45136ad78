"""Unit tests of memlab.testtime: Titans memory (both forms), MAC, Omega rule."""

import math

import pytest
import torch
import torch.nn.functional as F

from memlab.testing import check_sequence_memory, rel_err
from memlab.testtime.mac import MemoryAsContext
from memlab.testtime.neural_memory import Gate, NeuralMemory
from memlab.testtime.omega import OmegaMemory, omega_rule
from memlab.testtime.titans import (
    _anchor_terms,
    assoc_loss,
    init_state,
    mlp_apply,
    titans_chunked,
    titans_recurrent,
)

DT = torch.float64


def _inputs(B=2, T=19, H=2, dk=4, dv=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = F.normalize(torch.randn(B, T, H, dk, generator=g, dtype=DT), dim=-1)
    k = F.normalize(torch.randn(B, T, H, dk, generator=g, dtype=DT), dim=-1)
    v = torch.randn(B, T, H, dv, generator=g, dtype=DT)
    theta = 0.3 * torch.rand(B, T, H, generator=g, dtype=DT)
    eta = torch.rand(B, T, H, generator=g, dtype=DT)
    alpha = 0.1 * torch.rand(B, T, H, generator=g, dtype=DT)
    return q, k, v, theta, eta, alpha


def _weights(depth, H=2, dk=4, dv=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    dims = [dk] + [6] * (depth - 1) + [dv]
    return [torch.randn(H, dims[i + 1], dims[i], generator=g, dtype=DT) / math.sqrt(dims[i])
            for i in range(depth)]


def _const(x, like):
    return torch.full(like.shape[:3], float(x), dtype=like.dtype)


# ----------------------------------------------------------------- hand-computed cases
def test_one_token_linear_by_hand():
    # W0 = 0, k = e1, v = (2, 3), theta = 0.25: grad = 2 (W0 k - v) k^T = -2 v e1^T
    # S1 = -theta grad = 0.5 v e1^T; W1 = S1; y = W1 q = 0.5 v for q = e1.
    k = torch.tensor([1.0, 0.0], dtype=DT).view(1, 1, 1, 2)
    v = torch.tensor([2.0, 3.0], dtype=DT).view(1, 1, 1, 2)
    st = init_state([torch.zeros(1, 2, 2, dtype=DT)], 1)
    for fn in (titans_recurrent, titans_chunked):
        y, s = fn(k, k, v, _const(0.25, k), _const(0.0, k), _const(0.0, k), st)
        assert torch.allclose(y.flatten(), torch.tensor([1.0, 1.5], dtype=DT))
        assert torch.allclose(s.W[0][0, 0], torch.tensor([[1.0, 0.0], [1.5, 0.0]], dtype=DT))
        y, _ = fn(k, k, v, _const(0.25, k), _const(0.0, k), _const(0.0, k), st,
                  read_after_write=False)
        assert torch.all(y == 0)                 # retrieve before write: M_0 = 0 returns 0


def test_two_tokens_momentum_and_forgetting_by_hand():
    th, et, al = 0.1, 0.8, 0.2
    k = torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=DT)
    v = torch.tensor([[1.0, -1.0], [0.5, 2.0]], dtype=DT)
    W0 = torch.tensor([[0.3, 0.0], [0.1, -0.2]], dtype=DT)
    # the equations, written out
    S1 = -th * 2 * torch.outer(W0 @ k[0] - v[0], k[0])
    W1 = (1 - al) * W0 + S1
    S2 = et * S1 - th * 2 * torch.outer(W1 @ k[1] - v[1], k[1])
    W2 = (1 - al) * W1 + S2
    kk, vv = k.view(1, 2, 1, 2), v.view(1, 2, 1, 2)
    st = init_state([W0.view(1, 2, 2)], 1)
    for fn in (titans_recurrent, titans_chunked):
        y, s = fn(kk, kk, vv, _const(th, kk), _const(et, kk), _const(al, kk), st, chunk_size=1)
        assert torch.allclose(s.W[0][0, 0], W2) and torch.allclose(s.S[0][0, 0], S2)
        assert torch.allclose(y[0, :, 0], torch.stack([W1 @ k[0], W2 @ k[1]]))
    # chunk of 2: the second gradient is taken at W0 (the chunk's start), not W1
    S2c = et * S1 - th * 2 * torch.outer(W0 @ k[1] - v[1], k[1])
    for fn in (titans_recurrent, titans_chunked):
        _, s = fn(kk, kk, vv, _const(th, kk), _const(et, kk), _const(al, kk), st, chunk_size=2)
        assert torch.allclose(s.W[0][0, 0], (1 - al) * W1 + S2c)


def test_omega_window_by_hand():
    # c = 2, gamma = 1: the second step's gradient sums the losses of tokens 1 and 2 (at W1)
    k = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=DT)
    v = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=DT)
    th = 0.1
    W1 = -th * 2 * torch.outer(-v[0], k[0])
    grad2 = 2 * torch.outer(W1 @ k[0] - v[0], k[0]) + 2 * torch.outer(W1 @ k[1] - v[1], k[1])
    W2 = W1 - th * grad2
    kk, vv = k.view(1, 2, 1, 2), v.view(1, 2, 1, 2)
    lr, ret = _const(th, kk), _const(1.0, kk)
    for parallel in (False, True):
        _, s = omega_rule(kk, kk, vv, lr, ret, [torch.zeros(1, 2, 2, dtype=DT)], c=2, gamma=1.0,
                          parallel=parallel)
        assert torch.allclose(s.W[0][0, 0], W2)


def test_linear_titans_is_delta_rule():
    from memlab.testtime.experiments import delta_rule_equality
    for chunked in (False, True):
        assert delta_rule_equality(chunked=chunked)["rel_err"] < 1e-12


def test_manual_mlp_gradient_matches_autograd():
    W = _weights(3)
    g = torch.Generator().manual_seed(3)
    K = torch.randn(2, 2, 5, 4, generator=g, dtype=DT)
    V = torch.randn(2, 2, 5, 3, generator=g, dtype=DT)
    hs, deltas = _anchor_terms(W, K, V, "silu")
    for n in range(5):
        ws = [w.expand(2, -1, -1, -1).clone().requires_grad_() for w in W]
        grads = torch.autograd.grad(assoc_loss(ws, K[:, :, n:n + 1], V[:, :, n:n + 1]).sum(), ws)
        for gr, h, d in zip(grads, hs, deltas):
            manual = d[:, :, n, :, None] * h[:, :, n, None, :]
            assert rel_err(manual, gr) < 1e-12


# ----------------------------------------------------------------- the two forms
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("chunk_size", [1, 4, 7])
@pytest.mark.parametrize("window", [1, 3])
@pytest.mark.parametrize("read_after_write", [True, False])
def test_chunked_equals_recurrent(depth, chunk_size, window, read_after_write):
    q, k, v, th, et, al = _inputs()
    st = init_state(_weights(depth), 2, window)
    kw = {"chunk_size": chunk_size, "gamma": 0.5, "read_after_write": read_after_write}
    y1, s1 = titans_recurrent(q, k, v, th, et, al, st, **kw)
    y2, s2 = titans_chunked(q, k, v, th, et, al, st, **kw)
    assert rel_err(y2, y1) < 1e-10
    for a, b in zip(s2.W + s2.S + s2.anchor, s1.W + s1.S + s1.anchor):
        assert rel_err(a, b) < 1e-10
    assert s1.pos == s2.pos == 19 % chunk_size
    # carried state: pieces that cut chunks in the middle
    ys, s = [], st
    for a, b in ((0, 5), (5, 6), (6, 17), (17, 19)):
        y, s = titans_chunked(q[:, a:b], k[:, a:b], v[:, a:b], th[:, a:b], et[:, a:b],
                              al[:, a:b], s, **kw)
        ys.append(y)
    assert rel_err(torch.cat(ys, 1), y1) < 1e-10
    assert all(rel_err(a, b) < 1e-10 for a, b in zip(s.W + s.S, s1.W + s1.S))


def test_chunk_rule_differs_from_token_rule_and_equals_it_for_orthogonal_keys():
    q, k, v, th, _, _ = _inputs(T=16)
    zero = torch.zeros_like(th)
    st = init_state(_weights(1), 2)
    y1, _ = titans_chunked(q, k, v, th, zero, zero, st, chunk_size=1)
    y8, _ = titans_chunked(q, k, v, th, zero, zero, st, chunk_size=8)
    assert rel_err(y8, y1) > 1e-3                     # a different rule in general
    # keys orthogonal inside each chunk of 4 (d_k = 4), no momentum, no forgetting: equal
    eye = torch.eye(4, dtype=DT)
    perm = torch.stack([eye[torch.randperm(4)] for _ in range(4)]).reshape(16, 4)
    ko = perm.view(1, 16, 1, 4).expand(2, 16, 2, 4)
    y1, _ = titans_chunked(q, ko, v, th, zero, zero, st, chunk_size=1)
    y4, _ = titans_chunked(q, ko, v, th, zero, zero, st, chunk_size=4)
    assert rel_err(y4, y1) < 1e-12


def test_gradients_flow_through_memory_and_forms_agree():
    torch.manual_seed(0)
    m = NeuralMemory(8, n_heads=2, depth=2, chunk_size=4, window=2).double()
    x = torch.randn(2, 10, 8, dtype=DT)
    y1, _ = m(x)
    g1 = torch.autograd.grad(y1.pow(2).sum(), list(m.parameters()), allow_unused=True)
    y2, _ = m.forward_recurrent(x)
    g2 = torch.autograd.grad(y2.pow(2).sum(), list(m.parameters()), allow_unused=True)
    assert all(a is not None for a in g1)
    for a, b in zip(g1, g2):
        assert rel_err(a, b) < 1e-9


# ----------------------------------------------------------------- layers: three equalities
@pytest.mark.parametrize("kw", [{"depth": 1, "chunk_size": 1}, {"depth": 2, "chunk_size": 6},
                                {"depth": 2, "chunk_size": 5, "window": 3, "read_after_write": False},
                                {"depth": 1, "chunk_size": 4, "eta": 0.0, "alpha": 0.0}])
def test_neural_memory_equalities(kw):
    torch.manual_seed(0)
    m = NeuralMemory(12, n_heads=3, **kw).double()
    with torch.no_grad():                          # make the gates truly data-dependent
        for gate in (m.theta, m.eta, m.alpha):
            if not gate.off:
                gate.proj.weight.normal_()
    x = torch.randn(2, 23, 12, dtype=DT)
    check_sequence_memory(m, x, [7, 1, 9, 6], rtol=1e-10)


def test_neural_memory_float32_and_state_size():
    torch.manual_seed(0)
    # theta 0.05, eta 0.9 and a window of 2: an effective step inside the stable range
    m = NeuralMemory(16, n_heads=2, depth=2, expansion=2, chunk_size=8, window=2, theta=0.05)
    x = torch.randn(3, 40, 16)
    errs = check_sequence_memory(m, x, [16, 24], rtol=1e-4)
    assert errs["forward_vs_recurrent"] < 1e-4
    per_head = 8 * 16 + 16 * 8                      # W1 [16, 8], W2 [8, 16]
    assert m.state_size() == 3 * 2 * per_head + 1 * 2 * (8 + 8)
    assert NeuralMemory(16, depth=1, chunk_size=1).state_size() == 2 * 16 * 16


def test_diverging_memory_raises_a_clear_error():
    """theta 0.1 with eta 0.9 (effective step 1) summed over a window of 2: the MLP memory's
    gradient steps overshoot and blow up on most seeds; the layer says why instead of
    returning NaN."""
    raised = 0
    for seed in range(6):
        torch.manual_seed(seed)
        m = NeuralMemory(16, n_heads=2, depth=2, expansion=2, chunk_size=8, window=2, theta=0.1)
        try:
            with torch.no_grad():
                y, _ = m(torch.randn(3, 40, 16))
            assert torch.isfinite(y).all()
        except FloatingPointError as e:
            assert "diverged" in str(e) and "lower theta" in str(e)
            raised += 1
    assert raised >= 1


def test_default_memory_is_stable_on_long_streams():
    for seed in range(3):
        torch.manual_seed(seed)
        with torch.no_grad():
            y, _ = NeuralMemory(16)(torch.randn(2, 600, 16))
        assert torch.isfinite(y).all()


def test_gate_init_and_off():
    g = Gate(4, 2, 0.3, "eta")
    x = torch.randn(1, 5, 4)
    assert torch.allclose(g(x), torch.full((1, 5, 2), 0.3))
    off = Gate(4, 2, 0.0, "alpha")
    assert torch.all(off(x) == 0) and len(list(off.parameters())) == 0


def test_mac_equalities_causality_and_persistent_tokens():
    torch.manual_seed(0)
    m = MemoryAsContext(16, n_heads=2, segment_len=4, n_persistent=3, depth=2).double()
    x = torch.randn(2, 18, 16, dtype=DT)
    check_sequence_memory(m, x, [3, 1, 8, 6], rtol=1e-10)
    y1, _ = m(x)
    x2 = x.clone()
    x2[:, 9] += 1.0
    y2, _ = m(x2)
    assert torch.all(y1[:, :9] == y2[:, :9]) and (y1[:, 9:] - y2[:, 9:]).abs().max() > 1e-6
    with torch.no_grad():
        m.persistent.add_(1.0)
    assert (m(x)[0] - y1).abs().max() > 1e-6         # persistent tokens are read
    # memory carries information across segments: a change in segment 0 reaches segment 3
    x3 = x.clone()
    x3[:, 1] += 1.0
    m2 = MemoryAsContext(16, segment_len=4, n_persistent=0, depth=1).double()
    assert (m2(x3)[0][:, 12:] - m2(x)[0][:, 12:]).abs().max() > 1e-8


def test_omega_memory_layer_equalities():
    torch.manual_seed(0)
    m = OmegaMemory(8, c=3, depth=1, chunk_size=4).double()
    assert m.window == 3 and m.eta.off and math.isclose(m.gamma, 1 / 3)
    check_sequence_memory(m, torch.randn(2, 13, 8, dtype=DT), [5, 8], rtol=1e-10)


# ----------------------------------------------------------------- bad input
def test_bad_inputs_raise_clear_errors():
    q, k, v, th, et, al = _inputs()
    st = init_state(_weights(1), 2)
    with pytest.raises(ValueError, match="theta"):
        titans_chunked(q, k, v, th[:, :3], et, al, st)
    with pytest.raises(ValueError, match=r"\[batch, time, heads, dim\]"):
        titans_recurrent(q[0], k, v, th, et, al, st)
    with pytest.raises(ValueError, match="chunk_size"):
        titans_chunked(q, k, v, th, et, al, st, chunk_size=0)
    with pytest.raises(ValueError, match="act"):
        titans_chunked(q, k, v, th, et, al, st, act="gelu2")
    with pytest.raises(ValueError, match="do not fit"):
        titans_chunked(q, k, v, th, et, al, init_state(_weights(1, dk=5), 2))
    with pytest.raises(ValueError, match="eta"):
        NeuralMemory(8, eta=1.5)
    with pytest.raises(ValueError, match="depth"):
        NeuralMemory(8, depth=0)
    with pytest.raises(ValueError, match="n_heads"):
        NeuralMemory(10, n_heads=3)
    with pytest.raises(ValueError, match="x must have last dimension 8"):
        NeuralMemory(8)(torch.randn(1, 4, 7))
    with pytest.raises(ValueError, match="segment_len"):
        MemoryAsContext(8, segment_len=0)
    with pytest.raises(ValueError, match="window c"):
        OmegaMemory(8, c=0)


def test_mlp_apply_shapes():
    W = _weights(2)
    x = torch.randn(2, 2, 5, 4, dtype=DT)
    assert mlp_apply([w.expand(2, -1, -1, -1) for w in W], x).shape == (2, 2, 5, 3)


@pytest.mark.parametrize("kind", ["titans", "mac"])
def test_trains_as_a_mixer(kind):
    from memlab.tasks import mqar
    from memlab.train import TinyLM, train

    def factory(d):
        if kind == "titans":
            return NeuralMemory(d, n_heads=2, depth=1, chunk_size=8, theta=0.3, eta=0.5)
        return MemoryAsContext(d, n_heads=2, segment_len=8, n_persistent=2, depth=1)

    torch.manual_seed(0)
    model = TinyLM(64, 32, mixer=factory, n_layers=1)
    res = train(model, mqar(200, 32, 4, 64, seed=0), steps=40, batch_size=32, lr=3e-3,
                progress=False)
    assert res.losses[-1] < res.losses[0] - 0.5


@pytest.mark.parametrize("cls", ["MemoryAsGate", "MemoryAsLayer"])
def test_mag_mal_equalities_and_window(cls):
    import memlab.testtime.mag_mal as mm
    torch.manual_seed(0)
    m = getattr(mm, cls)(16, n_heads=2, window=4, n_persistent=2, depth=2, chunk_size=4).double()
    x = torch.randn(2, 15, 16, dtype=DT)
    check_sequence_memory(m, x, [3, 1, 7, 4], rtol=1e-10)
    y1, _ = m(x)
    x2 = x.clone()
    x2[:, 6] += 1.0
    y2, _ = m(x2)
    assert torch.all(y1[:, :6] == y2[:, :6])                       # causal
    assert (y1[:, 12:] - y2[:, 12:]).abs().max() > 1e-8           # reaches past the window
    assert m.state_size() == m.memory.state_size() + 3 * 16
    with pytest.raises(ValueError, match="window"):
        getattr(mm, cls)(16, window=0)


def test_sliding_window_attention_sees_only_its_window():
    from memlab.testtime.mag_mal import MemoryAsGate
    torch.manual_seed(0)
    m = MemoryAsGate(8, window=3, n_persistent=1, depth=1).double()
    x = torch.randn(1, 10, 8, dtype=DT)
    empty = x.new_zeros(1, 0, 8)
    y1, cache = m._swa(x, empty)
    x2 = x.clone()
    x2[:, 4] += 1.0
    y2, _ = m._swa(x2, empty)
    changed = (y1 - y2).abs().amax(-1)[0] > 0
    assert changed.tolist() == [False] * 4 + [True] * 3 + [False] * 3   # tokens 4, 5, 6 see it
    assert torch.equal(cache, x[:, -2:])


# --------------------------------------------------------------------------- device argument
def _small_runs(device):
    from memlab.testtime import experiments as E

    return {
        "delta": E.delta_rule_equality(T=16, d=8, device=device)["rel_err"],
        "chunk": E.chunk_form_equality(T=32, d=8, chunk_size=8, device=device)["rel_err"],
        "forget": E.forgetting_experiment(T=128, period=32, n_keys=8, d=16, batch=4,
                                          device=device),
        "needle": E.needle_experiment(d=16, n_familiar=4, warmup=16, distractors=32, batch=4,
                                      device=device),
        "omega": E.omega_experiment(n_pairs=4, d=16, batch=4, device=device),
        "age": E.recall_vs_age(T=32, d=16, batch=2, n_bins=4, device=device),
        "gap": E.chunk_gap(chunk_sizes=(1, 4), T=32, d=16, batch=2, device=device),
    }


def test_experiments_take_a_device():
    a, b = _small_runs("cpu"), _small_runs(torch.device("cpu"))
    assert a["forget"] == b["forget"] and a["needle"] == b["needle"] and a["omega"] == b["omega"]
    assert a["age"] == b["age"] and a["gap"] == b["gap"]
    assert a["delta"] < 1e-10 and a["chunk"] < 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_experiments_run_on_cuda():
    a, b = _small_runs("cpu"), _small_runs("cuda")
    assert b["delta"] < 1e-10 and b["chunk"] < 1e-4
    for r_cpu, r_gpu in zip(a["forget"].values(), b["forget"].values()):
        assert abs(r_cpu - r_gpu) <= 0.1
