"""HiPPO-LegS: matrices from the paper, online projection, discretisations, read-outs."""

import math

import pytest
import torch

from memlab.ssm.hippo import (
    discretize,
    legendre,
    legs_matrices,
    legs_online,
    legs_online_fast,
    lti_online,
    reconstruct_legs,
    reconstruct_lti,
)


def test_legs_matrices_by_hand():
    A, B = legs_matrices(3)
    s3, s5 = math.sqrt(3), math.sqrt(5)
    expected = torch.tensor([[-1.0, 0, 0], [-s3, -2, 0], [-s5, -s5 * s3, -3]], dtype=A.dtype)
    torch.testing.assert_close(A, expected)
    torch.testing.assert_close(B, torch.tensor([1.0, s3, s5], dtype=B.dtype))


def test_constant_is_the_fixed_point():
    # A e_0 = -B, so c = e_0 is the LegS fixed point for f = 1 (under both discretisations)
    A, B = legs_matrices(6)
    torch.testing.assert_close(A[:, 0], -B)
    for method in ("bilinear", "zoh"):
        c = legs_online(torch.full((40,), 2.5, dtype=torch.float64), 6, method)
        expected = torch.zeros(40, 6, dtype=torch.float64)
        expected[:, 0] = 2.5
        torch.testing.assert_close(c, expected, atol=1e-12, rtol=0)


def test_ramp_coefficients():
    # f(s) = s on [0, t]  ->  c_0 = t/2, c_1 sqrt(3) = t/2, higher coefficients 0
    T = 400
    c = legs_online(torch.arange(T, dtype=torch.float64) + 0.5, 4, "zoh")[-1]
    torch.testing.assert_close(c[:2], torch.tensor([T / 2, T / (2 * math.sqrt(3))],
                                                   dtype=torch.float64), rtol=1e-3, atol=0)
    assert c[2:].abs().max() < 1e-2 * T


def test_discretize_bilinear_scalar_by_hand():
    A = torch.tensor([[-2.0]], dtype=torch.float64)
    B = torch.tensor([3.0], dtype=torch.float64)
    A_bar, B_bar = discretize(A, B, 0.5, "bilinear")
    assert float(A_bar) == pytest.approx((1 - 0.5) / (1 + 0.5))
    assert float(B_bar) == pytest.approx(0.5 * 3 / (1 + 0.5))
    A_bar, B_bar = discretize(A, B, 0.5, "zoh")
    assert float(A_bar) == pytest.approx(math.exp(-1.0))
    assert float(B_bar) == pytest.approx((math.exp(-1.0) - 1) / -2 * 3)


def test_bilinear_and_zoh_agree_for_small_steps():
    A, B = legs_matrices(8)
    a1, b1 = discretize(A, B, 1e-3, "bilinear")
    a2, b2 = discretize(A, B, 1e-3, "zoh")
    assert (a1 - a2).abs().max() < 1e-5 * a1.abs().max()
    assert (b1 - b2).abs().max() < 1e-3 * b1.abs().max()


def test_legendre_values():
    x = torch.tensor([0.3], dtype=torch.float64)
    P = legendre(4, x)[0]
    torch.testing.assert_close(P, torch.tensor([1, 0.3, (3 * 0.09 - 1) / 2,
                                                (5 * 0.027 - 3 * 0.3) / 2], dtype=torch.float64))


@pytest.mark.parametrize("method", ["bilinear", "zoh"])
def test_fast_equals_loop(method):
    u = torch.randn(3, 57, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    c_loop = legs_online(u, 10, method)[:, -1]
    c_fast = legs_online_fast(u, 10, method)
    assert (c_loop - c_fast).abs().max() < 1e-12 * c_loop.abs().max()


def test_polynomial_history_is_reconstructed():
    T = 300
    s = (torch.arange(T, dtype=torch.float64) + 0.5) / T
    u = 1 - 3 * s + 2 * s ** 3
    r = reconstruct_legs(legs_online(u, 8, "zoh")[-1], T)
    assert float((r - u).abs().max()) < 1e-3


def test_lti_reads_back_the_recent_past():
    T, dt = 600, 0.05
    t = torch.arange(T, dtype=torch.float64)
    u = torch.sin(2 * math.pi * t / 97) + 0.3 * torch.cos(2 * math.pi * t / 41)
    x = lti_online(u, 32, dt)[-1]
    r = reconstruct_lti(x, 40, dt)
    truth = u.flip(0)[:40]
    assert float((r - truth).pow(2).mean() / truth.pow(2).mean()) < 1e-3


def test_bad_input():
    with pytest.raises(ValueError, match="N"):
        legs_matrices(0)
    with pytest.raises(ValueError, match="method"):
        legs_online(torch.ones(5), 4, "euler")
    with pytest.raises(ValueError, match="dt"):
        discretize(*legs_matrices(3), -1.0)
    with pytest.raises(ValueError, match="u must be"):
        legs_online(torch.ones(2, 3, 4), 4)
    with pytest.raises(TypeError, match="u must be"):
        legs_online([1.0, 2.0], 4)
