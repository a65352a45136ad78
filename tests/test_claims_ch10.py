"""Chapter 10's claims at small size, through the notebook's experiment functions."""

import pytest

from memlab.chapters import get_chapter
from memlab.episodic import experiments as E

CLAIMS = get_chapter("10").claims


@pytest.mark.parametrize("seed", [0, 1])
def test_sort_claims(seed):
    acc = E.sort_accuracy(E.sort_data(seed=seed)[1], seed=seed)
    assert CLAIMS["sort_in_context"].check(acc["in_context"]["accuracy"]), acc
    assert CLAIMS["sort_order_blind"].check(acc["order_blind"]["accuracy"]), acc
    assert CLAIMS["sort_with_indices"].check(acc["with_indices"]["accuracy"]), acc
    assert CLAIMS["sort_shuffled_in_context"].check(acc["shuffled_in_context"]["accuracy"]), acc
    # the shuffled control would fail the in-context claim
    assert not CLAIMS["sort_in_context"].check(acc["shuffled_in_context"]["accuracy"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_boundary_claims(seed):
    assert CLAIMS["boundary_f1_margin"].check(E.boundary_experiment(seed=seed)["margin"])
    one = E.boundary_experiment(seed=seed, single_topic=True)["margin"]
    assert CLAIMS["single_topic_f1_margin"].check(one)
    assert not CLAIMS["boundary_f1_margin"].check(one)


@pytest.mark.parametrize("seed", [0, 1])
def test_hcam_claims(seed):
    r = E.hcam_experiment(seed=seed)
    assert CLAIMS["hcam_accuracy"].check(r["hcam"][0]), r
    assert CLAIMS["hcam_minus_flat"].check(r["hcam"][0] - r["flat"][0]), r
    assert CLAIMS["hcam_score_fraction"].check(r["hcam"][1] / r["flat"][1])
    assert CLAIMS["summary_only_accuracy"].check(r["summary_only"][0]), r
    assert CLAIMS["first_token_hcam_accuracy"].check(r["hcam_first_token"][0]), r
    assert not CLAIMS["hcam_accuracy"].check(r["hcam_first_token"][0])
