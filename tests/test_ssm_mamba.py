"""Mamba: the selective scan (loop vs chunked, with a carried state), the block, its gradients."""

import math

import pytest
import torch

from memlab.ssm.mamba import Mamba
from memlab.ssm.scan import selective_scan_chunked, selective_scan_ref
from memlab.testing import check_sequence_memory


def _inputs(b=2, L=37, D=5, N=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)
    u, delta = r(b, L, D), torch.nn.functional.softplus(r(b, L, D) - 1)
    A = -torch.exp(r(D, N))
    return u, delta, A, r(b, L, N), r(b, L, N), r(D), r(b, D, N)


def test_scan_by_hand_one_channel():
    # h_1 = 0.5 x_1 B_1;  h_2 = exp(-0.25) h_1 + 0.25 x_2 B_2;  y_t = C_t h_t + D x_t
    u = torch.tensor([[[2.0], [-1.0]]], dtype=torch.float64)
    delta = torch.tensor([[[0.5], [0.25]]], dtype=torch.float64)
    A = torch.tensor([[-1.0]], dtype=torch.float64)
    B = torch.tensor([[[3.0], [4.0]]], dtype=torch.float64)
    C = torch.tensor([[[0.5], [2.0]]], dtype=torch.float64)
    D = torch.tensor([0.1], dtype=torch.float64)
    h1 = 0.5 * 2 * 3
    h2 = math.exp(-0.25) * h1 + 0.25 * -1 * 4
    expected = torch.tensor([0.5 * h1 + 0.2, 2 * h2 - 0.1], dtype=torch.float64)
    for scan in (selective_scan_ref, selective_scan_chunked):
        y, h = scan(u, delta, A, B, C, D)
        torch.testing.assert_close(y[0, :, 0], expected)
        assert float(h[0, 0, 0]) == pytest.approx(h2)


@pytest.mark.parametrize("inner", ["loop", "cumsum", "auto"])
@pytest.mark.parametrize("chunk", [None, 1, 3, 8, 37, 64])
def test_chunked_equals_loop(chunk, inner):
    u, delta, A, B, C, D, h0 = _inputs()
    y1, h1 = selective_scan_ref(u, delta, A, B, C, D, h0)
    y2, h2 = selective_scan_chunked(u, delta, A, B, C, D, h0, chunk=chunk, inner=inner)
    assert (y1 - y2).abs().max() < 1e-12 * y1.abs().max()
    assert (h1 - h2).abs().max() < 1e-12 * h1.abs().max()


def test_state_carried_across_calls():
    u, delta, A, B, C, D, h0 = _inputs(L=40)
    y, h = selective_scan_chunked(u, delta, A, B, C, D, h0)
    ya, ha = selective_scan_chunked(u[:, :17], delta[:, :17], A, B[:, :17], C[:, :17], D, h0)
    yb, hb = selective_scan_chunked(u[:, 17:], delta[:, 17:], A, B[:, 17:], C[:, 17:], D, ha)
    torch.testing.assert_close(torch.cat([ya, yb], 1), y)
    torch.testing.assert_close(hb, h)


def test_large_steps_do_not_overflow():
    # a step that forgets everything (Delta * |A| ~ 500) is handled without inf/nan
    u, delta, A, B, C, D, h0 = _inputs(L=50, dtype=torch.float32)
    delta[:, 20] = 50.0
    y1, _ = selective_scan_ref(u, delta, A * 10, B, C, D, h0)
    y2, _ = selective_scan_chunked(u, delta, A * 10, B, C, D, h0)
    assert torch.isfinite(y2).all()
    assert (y1 - y2).abs().max() < 1e-5 * y1.abs().max()


@pytest.mark.parametrize("inner", ["loop", "cumsum"])
def test_gradients_equal(inner):
    args = [t.clone().requires_grad_(True) for t in _inputs(L=23)]
    y1, h1 = selective_scan_ref(*args)
    g1 = torch.autograd.grad((y1 ** 2).sum() + h1.sum(), args)
    y2, h2 = selective_scan_chunked(*args, chunk=5, inner=inner)
    g2 = torch.autograd.grad((y2 ** 2).sum() + h2.sum(), args)
    for a, b in zip(g1, g2):
        assert (a - b).abs().max() < 1e-10 * a.abs().max()


@pytest.mark.parametrize("ssm", ["selective", "s4d"])
def test_block_three_equalities(ssm):
    torch.manual_seed(0)
    m = Mamba(8, d_state=4, ssm=ssm).double()
    x = torch.randn(2, 29, 8, dtype=torch.float64)
    check_sequence_memory(m, x, [5, 1, 9, 14], rtol=1e-10)


def test_block_ref_scan_equals_chunked():
    torch.manual_seed(0)
    m = Mamba(8, d_state=4).double()
    x = torch.randn(2, 30, 8, dtype=torch.float64)
    y1, _ = m(x)
    m.scan = "ref"
    y2, _ = m(x)
    torch.testing.assert_close(y1, y2)


def test_delta_is_input_dependent_and_positive():
    torch.manual_seed(0)
    m = Mamba(8, d_state=4)
    x = torch.randn(1, 12, 8)
    d = m.delta(x)
    assert d.shape == (1, 12, 16) and (d > 0).all()
    assert d.std(dim=1).mean() > 0          # changes along the sequence
    with pytest.raises(ValueError, match="selective"):
        Mamba(8, d_state=4, ssm="s4d").delta(x)


