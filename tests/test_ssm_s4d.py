"""S4D: convolution kernel == recurrence, hand-computed tiny case, state carried across chunks."""

import math

import pytest
import torch

from memlab.ssm.s4d import S4D, fft_conv
from memlab.testing import check_sequence_memory


def _s4d(**kw):
    torch.manual_seed(0)
    return S4D(**{"d_model": 3, "d_state": 8, **kw}).double()


@pytest.mark.parametrize("disc", ["zoh", "bilinear"])
@pytest.mark.parametrize("init", ["lin", "inv"])
def test_three_equalities(disc, init):
    m = _s4d(discretization=disc, init=init)
    x = torch.randn(2, 40, 3, dtype=torch.float64)
    check_sequence_memory(m, x, [13, 1, 26], rtol=1e-10)


def test_kernel_by_hand_one_mode():
    m = S4D(1, 2).double()
    with torch.no_grad():
        m.log_neg_A_re.fill_(math.log(0.5))
        m.A_im.fill_(1.0)
        m.log_dt.fill_(math.log(0.1))
        m.C.copy_(torch.tensor([[[0.3, -0.2]]], dtype=torch.float64))
    A = complex(-0.5, 1.0)
    A_bar = complex(math.e ** (0.1 * A.real)) * complex(math.cos(0.1), math.sin(0.1))
    B_bar = (A_bar - 1) / A
    C = complex(0.3, -0.2)
    K = m.kernel(4)[0].detach()
    for l in range(4):
        assert float(K[l]) == pytest.approx(2 * (C * B_bar * A_bar ** l).real, rel=1e-12)


def test_fft_conv_is_causal_conv():
    g = torch.Generator().manual_seed(1)
    u = torch.randn(2, 3, 17, dtype=torch.float64, generator=g)
    K = torch.randn(3, 17, dtype=torch.float64, generator=g)
    direct = torch.zeros_like(u)
    for t in range(17):
        for l in range(t + 1):
            direct[..., t] += K[:, l] * u[..., t - l]
    torch.testing.assert_close(fft_conv(u, K), direct)


def test_float32_conv_close_to_recurrence():
    torch.manual_seed(0)
    m = S4D(4, 16)
    x = torch.randn(2, 128, 4)
    check_sequence_memory(m, x, [64, 64], rtol=1e-4)


def test_gradients_flow_to_all_parameters():
    m = _s4d()
    y, _ = m(torch.randn(2, 10, 3, dtype=torch.float64))
    y.pow(2).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_state_size_and_shapes():
    m = S4D(5, 6)
    assert m.state_size() == 30
    assert m.init_state(2).shape == (2, 5, 3) and m.init_state(2).is_complex()


def test_bad_input():
    with pytest.raises(ValueError, match="even d_state"):
        S4D(4, 5)
    with pytest.raises(ValueError, match="dt_min"):
        S4D(4, 4, dt_min=0.5, dt_max=0.1)
    with pytest.raises(ValueError, match="init"):
        S4D(4, 4, init="random")
    with pytest.raises(ValueError, match="last dimension 4"):
        S4D(4, 4)(torch.randn(1, 3, 5))
