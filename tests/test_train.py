"""TinyLM, the trainer and the accuracy helpers (memlab.train)."""

import doctest

import pytest
import torch

import memlab.train
from memlab.attention import CausalSelfAttention
from memlab.tasks import mqar, needle
from memlab.train import LMState, TinyLM, accuracy, correct, lr_at, train


def attn(d):
    return CausalSelfAttention(d, n_heads=2)


def test_docstring_example_plugs_a_new_mixer():
    res = doctest.testmod(memlab.train, verbose=False)
    assert res.attempted >= 5 and res.failed == 0


def test_shapes_and_bad_input():
    m = TinyLM(20, 16, attn, n_layers=2, max_len=12)
    x = torch.randint(0, 20, (3, 12))
    assert m(x).shape == (3, 12, 20)
    with pytest.raises(ValueError, match="max_len"):
        m(torch.randint(0, 20, (1, 13)))
    with pytest.raises(ValueError, match="integer tensor"):
        m(torch.randn(2, 5))
    with pytest.raises(ValueError, match="mixer factories"):
        TinyLM(20, 16, [attn], n_layers=2)
    with pytest.raises(TypeError, match="callable"):
        TinyLM(20, 16, "attention")
    with pytest.raises(ValueError, match="d_model"):
        TinyLM(20, 0, attn)


def test_per_layer_mixers_and_no_mlp():
    m = TinyLM(10, 8, [attn, lambda d: CausalSelfAttention(d, n_heads=4)], n_layers=2,
               mlp_ratio=0)
    assert [b.mixer.n_heads for b in m.blocks] == [2, 4]
    assert m.blocks[0].mlp is None


@pytest.mark.parametrize("token_shift", [False, True])
def test_stateful_decoding_equals_whole_sequence(token_shift):
    torch.manual_seed(0)
    m = TinyLM(16, 16, attn, n_layers=2, max_len=20, token_shift=token_shift).double().eval()
    x = torch.randint(0, 16, (2, 20))
    with torch.no_grad():
        whole = m(x)
        a, st = m(x[:, :7], return_states=True)
        b, st = m(x[:, 7:8], st, return_states=True)
        c, st = m(x[:, 8:], st, return_states=True)
    assert isinstance(st, LMState) and st.seen == 20
    torch.testing.assert_close(torch.cat([a, b, c], 1), whole, rtol=1e-10, atol=1e-10)
    with pytest.raises(TypeError, match="LMState"):
        m(x, [None, None])


def test_token_shift_sees_previous_token():
    torch.manual_seed(0)
    m = TinyLM(8, 8, attn, n_layers=1, token_shift=True).eval()
    x = torch.tensor([[1, 2, 3]])
    y = torch.tensor([[1, 5, 3]])
    with torch.no_grad():
        # changing token 1 changes the output at position 2 even without attention's help
        m.blocks[0].mixer.W_o.weight.zero_()
        assert not torch.allclose(m(x)[0, 2], m(y)[0, 2])
        assert torch.allclose(m(x)[0, 0], m(y)[0, 0])


def test_lr_schedule():
    assert lr_at(0, 100, 1.0, 10) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(99, 100, 1.0, 10) == pytest.approx(0.1, abs=0.01)
    assert lr_at(55, 100, 1.0, 10) < lr_at(20, 100, 1.0, 10)


def test_training_learns_a_needle_and_is_seeded():
    data, test = needle(2000, 16, 0.3, 16, seed=0), needle(300, 16, 0.3, 16, seed=1)

    def run():
        torch.manual_seed(0)
        m = TinyLM(16, 32, attn, n_layers=1, max_len=16)
        return m, train(m, data, steps=150, batch_size=64, lr=3e-3, progress=False)

    m, res = run()
    _, res2 = run()
    assert res.losses == res2.losses, "one seed, one loss curve"
    assert res.final_loss < 0.5 * res.losses[0]
    assert accuracy(m, test) > 0.9
    assert res.wall_s > 0 and res.steps == 150


def test_accuracy_counts_only_answers():
    data = mqar(40, 16, 2, 16, seed=0)
    m = TinyLM(16, 8, attn, n_layers=1)
    hits, mask = correct(m, data, batch_size=7)
    assert hits.shape == mask.shape == data.targets.shape
    assert not (hits & ~mask).any()
    assert accuracy(m, data) == pytest.approx(float(hits.sum()) / float(mask.sum()))


def test_train_rejects_bad_arguments():
    m = TinyLM(16, 8, attn, n_layers=1)
    data = mqar(10, 16, 2, 16)
    with pytest.raises(ValueError, match="steps"):
        train(m, data, steps=0)
    with pytest.raises(TypeError, match="TaskBatch"):
        train(m, (data.inputs, data.targets))
