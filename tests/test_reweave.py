"""Contextual Memory Reweaving (our interpretation): layered state cache + gated re-injection."""

import pytest
import torch

from memlab.segment import reweave as RW
from memlab.testing import check_sequence_memory


def _model(**kw):
    torch.manual_seed(0)
    m = RW.Reweave(6, **{"n_layers": 2, "cache_size": 5, "beta": 1.0, **kw}).double()
    with torch.no_grad():
        m.gate_w.normal_()
        m.w.normal_()
    return m


@pytest.mark.parametrize("layers", [None, (0,), (1, 2)])
def test_three_equalities_with_an_overflowing_cache(layers):
    m = _model(layers=layers)
    x = torch.randn(2, 14, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    errs = check_sequence_memory(m, x, chunks=[3, 1, 10], rtol=1e-10)
    assert max(errs.values()) < 1e-10, errs


def test_remember_equals_forward_state():
    m = _model()
    x = torch.randn(2, 9, 6, dtype=torch.float64)
    with torch.no_grad():
        _, st = m(x[:, :4])
        _, want = m(x[:, 4:], st)
        got = m.remember(x[:, 4:], st)
    for a, b in zip(got, want):
        assert torch.allclose(a, b, rtol=0, atol=1e-14)


def test_hand_computed_base_and_read():
    # one layer, w = 1: h^1_t = x_t + x_{t-1}. x = e1, e2, e1; beta large, gate open (b = inf)
    m = RW.Reweave(2, n_layers=1, cache_size=4, beta=50.0, gate_b=float("inf")).double()
    e = torch.eye(2, dtype=torch.float64)
    x = torch.stack([e[0], e[1], e[0]])[None]
    H = m.base(x, torch.zeros(1, 1, 2, dtype=torch.float64))
    assert torch.equal(H[0, :, 1], torch.stack([e[0], e[0] + e[1], e[0] + e[1]]))
    with torch.no_grad():
        y, st = m(x)
    # token 1 reads an empty cache: y = h^1 = e1. Token 2 (query e2): entries (e1, e1) score
    # 0, 0 -> mean e1. Token 3 (query e1): e1, e1, e2, e1+e2 score 1, 1, 0, 1 -> mean of three
    assert torch.allclose(y[0, 0], e[0])
    assert torch.allclose(y[0, 1], e[0] + e[1] + e[0])
    assert torch.allclose(y[0, 2], e[0] + e[1] + (3 * e[0] + e[1]) / 3)
    assert st[2].tolist() == [[0.0, 1.0, 1.0, 1.0]]             # three of four slots filled
    assert m.state_size() == 4 * 2 * 2 + 1 * 2


def test_closed_gate_is_the_base_model():
    m = RW.Reweave(4, gate_b=-float("inf")).double()
    x = torch.randn(1, 7, 4, dtype=torch.float64)
    with torch.no_grad():
        y, _ = m(x)
    H = m.base(x, torch.zeros(1, 2, 4, dtype=torch.float64))
    assert torch.equal(y, H[:, :, -1])


def test_bad_inputs():
    with pytest.raises(ValueError, match="layers"):
        RW.Reweave(4, n_layers=2, layers=(3,))
    with pytest.raises(ValueError, match="layers"):
        RW.Reweave(4, n_layers=2, layers=(1, 1))
    with pytest.raises(ValueError, match="cache_size"):
        RW.Reweave(4, cache_size=0)
    with pytest.raises(ValueError, match="beta"):
        RW.Reweave(4, beta=0.0)
    with pytest.raises(ValueError, match="x"):
        RW.Reweave(4)(torch.zeros(1, 3, 5))
    with pytest.raises(ValueError, match="distances"):
        RW.rare_token_recall(distances=(0,))
