"""Specs of the synthetic task generators (memlab.tasks)."""

import numpy as np
import pytest
import torch

from memlab.tasks import IGNORE, TaskBatch, mqar, nback, needle, selective_copying, serial_recall


# ----------------------------------------------------------------------------- MQAR
def test_mqar_layout_matches_zoology():
    n, T, P, V = 50, 64, 8, 128
    b = mqar(n, T, P, V, seed=3)
    assert b.inputs.shape == b.targets.shape == (n, T)
    assert b.inputs.dtype == torch.long
    keys, vals = b.inputs[:, 0:2 * P:2], b.inputs[:, 1:2 * P:2]
    assert ((keys >= 1) & (keys < V // 2)).all(), "keys come from the lower half [1, V/2)"
    assert ((vals >= V // 2) & (vals < V)).all(), "values come from the upper half"
    for i in range(n):
        assert len(set(keys[i].tolist())) == P and len(set(vals[i].tolist())) == P
        ans = (b.targets[i] != IGNORE).nonzero().flatten()
        assert len(ans) == P, "every key is asked exactly once"
        assert (ans >= 2 * P).all() and ((ans - 2 * P) % 2 == 0).all(), "query slots are even offsets"
        lookup = dict(zip(keys[i].tolist(), vals[i].tolist()))
        for t in ans.tolist():
            assert lookup[int(b.inputs[i, t])] == int(b.targets[i, t]), "answer = value of queried key"
    assert (b.targets[:, :2 * P] == IGNORE).all()
    assert ((b.targets == IGNORE) | (b.targets >= V // 2)).all()
    qp = b.meta["query_pair"]
    assert ((qp >= 0) == (b.targets != IGNORE)).all()


def test_mqar_power_law_prefers_short_gaps():
    b = mqar(2000, 256, 4, 512, seed=0)
    first = (b.targets != IGNORE).float().argmax(1) - 8
    gaps = first // 2  # slot of the earliest query
    space = (256 - 8) // 2
    # uniform sampling would put the earliest of 4 slots at ~space/5; the power law puts it far closer
    assert gaps.float().median() < space / 10


def test_mqar_is_seeded():
    a, b, c = mqar(10, 32, 4, 64, seed=1), mqar(10, 32, 4, 64, seed=1), mqar(10, 32, 4, 64, seed=2)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, c.inputs)


def test_mqar_zero_filler_option():
    b = mqar(5, 32, 4, 64, random_non_queries=False, seed=0)
    rest = b.inputs[:, 8:][b.targets[:, 8:] == IGNORE]
    assert (rest == 0).all()


def test_mqar_read_twice_layout():
    """JRT's [ctx; ctx; question]: the same pairs twice, then the questions after the copy."""
    n, T, P, V = 30, 48, 6, 64
    once = mqar(n, T, P, V, seed=4, random_non_queries=False)
    twice = mqar(n, T, P, V, seed=4, random_non_queries=False, num_passes=2)
    ctx = 2 * P
    assert torch.equal(twice.inputs[:, :ctx], twice.inputs[:, ctx:2 * ctx])
    assert torch.equal(twice.inputs[:, :ctx], once.inputs[:, :ctx])     # same pairs, same seed
    assert (twice.targets[:, :2 * ctx] == IGNORE).all()
    assert (twice.answer_mask.sum(1) == P).all()
    # every question asks a key of the context and its target is that key's value
    keys, values = twice.inputs[:, 0:ctx:2], twice.inputs[:, 1:ctx:2]
    qp = twice.meta["query_pair"]
    m = qp >= 0
    assert (qp[:, :2 * ctx] == -1).all()
    assert torch.equal(twice.inputs[m], keys.gather(1, qp.clamp_min(0))[m])
    assert torch.equal(twice.targets[m], values.gather(1, qp.clamp_min(0))[m])
    assert twice.meta["num_passes"] == 2 and once.meta["num_passes"] == 1
    with pytest.raises(ValueError, match="num_passes=2"):
        mqar(2, 4 * P + 2, P, V, num_passes=2)
    with pytest.raises(ValueError, match="num_passes"):
        mqar(2, T, P, V, num_passes=0)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_examples": 2, "seq_len": 16, "n_pairs": 5, "vocab_size": 64}, "seq_len >= 4\\*n_pairs"),
    ({"n_examples": 2, "seq_len": 64, "n_pairs": 8, "vocab_size": 16}, "vocab_size"),
    ({"n_examples": 0, "seq_len": 64, "n_pairs": 8, "vocab_size": 128}, "n_examples"),
    ({"n_examples": 2, "seq_len": 64, "n_pairs": 4, "vocab_size": 128, "power_a": 0.0}, "power_a"),
])
def test_mqar_impossible_configurations(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mqar(**kwargs)


def test_mqar_type_errors():
    with pytest.raises(TypeError, match="n_pairs"):
        mqar(2, 32, 2.5, 64)


# ----------------------------------------------------------------------------- others
def test_selective_copying_spec():
    n, T, k, V = 20, 24, 5, 10
    b = selective_copying(n, T, k, V, seed=0)
    L = T - k
    assert (b.inputs[:, L:] == 1).all()
    assert (b.targets[:, :L] == IGNORE).all()
    for i in range(n):
        data = b.inputs[i, :L][b.inputs[i, :L] != 0]
        assert len(data) == k and (data >= 2).all()
        assert torch.equal(data, b.targets[i, L:]), "copy the data tokens in order"
        assert torch.equal(b.meta["data_pos"][i], (b.inputs[i, :L] != 0).nonzero().flatten())
    with pytest.raises(ValueError, match="copy markers"):
        selective_copying(2, 9, 5, 10)


@pytest.mark.parametrize("depth", [0.0, 0.37, 1.0])
def test_needle_spec(depth):
    n, T, V = 30, 40, 32
    b = needle(n, T, depth, V, seed=1)
    p = round(depth * (T - 3))
    assert (b.meta["needle_pos"] == p + 1).all()
    key, val = b.inputs[:, p], b.inputs[:, p + 1]
    assert torch.equal(b.inputs[:, -1], key) and torch.equal(b.targets[:, -1], val)
    assert (val >= V // 2).all() and ((key >= 1) & (key < V // 2)).all()
    assert ((b.targets != IGNORE).sum(1) == 1).all()
    hay = b.inputs.clone()
    hay[:, [p, p + 1, T - 1]] = -1
    for i in range(n):
        h = hay[i][hay[i] >= 0]
        assert (h < V // 2).all() and (h >= 1).all(), "filler from the lower half"
        assert not (h == key[i]).any(), "the key occurs only at the needle and the question"


def test_needle_bad_depth():
    with pytest.raises(ValueError, match="depth"):
        needle(2, 20, 1.5, 32)


def test_nback_and_serial_recall():
    b = nback(7, 20, 3, 11, seed=0)
    assert (b.targets[:, :3] == IGNORE).all()
    assert torch.equal(b.targets[:, 3:], b.inputs[:, :-3])
    with pytest.raises(ValueError, match="n=20"):
        nback(2, 20, 20, 11)
    s = serial_recall(4, 6, 12, seed=0)
    assert s.seq_len == 12 and (s.inputs[:, 6:] == 1).all()
    assert torch.equal(s.targets[:, 6:], s.inputs[:, :6])


def test_taskbatch_slicing_and_meta():
    b = needle(10, 20, 0.5, 32, seed=0)
    s = b[2:5]
    assert isinstance(s, TaskBatch) and len(s) == 3 and s.meta["needle_pos"].shape == (3,)
    assert torch.equal(s.inputs, b.inputs[2:5])
    assert s.meta["depth"] == 0.5
    one = b[0]
    assert len(one) == 1
    idx = torch.tensor([0, 9])
    assert torch.equal(b[idx].targets, b.targets[idx])
    assert b.to("cpu").inputs.device.type == "cpu"
    assert b.answer_mask.sum() == 10
    with pytest.raises(ValueError, match="inputs and targets"):
        TaskBatch(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long))


def test_generators_are_fast_enough_for_notebooks():
    # vectorised: 20k MQAR examples are one numpy call, not a Python loop per example
    b = mqar(20000, 64, 8, 128, seed=0)
    assert len(b) == 20000
    assert np.isfinite(b.inputs.float().mean().item())
