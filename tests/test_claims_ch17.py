"""Chapter 17's claims at test size, through the notebook's experiment functions, over seeds."""

import pytest

from memlab.chapters import get_chapter
from memlab.parametric import experiments as E

CLAIMS = get_chapter("17").claims
SMALL = {"n_facts": 1000, "d_k": 512, "save_freq": 5, "merge_freq": 10}


@pytest.mark.parametrize("seed", [0, 1])
def test_the_triangle_after_sequential_edits(seed):
    c = E.edit_claims(seed=seed, n_edits=200, **SMALL)
    for name in ("wise_triangle", "wise_gap_over_best_baseline", "ft_locality",
                 "codebook_generalisation"):
        assert CLAIMS[name].check(c[name]), (name, c[name])


def test_routing_threshold_zero_breaks_locality():
    assert CLAIMS["eps0_locality"].check(E.eps0_locality(seed=0, n_edits=60, **SMALL))


def test_the_parameters_model():
    from memlab.params import ParameterError

    P = get_chapter("17").Params
    assert P.build(P.FULL).n_edits == 1000
    with pytest.raises(ParameterError, match="n_facts / 2"):
        P.build({"n_edits": 1500})
    with pytest.raises(ParameterError, match="multiple"):
        P.build({"save_freq": 3, "merge_freq": 10})


@pytest.mark.parametrize("seed", [1])
def test_reweighted_unlearning_forgets_with_bounded_damage(seed):
    c = __import__("memlab.parametric.unlearning", fromlist=["x"]).unlearning_claims(seed=seed)
    for name in ("reweighted_forget_recall", "reweighted_retain_drop", "ga_extra_retain_damage"):
        assert CLAIMS[name].check(c[name]), (name, c[name])
    assert c["results"]["before"]["forget_recall"] == 1.0


def test_weights_not_detached_do_not_unlearn():
    from memlab.parametric.unlearning import nodetach_forget_recall

    assert CLAIMS["nodetach_forget_recall"].check(nodetach_forget_recall(seed=1))


@pytest.mark.parametrize("seed", [1])
def test_recall_needs_repetition_and_fades_before_recognition(seed):
    from memlab.parametric.exposure import exposure_claims

    c = exposure_claims(seed=seed)
    for name in ("recognition_10x", "recall_gain_1_to_10", "retention_gap"):
        assert CLAIMS[name].check(c[name]), (name, c[name])
