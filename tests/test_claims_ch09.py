"""Chapter 09's claims at small size, through the same experiment functions as the notebook."""

import pytest

from memlab.chapters import get_chapter
from memlab.segment import experiments as E

CH = get_chapter("09")
CLAIMS = CH.claims


def test_rmt_answers_at_trained_length_and_2x_where_segment_local_and_reset_are_at_chance():
    # the notebook's default curriculum (1 -> 2 -> 4 segments), one seed, smaller test sets
    res = E.rmt_experiment(lengths=(4, 8), stages=(1, 2, 4), steps_per_stage=120, n_test=100,
                           controls=True, seed=0)
    acc, chance = res["accuracy"], res["chance"]
    assert CLAIMS["rmt_acc_trained"].check(acc["rmt"][4]), acc
    assert CLAIMS["rmt_acc_2x"].check(acc["rmt"][8]), acc
    assert CLAIMS["segment_local_above_chance"].check(max(acc["segment_local"].values()) - chance), acc
    assert CLAIMS["reset_above_chance"].check(max(acc["reset_every_segment"].values()) - chance), acc
    assert CLAIMS["k2_0_gap"].check(acc["rmt"][4] - acc["k2_0"][4]), acc
    # and the claim can fail: the reset control is far below the RMT
    assert not CLAIMS["rmt_acc_trained"].check(acc["reset_every_segment"][4])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ahn_recovers_evicted_pairs_window_alone_at_chance_and_capacity(seed):
    r = E.ahn_recall(16, d=64, window=64, T=512, seed=seed)
    assert CLAIMS["ahn_evicted_recall"].check(r["ahn"]), r
    assert CLAIMS["window_evicted_above_chance"].check(r["window"] - r["chance"]), r
    assert r["full"] == 1.0 and abs(r["cache_fraction"] - 0.1875) < 1e-12
    past = E.ahn_recall(128, d=64, window=64, T=512, seed=seed)["ahn"]
    assert CLAIMS["ahn_capacity_drop"].check(r["ahn"] - past), (r, past)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ahn_linear_attention_control_fails_on_rewritten_keys(seed):
    delta = E.ahn_recall(16, d=64, window=64, T=512, rule="delta", rewrite=True, seed=seed)["ahn"]
    linear = E.ahn_recall(16, d=64, window=64, T=512, rule="linear", rewrite=True, seed=seed)["ahn"]
    assert CLAIMS["ahn_delta_rewrite_acc"].check(delta), delta
    assert CLAIMS["ahn_linear_rewrite_acc"].check(linear), linear
    assert not CLAIMS["ahn_delta_rewrite_acc"].check(linear)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_untrained_hmt_recalls_the_same_topic_above_chance(seed):
    r = E.hmt_topic_recall(seed=seed)
    assert CLAIMS["hmt_recall_above_chance"].check(r["hmt_top1_same_topic"] - r["chance"]), r


def test_parameters_validate_and_full_profile_builds():
    from memlab.params import ParameterError

    P = CH.Params
    full = P.build(P.FULL)
    assert full.curriculum[-1] == 16 and full.n_people == 6
    with pytest.raises(ParameterError, match="curriculum"):
        P.build({"curriculum": [4, 2]})
    with pytest.raises(ParameterError, match="ahn_T"):
        P.build({"ahn_pairs": 64})
    with pytest.raises(ParameterError, match="segment_size"):
        P.build({"segment_size": 4})


def test_reweave_recall_and_its_controls():
    from memlab.chapters import get_chapter
    from memlab.segment.reweave import rare_token_recall

    claims = get_chapter("09").claims
    for seed in (0, 1, 2):
        out = rare_token_recall(distances=(2, 64, 192), seed=seed)
        rw, l0, win = out["reweave"], out["layer0"], out["window"]
        assert win[0] == 1.0 and rw[0] == 1.0, out            # inside the base model's reach
        assert claims["reweave_recall"].check(rw[1]), out
        assert claims["reweave_window_above_chance"].check(win[1] - out["chance"]), out
        assert claims["reweave_layer0_above_chance"].check(l0[1] - out["chance"]), out
        assert rw[2] - out["chance"] < 0.1, out                 # evicted past the cache (128)
