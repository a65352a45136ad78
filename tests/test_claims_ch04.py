"""Chapter 04's claims at small size, through the same experiment functions as the notebook."""

import pytest
import torch

from memlab.chapters import get_chapter
from memlab.fastweights import experiments as E

CLAIMS = get_chapter("04").claims


def test_orthonormal_pairs_from_zero_are_an_identity_for_both_rules():
    # recorded, not claimed: with S0 = 0 the erase term never acts, so both rules are exact
    d = 12
    worst = max(E.orthonormal_recall(n, d, rule, seed=i)
                for i, n in enumerate([1, d // 2, d]) for rule in E.RULES)
    assert worst < 1e-10


@pytest.mark.parametrize("seed", [3, 4])
def test_delta_overwrites_any_state_and_linear_does_not(seed):
    d = 12
    worst = max(E.overwrite_recall(n, d, "delta", seed=seed + i) for i, n in enumerate([1, 6, 12]))
    assert CLAIMS["delta_overwrites_any_state"].check(worst), worst
    lin = E.overwrite_recall(d, d, "linear", seed=seed)
    assert not CLAIMS["delta_overwrites_any_state"].check(lin), lin


@pytest.mark.parametrize("erase", [0.0, 0.5, 1.3])
def test_a_broken_erase_term_fails_the_overwrite_claim(erase):
    from memlab.fastweights import delta_rule as DR
    from memlab.fastweights.mutants import _delta_step, rule

    with rule(DR, "delta_rule_step", _delta_step(erase=erase), "delta_rule_chunked",
              "delta_rule_recurrent"):
        worst = max(E.overwrite_recall(n, 12, "delta", seed=i) for i, n in enumerate([1, 6, 12]))
    assert not CLAIMS["delta_overwrites_any_state"].check(worst), (erase, worst)


def test_a_bigger_state_recalls_more():
    for seed in (0, 1):
        r = E.error_vs_dk(16, (8, 16, 32, 64), "linear", n_seeds=3, seed=seed)
        assert CLAIMS["linear_error_falls_with_dk"].check(r["falls"]), r
        assert r["mean"][0] > 2 * r["mean"][-1]


def test_rewrite_delta_returns_new_value_linear_the_sum():
    rw = E.rewrite_recall(10, n_other=3, seed=1)
    assert CLAIMS["rewrite_delta_new_value"].check(rw["delta_vs_new"]), rw
    assert CLAIMS["rewrite_linear_sum"].check(rw["linear_vs_sum"]), rw
    # and not the other way round
    assert not CLAIMS["rewrite_delta_new_value"].check(rw["linear_vs_new"])
    assert not CLAIMS["rewrite_linear_sum"].check(rw["delta_vs_sum"])


@pytest.mark.parametrize("seed", [0, 1])
def test_delta_recall_error_below_linear_and_read_twice_helps(seed):
    ns = E.powers_of_two(2, 32)
    curve = E.recall_error_curve(8, ns, n_seeds=3, seed=seed)
    below = sum(d < li for d, li in zip(curve["mean"]["delta"], curve["mean"]["linear"])) / len(ns)
    assert CLAIMS["delta_below_linear"].check(below), curve
    rt = E.read_twice_ratio(8, n_seeds=3, seed=seed)
    assert CLAIMS["read_twice_error_ratio"].check(rt["ratio"]), rt


def test_mqar_attention_stays_high_linear_attention_falls():
    torch.manual_seed(0)
    res = E.mqar_recall_vs_pairs({n: E.mixer_factory(n) for n in ("attention", "linear")},
                                 d_model=16, pairs=[2, 16], seq_len=64, vocab_size=64,
                                 n_train=300, n_test=100, steps=150, lr=3e-3, seed=0,
                                 random_non_queries=False)
    acc = res["accuracy"]
    assert CLAIMS["mqar_attention_min_acc"].check(min(acc["attention"])), acc
    assert CLAIMS["mqar_linear_drop"].check(acc["linear"][0] - acc["linear"][-1]), acc
    assert res["state_size"]["linear"] == 16 * 16
    assert res["state_size"]["attention"] == 2 * 16 * 64


def test_parameters_reject_unknown_mixers_and_impossible_mqar_sizes():
    from memlab.params import ParameterError

    P = get_chapter("04").Params
    assert P.build(P.FULL).mqar_max_pairs == 64
    with pytest.raises(ParameterError, match="unknown mixers"):
        P.build({"mqar_mixers": ["lstm"]})
    with pytest.raises(ParameterError, match="mqar_seq_len"):
        P.build({"mqar_max_pairs": 32})
    with pytest.raises(ParameterError, match="mqar_vocab >= 50"):
        P.build({"mqar_vocab": 48})
    P.build({"mqar_vocab": 50})
    # the default sweep goes past linear attention's key dimension (d_k = d_model, one head)
    d = P()
    assert d.mqar_max_pairs > d.mqar_widths[0]
