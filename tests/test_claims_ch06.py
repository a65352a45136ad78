"""Chapter 06 claims at small size, with the chapter's own targets and experiment functions."""

from memlab.chapters import get_chapter
from memlab.testtime import experiments as E

CLAIMS = get_chapter("06").claims


def test_linear_titans_equals_delta_rule():
    err = E.delta_rule_equality(T=32, d=8)["rel_err"]
    assert CLAIMS["delta_rule_rel_err"].check(err), err


def test_chunk_form_equals_its_loop():
    err = E.chunk_form_equality(T=96, d=8, chunk_size=16)["rel_err"]
    assert CLAIMS["chunk_form_rel_err"].check(err), err


def test_forgetting_keeps_recent_pairs_when_values_change():
    r = E.forgetting_experiment(alphas=(0.0, 0.01), T=256, period=64, n_keys=16, d=16, batch=8)
    gain = r[0.01] - r[0.0]
    assert CLAIMS["forgetting_recall_gain"].check(gain), r


def test_momentum_retrieves_the_needle():
    r = E.needle_experiment(settings=((0.05, 0.0), (0.05, 0.9)), d=32, n_familiar=8, warmup=64,
                            distractors=128, batch=16)
    gain = r[(0.05, 0.9)]["needle"] - r[(0.05, 0.0)]["needle"]
    assert CLAIMS["momentum_needle_gain"].check(gain), r


def test_omega_window_denoises():
    r = E.omega_experiment(windows=(1, 4), repeats=4, n_pairs=8, d=16, batch=8)
    ratio = r[4]["err"] / r[1]["err"]
    assert CLAIMS["omega_error_ratio"].check(ratio), r


def test_claims_can_fail():
    # the same experiments with the mechanism switched off miss the targets
    r = E.forgetting_experiment(alphas=(0.0, 0.0), T=256, period=64, n_keys=16, d=16, batch=8)
    assert not CLAIMS["forgetting_recall_gain"].check(r[0.0] - r[0.0])
    r = E.omega_experiment(windows=(1, 1), n_pairs=8, d=16, batch=8)
    assert not CLAIMS["omega_error_ratio"].check(r[1]["err"] / r[1]["err"])
