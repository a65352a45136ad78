"""Chapter 05's parameters: cross-field checks name the parameters; experiments take a device."""

import pytest
import torch

from memlab.chapters import get_chapter
from memlab.params import ParameterError
from memlab.ssm import experiments as X

Params = get_chapter("05").Params


def test_defaults_and_full_profile_are_valid():
    Params.build({})
    Params.build(Params.FULL)


def test_odd_d_state_is_rejected_with_its_name():
    with pytest.raises(ParameterError, match=r"d_state=7 must be even"):
        Params.build({"d_state": 7})
    Params.build({"d_state": 6})


def test_probe_tokens_above_d_state_are_rejected():
    with pytest.raises(ParameterError, match=r"probe_n_tokens=10 must be at most d_state=8"):
        Params.build({"probe_n_tokens": 10})
    Params.build({"probe_n_tokens": 8})
    with pytest.raises(ParameterError, match=r"probe_n_tokens=12.*d_state=10"):
        Params.build({"probe_n_tokens": 12, "d_state": 10})


def test_copy_tokens_must_fit_the_sequence():
    with pytest.raises(ParameterError, match=r"copy_n_tokens=20.*copy_seq_len >= 40"):
        Params.build({"copy_n_tokens": 20})
    with pytest.raises(ParameterError, match=r"probe_n_tokens=8.*probe_seq_len >= 16"):
        Params.build({"probe_n_tokens": 8, "probe_seq_len": 12})


def test_experiments_take_a_device_and_give_the_same_numbers():
    a = X.hippo_vs_ema(N=8, T=100, n_train=64, n_test=16, seed=0)
    b = X.hippo_vs_ema(N=8, T=100, n_train=64, n_test=16, seed=0, device=torch.device("cpu"))
    assert a["ratio"] == b["ratio"]
    assert X.s4d_conv_vs_recurrence(T=64, device="cpu") < 1e-9
    r = X.selection_probe(seq_len=20, n_tokens=3, vocab_size=6, N=4, n_train=200, n_test=50,
                          device="cpu")
    assert r["selective"] > r["lti"]
    with pytest.raises((RuntimeError, ValueError)):
        X.hippo_vs_ema(N=8, T=100, n_train=64, n_test=16, device="not-a-device")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_experiments_run_on_cuda():
    a = X.hippo_vs_ema(N=8, T=100, n_train=64, n_test=16, seed=0)
    b = X.hippo_vs_ema(N=8, T=100, n_train=64, n_test=16, seed=0, device="cuda")
    assert abs(a["ratio"] - b["ratio"]) / a["ratio"] < 1e-6
    assert X.s4d_conv_vs_recurrence(T=64, device="cuda") < 1e-9
    r = X.selection_probe(seq_len=20, n_tokens=3, vocab_size=6, N=4, n_train=200, n_test=50,
                          device="cuda")
    assert r["selective"] > r["lti"]


def test_oracle_delta_and_delta_by_kind():
    from memlab.ssm.mamba import Mamba
    from memlab.tasks import selective_copying
    from memlab.train import TinyLM

    x = torch.tensor([[0, 3, 0, 2, 1, 1]])
    assert X.oracle_delta(x, 0.5).tolist() == [[0.0, 0.5, 0.0, 0.5, 0.0, 0.0]]
    torch.manual_seed(0)
    model = TinyLM(8, 16, mixer=lambda d: Mamba(d, d_state=4), n_layers=1)
    batch = selective_copying(6, 24, 3, 8, seed=0)
    r = X.delta_by_kind(model, batch.inputs)
    d = X.delta_profile(model, batch.inputs)
    assert r["data"] == pytest.approx(float(d[batch.inputs >= 2].mean()))
    assert r["noise"] == pytest.approx(float(d[batch.inputs == 0].mean()))
    assert r["ratio"] == pytest.approx(r["data"] / r["noise"])
    with pytest.raises(ValueError, match="noise tokens"):
        X.delta_by_kind(model, torch.full((1, 8), 3))
