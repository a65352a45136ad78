"""Chapter 04's claims at small size, through the same experiment functions as the notebook."""

import pytest
import torch

from memlab.chapters import get_chapter
from memlab.fastweights import experiments as E

CLAIMS = get_chapter("04").claims


def test_orthonormal_pairs_are_recalled_exactly_by_both_rules():
    d = 12
    worst = max(E.orthonormal_recall(n, d, rule, seed=i)
                for i, n in enumerate([1, d // 2, d]) for rule in E.RULES)
    assert CLAIMS["orthonormal_exact_recall"].check(worst), worst


def test_orthonormal_recall_fails_past_d_for_linear_attention():
    # the claim can fail: with more keys than dimensions, linear attention has crosstalk
    g = torch.Generator().manual_seed(0)
    keys = torch.cat([E.orthonormal_keys(8, 8, g), E.random_unit_keys(4, 8, g)])
    values = torch.randn(12, 8, generator=g, dtype=torch.float64)
    err = E.relative_errors(E.recall(E.store(keys, values, "linear"), keys), values).max()
    assert not CLAIMS["orthonormal_exact_recall"].check(float(err))


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
