"""Chapter 09 mechanisms: RMT, HMT, AHN -- equalities, hand-computed cases, controls, bad input."""

import math

import pytest
import torch

from memlab.attention import CausalSelfAttention
from memlab.segment import AHN, HMT, RMT, ahn_mix
from memlab.segment.ahn import window_attention, window_mask
from memlab.segment.hmt import recall
from memlab.segment.rmt import detach_memory
from memlab.testing import check_sequence_memory, rel_err

F64 = torch.float64


def _rmt(**kw):
    torch.manual_seed(0)
    args = {"n_mem": 2, "segment_size": 4, "n_layers": 1, "n_heads": 2} | kw
    return RMT(16, **args).double()


# ------------------------------------------------------------------------------ RMT
@pytest.mark.parametrize("chunks", [[11], [3, 5, 3], [1] * 11, [4, 4, 3]])
def test_rmt_forward_equals_step_and_chunks(chunks):
    x = torch.randn(2, 11, 16, dtype=F64)
    check_sequence_memory(_rmt(), x, chunks, rtol=1e-10)


def test_rmt_cell_is_read_copy_segment_write_copy():
    mem = _rmt()
    M, x = torch.randn(1, 2, 16, dtype=F64), torch.randn(1, 4, 16, dtype=F64)
    with torch.no_grad():
        y, new, _ = mem.cell(M, x, write=True)
        h = mem.backbone(torch.cat([M, x, M], 1))
    assert rel_err(y, h[:, 2:6]) == 0 and rel_err(new, mem.norm_mem(h[:, 6:])) == 0
    # causal: the segment's outputs do not depend on the write copy
    with torch.no_grad():
        assert rel_err(mem.cell(M, x, write=False)[0], y) < 1e-14


def test_rmt_memory_connects_segments_and_segment_local_does_not():
    x = torch.randn(1, 12, 16, dtype=F64)
    x2 = x.clone()
    x2[:, :4] = torch.randn(1, 4, 16, dtype=F64)
    with torch.no_grad():
        for n_mem, carries in ((2, True), (0, False)):
            mem = _rmt(n_mem=n_mem)
            change = rel_err(mem(x2)[0][:, 8:], mem(x)[0][:, 8:])
            assert (change > 1e-6) == carries, (n_mem, change)
        mem = _rmt()
        mem.reset_memory = True          # negative control: every segment reads M_0
        assert rel_err(mem(x2)[0][:, 8:], mem(x)[0][:, 8:]) == 0


def test_rmt_k2_truncates_backpropagation_through_memory():
    assert [detach_memory(s, 4, 0) for s in range(4)] == [False, True, True, True]
    assert [detach_memory(s, 4, 2) for s in range(4)] == [False, True, True, False]
    assert not any(detach_memory(s, 4, -1) for s in range(4))

    def grads(k2):
        mem = _rmt(k2=k2)
        x = torch.randn(1, 12, 16, dtype=F64, requires_grad=True)
        mem(x)[0][:, -1].sum().backward()
        return [float(x.grad[:, i:i + 4].abs().max()) for i in (0, 4, 8)]
    full, k2_2, k2_0 = grads(-1), grads(2), grads(0)
    assert all(g > 0 for g in full)
    assert k2_2[0] == 0 and k2_2[1] > 0          # 3 segments, k2 = 2: the last 2 are connected
    assert k2_0[0] == 0 and k2_0[1] == 0 and k2_0[2] > 0
    mem = _rmt(k2=0)
    mem(torch.randn(1, 4, 16, dtype=F64))[0].sum().backward()
    assert mem.M0.grad is not None and mem.M0.grad.abs().sum() > 0   # M_0 still learns


def test_rmt_state_size_and_bad_arguments():
    assert RMT(32, n_mem=4, segment_size=16).state_size() == (4 + 15) * 32
    for kw, name in (({"n_mem": -1}, "n_mem"), ({"k2": -2}, "k2"), ({"segment_size": 0}, "segment_size")):
        with pytest.raises(ValueError, match=name):
            RMT(16, **kw)
    with pytest.raises(ValueError, match="x"):
        _rmt()(torch.randn(2, 5, 8, dtype=F64))


# ------------------------------------------------------------------------------ AHN
@pytest.mark.parametrize("rule", ["delta", "gated_delta", "linear"])
@pytest.mark.parametrize("sinks", [0, 2])
def test_ahn_forward_equals_step_and_chunks(rule, sinks):
    torch.manual_seed(1)
    m = AHN(16, n_heads=2, window=4, sinks=sinks, rule=rule).double()
    torch.nn.init.normal_(m.o_ahn.weight, std=0.3)      # the memory contributes
    x = torch.randn(2, 21, 16, dtype=F64)
    check_sequence_memory(m, x, [5, 1, 9, 6], rtol=1e-10)


def test_ahn_with_zero_projection_is_exactly_sliding_window_and_full_attention_past_T():
    torch.manual_seed(2)
    m = AHN(16, n_heads=2, window=5, sinks=1).double()
    x = torch.randn(2, 17, 16, dtype=F64)
    with torch.no_grad():
        y, _ = m(x)
        q, k, v = m.attn.qkv(x)
        pos = torch.arange(17, dtype=F64)
        assert torch.equal(y, m.attn.W_o(window_attention(q, k, v, pos, pos, 5, 1).flatten(-2)))
        # a window longer than the sequence: chapter 03's causal attention, same weights
        big = AHN(16, n_heads=2, window=64).double()
        att = CausalSelfAttention(16, n_heads=2).double()
        att.load_state_dict(big.attn.state_dict())
        assert rel_err(big(x)[0], att(x)[0]) < 1e-12


