"""B'MOJO-style hybrid: equalities, the store keeps the most innovative tokens, exact recall."""

import pytest
import torch

from memlab.ssm.bmojo import BMojo
from memlab.testing import check_sequence_memory


@pytest.mark.parametrize("window,capacity", [(4, 3), (1, 2), (3, 0), (2, 8)])
def test_three_equalities(window, capacity):
    torch.manual_seed(0)
    m = BMojo(6, window=window, capacity=capacity).double()
    x = torch.randn(2, 23, 6, dtype=torch.float64)
    check_sequence_memory(m, x, [7, 1, 2, 13], rtol=1e-9)


def test_store_keeps_the_surprising_tokens():
    # a constant stream with three spikes: the spikes are the innovations the store keeps
    torch.manual_seed(0)
    m = BMojo(4, window=2, capacity=3).double()
    x = torch.ones(1, 40, 4, dtype=torch.float64)
    spikes = [5, 17, 30]
    for i, p in enumerate(spikes):
        x[0, p] = torch.tensor([4.0, -3.0, 2.0, 5.0], dtype=torch.float64) * (i + 1)
    _, st = m(x)
    keys = m.k(x[0, spikes])
    assert (st.store_score >= 0).all()
    for k in keys:     # every spike's key sits in the store, exactly
        assert (st.store_k[0] - k).abs().sum(-1).min() < 1e-12


def test_state_size_counts_everything():
    m = BMojo(8, window=4, capacity=5)
    assert m.state_size() == m.fading.state_size() + 8 + (3 + 5) * (2 * 8 + 1)


def test_bad_input():
    with pytest.raises(ValueError, match="window"):
        BMojo(4, window=0)
    with pytest.raises(ValueError, match="rho"):
        BMojo(4, rho=1.5)
    with pytest.raises(ValueError, match="last dimension 4"):
        BMojo(4)(torch.randn(1, 3, 5))
