"""Think-in-Memory: LSH by hand, insert / forget / merge, recall == exact search when every
bucket is probed, clear errors."""

import numpy as np
import pytest

from memlab.agents.tim import TiM, lsh_hash, paraphrase_consistency, probe_order
from memlab.tasks.longmemeval import generate


def test_lsh_hand_case_and_probe_order():
    X = np.array([[1.0, 2.0, 0.0], [-3.0, 1.0, 0.0], [0.0, -1.0, 0.5]])
    R = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    # [xR; -xR] = (1, 2, -1, -2), (-3, 1, 3, -1), (0, -1, 0, 1)
    assert list(lsh_hash(X, R)) == [1, 2, 3]
    assert list(probe_order(X[0], R)) == [1, 0, 2, 3]
    # a vector and its positive multiple share a bucket; its negation is the opposite bucket
    assert lsh_hash(3 * X[:1], R)[0] == 1 and lsh_hash(-X[:1], R)[0] == 3


def test_bad_shapes_and_parameters():
    with pytest.raises(ValueError, match="R must have shape"):
        lsh_hash(np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="n_buckets"):
        TiM(n_buckets=3)
    with pytest.raises(ValueError, match="k must be"):
        TiM(user="u").retrieve("x", k=0)


def test_insert_forget_merge_by_hand():
    t = TiM(user="u")
    t.observe("I live in Oslo these days.", "ok")
    t.observe("I adopted a dog called Rex.", "ok")
    t.observe("I adopted a cat called Tom.", "ok")
    t.observe("Big news: I moved to Rome last week.", "ok")
    t.observe("I live in Rome these days.", "ok")                  # the same thought again
    texts = sorted(it.text for it in t.store.items("u", kind="thought"))
    assert texts == ["User adopted a dog called Rex\nUser adopted a cat called Tom",
                     "User lives in Rome"]
    assert t.ops == {"insert": 3, "forget": 1, "merge": 1, "none": 1}
    assert t.state_size() == 2
    # the event log says why the old city went
    reasons = [e["reason"] for e in t.store.events("u") if e["op"] == "delete"]
    assert reasons and "forget: contradicted" in reasons[0]


def test_without_organisation_every_thought_is_inserted():
    t = TiM(user="u", organise=False)
    t.observe("I live in Oslo these days.", "ok")
    t.observe("Big news: I moved to Rome last week.", "ok")
    assert t.state_size() == 2


@pytest.mark.parametrize("n_buckets", [2, 8, 32])
def test_multiprobe_with_every_bucket_equals_exact_search(n_buckets):
    t = TiM(user="u", n_buckets=n_buckets)
    recs = generate(n_personas=1, seed=3)
    from memlab.agents.harness import replay

    replay(t, recs[0])
    n = t.state_size()
    for q in ["Where do I live now?", "pets adopted", "book", "marathon"]:
        assert [h.id for h in t.retrieve(q, n)] == [h.id for h in t.retrieve_exact(q, n)]
        hits = t.retrieve(q, 2)
        assert len(hits) == 2 and all(h.kind == "thought" for h in hits)


def test_strict_single_bucket_recall_returns_only_that_bucket():
    t = TiM(user="u", n_buckets=16, multiprobe=False)
    for u in ["I live in Oslo these days.", "I adopted a dog called Rex.",
              "I grew up in Porto, near the sea.", "I work as a nurse."]:
        t.observe(u, "ok")
    q = t.store.embed_for("u", ["Where did I grow up?"])[0]
    b = probe_order(q, t.R)[0]
    assert all(h.explain["bucket"] == b for h in t.retrieve("Where did I grow up?", 4))


def test_bucket_is_stored_as_the_key():
    t = TiM(user="u")
    t.observe("I grew up in Porto, near the sea.", "ok")
    it = t.store.items("u", kind="thought")[0]
    assert it.meta["bucket"] == t.bucket_of(it.text)


def test_paraphrase_consistency_fields():
    r = paraphrase_consistency(TiM, generate(n_personas=1, seed=0))
    assert set(r) == {"consistent", "contradictions", "all_correct", "groups"}
    assert 0 <= r["all_correct"] <= r["consistent"] <= 1