def test_ahn_hand_computed_memory_read():
    # W = 1: at t = 2 the window holds only token 2 (value 0); tokens 0 and 1 were evicted and
    # written (e1 -> a, e2 -> b); reading e1 returns a exactly
    e1, e2 = torch.tensor([1.0, 0.0], dtype=F64), torch.tensor([0.0, 1.0], dtype=F64)
    a, b = torch.tensor([2.0, -1.0], dtype=F64), torch.tensor([0.5, 3.0], dtype=F64)
    k = torch.stack([e1, e2, e1])[None, :, None]
    v = torch.stack([a, b, torch.zeros(2, dtype=F64)])[None, :, None]
    o = ahn_mix(k, k, v, window=1)
    assert torch.allclose(o[0, 2, 0], a)
    assert torch.allclose(ahn_mix(k, k, v, window=1, use_memory=False)[0, 2, 0], torch.zeros(2, dtype=F64))
    # the window mask by hand: query 3, W = 2, one sink -> keys 0, 2, 3
    assert window_mask(torch.tensor([3.0]), torch.arange(5.0), 2, 1)[0].tolist() == [True, False, True, True, False]


def test_ahn_state_size_keeps_window_and_bad_arguments():
    m = AHN(16, n_heads=2, window=4, sinks=1)
    _, st = m(torch.randn(1, 30, 16))
    assert st.k.shape[1] == 4 + 1 and st.seen == 30
    assert m.state_size() == 5 * 2 * 16 + 2 * 8 * 8
    for kw, name in (({"rule": "mamba"}, "rule"), ({"window": 0}, "window"), ({"sinks": -1}, "sinks")):
        with pytest.raises(ValueError, match=name):
            AHN(16, **kw)


# ------------------------------------------------------------------------------ HMT
def _hmt():
    torch.manual_seed(3)
    return HMT(16, segment_size=8, n_sensory=2, ltm_context=2, n_layers=1, n_heads=2).double()


def test_hmt_whole_equals_chunks_at_segment_boundaries_and_caps_the_cache():
    m = _hmt()
    x = torch.randn(2, 40, 16, dtype=F64)
    with torch.no_grad():
        y, st = m(x)
        y1, s1 = m(x[:, :16])
        y2, s2 = m(x[:, 16:], s1)
    assert rel_err(torch.cat([y1, y2], 1), y) < 1e-12
    assert rel_err(s2.cache, st.cache) < 1e-12 and st.cache.shape[1] == 2 and st.segments == 5
    assert torch.equal(st.sensory, x[:, -2:])


def test_hmt_recall_formula_and_summary_reads_the_first_half_only():
    torch.manual_seed(4)
    Wq, Wk = torch.nn.Linear(6, 4, bias=False).double(), torch.nn.Linear(6, 4, bias=False).double()
    s, M = torch.randn(1, 6, dtype=F64), torch.randn(1, 3, 6, dtype=F64)
    with torch.no_grad():
        w = torch.softmax(torch.stack([Wq(s)[0] @ Wk(M[0, j]) for j in range(3)]) / math.sqrt(4), 0)
        assert rel_err(recall(s, M, Wq, Wk)[0], (w[:, None] * M[0]).sum(0)) < 1e-12
        assert torch.equal(recall(s, M[:, :0], Wq, Wk), torch.zeros_like(s))
    m = _hmt()
    x = torch.randn(1, 24, 16, dtype=F64)
    x2 = x.clone()
    x2[:, 20:] = torch.randn(1, 4, 16, dtype=F64)   # second half of segment 2 (2 memories cached)
    with torch.no_grad():
        assert rel_err(m(x2)[0][:, 16:20], m(x)[0][:, 16:20]) == 0
        assert rel_err(m(x2)[0][:, 20:], m(x)[0][:, 20:]) > 1e-6


def test_hmt_needs_whole_segments():
    with pytest.raises(ValueError, match="segment_size"):
        _hmt()(torch.randn(1, 10, 16, dtype=F64))
    with pytest.raises(NotImplementedError):
        _hmt().step(torch.randn(1, 16, dtype=F64), None)
    with pytest.raises(ValueError, match="n_sensory"):
        HMT(16, segment_size=4, n_sensory=8)


def test_training_shortcut_for_truncated_bptt_gives_the_same_gradients():
    # train_curriculum runs the segments that no gradient reaches without autograd
    import torch.nn.functional as F

    from memlab.segment import experiments as E
    from memlab.tasks import babilong as BL

    b = BL.babilong_lite(4, 4, 16, n_people=1)
    for k2 in (0, 2):
        torch.manual_seed(0)
        m = E.make_rmt_lm(len(b.meta["vocab"]), k2=k2).double()
        F.cross_entropy(m(b.inputs)[:, -1], b.targets[:, -1]).backward()
        g1 = [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in m.parameters()]
        m.zero_grad()
        keep = max(k2, 1)
        with torch.no_grad():
            _, st = m(b.inputs[:, :(4 - keep) * 16], return_states=True)
        F.cross_entropy(m(b.inputs[:, (4 - keep) * 16:], st)[:, -1], b.targets[:, -1]).backward()
        for p, g in zip(m.parameters(), g1):
            assert torch.equal(p.grad if p.grad is not None else torch.zeros_like(p), g)
