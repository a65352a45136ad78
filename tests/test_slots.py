"""MemN2N, the NTM slot memory and the LM2-style gated memory: hand cases, equalities, errors."""

import math

import pytest
import torch

from memlab.memory import Memory
from memlab.slots import analytic as A
from memlab.slots import lm2, memn2n, ntm
from memlab.slots.mutants import _tiny_memn2n_error


# ------------------------------------------------------------------ MemN2N
def test_position_encoding_paper_and_code_forms_by_hand():
    words = torch.tensor([[5, 7, 0]])               # J = 2 real words, padded to 3
    d = 2
    paper = memn2n.position_weights(words, d, "paper")[0]
    # l_kj = (1 - j/J) - (k/d)(1 - 2j/J), J = 2
    expect = [[(1 - j / 2) - (k / d) * (1 - 2 * j / 2) for k in (1, 2)] for j in (1, 2)]
    assert torch.allclose(paper[:2], torch.tensor(expect))
    assert torch.equal(paper[2], torch.zeros(2))    # nil word
    code = memn2n.position_weights(words, d, "code")[0]
    # l_kj = 1 + 4 (k - (d+1)/2)(j - (J+1)/2) / (d J), J = 3 (the padded length)
    expect = [[1 + 4 * (k - 1.5) * (j - 2) / 6 for k in (1, 2)] for j in (1, 2)]
    assert torch.allclose(code[:2], torch.tensor(expect))
    # not a constant factor apart: the entries differ by up to about 1
    w = torch.arange(1, 7)[None]
    diff = memn2n.position_weights(w, 20, "paper") - memn2n.position_weights(w, 20, "code")
    assert 0.5 < float(diff.abs().max()) < 1.5
    with pytest.raises(ValueError, match="pe"):
        memn2n.position_weights(words, d, "sinusoid")


def test_ages_and_random_noise_keep_the_order():
    n = torch.tensor([3, 1])
    assert memn2n.ages(n, 4).tolist() == [[2, 1, 0, 0], [0, 0, 0, 0]]
    g = torch.Generator().manual_seed(0)
    n = torch.tensor([10, 20, 5])
    for _ in range(20):
        t = memn2n.noisy_ages(n, 20, 50, 0.1, g)
        for b, k in enumerate(n.tolist()):
            a = t[b, :k]
            assert (a[:-1] > a[1:]).all()                      # strictly older first
            assert int(a.max()) <= k - 1 + math.ceil(0.1 * k)  # at most ceil(0.1 n) blanks


def test_fast_forward_equals_the_loop_reference():
    assert _tiny_memn2n_error() < 1e-9


def test_adjacent_tying_one_table_per_hop_plus_one():
    m = memn2n.MemN2N(12, memory_size=10, d=8, hops=3)
    assert m.weight.shape == (4, 22, 8)
    assert sum(p.numel() for p in m.parameters()) == 4 * 22 * 8
    assert m.state_size() == 4 * 10 * 8
    assert isinstance(m, Memory)


def test_padding_slots_do_not_change_the_answer():
    torch.manual_seed(0)
    m = memn2n.MemN2N(10, memory_size=8, d=6, hops=2).double()
    g = torch.Generator().manual_seed(1)
    story = torch.randint(1, 10, (1, 3, 4), generator=g)
    q = torch.randint(1, 10, (1, 4), generator=g)
    padded = torch.cat([story, torch.zeros(1, 5, 4, dtype=torch.long)], 1)
    a, _ = m(story, q, torch.tensor([3]))
    b, att = m(padded, q, torch.tensor([3]))
    assert torch.allclose(a, b)
    assert float(att.detach()[0, :, 3:].abs().max()) == 0.0


def test_memory_protocol_and_bad_shapes():
    m = memn2n.MemN2N(10, memory_size=4, d=4, hops=1)
    with pytest.raises(ValueError, match="read before write"):
        m.read(torch.ones(1, 3, dtype=torch.long))
    m.write(torch.ones(1, 2, 3, dtype=torch.long), torch.tensor([2]))
    logits, att = m.read(torch.ones(1, 3, dtype=torch.long))
    assert logits.shape == (1, 10) and att.shape == (1, 1, 2)
    with pytest.raises(ValueError, match="memory_size"):
        m(torch.ones(1, 5, 3, dtype=torch.long), torch.ones(1, 3, dtype=torch.long), torch.tensor([5]))
    with pytest.raises(ValueError, match="story"):
        m(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.long), torch.tensor([2]))
    with pytest.raises(ValueError, match="hops"):
        memn2n.MemN2N(10, hops=0)


