"""EpiCache-style episodes (memlab.attention.episodes)."""

import pytest
import torch

from memlab.attention import experiments as X
from memlab.attention.episodes import evaluate_episodic, kmeans, segment_embeddings
from memlab.tasks import mqar


def test_kmeans_finds_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(4)[:3] * 10
    x = torch.cat([centres[i] + 0.1 * torch.randn(5, 4, generator=g) for i in range(3)])[None]
    assign, cent = kmeans(x, 3, seed=1)
    groups = [set(assign[0, 5 * i:5 * i + 5].tolist()) for i in range(3)]
    assert all(len(s) == 1 for s in groups) and len(set.union(*groups)) == 3
    assert cent.shape == (1, 3, 4)
    with pytest.raises(ValueError, match="k=4"):
        kmeans(x[:, :3], 4)


def test_segment_embeddings():
    m = X.build_model(16, d_model=8, n_layers=1, n_heads=1, max_len=16)
    tok = torch.randint(0, 16, (2, 6))
    e = segment_embeddings(m, tok, 2)
    assert e.shape == (2, 3, 8)
    assert torch.allclose(e[1, 2], m.embed(tok[1, 4:6]).mean(0))
    with pytest.raises(ValueError, match="seg_len"):
        segment_embeddings(m, tok, 4)


def test_one_episode_with_the_whole_budget_is_the_full_cache():
    torch.manual_seed(0)
    m = X.build_model(32, d_model=16, n_layers=2, n_heads=2, max_len=24)
    prep = X.prepare(m, mqar(30, 24, 4, 32, seed=0), 8)
    r = evaluate_episodic(prep, 1, 8)
    assert r["acc"] == pytest.approx(X.evaluate(prep, "full")["acc"])
    assert r["routing_acc"] == 1.0 and r["stored"] == 8 and r["read"] == 8
    r4 = evaluate_episodic(prep, 4, 2)
    assert r4["stored"] == 8 and r4["read"] == 2


def test_routing_finds_the_asked_episode_and_a_random_router_does_not():
    """Routing works on token identity (a question repeats its key, whose segment the centroid
    summarises), so even an untrained model routes well above chance (1/E); the random router
    is the control and must sit near chance."""
    torch.manual_seed(0)
    m = X.build_model(32, d_model=16, n_layers=2, n_heads=2, max_len=24)
    prep = X.prepare(m, mqar(30, 24, 4, 32, seed=0), 8)       # 120 questions
    for E in (2, 4):
        near = evaluate_episodic(prep, E, 2)["routing_acc"]
        rand = evaluate_episodic(prep, E, 2, router="random")["routing_acc"]
        assert near > 0.9, (E, near)
        assert abs(rand - 1 / E) < 0.15, (E, rand)
    with pytest.raises(ValueError, match="router"):
        evaluate_episodic(prep, 2, 2, router="oracle")
