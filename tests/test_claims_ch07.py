"""Chapter 07's claims at small size, with the notebook's experiment functions and targets."""

import pytest
import torch

from memlab.chapters import get_chapter
from memlab.retrieval import checks as C
from memlab.retrieval import experiments as X
from memlab.retrieval import mutants as _mutants  # noqa: F401 - registers the mutants
from memlab.testing import mutants as M

CH = get_chapter("07")
W = 8


@pytest.fixture(scope="module")
def trained():
    train = X.define_then_use(1000, 64, 4, min_gap=W + 2, seed=0)
    test = X.define_then_use(2, 4096, 64, min_gap=64, seed=1000)
    reader = X.build_reader(train, d_embed=64, window=W, top_k=64, seed=0)
    X.train_reader(reader, train, steps=120, batch_size=16, lr=0.1, seed=0)
    rows = X.memory_size_sweep(reader, test, [0, 256, 4096], top_k=8)
    return reader, train, test, rows


def test_claim_no_memory_is_near_chance(trained):
    *_, rows = trained
    assert CH.claims["no_memory_accuracy"].check(rows[0]["accuracy"]), rows


def test_claim_full_memory_answers(trained):
    *_, rows = trained
    assert CH.claims["full_memory_accuracy"].check(rows[-1]["accuracy"]), rows


def test_claim_accuracy_grows_with_memory_size(trained):
    *_, rows = trained
    accs = [r["accuracy"] for r in rows]
    assert accs == sorted(accs), accs


def test_claim_partial_memory_answers_what_it_holds(trained):
    reader, _, test, _ = trained
    gap, acc, reach = C.reach_gap(reader, test, 1024)
    assert CH.claims["partial_memory_reach_gap"].check(gap), (gap, acc, reach)
    assert "memory_size_gain" not in CH.claims      # it repeated the full-memory accuracy


@pytest.mark.parametrize("name", ["knn_fifo_evicts_newest", "knn_topk_sorted_wrong"])
def test_reach_claim_fails_when_the_store_keeps_the_wrong_pairs(trained, name):
    reader, _, test, _ = trained
    with M.MUTANTS[name].apply():
        gap = C.reach_gap(reader, test, 1024)[0]
    assert not CH.claims["partial_memory_reach_gap"].check(gap), (name, gap)


def test_vq_fit_matters_only_on_structured_keys():
    """On clustered keys k-means codebooks beat Gaussian-noise codebooks by far; the
    unfitted-codebook mutant makes the two equal."""
    assert C.vq_fit_ratio(0) < 0.5
    with M.MUTANTS["vq_codebook_unfitted"].apply():
        assert C.vq_fit_ratio(0) > 0.5


def test_codebooks_halve_the_16x_ratio_at_4096():
    from memlab.retrieval.vq import ProductQuantizer
    pq = ProductQuantizer(128, 32, 256)
    assert pq.compression_ratio() == 16
    assert pq.compression_ratio(n_vectors=4096) == pytest.approx(8.0)


def test_claim_16x_vq_memory_keeps_accuracy(trained):
    reader, train, test, rows = trained
    out = X.compression_sweep(reader, test, train, ratios=(16,), top_k=8)
    assert out[0]["accuracy"] == pytest.approx(rows[-1]["accuracy"])
    assert CH.claims["vq16_accuracy_drop"].check(out[0]["accuracy"] - out[1]["accuracy"]), out


def test_claim_vq_at_256x_is_not_free(trained):
    """The claim test must be able to fail: one codeword per 64 dims destroys retrieval."""
    reader, train, test, _ = trained
    out = X.compression_sweep(reader, test, train, ratios=(256,), top_k=8)
    assert not CH.claims["vq16_accuracy_drop"].check(out[0]["accuracy"] - out[1]["accuracy"]), out


def test_claim_ann_recall_at_10():
    pytest.importorskip("faiss", reason="faiss is optional: pip install 'memlab[ann]'")
    keys, queries = X.clustered_keys(20_000, 64, spread=0.5, n_queries=128, seed=0)
    r = X.ann_vs_exact(keys, queries, k=10, nlist=128, nprobe=8, repeat=1)
    assert CH.claims["ann_recall_at_10"].check(r["recall_at_k"]), r
    # and with too few probes on unstructured keys the same target fails
    g = torch.Generator().manual_seed(0)
    bad = X.ann_vs_exact(torch.randn(20_000, 64, generator=g), torch.randn(64, 64, generator=g),
                         k=10, nlist=128, nprobe=1, repeat=1)
    assert not CH.claims["ann_recall_at_10"].check(bad["recall_at_k"]), bad


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_claims_hold_over_seeds(seed):
    """The three accuracy claims on other seeds (the notebook runs seed 0), through KNNMemory."""
    train = X.define_then_use(1000, 64, 4, min_gap=W + 2, seed=seed)
    test = X.define_then_use(2, 4096, 64, min_gap=64, seed=seed + 1000)
    reader = X.build_reader(train, d_embed=64, window=W, top_k=64, seed=seed)
    X.train_reader(reader, train, steps=120, batch_size=16, lr=0.1, seed=seed)
    rows = X.memory_size_sweep(reader, test, [0, 256, 4096], top_k=8)
    acc = [r["accuracy"] for r in rows]
    assert CH.claims["no_memory_accuracy"].check(acc[0]), acc
    assert CH.claims["full_memory_accuracy"].check(acc[-1]), acc
    gap = C.reach_gap(reader, test, 1024)[0]
    assert CH.claims["partial_memory_reach_gap"].check(gap), (gap, acc)


# --------------------------------------------------------------------------- MSA
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_claim_msa_accuracy_flat_from_16k_tokens(seed):
    from memlab.retrieval import msa
    rows = msa.scaling_sweep([1 << 14, 1 << 18], seed=seed, n_queries=256, dense_up_to=0)
    assert CH.claims["msa_accuracy_at_largest_memory"].check(rows[-1]["accuracy"]), rows
    assert CH.claims["msa_degradation"].check(rows[0]["accuracy"] - rows[-1]["accuracy"]), rows


@pytest.mark.parametrize("name", ["msa_route_by_document_mean", "msa_route_bottom_k",
                                  "msa_values_shifted_one_chunk", "msa_document_start_off_by_one"])
def test_msa_claim_fails_under_each_mutant(name):
    r = M.run_check_under("07", "msa_accuracy_at_largest_memory", name)
    assert not r.passed, (name, r)
