"""Chapter 11's claims at small size, through the notebook's experiment functions."""

import pytest

from memlab.chapters import get_chapter
from memlab.rag import experiments as E

CLAIMS = get_chapter("11").claims


@pytest.mark.parametrize("seed", [0, 1])
def test_graph_memory_claims(seed):
    W = E.world(120, 40, seed)
    t = E.recall_table(W, ("dense", "hipporag", "hipporag2"), ks=(5,),
                       norel=("hipporag", {"relation_edges": False}))
    assert CLAIMS["two_hop_recall5_gain"].check(t["hipporag"][2][5] - t["dense"][2][5]), t
    assert CLAIMS["hr2_two_hop_recall5_gain"].check(t["hipporag2"][2][5] - t["dense"][2][5]), t
    assert CLAIMS["single_hop_recall5_hr2_minus_dense"].check(t["hipporag2"][1][5] - t["dense"][1][5])
    assert CLAIMS["dense_single_hop_recall5"].check(t["dense"][1][5])
    # negative control: without relation edges the gain is gone (the claim would fail)
    assert CLAIMS["no_relation_edges_gain"].check(t["norel"][2][5] - t["dense"][2][5]), t
    assert not CLAIMS["two_hop_recall5_gain"].check(t["norel"][2][5] - t["dense"][2][5])


def test_ppr_equality_claim():
    assert CLAIMS["ppr_networkx_equals_numpy"].check(max(E.ppr_equality(s) for s in range(3)))


@pytest.mark.parametrize("seed", [0, 1])
def test_adaptive_retrieval_claims(seed):
    r = E.popqa_experiment(n_subjects=600, n_splits=30, seed=seed)
    assert CLAIMS["adaptive_minus_best"].check(r["adaptive_minus_best"]), r
    assert CLAIMS["adaptive_retrieve_frac"].check(r["retrieve_frac"]), r
    assert CLAIMS["parametric_popularity_spearman"].check(r["param_spearman"]), r
