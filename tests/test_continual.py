"""Chapter 16's mechanisms against hand-computed cases and their naive forms."""

import numpy as np
import pytest
import torch

from memlab.continual import (OnlineEWC, ReservoirBuffer, backward_transfer, fisher_diagonal,
                              fisher_loop, forgetting, make_mlp, model_bytes, reservoir_slot,
                              run_continual, task_mask, tm_loss, tm_thresholds)
from memlab.continual import experiments as E
from memlab.tasks.split_digits import EXEMPLAR_BYTES, split_digits
from memlab.testing import rel_err


def test_split_digits_is_class_ordered_stratified_and_seeded():
    tasks = split_digits(seed=0)
    assert [t.classes for t in tasks] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    for t in tasks:
        assert set(t.y_train.tolist()) == set(t.classes) == set(t.y_test.tolist())
        assert 0.0 <= float(t.x_train.min()) and float(t.x_train.max()) <= 1.0
    n = sum(t.x_train.shape[0] + t.x_test.shape[0] for t in tasks)
    assert n == 1797
    again = split_digits(seed=0)
    assert torch.equal(again[2].x_train, tasks[2].x_train)
    assert not torch.equal(split_digits(seed=1)[2].x_train, tasks[2].x_train)
    with pytest.raises(ValueError, match="n_tasks"):
        split_digits(n_tasks=3)


def test_reservoir_fills_then_draws_from_n_seen_plus_one_choices():
    class Fixed:
        def __init__(self, j):
            self.j, self.calls = j, []

        def integers(self, lo, hi):
            self.calls.append((lo, hi))
            return self.j
    assert [reservoir_slot(i, 3, Fixed(0)) for i in range(3)] == [0, 1, 2]
    r = Fixed(2)
    assert reservoir_slot(5, 3, r) == 2 and r.calls == [(0, 6)]      # uniform on {0..5}
    assert reservoir_slot(5, 3, Fixed(3)) == -1                        # j >= M: dropped


def test_reservoir_buffer_counts_bytes_and_keeps_a_uniform_sample():
    buf = ReservoirBuffer(4, item_bytes=EXEMPLAR_BYTES, seed=0)
    assert buf.state_size() == 0 and buf.read(3) is None
    buf.write(torch.zeros(10, 64), torch.arange(10))
    assert len(buf) == 4 and buf.n_seen == 10 and buf.state_size() == 4 * 65
    res = E.reservoir_inclusion(n=20, capacity=10, trials=1500, seed=3)
    assert res["p_value"] > 1e-3 and res["max_abs_dev"] < 0.05
    with pytest.raises(ValueError, match="capacity"):
        ReservoirBuffer(-1)
    with pytest.raises(ValueError, match="items"):
        buf.write(torch.zeros(2, 64), torch.zeros(3, dtype=torch.long))


def test_batched_reservoir_write_equals_item_by_item():
    x, y = torch.randn(37, 3), torch.arange(37)
    a, b = ReservoirBuffer(8, seed=5), ReservoirBuffer(8, seed=5)
    a.write(x, y)
    for i in range(37):
        b.write(x[i:i + 1], y[i:i + 1])
    assert torch.equal(a.y, b.y) and torch.equal(a.x, b.x)


def test_fisher_is_the_mean_of_per_sample_squares_vmap_equals_loop():
    model = make_mlp(0)
    t = split_digits(seed=0)[1]
    x, y = t.x_train[:20], t.y_train[:20]
    for mode in ("empirical", "weighted"):
        fast, slow = fisher_diagonal(model, x, y, mode=mode), fisher_loop(model, x, y, mode=mode)
        assert max(rel_err(fast[k], slow[k]) for k in fast) < 1e-5
    mask = task_mask(y, 2)
    fast, slow = fisher_diagonal(model, x, y, mask), fisher_loop(model, x, y, mask)
    assert max(rel_err(fast[k], slow[k]) for k in fast) < 1e-5
    # the square of the batch-mean gradient is a different, much smaller quantity
    batch_mean_sq = sum(float(v.sum()) for v in fisher_diagonal(model, x[:1], y[:1]).values())
    assert batch_mean_sq > 0
    with pytest.raises(ValueError, match="mode"):
        fisher_diagonal(model, x, y, mode="true")


