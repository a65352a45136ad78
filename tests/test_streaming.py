"""Chapter 18 mechanisms: frame-bank policies, STM -> LTM, MemoryVLA bank (hand-computed cases,
equalities, bad input)."""

import numpy as np
import pytest

from memlab.memory import Memory
from memlab.streaming import experiments as E
from memlab.streaming.consolidation import ShortLongMemory
from memlab.streaming.framebank import (
    POLICIES,
    FrameBank,
    flash_merge,
    malmm_merge,
    malmm_merge_naive,
    weighted_kmeans,
)
from memlab.streaming.vla import PerceptualCognitiveBank, cue_recall_task
from memlab.tasks.streams import scene_stream


def _idx(T, N):
    return np.tile(np.arange(T)[:, None], (1, N))


def test_malmm_merge_by_hand_weighted_and_unweighted():
    f = np.array([[[1.0, 0.0]], [[0.9, 0.1]], [[0.0, 1.0]]])
    s = np.array([[3.0], [1.0], [1.0]])
    i = _idx(3, 1)
    fw, sw, a, b = malmm_merge(f, s, i, i)
    assert np.allclose(fw[0, 0], [(3 * 1.0 + 0.9) / 4, 0.1 / 4]) and sw[0, 0] == 4
    assert a[0, 0] == 0 and b[0, 0] == 1 and len(fw) == 2
    fu, su, _, _ = malmm_merge(f, s, i, i, weighted=False)
    assert np.allclose(fu[0, 0], [0.95, 0.05]) and su[0, 0] == 4
    assert np.allclose(fw[1], f[2])                      # the dissimilar frame is untouched


def test_malmm_vectorised_equals_naive_loop_per_position():
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.standard_normal((7, 4, 3))
        s = rng.integers(1, 6, (7, 4)).astype(float)
        a, b = _idx(7, 4), _idx(7, 4) + rng.integers(0, 2, (7, 4))
        for w in (True, False):
            for u, v in zip(malmm_merge(x, s, a, b, weighted=w),
                            malmm_merge_naive(x, s, a, b, weighted=w)):
                assert np.allclose(u, v)


def test_malmm_positions_merge_independently():
    # position 0: frames 0 and 1 alike; position 1: frames 1 and 2 alike
    f = np.array([[[1, 0], [1, 0]], [[1, 0.01], [0, 1]], [[0, 1], [0, 1.01]]], float)
    s = np.ones((3, 2))
    i = _idx(3, 2)
    _, sz, a, b = malmm_merge(f, s, i, i)
    assert sz[:, 0].tolist() == [2, 1] and sz[:, 1].tolist() == [1, 2]
    assert a[1, 1] == 1 and b[1, 1] == 2


def test_flash_merge_unweighted_into_the_newer_entry():
    f = np.array([[[1.0, 0.0]], [[0.9, 0.1]], [[0.0, 1.0]]])
    s = np.array([[3.0], [1.0], [1.0]])
    out, sz, a, b = flash_merge(f, s, _idx(3, 1), _idx(3, 1))
    assert np.allclose(out[0, 0], [0.95, 0.05]) and sz[0, 0] == 4 and len(out) == 2
    assert a[0, 0] == 0 and b[0, 0] == 1


def test_weighted_kmeans_weights_pull_the_centroid():
    f = np.array([[[0.0]], [[1.0]], [[10.0]]])
    s = np.array([[3.0], [1.0], [1.0]])
    out, sz, _, _ = weighted_kmeans(f, s, _idx(3, 1), _idx(3, 1), k=2, seed=0)
    assert len(out) == 2
    assert np.allclose(sorted(out[:, 0, 0]), [0.25, 10.0]) and sorted(sz[:, 0]) == [1, 4]


@pytest.mark.parametrize("policy", POLICIES)
def test_bank_under_budget_is_unchanged(policy):
    x = np.random.default_rng(1).standard_normal((10, 3, 4))
    b = FrameBank(10, policy).write_stream(x).flush()
    assert np.array_equal(b.feats, x) and np.all(b.sizes == 1)
    assert b.start[:, 0].tolist() == list(range(10))
    assert isinstance(b, Memory)
    assert b.state_size() == x.nbytes + 3 * b.sizes.nbytes


