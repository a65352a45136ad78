"""kNN memory: writes searchable at once, FIFO eviction, exact vs faiss, save/load, errors."""

import sys

import pytest
import torch

from memlab.retrieval.knn import KNNMemory, exact_topk, have_faiss, recall_at_k, require_faiss

try:
    import faiss  # noqa: F401
    HAVE_FAISS = True
except ImportError:          # faiss is the optional extra 'ann'
    HAVE_FAISS = False
needs_faiss = pytest.mark.skipif(not HAVE_FAISS, reason="faiss is optional: pip install 'memlab[ann]'")
BACKENDS = [{"index": "exact"},
            pytest.param({"index": "flat"}, marks=needs_faiss, id="flat"),
            pytest.param({"index": "ivf", "nlist": 4, "train_min": 16}, marks=needs_faiss, id="ivf")]


def unit(n, d, seed=0):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed))
    return x / x.norm(dim=-1, keepdim=True)


@pytest.mark.parametrize("kw", BACKENDS, ids=lambda kw: kw.get("index", str(kw)))
def test_every_write_is_searchable_immediately(kw):
    """The public bug (memorizing-transformers-pytorch #10): added memories never searchable."""
    d, n = 16, 60
    keys = unit(n, d)
    mem = KNNMemory(d, capacity=1000, value_dim=2, nprobe=4, **kw)
    for i in range(n):
        ids = mem.write(keys[i:i + 1], torch.full((1, 2), float(i)))
        assert ids.tolist() == [i]
        _, vals, found = mem.read(keys[i:i + 1], k=1)
        assert found.item() == i, f"write {i} not found by {kw['index']} (got {found.item()})"
        assert vals[0, 0].tolist() == [float(i), float(i)]
    # and every earlier write is still found
    _, found = mem.search(keys, k=1)
    assert found[:, 0].tolist() == list(range(n))


@pytest.mark.parametrize("kw", BACKENDS, ids=lambda kw: kw.get("index", str(kw)))
def test_fifo_eviction_order(kw):
    d = 8
    keys = unit(40, d, seed=1)
    mem = KNNMemory(d, capacity=20, value_dim=1, nprobe=4, **kw)
    for start in range(0, 30, 3):                        # writes in small batches
        stop = min(start + 3, 30)
        mem.write(keys[start:stop], torch.arange(start, stop).float()[:, None])
    assert len(mem) == 20 and mem.n_written == 30
    assert sorted(mem.ids.tolist()) == list(range(10, 30))      # the 10 oldest went first
    _, found = mem.search(keys[:30], k=1)
    assert (found[:10, 0] != torch.arange(10)).all(), "evicted keys must not be found"
    assert found[10:, 0].tolist() == list(range(10, 30))
    mem.forget(5)                                        # drop the 5 oldest now
    assert sorted(mem.ids[mem.ids >= 0].tolist()) == list(range(15, 30))
    _, found = mem.search(keys[10:15], k=1)
    assert (found[:, 0] >= 15).all()
    assert mem.state_size() == 15 * (d + 1)


def test_write_more_than_capacity_at_once_keeps_the_newest():
    keys = unit(12, 4)
    mem = KNNMemory(4, capacity=5, value_dim=1)
    ids = mem.write(keys, torch.arange(12.)[:, None])
    assert ids.tolist() == list(range(12))
    assert sorted(mem.ids.tolist()) == list(range(7, 12))
    k, v = mem.get(torch.tensor([7, 11]))
    assert torch.equal(k, keys[[7, 11]]) and v[:, 0].tolist() == [7.0, 11.0]
    with pytest.raises(KeyError, match="no longer stored"):
        mem.get(torch.tensor([3]))


def test_exact_topk_hand_case_ip_and_l2():
    keys = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    q = torch.tensor([[1.0, 0.0]])
    s, i = exact_topk(q, keys, 2, "ip")
    assert i.tolist() == [[2, 0]] and s.tolist() == [[3.0, 1.0]]
    s, i = exact_topk(q, keys, 2, "l2")
    assert i.tolist() == [[0, 1]] and torch.allclose(s, torch.tensor([[0.0, -5.0]]))


