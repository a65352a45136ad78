"""Chapter 16's mutants: realistic bugs in replay, the reservoir and EWC, and the checks that
catch them (see :mod:`memlab.testing.mutants`)."""

from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

import torch

from memlab.continual import buffer as B
from memlab.continual import ewc as W
from memlab.continual import experiments as E
from memlab.continual import learner as L
from memlab.report import at_most, between
from memlab.testing.mutants import check, mutant
from memlab.tasks.split_digits import split_digits

# ---------------------------------------------------------------- reservoir buffer


@mutant("16", "Reservoir exemplar buffer")
@contextmanager
def reservoir_off_by_one():
    """j ~ Uniform{0..n_seen-1} instead of {0..n_seen}: the stream's first M items are kept
    with probability (M-1)/(n-1), the rest with M/(n-1) (an exclusive upper bound slip)."""
    def slot(n_seen, capacity, rng):
        if n_seen < capacity:
            return n_seen
        j = int(rng.integers(0, n_seen))
        return j if j < capacity else -1
    with mock.patch.object(B, "reservoir_slot", slot):
        yield


@mutant("16", "Reservoir exemplar buffer")
@contextmanager
def reservoir_keeps_first():
    """A full buffer never replaces: it keeps the stream's first M items (the first task only)."""
    with mock.patch.object(B, "reservoir_slot",
                           lambda n_seen, capacity, rng: n_seen if n_seen < capacity else -1):
        yield


@mutant("16", "Reservoir exemplar buffer")
@contextmanager
def reservoir_ring_buffer():
    """Slot n_seen mod M: a ring buffer that keeps only the most recent items (recency, not a
    uniform sample of the stream)."""
    with mock.patch.object(B, "reservoir_slot", lambda n_seen, capacity, rng: n_seen % capacity):
        yield


# ---------------------------------------------------------------- experience replay


@mutant("16", "Experience replay (ER)")
@contextmanager
def er_replay_never_read():
    """The replay batch is never joined to the new batch (the buffer is filled, not used)."""
    with mock.patch.object(B.ReservoirBuffer, "read", lambda self, n, generator=None: None):
        yield


@mutant("16", "Experience replay (ER)")
@contextmanager
def er_replay_labels_shuffled():
    """Replayed exemplars come back with shuffled labels (x and y indexed separately)."""
    orig = B.ReservoirBuffer.read

    def read(self, n, generator=None):
        out = orig(self, n, generator)
        if out is None:
            return None
        return out[0], out[1][torch.randperm(out[1].shape[0], generator=generator)]
    with mock.patch.object(B.ReservoirBuffer, "read", read):
        yield


@mutant("16", "Experience replay (ER)")
@contextmanager
def task_head_mod_instead_of_div():
    """The task-IL head masks classes by y % classes_per_task instead of y // classes_per_task:
    every task is scored on the wrong pair of classes."""
    def mask(y, classes_per_task, n_classes=10):
        cls = torch.arange(n_classes)
        return (cls[None] % classes_per_task) == (y % classes_per_task)[:, None]
    with mock.patch.object(L, "task_mask", mask):
        yield


# ---------------------------------------------------------------- EWC


@mutant("16", "Online EWC")
@contextmanager
def fisher_of_batch_mean_gradient():
    """F = (mean per-sample gradient)^2, the square of a batch-mean gradient, instead of the mean
    of per-sample squares: a pitfall the reference notes list; far too small a Fisher."""
    orig = W.fisher_diagonal

    def fisher(model, x, y, mask=None, mode="empirical"):
        from torch.func import functional_call, grad, vmap
        params = {k: v.detach() for k, v in model.named_parameters()}
        m = mask if mask is not None else torch.ones(x.shape[0], 10, dtype=torch.bool)

        def ll_one(p, xi, yi, mi):
            return W.log_likelihood(functional_call(model, p, (xi[None],)), yi[None], mi[None])[0]
        g = vmap(grad(ll_one), in_dims=(None, 0, 0, 0))(params, x, y, m)
        return {k: v.mean(0).pow(2) for k, v in g.items()}
    assert orig is not None
    with mock.patch.object(W, "fisher_diagonal", fisher):
        yield


@mutant("16", "Online EWC")
@contextmanager
def ewc_penalty_sign_flipped():
    """The penalty enters with the wrong sign: weights are pushed away from the anchor."""
    orig = W.OnlineEWC.penalty
    with mock.patch.object(W.OnlineEWC, "penalty", lambda self, model: -orig(self, model)):
        yield


@mutant("16", "Online EWC")
@contextmanager
def ewc_fisher_replaced_not_accumulated():
    """F <- F_new after each task (the old tasks' importance thrown away) instead of
    F <- gamma F + F_new: only the latest task is protected."""
    def consolidate(self, model, x, y, mask=None):
        self.fisher = W.fisher_diagonal(model, x, y, mask, self.mode)
        self.theta_star = {k: v.detach().clone() for k, v in model.named_parameters()}
    with mock.patch.object(W.OnlineEWC, "consolidate", consolidate):
        yield


# ---------------------------------------------------------------- checks (test size)


@check("16", "er50_cil_acc")
def _er50():
    return L.average_accuracy(L.run_continual(split_digits(seed=0), "er", buffer_size=50,
                                              epochs=10).R)


@check("16", "ewc_til_acc")
def _ewc_til():
    return L.average_accuracy(L.run_continual(split_digits(seed=0), "ewc", "task",
                                              ewc_lambda=1e3, epochs=10).R)


@check("16", "ewc_permuted_forgetting_reduction")
def _permuted():
    return E.permuted_ewc(seed=0)["forgetting_reduction"]


@check("16", "reservoir_inclusion_p")
def _reservoir():
    return E.reservoir_inclusion()["p_value"]


@check("16", "equal_to_naive", target=at_most(0.0))
def _equal():
    return max(E.equal_to_naive().values())


@check("16", "fisher_vmap_equals_loop", target=at_most(1e-5))
def _fisher():
    from memlab.testing import rel_err
    model = L.make_mlp(0)
    t = split_digits(seed=0)[0]
    x, y = t.x_train[:24], t.y_train[:24]
    fast, slow = W.fisher_diagonal(model, x, y), W.fisher_loop(model, x, y)
    return max(rel_err(fast[k], slow[k]) for k in fast)


@check("16", "ewc_online_fisher_ratio", target=between(1.5 - 1e-6, 1.5 + 1e-6))
def _online():
    """Two consolidations on the same data with gamma 0.5: F = 0.5 F + F = 1.5 F (by hand)."""
    model = L.make_mlp(1)
    t = split_digits(seed=0)[0]
    ewc = W.OnlineEWC(1.0, gamma=0.5)
    ewc.consolidate(model, t.x_train[:8], t.y_train[:8])
    first = sum(float(v.sum()) for v in ewc.fisher.values())
    ewc.consolidate(model, t.x_train[:8], t.y_train[:8])
    return sum(float(v.sum()) for v in ewc.fisher.values()) / first