@pytest.mark.parametrize("policy", POLICIES)
def test_bank_respects_its_budget_and_spans_cover_frames(policy):
    x = np.random.default_rng(2).standard_normal((100, 2, 4))
    b = FrameBank(12, policy).write_stream(x).flush()
    assert len(b) <= 12
    assert np.all(b.start <= b.end) and b.end.max() <= 99
    if policy in ("malmm", "flash_merge", "kmeans"):
        assert np.allclose(b.sizes.sum(0), 100)           # every frame is in some entry
    if policy == "fifo":
        assert b.start[0, 0] == 88


def test_uniform_subsampling_doubles_its_stride():
    b = FrameBank(4, "uniform").write_stream(np.zeros((9, 1, 2)) + np.arange(9)[:, None, None])
    assert b.start[:, 0].tolist() == [0, 4, 8] and b.stride == 4


def test_bank_errors_name_the_argument():
    with pytest.raises(ValueError, match="policy"):
        FrameBank(8, "lifo")
    with pytest.raises(ValueError, match="budget"):
        FrameBank(1)
    b = FrameBank(4)
    with pytest.raises(ValueError, match="frame"):
        b.write(np.zeros(3))
    b.write(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="frame"):
        b.write(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="query"):
        b.read(np.zeros((3, 3)))


def test_scene_stream_shapes_and_errors():
    st = scene_stream(200, 4, 8, 5, 3, seed=0)
    assert st.frames.shape == (200, 4, 8) and len(st.starts) == 5 and st.starts[0] == 0
    assert len(set(st.scene_of.tolist())) == 5 and len(st.event_frames) == 3
    with pytest.raises(ValueError, match="n_scenes"):
        scene_stream(10, n_scenes=20)


def test_short_long_memory_keeps_recent_exact_and_consolidates_the_rest():
    x = np.random.default_rng(3).standard_normal((30, 2, 4))
    m = ShortLongMemory(short_len=5, long_budget=40).write_stream(x)
    assert np.array_equal(m.short_frames(), x[-5:])
    assert np.array_equal(m.long.feats, x[:25])           # under its budget: unchanged
    assert m.read(x[-1])[1] == "short" and m.read(x[-1])[0] == pytest.approx(1.0)
    assert m.state_size() == x[-5:].nbytes + m.long.state_size()
    with pytest.raises(ValueError, match="short_len"):
        ShortLongMemory(0)


def test_consolidation_metrics_at_small_size():
    cm = E.consolidation_metrics(seed=1)
    assert cm["stm_error"] == 0 and cm["early_recall"] >= 0.9 and cm["last_frame_read"] > 0.999


def test_vla_bank_consolidates_redundant_steps_keeps_the_distinct_one():
    bank = PerceptualCognitiveBank(2, capacity=2)
    for p in ([1.0, 0.0], [1.0, 0.0], [0.0, 1.0]):
        bank.write(p, [0.0, 0.0] if p[0] else [1.0, 0.0])
    assert len(bank) == 2 and bank.n.tolist() == [2, 1]
    assert np.allclose(bank.P, [[1, 0], [0, 1]])


def test_vla_gate_and_fusion_by_hand():
    bank = PerceptualCognitiveBank(2, capacity=4, gate_scale=10.0, gate_tau=0.5)
    bank.write([1.0, 0.0], [0.0, 1.0])
    g = bank.gate(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert g == pytest.approx(1 / (1 + np.exp(-5.0)))
    _, c_f = bank.fuse([1.0, 0.0], [0.0, 0.0])
    assert np.allclose(c_f, bank.read([1.0, 0.0], [0.0, 0.0])[2] * np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="p must"):
        bank.write([1.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="capacity"):
        PerceptualCognitiveBank(2, capacity=0)


def test_vla_memory_decodes_the_cue_without_memory_chance():
    with_mem = cue_recall_task(n_trials=30, seed=0)
    without = cue_recall_task(n_trials=30, seed=0, use_memory=False)
    assert with_mem["accuracy"] >= 0.8 and with_mem["cue_kept"] >= 0.9
    assert without["accuracy"] <= 0.5