@needs_faiss
@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_faiss_flat_and_full_probe_ivf_equal_exact(metric):
    d, n = 16, 500
    keys = torch.randn(n, d, generator=torch.Generator().manual_seed(2))
    q = torch.randn(20, d, generator=torch.Generator().manual_seed(3))
    res = {}
    for kw in ({"index": "exact"}, {"index": "flat"}, {"index": "ivf", "nlist": 8, "nprobe": 8}):
        mem = KNNMemory(d, n, value_dim=1, metric=metric, **kw)
        mem.write(keys, torch.zeros(n, 1))
        res[kw["index"]] = mem.search(q, 10)
    for name in ("flat", "ivf"):
        assert torch.equal(res[name][1], res["exact"][1]), name
        assert torch.allclose(res[name][0], res["exact"][0], rtol=1e-4, atol=1e-4)


@needs_faiss
def test_ivf_with_few_probes_agrees_mostly_with_exact():
    from memlab.retrieval.experiments import clustered_keys

    keys, q = clustered_keys(20000, 32, spread=0.5, n_queries=100)
    exact = KNNMemory(32, 20000, value_dim=1)
    ivf = KNNMemory(32, 20000, value_dim=1, index="ivf", nlist=64, nprobe=4)
    for m in (exact, ivf):
        m.write(keys, torch.zeros(20000, 1))
    r = recall_at_k(ivf.search(q, 10)[1], exact.search(q, 10)[1])
    assert 0.8 <= r <= 1.0, r


def test_recall_at_k_hand_case():
    truth = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = torch.tensor([[4, 3, 9, 9], [5, 6, 7, 8]])
    assert recall_at_k(found, truth) == pytest.approx(6 / 8)


@pytest.mark.parametrize("kw", BACKENDS, ids=lambda kw: kw.get("index", str(kw)))
def test_save_load_round_trip(tmp_path, kw):
    d = 8
    keys = unit(50, d, seed=4)
    mem = KNNMemory(d, capacity=30, value_dim=3, nprobe=4, **kw)
    mem.write(keys, torch.randn(50, 3))
    path = tmp_path / "mem.pt"
    mem.save(path)
    back = KNNMemory.load(path)
    assert back.n_written == 50 and len(back) == 30 and back.index_kind == kw["index"]
    for a, b in ((mem.keys, back.keys), (mem.values, back.values), (mem.ids, back.ids)):
        assert torch.equal(a, b)
    _, v1, i1 = mem.read(keys, 3)
    _, v2, i2 = back.read(keys, 3)
    assert torch.equal(i1, i2) and torch.equal(v1, v2)
    # the loaded store goes on with FIFO where the saved one stopped
    back.write(keys[:5], torch.zeros(5, 3))
    assert sorted(back.ids.tolist()) == list(range(25, 55))
    other = KNNMemory.load(path, index="exact")
    assert torch.equal(other.search(keys, 3)[1], i1)


def test_empty_memory_reads_nothing():
    mem = KNNMemory(4, 10, value_dim=2)
    s, v, i = mem.read(torch.randn(3, 4), k=2)
    assert (i == -1).all() and torch.isinf(s).all() and (v == 0).all()


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="index="):
        KNNMemory(4, 10, index="hnsw")
    with pytest.raises(ValueError, match="metric="):
        KNNMemory(4, 10, metric="cos")
    with pytest.raises(ValueError, match="capacity"):
        KNNMemory(4, 0)
    mem = KNNMemory(4, 10)
    with pytest.raises(ValueError, match="keys must have last dimension 4"):
        mem.write(torch.randn(2, 5), torch.randn(2, 4))
    with pytest.raises(ValueError, match="same length"):
        mem.write(torch.randn(2, 4), torch.randn(3, 4))
    with pytest.raises(ValueError, match="k must be"):
        mem.search(torch.randn(1, 4), 0)


def test_missing_faiss_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)        # makes `import faiss` fail
    assert not have_faiss()
    with pytest.raises(ImportError, match="faiss-cpu"):
        require_faiss()
    with pytest.raises(ImportError, match="memlab\\[ann\\]"):
        KNNMemory(4, 10, index="ivf")
    KNNMemory(4, 10, index="exact")                         # exact search needs no faiss
