"""MemGAS: router weights, PageRank and the GMM by hand; the pipeline end to end; errors."""

import math

import numpy as np
import pytest

from memlab.agents.memgas import GRANULARITIES, MemGAS, gmm_em_1d, gmm_select, ppr, router_weights
from memlab.tasks.longmemeval import generate


def test_router_weights_by_hand():
    # temp 1, two sessions: (1, 0) -> p = (e, 1) / (e + 1); (.5, .5) -> uniform, H^ = 1
    p = np.array([math.e, 1.0]) / (math.e + 1)
    h = -(p * np.log(p)).sum() / math.log(2)
    w = router_weights([np.array([1.0, 0.0]), np.array([0.5, 0.5])], temp=1.0)
    assert np.allclose(w, [1.0, 0.0])
    w3 = router_weights([np.array([1.0, 0.0]), np.array([0.5, 0.5]), np.array([0.0, 1.0])],
                        temp=1.0)
    assert np.allclose(w3, [(1 - h) / (2 * (1 - h)), 0.0, (1 - h) / (2 * (1 - h))])
    # the public code's raw entropy: H = log 2 for a flat pair, 1 - H = 0.307 > 0 here ...
    raw = router_weights([np.array([1.0, 0.0]), np.array([0.5, 0.5])], temp=1.0,
                         normalise=False)
    hr = -(p * np.log(p)).sum()
    assert np.allclose(raw, np.array([1 - hr, 1 - math.log(2)]) / (2 - hr - math.log(2)))
    # ... but with 8 flat-ish sessions H > 1: the flatter granularity gets the larger weight
    sharp, flat = np.eye(8)[0] * 0.3, np.full(8, 0.1)
    assert router_weights([sharp, flat], normalise=False)[1] > 0.5
    assert router_weights([sharp, flat])[0] == pytest.approx(1.0)


def test_ppr_matches_the_linear_system_and_handles_dangling_nodes():
    A = np.zeros((4, 4))
    A[0, 1] = A[1, 0] = A[1, 2] = A[2, 1] = 1.0
    r = np.array([0.5, 0.0, 0.2, 0.3])
    d = 0.3
    P = np.array([[0, 1, 0, 0], [0.5, 0, 0.5, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
    M = np.eye(4) - d * (P.T + np.outer(r, [0, 0, 0, 1]))
    pi = ppr(A, r, d)
    assert np.allclose(pi, np.linalg.solve(M, (1 - d) * r)) and pi.sum() == pytest.approx(1.0)
    assert np.allclose(ppr(np.zeros((3, 3)), np.array([1.0, 1.0, 2.0])), [0.25, 0.25, 0.5])
    assert np.allclose(ppr(A, np.array([-1.0, np.nan, 0.0, 0.0])), 0.0)   # no positive seed
    with pytest.raises(ValueError, match="damping"):
        ppr(A, r, 1.0)


def test_gmm_selects_the_high_component_and_agrees_with_sklearn():
    s = np.array([0.90, 0.10, 0.85, 0.12, 0.88, 0.11, 0.09])
    assert sorted(gmm_select(s).tolist()) == [0, 2, 4]
    assert sorted(gmm_select(s, backend="sklearn").tolist()) == [0, 2, 4]
    assert sorted(gmm_select(np.array([.5, .5, .1, .5]), mem_threshold=3).tolist()) == [0, 1, 3]
    labels, mu = gmm_em_1d(np.array([0.0, 0.1, 1.0, 1.1]))
    assert list(labels) == [0, 0, 1, 1] and mu == pytest.approx([0.05, 1.05], abs=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = np.concatenate([rng.normal(0.1, 0.03, 15), rng.normal(0.6, 0.03, 5)])
        assert set(gmm_select(x)) == set(gmm_select(x, backend="sklearn"))
    with pytest.raises(ValueError, match="backend"):
        gmm_select(s, backend="torch")


def test_bad_arguments():
    with pytest.raises(ValueError, match="granularity"):
        MemGAS(granularity="sentence")
    with pytest.raises(ValueError, match="router"):
        MemGAS(router="max")
    with pytest.raises(ValueError, match="temp"):
        router_weights([np.ones(2)], temp=0.0)


def _replayed(**kw):
    from memlab.agents.harness import replay

    recs = generate(n_personas=1, n_sessions=8, seed=1)
    m = MemGAS(user="u", **kw)
    replay(m, recs[0])
    return m, recs


def test_units_graph_and_retrieval_end_to_end():
    m, recs = _replayed()
    sess, mats = m._matrices()
    assert len(sess) == 8 and all(mats[g].shape == (8, m.store.embedder.dim)
                                  for g in GRANULARITIES)
    # links start at the sixth session (the code's range(5 * 4, ...)) and point backwards
    assert m.edges and all(a < b and b >= 4 * 5 for a, b in m.edges)
    hits = m.retrieve("Where did I grow up?", k=3)
    assert len(hits) == 3 and all(h.kind == "mg_session" for h in hits)
    assert sum(h.explain[f"w_{g}"] for g in GRANULARITIES for h in hits[:1]) == pytest.approx(1)
    ans, ctx = m.ask("Where did I grow up?", k=3)
    # a context is a whole session: its sources are every turn of one session
    assert all(len({s.rsplit("_", 1)[0] for s in c["sources"]}) == 1 for c in ctx)
    ans, _ = m.ask("Where did I grow up?", k=8)             # every session: the fact is there
    assert ans == next(r["answer"] for r in recs if r["question"] == "Where did I grow up?")


def test_single_granularity_is_plain_cosine_ranking():
    m, _ = _replayed(granularity="summary")
    sess, mats = m._matrices()
    q = m.store.embed_for("u", ["How many pets have I adopted?"])[0]
    want = np.argsort(-(mats["summary"] @ q), kind="stable")[:4]
    assert [h.id for h in m.retrieve("How many pets have I adopted?", 4)] == \
        [sess[i].id for i in want]


def test_the_turn_unit_is_the_mean_round_vector():
    m, _ = _replayed()
    sess, mats = m._matrices()
    rows = [it for it in m.store.items("u", kind="turn") if it.meta["session"] ==
            sess[2].meta["session"]]
    vecs = m.store.embedder.embed([it.text for it in rows])
    assert np.allclose(mats["turn"][2], vecs.mean(0), atol=1e-6)


def test_forget_clears_units_graph_and_cache():
    m, _ = _replayed()
    m.retrieve("pets", 2)
    m.forget()
    assert m.state_size() == 0 and m.edges == set() and m.retrieve("pets", 2) == []
