"""Chapter 16's claims at test size, through the notebook's experiment functions, over seeds."""

import pytest

from memlab.chapters import get_chapter
from memlab.continual import experiments as E

CLAIMS = get_chapter("16").claims


@pytest.mark.parametrize("seed", [0, 1])
def test_naive_forgets_replay_keeps_ewc_fails_class_il(seed):
    t = E.scenario_table(seed=seed)
    assert CLAIMS["naive_cil_acc"].check(t["naive_class"]["acc"]), t["naive_class"]
    assert CLAIMS["er50_cil_acc"].check(t["er_class"]["acc"]), t["er_class"]
    assert CLAIMS["ewc_cil_acc"].check(t["ewc_class"]["acc"]), t["ewc_class"]
    assert CLAIMS["ewc_til_acc"].check(t["ewc_task"]["acc"]), t["ewc_task"]
    assert t["joint_class"]["acc"] > t["er_class"]["acc"]        # replay is below the bound


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3])
def test_buffer_gain_and_permuted_ewc_over_more_seeds(seed):
    assert CLAIMS["er_buffer_gain"].check(E.buffer_gain(seed)), seed
    assert CLAIMS["ewc_permuted_forgetting_reduction"].check(
        E.permuted_ewc(seed)["forgetting_reduction"]), seed


def test_permuted_ewc_and_reservoir_claims():
    assert CLAIMS["ewc_permuted_forgetting_reduction"].check(E.permuted_ewc(1)["forgetting_reduction"])
    assert CLAIMS["reservoir_inclusion_p"].check(E.reservoir_inclusion(seed=1)["p_value"])


def test_the_parameters_model():
    from memlab.params import ParameterError

    P = get_chapter("16").Params
    assert P.build(P.FULL).n_seeds == 10
    with pytest.raises(ParameterError, match="must contain 50"):
        P.build({"buffer_sizes": [0, 10, 20]})
    with pytest.raises(ParameterError, match="increasing"):
        P.build({"buffer_sizes": [50, 10]})
