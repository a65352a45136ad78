"""Chapter 02's claims at small size, through the same experiment functions as the notebook."""

import pytest
import torch

from memlab.chapters import get_chapter
from memlab.slots import analytic as A
from memlab.slots import experiments as E

CLAIMS = get_chapter("02").claims
P = get_chapter("02").Params()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_task1_solved_and_the_temporal_controls_fail_it():
    data = E.make_data(1, 1000, 500, seed=0)
    kw = {"hops": P.hops, "epochs": P.task1_epochs, "ls_epochs": P.task1_ls_epochs, "seed": 0}
    run = E.train_memn2n(data, **kw)
    assert CLAIMS["task1_accuracy"].check(run["acc"]), run["acc"]
    shuffled = E.evaluate(run["model"], E.shuffle_memory(data["test"], seed=0))["acc"]
    assert CLAIMS["task1_shuffled_acc"].check(shuffled), shuffled
    no_te = E.train_memn2n(data, temporal=False, **kw)
    assert CLAIMS["task1_no_temporal_acc"].check(no_te["acc"]), no_te["acc"]
    # without temporal encoding the memory is a set: shuffling changes nothing
    shuffled_no_te = E.evaluate(no_te["model"], E.shuffle_memory(data["test"], seed=0))["acc"]
    assert abs(shuffled_no_te - no_te["acc"]) <= 0.002     # (up to float rounding of the sums)
    # and the claims can fail: the controls do not meet the main claim
    assert not CLAIMS["task1_accuracy"].check(no_te["acc"])


@pytest.mark.slow
def test_task2_three_hops_beat_one_and_look_at_the_supporting_facts():
    data = E.make_data(2, 1000, 500, seed=0)
    assert CLAIMS["task2_shortcut_acc"].check(data["shortcut"]), data["shortcut"]
    kw = {"epochs": P.task2_epochs, "ls_epochs": P.task2_ls_epochs, "seed": 0}
    three, one = E.train_memn2n(data, hops=3, **kw), E.train_memn2n(data, hops=1, **kw)
    assert CLAIMS["task2_hop_gain"].check(three["acc"] - one["acc"]), (three["acc"], one["acc"])
    hits = E.support_hit_rate(data["test"], three["eval"])
    assert CLAIMS["task2_attention_on_support"].check(hits["covered"]), hits
    # one hop cannot look at both facts
    assert not CLAIMS["task2_attention_on_support"].check(
        E.support_hit_rate(data["test"], one["eval"])["covered"])


@pytest.mark.parametrize("seed", [0, 1])
def test_ntm_and_lm2_claims(seed):
    assert CLAIMS["ntm_recall"].check(A.ntm_recall(32, 32, seed=seed)["recalled"])
    rw = A.ntm_rewrite(16, seed=seed)
    assert CLAIMS["ntm_rewrite_erase"].check(rw["e1_vs_new"])
    assert CLAIMS["ntm_rewrite_add"].check(rw["e0_vs_sum"])
    assert CLAIMS["ntm_equals_outer_product"].check(A.ntm_vs_outer_product(seed=seed))
    assert CLAIMS["lm2_gate_algebra"].check(max(A.lm2_gate_algebra(seed=seed).values()))


def test_ntm_recall_fails_when_the_keys_cannot_be_told_apart():
    # the claim can fail: a soft key strength blurs the read over every slot
    assert not CLAIMS["ntm_recall"].check(A.ntm_recall(32, 32, beta=2.0, seed=0)["recalled"])


def test_parameters_full_profile_and_bad_values():
    from memlab.params import ParameterError

    Params = get_chapter("02").Params
    full = Params.build(Params.FULL)
    assert full.n_train > P.n_train and full.n_seeds > P.n_seeds
    with pytest.raises(ParameterError, match="task1_ls_epochs"):
        Params.build({"task1_ls_epochs": 30})
    with pytest.raises(ParameterError, match="pe"):
        Params.build({"pe": "sinusoid"})


@pytest.mark.slow
def test_paper_and_code_position_encodings_train_to_the_same_task1_accuracy():
    data = E.make_data(1, 1000, 500, seed=0)
    kw = {"hops": P.hops, "epochs": P.task1_epochs, "ls_epochs": P.task1_ls_epochs, "seed": 1}
    paper, code = E.train_memn2n(data, pe="paper", **kw), E.train_memn2n(data, pe="code", **kw)
    assert CLAIMS["task1_accuracy"].check(paper["acc"]) and CLAIMS["task1_accuracy"].check(code["acc"])
    assert abs(paper["acc"] - code["acc"]) < 0.03, (paper["acc"], code["acc"])
