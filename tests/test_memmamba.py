"""MemMamba: the attribution probe, the note pool, step == chunked forward, bad inputs."""

import pytest
import torch

from memlab.ssm import memmamba as MM
from memlab.testing import check_sequence_memory


def _model(**kw):
    torch.manual_seed(0)
    return MM.MemMamba(8, 4, pool_size=3, **kw).double()


@pytest.mark.parametrize("policy", ["priority", "fifo"])
def test_sequence_memory_equalities(policy):
    m = _model(policy=policy)
    with torch.no_grad():
        m.score.bias.fill_(0.5)              # about half the tokens salient: the pool overflows
    x = torch.randn(2, 17, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    errs = check_sequence_memory(m, x, chunks=[5, 1, 11], rtol=1e-10)
    assert max(errs.values()) < 1e-10, errs


def test_notes_off_is_plain_mamba():
    m = _model(notes=False)
    x = torch.randn(2, 9, 8, dtype=torch.float64)
    y, _ = m(x)
    y0, _ = m.mamba(x)
    assert torch.equal(y, y0)
    assert m.state_size() == m.mamba.state_size() + 3 * (2 * 8 + 1) + 1


def test_insert_note_priority_by_hand():
    slots, prio = (torch.zeros(1, 2, 1),), torch.full((1, 2), float("-inf"))
    for p, w in ((0.9, True), (0.6, True), (0.99, False), (0.8, True), (0.7, True)):
        slots, prio = MM.insert_note(slots, prio, (torch.tensor([[p]]),), torch.tensor([p]),
                                     torch.tensor([w]))
    # 0.99 was not salient (write False); 0.8 replaced 0.6; 0.7 < 0.8 is dropped
    assert sorted(prio[0].tolist()) == pytest.approx([0.8, 0.9])
    assert sorted(slots[0][0, :, 0].tolist()) == pytest.approx([0.8, 0.9])


def test_read_notes_by_hand():
    q = torch.tensor([[1.0, 0.0]])
    keys = torch.tensor([[[2.0, 0.0], [0.0, 0.0], [5.0, 5.0]]])
    values = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]])
    prio = torch.tensor([[0.5, 0.4, float("-inf")]])            # slot 2 empty: ignored
    w0 = torch.softmax(torch.tensor([2.0, 0.0]) / 2 ** 0.5, 0)
    got = MM.read_notes(q, keys, values, prio)
    assert torch.allclose(got, torch.stack([w0[0], w0[1]])[None], atol=1e-7)
    empty = MM.read_notes(q, keys, values, torch.full((1, 3), float("-inf")))
    assert torch.equal(empty, torch.zeros(1, 2))


def test_attribution_by_hand_on_a_decaying_sum():
    # y_t = sum_{s<=t} 0.5^(t-s) x_s (every channel): || dy_T / dx_s || = 0.5^(T-s) sqrt(d)
    def mixer(x):
        T = x.shape[1]
        t = torch.arange(T, dtype=x.dtype)
        K = torch.tril(0.5 ** (t[:, None] - t[None, :]).clamp(min=0))
        return torch.einsum("ts,bsd->btd", K, x), None
    a = MM.attribution(mixer, torch.randn(2, 5, 3, dtype=torch.float64))
    want = torch.tensor([0.5 ** (4 - s) for s in range(5)], dtype=torch.float64) * 3 ** 0.5
    assert torch.allclose(a, want.expand(2, 5), rtol=1e-12)


def test_attribution_decays_with_distance():
    out = MM.attribution_ratio(T=300, batch=2, seed=1)
    assert out["ratio"] < 0.1
    prof = out["profile"]
    assert prof[200] < prof[50] < prof[10]


def test_bad_inputs():
    with pytest.raises(ValueError, match="pool_size"):
        MM.MemMamba(8, pool_size=0)
    with pytest.raises(ValueError, match="tau"):
        MM.MemMamba(8, tau=1.0)
    with pytest.raises(ValueError, match="policy"):
        MM.MemMamba(8, policy="lru")
    with pytest.raises(ValueError, match="x"):
        _model()(torch.zeros(1, 3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="distance"):
        MM.passkey_batch(4, 0, 8)
    with pytest.raises(ValueError, match="p_rare"):
        MM.passkey_batch(4, 8, 8, p_rare=1.5)
    with pytest.raises(ValueError, match="near"):
        MM.attribution_ratio(T=100, near=50, far=20)