def test_gradients_reach_every_table():
    m = memn2n.MemN2N(10, memory_size=4, d=4, hops=3)
    story = torch.randint(1, 10, (2, 4, 3))
    logits, _ = m(story, torch.randint(1, 10, (2, 3)), torch.tensor([4, 2]))
    torch.nn.functional.cross_entropy(logits, torch.tensor([1, 2])).backward()
    assert all(float(m.weight.grad[k].abs().sum()) > 0 for k in range(4))


# ------------------------------------------------------------------ NTM
def test_ntm_write_and_read_by_hand():
    M = torch.zeros(3, 2, dtype=torch.float64)
    w = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    M = ntm.ntm_write(M, w, torch.zeros(2, dtype=torch.float64), torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert M.tolist() == [[0, 0], [1, 2], [0, 0]]
    M = ntm.ntm_write(M, w * 0.5, torch.tensor([1.0, 0.0], dtype=torch.float64),
                      torch.tensor([4.0, 0.0], dtype=torch.float64))
    assert M.tolist() == [[0, 0], [0.5 + 2.0, 2], [0, 0]]            # (1 - 0.5) * 1 + 0.5 * 4
    assert ntm.ntm_read(M, w).tolist() == [2.5, 2.0]


def test_ntm_addressing_pipeline_by_hand():
    assert A.ntm_location_example() < 1e-6
    assert A.ntm_zero_memory() < 1e-12
    w = torch.tensor([0.1, 0.2, 0.7], dtype=torch.float64)
    assert torch.allclose(ntm.shift(w, torch.tensor([1.0, 0, 0], dtype=torch.float64)),
                          torch.tensor([0.2, 0.7, 0.1], dtype=torch.float64))
    with pytest.raises(ValueError, match="gamma"):
        ntm.sharpen(w, 0.5)
    with pytest.raises(ValueError, match="g must"):
        ntm.interpolate(w, w, 1.5)
    with pytest.raises(ValueError, match="beta"):
        ntm.content_weights(torch.ones(3, 2), torch.ones(2), -1.0)
    with pytest.raises(ValueError, match="width"):
        ntm.content_weights(torch.ones(3, 2), torch.ones(4), 1.0)
    with pytest.raises(ValueError, match="erase"):
        ntm.ntm_write(torch.ones(3, 2), w.float(), torch.tensor([2.0, 0.0]), torch.ones(2))


def test_ntm_equals_outer_product_and_rewrites():
    assert A.ntm_vs_outer_product(seed=3) < 1e-12
    rw = A.ntm_rewrite(16, seed=2)
    assert rw["e1_vs_new"] < 1e-6 and rw["e0_vs_sum"] < 1e-6
    rec = A.ntm_recall(32, 32, seed=1)
    assert rec["recalled"] == 1.0 and rec["state_size"] == 64 * 64


def test_ntm_memory_protocol():
    mem = ntm.NTMMemory(4, 3)
    assert isinstance(mem, Memory) and mem.state_size() == 12
    assert torch.all(mem.M == ntm.INIT)
    assert mem.next_slot().tolist() == [1.0, 0, 0, 0]       # the first write goes to slot 0
    mem.write(mem.next_slot(), 1.0, torch.tensor([1.0, 0, 0], dtype=torch.float64))
    assert torch.allclose(mem.read(torch.tensor([1.0, 0, 0], dtype=torch.float64), beta=100.0),
                          torch.tensor([1.0, 0, 0], dtype=torch.float64), atol=1e-6)
    with pytest.raises(ValueError, match="query or weights"):
        mem.read()
    mem.reset()
    assert torch.all(mem.M == ntm.INIT)


# ------------------------------------------------------------------ LM2
def test_lm2_gate_algebra_exact():
    errs = A.lm2_gate_algebra(seed=1)
    assert max(errs.values()) == 0.0, errs


def test_lm2_segments_carry_the_bank_and_protocol():
    torch.manual_seed(0)
    mem = lm2.LM2Memory(6, n_slots=4).double()
    x = torch.randn(2, 8, 6, dtype=torch.float64)
    y, M = mem(x, segment=4)
    y1, M1 = mem(x[:, :4])
    y2, M2 = mem(x[:, 4:], M1)
    assert torch.allclose(y, torch.cat([y1, y2], 1)) and torch.allclose(M, M2)
    assert torch.equal(mem.init_memory(1)[0], torch.eye(4, 6, dtype=torch.float64))
    assert isinstance(mem, Memory) and mem.state_size() == 24
    mem.write(x[:, :4])                      # the module's own bank
    assert not torch.equal(mem._M, mem.init_memory(2))
    with pytest.raises(ValueError, match="x must be"):
        mem.read(torch.randn(2, 6))