def test_ewc_penalty_by_hand_and_online_accumulation():
    lin = torch.nn.Linear(1, 1, bias=False)
    ewc = OnlineEWC(ewc_lambda=4.0, gamma=0.5)
    ewc.fisher, ewc.theta_star = {"weight": torch.tensor([[3.0]])}, {"weight": torch.tensor([[1.0]])}
    with torch.no_grad():
        lin.weight.fill_(2.0)
    assert float(ewc.penalty(lin).detach()) == pytest.approx(4.0 / 2 * 3.0 * 1.0)
    model = make_mlp(1)
    t = split_digits(seed=0)[0]
    ewc = OnlineEWC(1.0, gamma=0.5)
    ewc.consolidate(model, t.x_train[:8], t.y_train[:8])
    f1 = {k: v.clone() for k, v in ewc.fisher.items()}
    ewc.consolidate(model, t.x_train[:8], t.y_train[:8])
    assert all(torch.allclose(ewc.fisher[k], 1.5 * f1[k]) for k in f1)   # 0.5 F + F
    with pytest.raises(ValueError, match="ewc_lambda"):
        OnlineEWC(-1.0)
    with pytest.raises(ValueError, match="gamma"):
        OnlineEWC(1.0, gamma=2.0)


def test_metrics_by_hand():
    R = np.array([[0.9, 0.1, 0.0], [0.6, 0.8, 0.1], [0.5, 0.7, 0.9]])
    assert forgetting(R) == pytest.approx(((0.9 - 0.5) + (0.8 - 0.7)) / 2)
    assert backward_transfer(R) == pytest.approx(((0.5 - 0.9) + (0.7 - 0.8)) / 2)
    assert model_bytes(make_mlp(0)) == 9610 * 4


def test_lambda0_and_empty_buffer_are_exactly_naive():
    eq = E.equal_to_naive(seed=1, epochs=1)
    assert eq == {"ewc_lambda0": 0.0, "er_buffer0": 0.0}


def test_task_mask_and_bad_arguments():
    m = task_mask(torch.tensor([0, 3, 9]), 2)
    assert m[0].nonzero().flatten().tolist() == [0, 1]
    assert m[1].nonzero().flatten().tolist() == [2, 3]
    assert m[2].nonzero().flatten().tolist() == [8, 9]
    tasks = split_digits(seed=0)[:2]
    with pytest.raises(ValueError, match="method"):
        run_continual(tasks, "lwf")
    with pytest.raises(ValueError, match="scenario"):
        run_continual(tasks, "naive", "domain")
    with pytest.raises(ValueError, match="epochs"):
        run_continual(tasks, "naive", epochs=0)


def test_gere_tm_loss_by_hand():
    h0 = torch.tensor([[2.0, 1.0], [0.0, 0.0], [-2.0, -1.0]])
    pos, neg = tm_thresholds(h0)               # mean 0, std 2 and 1 (unbiased)
    assert torch.allclose(pos, torch.tensor([2.0, 1.0])) and torch.allclose(neg, torch.tensor([-2.0, -1.0]))
    assert float(tm_loss(h0, h0, pos, neg)) == 0.0                # 0 at the start, by construction
    h = h0.clone()
    h[0, 0] = 1.0          # started at pos (>= pos): must stay above, 1 below -> loss 1
    h[2, 0] = -1.5         # started at neg (<= neg): must stay below, 0.5 above -> loss 0.5
    h[1, 1] = 1.25         # started inside the band [-1, 1]: 0.25 above pos -> loss 0.25
    assert float(tm_loss(h, h0, pos, neg)) == pytest.approx((1.0 + 0.5 + 0.25) / 3)
    with pytest.raises(ValueError, match="h0"):
        tm_thresholds(torch.zeros(1, 3))
