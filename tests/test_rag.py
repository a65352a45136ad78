"""Chapter 11 mechanisms: dense retrieval, OpenIE protocol, PPR equality, HippoRAG(2), adaptive."""

import json

import networkx as nx
import numpy as np
import pytest

from memlab.agents.llm import LLMOutputError
from memlab.rag import adaptive as A
from memlab.rag import experiments as E
from memlab.rag import openie as OI
from memlab.rag.dense import BM25Retriever, TfidfRetriever, rank, recall_at_k
from memlab.rag.hipporag import HippoRAG, ppr_networkx, ppr_numpy
from memlab.rag.hipporag2 import HippoRAG2, minmax
from memlab.tasks.factworld import fact_world, popqa_lite


def test_ppr_hand_computed_two_nodes():
    # two nodes joined by one edge, reset on node 0: pi0 = 0.5 + 0.5 pi1, pi1 = 0.5 pi0
    pi = ppr_numpy(np.array([[0, 1], [1, 0.]]), np.array([1.0, 0.0]), 0.5)
    assert np.allclose(pi, [2 / 3, 1 / 3], atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_networkx_equals_numpy_power_iteration(seed):
    assert E.ppr_equality(seed) < 1e-9
    assert E.ppr_equality(seed, damping=0.85) < 1e-9


def test_batched_ppr_equals_one_at_a_time():
    G, _ = E.small_graph(3)
    A_ = nx.to_numpy_array(G)
    R = np.random.default_rng(0).random((4, A_.shape[0]))
    batch = ppr_numpy(A_, R, 0.5)
    for q in range(4):
        assert np.allclose(batch[q], ppr_numpy(A_, R[q], 0.5), atol=1e-12)


def test_ppr_bad_inputs():
    with pytest.raises(ValueError, match="damping"):
        ppr_numpy(np.eye(2), np.ones(2), 1.0)
    with pytest.raises(ValueError, match="A must be"):
        ppr_numpy(np.eye(2), np.ones(3))
    with pytest.raises(ValueError, match="reset"):
        ppr_networkx(nx.path_graph(3), {}, 0.5)


def test_bm25_equals_loop_and_tfidf_ranks_names():
    W = E.world(60, 10, 1)
    ps, q = W.passages[:50], W.questions[0].text
    assert np.abs(BM25Retriever().fit(ps).scores([q])[0] - E.bm25_hand(ps, q)).max() < 1e-9
    r = TfidfRetriever().fit(["Ann Lee was born in Oslo.", "Bo Chan works for X Corp."])
    assert rank(r.scores(["Where was Ann Lee born?"]), 1)[0, 0] == 0
    with pytest.raises(ValueError, match="passages"):
        TfidfRetriever().fit([])


def test_rank_is_descending_and_stable():
    s = np.array([[0.1, 0.9, 0.9, 0.3] + [0.0] * 20])
    assert rank(s, 3).tolist() == [[1, 2, 3]]
    assert recall_at_k(np.array([[1, 2], [3, 4]]), [[1], [5, 4]], 2) == 0.75


def test_openie_rule_backend_and_malformed_output():
    llm = OI.RuleOpenIE()
    assert OI.openie(llm, "Ann Lee was born in Oslo.") == [("Ann Lee", "born_in", "Oslo")]
    assert OI.query_ner(llm, "In which city is the employer of Ann Q. Lee located?") == ["Ann Q. Lee"]
    assert llm.calls["openie"] == 1

    class Broken(OI.RuleOpenIE):
        def complete(self, op, prompt, payload):
            return "not json" if op == "openie" else json.dumps({"triples": [["a", "b"]]})
    with pytest.raises(LLMOutputError, match="openie"):
        OI.openie(Broken(), "Ann Lee was born in Oslo.")


def test_fact_world_questions_and_aliases():
    W = fact_world(n_people=40, n_companies=10, n_cities=5, n_questions=10, seed=0)
    assert W.aliases and len(W.by_hops(1)) == 20 and len(W.by_hops(2)) > 10
    for q in W.by_hops(2):
        if q.kind == "employer_city":
            assert q.entity not in W.passages[q.support[1]]      # the bridge passage never names X
    with pytest.raises(ValueError, match="n_people"):
        fact_world(n_people=2)


def test_hipporag_graph_has_synonymy_edges_and_walk_reaches_bridge():
    W = E.world(60, 20, 0)
    h = HippoRAG().index(W.passages)
    kinds = {k for *_, k in h.G.edges(data="kind")}
    assert kinds == {"relation", "synonym"}
    q = next(q for q in W.by_hops(2) if q.kind == "employer_city")
    nodes = h.node_scores(q.text)
    assert np.allclose(h.P @ nodes, h.scores([q.text])[0], atol=1e-9)
    assert np.allclose(nodes, h.node_scores(q.text, backend="numpy"), atol=1e-9)


def test_hipporag2_batched_equals_networkx_path_and_falls_back():
    W = E.world(60, 10, 0)
    h = HippoRAG2().index(W.passages)
    qs = [q.text for q in W.questions[:6]]
    assert np.allclose(h.scores(qs), np.stack([h.passage_scores(q) for q in qs]), atol=1e-9)
    before = h.fallbacks
    out = h.scores(["Where was Zzz Qqq born?"])          # nothing to recognise -> dense
    assert h.fallbacks == before + 1
    assert np.allclose(out[0], h.dense.scores(["Where was Zzz Qqq born?"])[0])
    assert np.allclose(minmax(np.array([1., 3., 2.])), [0, 1, .5])
    with pytest.raises(ValueError, match="passage_node_weight"):
        HippoRAG2(passage_node_weight=-1)


def test_adaptive_threshold_and_popqa():
    lp = np.array([0., 1., 2., 3.])
    theta = A.choose_threshold(lp, np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0]), n_bins=4)
    assert 1 < theta <= 2                                  # retrieve for the two least popular
    d = popqa_lite(n_subjects=50, seed=0)
    assert len(d.q_text) == 150 and d.popularity.max() > 50 * d.popularity.min()
    with pytest.raises(ValueError, match="zipf_a"):
        popqa_lite(zipf_a=0)


def test_viz_renders():
    from memlab.viz import rag as V
    W = E.world(60, 10, 0)
    h = HippoRAG().index(W.passages)
    fig = V.ppr_explorer(W, h)(question=1, damping=0.3)
    assert fig.axes and W.by_hops(2)[1].text in fig._suptitle.get_text()
    t = E.recall_table(W, ("dense",), ks=(5,))
    assert V.plot_recall(t, 5).axes


def test_minilm_behind_the_same_protocol():
    pytest.importorskip("sentence_transformers")
    W = E.world(60, 10, 0)
    r = E.make_retriever("dense", W.passages, embedder="minilm")
    assert r.scores([W.questions[0].text]).shape == (1, len(W.passages))
