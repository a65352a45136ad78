"""Chapter 17's mechanisms: TIES by hand, ROME's exact write, the codebook, WISE-lite's margins
(gradient against finite differences), routing, and clear errors."""

import numpy as np
import pytest

from memlab.parametric import (
    Codebook,
    WiseLite,
    answer,
    ft_edit,
    make_facts,
    margin_grad,
    rome_edit,
    ties_merge,
)
from memlab.parametric import mutants as M


def test_ties_by_hand():
    assert M.ties_hand_error() == 0.0
    # density 1, two vectors: no trim; entry 0 agrees (+), entry 1 elects - (|-3| > 1)
    out = ties_merge([np.array([1.0, -3.0]), np.array([3.0, 1.0])], 1.0)
    assert np.allclose(out, [2.0, -3.0])
    # an entry where no vector survives the trim is 0
    assert np.allclose(ties_merge([np.array([5.0, 0.1]), np.array([4.0, -0.1])], 0.5), [4.5, 0.0])
    with pytest.raises(ValueError, match="density"):
        ties_merge([np.zeros(3)], 0.0)


def test_rome_writes_exactly_and_checks_shapes():
    assert M.rome_single_edit_error() < 1e-8
    W = np.zeros((2, 3))
    W2 = rome_edit(W, np.eye(3), np.array([0.0, 1.0, 0.0]), np.array([1.0, 2.0]))
    assert np.allclose(W2, [[0, 1, 0], [0, 2, 0]])
    with pytest.raises(ValueError, match="k must be"):
        rome_edit(W, np.eye(3), np.ones(2), np.ones(2))


def test_memory_answers_and_codebook_is_exact_key_only():
    mem = make_facts(200, 256, 16, 20, seed=0)
    assert np.mean(answer(mem.W, mem.V, mem.K) == mem.t) > 0.95
    cb = Codebook()
    cb.edit(mem.K[0], (mem.t[0] + 1) % 20)
    assert cb.answer(mem.W, mem.V, mem.K[:1])[0] == (mem.t[0] + 1) % 20
    noisy = mem.K[:1] + 1e-2
    assert cb.answer(mem.W, mem.V, noisy)[0] == answer(mem.W, mem.V, noisy)[0]
    with pytest.raises(ValueError, match="shared"):
        make_facts(10, 8, shared=1.0)


def test_ft_edit_reaches_the_target():
    mem = make_facts(200, 128, 16, 20, seed=1)
    t = (mem.t[3] + 1) % 20
    assert answer(ft_edit(mem.W, mem.V, mem.K[3], t), mem.V, mem.K[3])[0] == t


def test_margin_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    D = rng.standard_normal((4, 6)) * 0.3
    k, X = rng.standard_normal(6), rng.standard_normal((3, 6))
    am = (0.5, 2.0, 1.0)
    _, G = margin_grad(D, k, X, am)
    num = np.zeros_like(D)
    for i in range(4):
        for j in range(6):
            E = np.zeros_like(D)
            E[i, j] = 1e-6
            num[i, j] = (margin_grad(D + E, k, X, am)[0] - margin_grad(D - E, k, X, am)[0]) / 2e-6
    assert np.allclose(G, num, atol=1e-5)
    # the three hinge terms by hand at D = 0: only [beta - 0]+ + [0 - 0 + gamma]+ are active
    assert margin_grad(np.zeros((4, 6)), k, X, am)[0] == pytest.approx(2.0 + 1.0)


def test_wise_routes_edits_and_leaves_the_rest():
    mem = make_facts(400, 256, 16, 20, seed=2)
    w = WiseLite(mem.W, mem.V, save_freq=2, merge_freq=4, seed=0)
    before = answer(mem.W, mem.V, mem.K)
    targets = (mem.t[:6] + 1) % 20
    for i in range(6):
        w.edit(mem.K[i], targets[i], mem.K[100 + 8 * i:108 + 8 * i])
    assert len(w.memories) == 1 and len(w.side_memories()) == 2     # 4 merged + 2 pending
    assert np.array_equal(w.predict(mem.K[:6]), targets)
    assert np.mean(w.predict(mem.K[200:]) == before[200:]) > 0.95
    assert np.array_equal(w.W, mem.W)                               # the main memory untouched


def test_wise_rejects_bad_settings():
    mem = make_facts(50, 16, 8, 5, seed=0)
    with pytest.raises(ValueError, match="mask_ratio"):
        WiseLite(mem.W, mem.V, mask_ratio=0.0)
    with pytest.raises(ValueError, match="save_freq"):
        WiseLite(mem.W, mem.V, save_freq=3, merge_freq=4)
