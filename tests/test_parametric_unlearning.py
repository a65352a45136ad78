"""Unlearning: the SatImp weights by hand, detached, and clear errors."""

import pytest
import torch

from memlab.parametric import unlearning as U


def test_weights_by_hand_and_detached():
    p = torch.tensor([0.5, 0.9], requires_grad=True)
    assert torch.allclose(U.weights(p, "simsat"), torch.tensor([0.5 ** 5, 0.9 ** 5]))
    assert torch.allclose(U.weights(p, "simimp"), torch.tensor([0.5 ** 5, 0.1 ** 5]))
    assert torch.allclose(U.weights(p, "satimp", beta1=1.0, beta2=1.0), torch.tensor([0.25, 0.09]))
    assert torch.equal(U.weights(p, "ga"), torch.ones(2))
    assert not U.weights(p, "simsat").requires_grad           # detached: a constant per token
    assert U.weights(p, "simsat", detach=False).requires_grad  # the negative control
    with pytest.raises(ValueError, match="method"):
        U.weights(p, "npo")


def test_world_and_errors():
    W = U.make_world(n_persons=20, n_attrs=2, seed=0)
    assert W["x_f"].shape[0] == 4 and W["x_r"].shape[0] == 36     # 2 of 20 persons forgotten
    assert torch.equal(W["x_f"].sum(1), torch.full((4,), 2.0))     # person + attribute one-hot
    with pytest.raises(ValueError, match="forget_frac"):
        U.make_world(forget_frac=0.0)