def test_state_size_same_for_both_ssms():
    a, b = Mamba(16, d_state=8), Mamba(16, d_state=8, ssm="s4d")
    assert a.state_size() == b.state_size() == 32 * 8 + 32 * 3


def test_bad_input():
    with pytest.raises(ValueError, match="ssm"):
        Mamba(8, ssm="lstm")
    with pytest.raises(ValueError, match="even d_state"):
        Mamba(8, d_state=5, ssm="s4d")
    u, delta, A, B, C, _, _ = _inputs()
    with pytest.raises(ValueError, match="delta must have"):
        selective_scan_ref(u, delta[:, :3], A, B, C)
    with pytest.raises(ValueError, match="B must be"):
        selective_scan_chunked(u, delta, A, B[:, :, :2], C)
    with pytest.raises(ValueError, match="inner"):
        selective_scan_chunked(u, delta, A, B, C, inner="fft")
    with pytest.raises(ValueError, match="chunk"):
        selective_scan_chunked(u, delta, A, B, C, chunk=0)
    with pytest.raises(ValueError, match="last dimension 8"):
        Mamba(8)(torch.randn(1, 3, 7))


# --------------------------------------------------------------------------- B discretisation
def test_zoh_B_by_hand_one_channel():
    # the paper's eq. 4 for scalar A: B_bar = (exp(Delta A) - 1) / A * B
    u = torch.tensor([[[2.0], [-1.0]]], dtype=torch.float64)
    delta = torch.tensor([[[0.5], [0.25]]], dtype=torch.float64)
    A = torch.tensor([[-2.0]], dtype=torch.float64)
    B = torch.tensor([[[3.0], [4.0]]], dtype=torch.float64)
    C = torch.tensor([[[0.5], [2.0]]], dtype=torch.float64)
    h1 = (1 - math.exp(-1.0)) / 2 * 3 * 2                     # (exp(-1) - 1) / -2 * B_1 x_1
    h2 = math.exp(-0.5) * h1 + (1 - math.exp(-0.5)) / 2 * 4 * -1
    h1_e = 0.5 * 3 * 2                                        # Euler: Delta B x
    h2_e = math.exp(-0.5) * h1_e + 0.25 * 4 * -1
    for scan in (selective_scan_ref, selective_scan_chunked):
        y, h = scan(u, delta, A, B, C, B_disc="zoh")
        assert torch.allclose(y[0, :, 0], torch.tensor([0.5 * h1, 2 * h2], dtype=torch.float64))
        assert abs(float(h) - h2) < 1e-12
        y, h = scan(u, delta, A, B, C, B_disc="euler")
        assert torch.allclose(y[0, :, 0], torch.tensor([0.5 * h1_e, 2 * h2_e], dtype=torch.float64))


@pytest.mark.parametrize("inner", ["loop", "cumsum"])
def test_zoh_chunked_equals_ref_with_carried_state(inner):
    u, delta, A, B, C, D, h0 = _inputs()
    y1, h1 = selective_scan_ref(u, delta, A, B, C, D, h0, B_disc="zoh")
    y2, h2 = selective_scan_chunked(u, delta, A, B, C, D, h0, chunk=6, inner=inner, B_disc="zoh")
    torch.testing.assert_close(y2, y1)
    torch.testing.assert_close(h2, h1)
    ye, _ = selective_scan_ref(u, delta, A, B, C, D, h0)
    assert (ye - y1).abs().max() > 1e-3                       # the two B_bar really differ


def test_zoh_and_euler_agree_for_small_delta():
    u, delta, A, B, C, _, _ = _inputs()
    # exp(z) - 1 = z + O(z^2): the relative difference shrinks like Delta A
    for scale, tol in ((1e-2, 5e-2), (1e-4, 5e-4)):
        ye, _ = selective_scan_ref(u, delta * scale, A, B, C)
        yz, _ = selective_scan_ref(u, delta * scale, A, B, C, B_disc="zoh")
        assert float((ye - yz).abs().max() / ye.abs().max()) < tol


def test_mamba_block_zoh_is_a_sequence_memory():
    torch.manual_seed(0)
    m = Mamba(8, d_state=4, B_disc="zoh").double()
    x = torch.randn(2, 13, 8, dtype=torch.float64)
    check_sequence_memory(m, x, [5, 8], rtol=1e-9)
    e = Mamba(8, d_state=4).double()
    e.load_state_dict(m.state_dict())
    assert (e(x)[0] - m(x)[0]).abs().max() > 1e-6


def test_bad_B_disc_is_rejected():
    u, delta, A, B, C, _, _ = _inputs()
    with pytest.raises(ValueError, match="B_disc='bilinear'"):
        selective_scan_ref(u, delta, A, B, C, B_disc="bilinear")
    with pytest.raises(ValueError, match="B_disc='bilinear'"):
        selective_scan_chunked(u, delta, A, B, C, B_disc="bilinear")
    with pytest.raises(ValueError, match="B_disc='bilinear'"):
        Mamba(8, B_disc="bilinear")
