"""MEMORY-VQ: k-means, product-quantiser round trip, ADC == decoded scores, VQ memory."""

import pytest
import torch

from memlab.retrieval.vq import ProductQuantizer, VQMemory, kmeans


def test_kmeans_finds_two_obvious_clusters():
    a = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    b = a + 10
    C = kmeans(torch.cat([a, b]), 2, iters=10)
    C = C[C[:, 0].argsort()]
    assert torch.allclose(C, torch.stack([a.mean(0), b.mean(0)]))


def test_kmeans_batched_equals_one_by_one():
    x = torch.randn(3, 200, 4, generator=torch.Generator().manual_seed(0))
    batched = kmeans(x, 8, iters=5, seed=1)
    assert batched.shape == (3, 8, 4)
    # each subspace's centroids are means of the points nearest to them (a Lloyd fixed point
    # after enough iterations); check the assignment/mean step is consistent
    C = kmeans(x, 8, iters=50, seed=1)
    for j in range(3):
        assign = torch.cdist(x[j], C[j]).argmin(1)
        for c in assign.unique():
            assert torch.allclose(C[j, c], x[j][assign == c].mean(0), atol=1e-4)


def fitted(dim=16, n_sub=4, K=16, n=2000, seed=0):
    x = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))
    return ProductQuantizer(dim, n_sub, K).fit(x, iters=10), x


def test_round_trip_codewords_are_exact_and_codes_are_nearest():
    pq, x = fitted()
    # a vector made of codewords encodes to those codes and decodes back exactly
    codes = torch.randint(0, 16, (50, 4), generator=torch.Generator().manual_seed(1))
    z = pq.decode(codes)
    assert torch.equal(pq.encode(z).long(), codes)
    assert torch.equal(pq.decode(pq.encode(z)), z)
    # for data: each sub-code is the nearest codeword (brute force)
    c = pq.encode(x[:100]).long()
    for j in range(4):
        sub = x[:100, 4 * j:4 * j + 4]
        assert torch.equal(torch.cdist(sub, pq.codebooks[j]).argmin(1), c[:, j])
    assert c.dtype == torch.long and pq.encode(x).dtype == torch.uint8


def test_more_subspaces_reconstruct_better_and_ratio_formula():
    x = torch.randn(3000, 32, generator=torch.Generator().manual_seed(2))
    errs = []
    for m in (1, 4, 16):
        pq = ProductQuantizer(32, m, 64).fit(x, iters=10)
        errs.append(float((pq.decode(pq.encode(x)) - x).pow(2).mean()))
        assert pq.compression_ratio() == pytest.approx(32 * 32 / (m * 6))
    assert errs[0] > errs[1] > errs[2]
    assert ProductQuantizer(64, 16, 256).compression_ratio() == 16.0     # MEMORY-VQ's 16x
    with_books = ProductQuantizer(64, 16, 256).compression_ratio(n_vectors=10_000)
    assert 10 < with_books < 16


def test_adc_scores_equal_scores_on_decoded_vectors():
    pq, x = fitted()
    codes = pq.encode(x[:300])
    q = torch.randn(7, 16)
    assert torch.allclose(pq.adc_scores(q, codes), q @ pq.decode(codes).T, atol=1e-5)


def test_vq_memory_reads_like_exact_search_on_decoded_keys():
    kpq, x = fitted(seed=3)
    vpq, _ = fitted(seed=4)
    mem = VQMemory(kpq, vpq, capacity=100)
    vals = torch.randn(150, 16)
    mem.write(x[:150], vals)
    assert len(mem) == 100 and sorted(mem.ids.tolist()) == list(range(50, 150))   # FIFO
    q = x[120:125]
    s, v, ids = mem.read(q, 3)
    dec = kpq.decode(kpq.encode(x[50:150]))
    s_ref, j = (q @ dec.T).topk(3)
    assert torch.equal(ids, j + 50) and torch.allclose(s, s_ref, atol=1e-5)
    assert torch.allclose(v[:, 0], vpq.decode(vpq.encode(vals[ids[:, 0]])))
    assert mem.compression_ratio() == pytest.approx(32 * 32 / (2 * 4 * 4))
    assert mem.state_size() == 100 * 8                                  # bytes of codes


def test_bad_input():
    with pytest.raises(ValueError, match="must divide"):
        ProductQuantizer(10, 3)
    with pytest.raises(RuntimeError, match="fit"):
        ProductQuantizer(8, 2).encode(torch.randn(3, 8))
    with pytest.raises(ValueError, match="K must be"):
        kmeans(torch.randn(5, 2), 6)
    pq, _ = fitted()
    with pytest.raises(ValueError, match="last dimension 16"):
        pq.encode(torch.randn(3, 15))
