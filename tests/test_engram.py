"""Engram: n-gram hashing, the context-aware gate, the causal convolution."""

import math

import pytest
import torch

from memlab.layers import engram as eg


def test_hash_by_hand():
    """ids [[3, 5]], n = 2, multipliers (1, 3), pad 0, one head of 7 rows:
    t = 0: 3*1 XOR 0*3 = 3 -> 3; t = 1: 5*1 XOR 3*3 = 5 XOR 9 = 12 -> 12 mod 7 = 5."""
    h = eg.ngram_hash(torch.tensor([[3, 5]]), 2, [1, 3], [7])
    assert h[..., 0].tolist() == [[3, 5]]


@pytest.mark.parametrize("n", [2, 3, 4])
def test_fast_hash_equals_the_loop_even_with_int64_overflow(n):
    g = torch.Generator().manual_seed(n)
    ids = torch.randint(0, 10 ** 6, (3, 17), generator=g)
    mult = [2 ** 40 + 1, 2 ** 41 + 3, 2 ** 39 + 7, 2 ** 38 + 9][:n]
    sizes = eg.next_primes(1000, 3)
    assert torch.equal(eg.ngram_hash(ids, n, mult, sizes), eg.ngram_hash_naive(ids, n, mult, sizes))


def test_next_primes_are_distinct_primes():
    assert eg.next_primes(10, 3) == [11, 13, 17]
    assert eg.next_primes(10, 2, exclude={11}) == [13, 17]


def test_tables_use_distinct_prime_sizes_and_the_paper_layout():
    m = eg.Engram(16, table_rows=50, max_ngram=3, heads=4, d_embed=32)
    flat = [s for ss in m.sizes for s in ss]
    assert len(set(flat)) == 8 and min(flat) > 49
    assert m.table_params() == sum(flat) * 8
    assert all(mult % 2 == 1 for mult in m.multipliers)


def test_gate_by_hand():
    m = eg.Engram(2, table_rows=5, max_ngram=2, heads=1, d_embed=2, conv=False).double()
    with torch.no_grad():
        m.W_K.weight.copy_(torch.eye(2, dtype=torch.float64))
        e = torch.tensor([[[3.0, 0.0]]], dtype=torch.float64)
        agree = m.gate(torch.tensor([[[1.0, 0.0]]], dtype=torch.float64), e).item()
        clash = m.gate(torch.tensor([[[-1.0, 0.0]]], dtype=torch.float64), e).item()
    s = 1 / (1 + math.exp(-(2 ** 0.25)))
    assert agree == pytest.approx(s, abs=1e-6) and clash == pytest.approx(1 - s, abs=1e-6)


def test_forward_equals_naive_and_is_causal():
    torch.manual_seed(0)
    m = eg.Engram(8, table_rows=31, max_ngram=3, heads=2, d_embed=8).double()
    torch.nn.init.normal_(m.conv.weight)
    ids = torch.randint(0, 20, (2, 15))
    h = torch.randn(2, 15, 8, dtype=torch.float64)
    with torch.no_grad():
        y = m(h, ids)
        assert torch.allclose(y, m.forward_naive(h, ids), atol=1e-12)
        ids2 = ids.clone()
        ids2[:, 10:] = 0
        assert torch.equal(m(h, ids2)[:, :10], y[:, :10])


def test_the_same_ngram_reads_the_same_rows():
    m = eg.Engram(8, table_rows=31, max_ngram=2, heads=2, d_embed=8, conv=False)
    e = m.embed(torch.tensor([[4, 7, 1, 4, 7]]))
    assert torch.equal(e[0, 1], e[0, 4]) and not torch.equal(e[0, 1], e[0, 2])


def test_bad_input_names_the_argument():
    m = eg.Engram(8, table_rows=31, max_ngram=2, heads=2, d_embed=8)
    with pytest.raises(ValueError, match="ids"):
        m(torch.zeros(1, 3, 8), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="h must"):
        m(torch.zeros(1, 3, 4), torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="d_embed"):
        eg.Engram(8, table_rows=31, heads=3, d_embed=8)
    with pytest.raises(ValueError, match="rho"):
        eg.allocation_point(eg.split_task(n_entities=8, n_entity_tokens=8, p=5), 256, 1.5)
