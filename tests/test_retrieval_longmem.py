"""LongMem side reader + the define-then-use task used by chapter 07."""

import pytest
import torch

from memlab.retrieval.experiments import define_then_use, pq_for_ratio
from memlab.retrieval.longmem import FrozenWriter, SideReader


def test_define_then_use_layout():
    d = define_then_use(3, 300, 10, n_keys=50, n_values=8, n_filler=20, min_gap=40, seed=1)
    assert d.tokens.shape == d.targets.shape == (3, 300) and d.vocab_size == 78
    assert (d.gaps >= 40).all()
    for s in range(3):
        for q, p, a in zip(d.query_pos[s], d.def_pos[s], d.answers[s]):
            key = d.tokens[s, p]
            assert 20 <= key < 70 and d.tokens[s, q] == key and d.tokens[s, p + 1] == a
            assert (d.tokens[s] == key).sum() == 2                 # defined once, queried once
            assert d.targets[s, q] == a
        assert (d.targets[s] != -100).sum() == 10
    again = define_then_use(3, 300, 10, n_keys=50, n_values=8, n_filler=20, min_gap=40, seed=1)
    assert torch.equal(again.tokens, d.tokens)
    with pytest.raises(ValueError, match="min_gap"):
        define_then_use(1, 100, 2, min_gap=200)


def test_writer_is_frozen_and_reader_trains_only_its_parameters():
    m = SideReader(30, d_embed=8, window=4, capacity=16, top_k=4)
    names = {n for n, p in m.named_parameters() if p.requires_grad}
    assert names == {"attn.W_q.weight", "attn.b_gate", "logit_scale", "bias"}
    h = FrozenWriter(30, 8)(torch.tensor([[1, 2, 3]]))
    assert h.shape == (1, 3, 16) and torch.equal(h[0, 1, 8:], FrozenWriter(30, 8).E[1])
    assert torch.equal(h[0, 0, 8:], torch.zeros(8))


def test_logits_at_equals_the_layer_forward():
    torch.manual_seed(0)
    d = define_then_use(1, 200, 5, n_keys=40, n_values=8, n_filler=20, min_gap=10)
    m = SideReader(d.vocab_size, d_embed=8, window=6, capacity=50, top_k=5)
    with torch.no_grad():
        full = m(d.tokens)
        pos = d.query_pos[0]
        part = m.logits_at(d.tokens, pos)
    assert torch.allclose(full[0, pos], part[0], atol=1e-5)
    ident = lambda x, kind="key": x.clone()
    with torch.no_grad():
        assert torch.allclose(m.logits_at(d.tokens, pos, compress=ident), part, atol=1e-6)


def test_pq_for_ratio():
    assert pq_for_ratio(128, 16) == 32 and pq_for_ratio(64, 16) == 16
    with pytest.raises(ValueError, match="not reachable"):
        pq_for_ratio(64, 3)
