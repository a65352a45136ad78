"""The chapter's evaluation through real stores (KNNMemory, VQMemory) equals the dense read."""

import itertools

import pytest
import torch

from memlab.retrieval import experiments as X


@pytest.fixture(scope="module")
def small():
    data = X.define_then_use(2, 256, 12, min_gap=12, seed=3)
    model = X.build_reader(data, d_embed=8, window=4, top_k=5, seed=0)
    with torch.no_grad():                       # an untrained but non-trivial reader
        model.attn.b_gate.fill_(0.3)
    return model, data


@pytest.mark.parametrize("capacity", [0, 1, 7, 40, 1000])
@pytest.mark.parametrize("combine", ["gate", "joint"])
def test_knn_store_equals_dense_read(small, capacity, combine):
    model, data = small
    model.attn.combine = combine
    try:
        for s in range(2):
            tok, pos = data.tokens[s:s + 1], data.query_pos[s]
            dense = model.logits_at(tok, pos, capacity=capacity, top_k=3)[0]
            store = X.logits_through_store(model, tok, pos, capacity, top_k=3)
            torch.testing.assert_close(store, dense, rtol=1e-5, atol=1e-5)
    finally:
        model.attn.combine = "gate"


def test_vq_store_equals_dense_read_of_reconstructions(small):
    """VQMemory keeps only codes; ADC scores + decoded values == dense read of decode(encode)."""
    model, data = small
    comp = X.fit_quantizers(model, data, ratio=16, codebook_size=16, n_fit=400, iters=5)
    for s in range(2):
        tok, pos = data.tokens[s:s + 1], data.query_pos[s]
        dense = model.logits_at(tok, pos, capacity=40, top_k=3, compress=comp)[0]
        store = X.logits_through_store(model, tok, pos, 40, top_k=3, compress=comp)
        torch.testing.assert_close(store, dense, rtol=1e-4, atol=1e-4)
    # and compression changes the answer (the test would notice a store that ignores codes)
    plain = X.logits_through_store(model, tok, pos, 40, top_k=3)
    assert (plain - store).abs().max() > 1e-3


def test_evaluate_backends_agree(small):
    model, data = small
    for cap in (0, 20, 200):
        a = X.evaluate(model, data, cap, top_k=3, backend="store")
        b = X.evaluate(model, data, cap, top_k=3, backend="dense")
        assert torch.equal(a["hits"], b["hits"]), cap
    with pytest.raises(ValueError, match="backend"):
        X.evaluate(model, data, 10, backend="faiss")


@pytest.mark.parametrize("index", ["flat", "ivf"])
def test_faiss_store_equals_dense_read(small, index):
    pytest.importorskip("faiss")
    model, data = small
    tok, pos = data.tokens[:1], data.query_pos[0]
    dense = model.logits_at(tok, pos, capacity=200, top_k=3)[0]
    # ivf with every cell probed is exact; trained once 64 keys are stored
    store = X.logits_through_store(model, tok, pos, 200, top_k=3, index=index, nlist=4, nprobe=4)
    torch.testing.assert_close(store, dense, rtol=1e-4, atol=1e-4)


def test_store_read_needs_increasing_positions(small):
    model, data = small
    with pytest.raises(ValueError, match="increasing"):
        X.logits_through_store(model, data.tokens[:1], torch.tensor([50, 40]), 10)
    with pytest.raises(ValueError, match="one stream"):
        X.logits_through_store(model, data.tokens, data.query_pos[0], 10)


def test_regime_switching_stream():
    tokens, truth, regimes = X.regime_switching_stream(4, 6, 12, 60, seed=0)
    assert tokens.shape == (720,) and truth == list(range(0, 720, 60))
    assert regimes[0] == 0 and all(a != b for a, b in itertools.pairwise(regimes))
    for start, r in zip(truth, regimes):
        seg = tokens[start:start + 60]
        assert ((seg >= 6 * r) & (seg < 6 * r + 6)).all()
    again = X.regime_switching_stream(4, 6, 12, 60, seed=0)[0]
    assert torch.equal(tokens, again)
    assert not torch.equal(tokens, X.regime_switching_stream(4, 6, 12, 60, seed=1)[0])
    with pytest.raises(ValueError, match="n_regimes"):
        X.regime_switching_stream(1)


def test_surprise_finds_regime_switches_better_than_fixed_chunks():
    from memlab.retrieval.emllm import BigramSurprise, boundary_f1, surprise_boundaries

    tokens, truth, _ = X.regime_switching_stream(4, 6, 12, 60, seed=0)
    found = surprise_boundaries(BigramSurprise(24)(tokens), window=40, gamma=3.0, min_gap=20)
    f1 = boundary_f1(found, truth, 4)
    assert f1 >= 0.8 and f1 > boundary_f1(list(range(0, 720, 45)), truth, 4) + 0.3, f1
