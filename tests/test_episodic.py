"""Chapter 10 mechanisms: SORT-lite generator and memories, surprise boundaries, HCAM."""

import numpy as np
import pytest
import torch

from memlab.episodic import boundaries as B
from memlab.episodic import experiments as E
from memlab.episodic import hcam as H
from memlab.episodic import sort as S
from memlab.tasks.sort_lite import bin_edges, make_book, sort_trials


def test_sort_trials_exactly_balanced_and_in_their_bins():
    book = make_book(1500, seed=1)
    trials = sort_trials(book, n_trials=80, seed=1)
    edges = bin_edges(200, 10)
    assert sum(t.answer for t in trials) == 40
    assert [sum(t.bin == b for t in trials) for b in range(4)] == [20] * 4
    for t in trials:
        assert edges[t.bin] <= abs(t.pos_a - t.pos_b) < edges[t.bin + 1]
        assert t.excerpt[t.pos_a:t.pos_a + 10] == t.seg_a
        assert (t.pos_a < t.pos_b) == (t.answer == 0)
        assert t.pos_a in set(book.sentence_starts - t.excerpt_start)   # sentence boundaries
    with pytest.raises(ValueError, match="n_trials"):
        sort_trials(book, n_trials=12)
    with pytest.raises(ValueError, match="L_S"):
        bin_edges(40, 10)


def test_soft_locate_hand_case():
    words = ["a", "b", "c", "d", "e", "f", "c", "d", "x"]
    assert S.soft_locate(words, ["c", "d", "e"]) == 2
    assert S.soft_locate(words, ["c", "d", "x"]) == 6
    with pytest.raises(ValueError, match="segment"):
        S.soft_locate(["a"], ["a", "b"])


def test_chunk_memory_index_restores_order_and_blind_store_hides_it():
    exc = [f"w{i}" for i in range(60)]
    rng = np.random.default_rng(0)
    m = S.ChunkMemory(chunk=10, top_k=1, keep_index=True).write(exc, rng)
    assert m.context(list(range(len(m.store)))) == exc                   # sorted by index
    blind = S.ChunkMemory(chunk=10, top_k=1).write(exc, np.random.default_rng(0))
    assert blind.context(list(range(len(blind.store)))) != exc           # store order is random
    assert S.ChunkMemory(10, 1, True).answer(exc, exc[40:45], exc[5:10], rng) == 1


def test_shuffle_sentences_keeps_words():
    words = ["a", "b.", "c", "d", "e.", "f."]
    out = S.shuffle_sentences(words, np.random.default_rng(3))
    assert sorted(out) == sorted(words)


def test_decaying_surprise_hand_case():
    s = B.DecayingSurprise(4, lam=0.5, alpha=1.0)(torch.tensor([0, 0, 1]))
    # t0: (0+1)/(0+4); t1: c=[1,0,0,0] -> (1+1)/(1+4); t2: c=[1.5,0,0,0] -> (0+1)/(1.5+4)
    assert np.allclose(s.numpy(), -np.log([1 / 4, 2 / 5, 1 / 5.5]))
    with pytest.raises(ValueError, match="lam"):
        B.DecayingSurprise(4, lam=2.0)


def test_boundaries_reuse_emllm_and_refinement_stays_local():
    tok, _truth = B.topic_stream(n_events=6, seed=0)
    s = B.DecayingSurprise(200)(tok)
    from memlab.retrieval.emllm import surprise_boundaries
    assert B.event_boundaries(s) == surprise_boundaries(s, window=64, gamma=3.0, min_gap=8)
    K = B.context_keys(tok, 200)
    found = B.event_boundaries(s)
    ref = B.event_boundaries(s, K, refine=True, radius=4)
    assert len(ref) == len(found) and all(abs(a - b) <= 4 for a, b in zip(ref, found))
    with pytest.raises(ValueError, match="keys"):
        B.event_boundaries(s, refine=True)
    r = B.random_boundaries(5, 100, 0)
    assert r[0] == 0 and len(set(r)) == 6


def test_context_keys_are_causal_means():
    tok = torch.tensor([1, 2, 3])
    K = B.context_keys(tok, 5, dim=8, w=2, seed=0)
    g = torch.Generator().manual_seed(0)
    Emb = torch.randn(5, 8, generator=g, dtype=torch.float64)
    v = Emb[2] + Emb[3]
    assert torch.allclose(K[2], v / v.norm())


@pytest.mark.parametrize("summary", ["mean", "first"])
def test_hcam_vectorised_equals_loop(summary):
    q, keys, items, _ = E.hcam_task(12, 6, 16, 2)
    a = H.hcam_read(q[:30], keys, items, 3, 8.0, summary)[0]
    b = H.hcam_read_loop(q[:30], keys, items, 3, 8.0, summary)
    assert torch.allclose(a, b, atol=1e-6)


def test_hcam_with_all_chunks_and_flat_limit():
    # one chunk read in full with beta -> attention is flat attention restricted to it
    q, keys, items, _ = E.hcam_task(1, 8, 16, 0)
    out, _idx, n = H.hcam_read(q[:5], keys, items, top_k=1, beta=4.0)
    flat, n_flat = H.flat_read(q[:5], keys, items, beta=4.0)
    assert torch.allclose(out, flat, atol=1e-6) and n == 1 + 8 and n_flat == 8
    with pytest.raises(ValueError, match="top_k"):
        H.hcam_read(q, keys, items, top_k=5)
    with pytest.raises(ValueError, match="keys"):
        H.hcam_read(q, keys[0], items)


def test_viz_renders():
    from memlab.viz import episodic as V
    _, trials = E.sort_data(seed=0)
    for mem in ("in_context", "order_blind", "with_indices"):
        assert V.sort_trial_view(trials)(trial=2, memory=mem).axes
    assert V.surprise_view()(gamma=3.0, refine=False, single_topic=True).axes
    assert V.plot_hcam(E.hcam_experiment(16, 8, 32)).axes
