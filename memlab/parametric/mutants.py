"""Chapter 17's mutants: realistic bugs in WISE-lite's routing and margins, the TIES merge and
ROME's rank-one edit, and the checks that catch them (see :mod:`memlab.testing.mutants`)."""

from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

import numpy as np

from memlab.parametric import experiments as E
from memlab.parametric import exposure as X
from memlab.parametric import unlearning as U
from memlab.parametric import wise as Wm
from memlab.parametric import wise_side as S
from memlab.report import at_least, at_most
from memlab.testing.mutants import check, mutant

SMALL = {"n_facts": 1000, "d_k": 512, "seed": 0}       # the checks' size (about half a second)

# ---------------------------------------------------------------- WISE-lite


@mutant("17", "WISE-lite routed side memory")
@contextmanager
def wise_batch_routed_by_scalar_if():
    """Routing decided once per batch (`if (Δ > ε).any()`), the bug EasyEdit fixed: one in-scope
    query sends the whole batch, unedited facts included, to the side memory."""
    def predict(self, X):
        X = np.atleast_2d(X)
        mems = self.side_memories()
        acts = np.stack([np.linalg.norm(X @ D.T, axis=1) for D, _ in mems])
        if (acts > np.array([e for _, e in mems])[:, None]).any():
            j = int(acts.mean(1).argmax())
            return Wm.answer(self.W + mems[j][0], self.V, X)
        return Wm.answer(self.W, self.V, X)
    with mock.patch.object(S.WiseLite, "predict", predict):
        yield


@mutant("17", "WISE-lite routed side memory",
        excused="measured: at this size CE alone keeps Δ small on unrelated keys (locality 0.998 "
                "without the out-of-scope margins at 300 edits); the routing does the work")
@contextmanager
def wise_out_of_scope_margin_dropped():
    """Only the in-scope margin [β - Δin]+ is kept: nothing keeps Δ small on unrelated keys,
    so the threshold cannot separate them."""
    orig = S.margin_grad

    def grad(D, k, X_out, act_margin):            # out-of-scope keys replaced by a zero key
        return orig(D, k, np.zeros((1, D.shape[1])), act_margin)
    with mock.patch.object(S, "margin_grad", grad):
        yield


@mutant("17", "WISE-lite routed side memory")
@contextmanager
def wise_side_copy_aliases_main():
    """W' = W without a copy (a view): every edit of the side memory is also an edit of the
    main memory, so WISE degrades into fine-tuning."""
    orig = S.WiseLite.edit

    def edit(self, k, t, X_out):
        before = self.D.copy()
        orig(self, k, t, X_out)
        after = self.shards[-1] if self.n_edits % self.save_freq == 0 and self.shards else self.D
        self.W = self.W + (after - before)
    with mock.patch.object(S.WiseLite, "edit", edit):
        yield


@mutant("17", "WISE-lite routed side memory")
@contextmanager
def wise_threshold_max_not_min():
    """ε = act_ratio · max over edits of Δ(k*) instead of the min: the weakest edits fall below
    the threshold and are answered by the unedited main memory."""
    def side_memories(self):
        mems = list(self.memories)
        pending = self.shards + ([self.D] if self.n_edits % self.save_freq else [])
        if pending:
            mems.append((self._merge(pending), np.stack(self.keys)))
        return [(D, self.act_ratio * float(np.linalg.norm(K @ D.T, axis=1).max())) for D, K in mems]
    with mock.patch.object(S.WiseLite, "side_memories", side_memories):
        yield

# ---------------------------------------------------------------- TIES merge


@mutant("17", "TIES merge")
@contextmanager
def ties_no_trim():
    """The trim step is skipped (density ignored): small, noisy entries vote and are averaged."""
    orig = Wm.ties_merge
    with mock.patch.object(Wm, "ties_merge", lambda taus, density=0.53: orig(taus, 1.0)):
        yield


@mutant("17", "TIES merge")
@contextmanager
def ties_sign_by_count():
    """The sign is elected by counting signs (majority vote) instead of the sign of the sum."""
    def merge(taus, density=0.53):
        T = np.stack([np.asarray(x, dtype=float) for x in taus])
        flat = T.reshape(len(T), -1).copy()
        k = int(np.ceil(density * flat.shape[1]))
        for row in flat:
            if k < row.size:
                cut = np.partition(np.abs(row), row.size - k)[row.size - k]
                row[np.abs(row) < cut] = 0.0
        sign = np.sign(np.sign(flat).sum(0))
        agree = (np.sign(flat) == sign[None]) & (flat != 0)
        n = agree.sum(0)
        return np.where(n > 0, (flat * agree).sum(0) / np.maximum(n, 1), 0.0).reshape(T.shape[1:])
    with mock.patch.object(Wm, "ties_merge", merge):
        yield


@mutant("17", "TIES merge")
@contextmanager
def ties_mean_over_all():
    """The agreeing entries are divided by the number of task vectors, not by how many agree
    (a plain mean after the vote): every merged entry shrinks."""
    orig = Wm.ties_merge

    def merge(taus, density=0.53):
        T = np.stack([np.asarray(x, dtype=float) for x in taus])
        m = orig(taus, density)
        flat = T.reshape(len(T), -1)
        n = ((np.sign(flat) == np.sign(m.reshape(-1))[None]) & (flat != 0)).sum(0)
        return (m.reshape(-1) * n / len(T)).reshape(m.shape)
    with mock.patch.object(Wm, "ties_merge", merge):
        yield

# ---------------------------------------------------------------- ROME


@mutant("17", "ROME rank-one edit")
@contextmanager
def rome_covariance_not_inverted():
    """C k* used where C⁻¹ k* belongs (the inverse forgotten): the edit still lands on v*, but
    along the keys' most common direction, which moves every other fact."""
    def edit(W, Cinv, k, v):
        Ck = np.linalg.inv(Cinv) @ k
        return W + np.outer(v - W @ k, Ck) / (k @ Ck)
    with mock.patch.object(Wm, "rome_edit", edit):
        yield


@mutant("17", "ROME rank-one edit")
@contextmanager
def rome_normalised_by_kTk():
    """The denominator is kᵀk instead of kᵀC⁻¹k: the edit no longer lands on v*."""
    with mock.patch.object(Wm, "rome_edit", lambda W, Cinv, k, v:
                           W + np.outer(v - W @ k, Cinv @ k) / (k @ k)):
        yield


@mutant("17", "ROME rank-one edit")
@contextmanager
def rome_residual_forgotten():
    """v* written in place of the residual v* - W k*: the old answer is added to, not replaced."""
    with mock.patch.object(Wm, "rome_edit", lambda W, Cinv, k, v:
                           W + np.outer(v, Cinv @ k) / (k @ Cinv @ k)):
        yield

# ---------------------------------------------------------------- checks (small size)

TIES_TAUS = [np.array([0.1, -3.0, 0.0, 2.0]), np.array([0.0, 1.0, 0.2, -0.5]),
             np.array([0.3, 1.0, -0.6, 0.1])]
# by hand, density 0.5 (keep 2 of 4): [0, -3, 0, 2], [0, 1, 0, -0.5], [0, 1, -0.6, 0];
# signs of the sums [0, -1, -0.6, 1.5]: [0, -, -, +]; disjoint means: [0, -3, -0.6, 2]
# (a vote by counting signs would elect + for the second entry: two small +1 against one -3)
TIES_HAND = np.array([0.0, -3.0, -0.6, 2.0])


def ties_hand_error():
    return float(np.abs(Wm.ties_merge(TIES_TAUS, 0.5) - TIES_HAND).max())


def rome_single_edit_error(seed=0):
    mem = Wm.make_facts(300, 64, 16, 20, seed=seed)
    Kc = mem.sample_keys(300, seed=seed + 7)
    Cinv = np.linalg.inv(Kc.T @ Kc + 1e-2 * np.eye(64))
    W2 = Wm.rome_edit(mem.W, Cinv, mem.K[0], mem.V[3])
    return float(np.abs(W2 @ mem.K[0] - mem.V[3]).max())


@check("17", "ties_hand_error", target=at_most(1e-12))
def _ties():
    return ties_hand_error()


@check("17", "rome_single_edit_error", target=at_most(1e-8))
def _rome_one():
    return rome_single_edit_error()


@check("17", "rome_locality_60_edits", target=at_least(0.9))
def _rome_loc():
    return E.run_edits(60, methods=("rome",), **SMALL)["rome"]["locality"]


@check("17", "wise_triangle")
def _wise():
    return E.triangle(E.run_edits(60, methods=("wise",), save_freq=5, merge_freq=10, **SMALL)["wise"])

# ---------------------------------------------------------------- loss-reweighted unlearning


@mutant("17", "Loss-reweighted unlearning")
@contextmanager
def unlearn_weights_not_detached():
    """w_t = p_t^beta keeps its gradient: the objective -p^beta log p is no longer gradient
    ascent on the loss, and it barely moves a model that predicts its facts with p near 1."""
    orig = U.weights
    with mock.patch.object(U, "weights", lambda p, method, **kw: orig(p, method, **dict(kw, detach=False))):
        yield


@mutant("17", "Loss-reweighted unlearning")
@contextmanager
def unlearn_ascent_sign_dropped():
    """loss = +mean(w_t l_t) (the minus sign lost): descent on the forget set, which
    re-learns the facts instead of removing them."""
    orig = U.weights
    with mock.patch.object(U, "weights", lambda p, method, **kw: -orig(p, method, **kw)):
        yield


@mutant("17", "Loss-reweighted unlearning")
@contextmanager
def unlearn_saturation_as_importance():
    """The saturation weight written as (1 - p)^beta (importance's): the tokens the model still
    knows get weight near 0, so nothing is unlearned."""
    orig = U.weights

    def w(p, method, **kw):
        return orig(p, "simimp" if method == "simsat" else method, **kw)
    with mock.patch.object(U, "weights", w):
        yield


@check("17", "reweighted_forget_recall")
def _unlearn():
    return U.unlearning_run(seed=0, methods=("simsat",))["simsat"]["forget_recall"]

# ---------------------------------------------------------------- recognition / recall / retention

_EXPOSURE_CACHE: dict = {}


def _exposure_run():
    """exposure_claims(seed=0), computed once per state of the library: the key holds the
    protocol's functions themselves, so a mutant's patch gives a fresh run."""
    key = tuple(getattr(X, n) for n in ("study", "recognition", "recall", "windows",
                                        "train_steps", "retention_run", "kept", "pretrain")) \
        + (X.Grammar.stream,)
    if key not in _EXPOSURE_CACHE:
        _EXPOSURE_CACHE.clear()
        _EXPOSURE_CACHE[key] = X.exposure_claims(seed=0)
    return _EXPOSURE_CACHE[key]


@mutant("17", "Recognition / recall / retention")
@contextmanager
def exposure_epochs_ignored():
    """The study loop runs one epoch whatever E (`range(1)` for `range(exposures)`): every
    condition is a single exposure, and recall never improves with repetition."""
    orig = X.study
    with mock.patch.object(X, "study", lambda model, G, exposures, **kw: orig(model, G, 1, **kw)):
        yield


@mutant("17", "Recognition / recall / retention")
@contextmanager
def recognition_higher_loss_wins():
    """The 2AFC picks the sentence with the HIGHER loss (`seen > foil`): the studied sentence
    now loses to its foil exactly when the model remembers it."""
    def recognition(model, G):
        seen = X.sentence_loss(model, [G.fact(p, c) for p, c in G.study])
        foil = X.sentence_loss(model, [G.fact(p, c) for p, c in zip(G.study[:, 0], G.foil)])
        return float((seen > foil).float().mean())
    with mock.patch.object(X, "recognition", recognition):
        yield


@mutant("17", "Recognition / recall / retention")
@contextmanager
def later_data_rehearses_study_facts():
    """The later-training stream samples its facts from every person (`np.concatenate([bg,
    study])` for `bg`): the studied facts are rehearsed, so nothing is forgotten and retention
    says nothing about interference."""
    orig = X.Grammar.stream

    def stream(self, n, g, fact_frac=0.5):
        bg = self.bg
        self.bg = np.concatenate([bg, self.study])
        try:
            return orig(self, n, g, fact_frac)
        finally:
            self.bg = bg
    with mock.patch.object(X.Grammar, "stream", stream):
        yield


@mutant("17", "Recognition / recall / retention")
@contextmanager
def lm_windows_off_by_one():
    """The context window is shifted by one (`pad[t + 1:t + 1 + ctx]`): in training the next
    word is inside its own context, so the LM learns to copy, and cannot complete a cue."""
    def windows(sentences, ctx):
        S = X.torch.as_tensor(np.asarray(sentences), dtype=X.torch.long)
        pad = X.torch.cat([X.torch.zeros(S.shape[0], ctx, dtype=X.torch.long), S], 1)
        Xw = pad.unfold(1, ctx, 1)[:, 1:S.shape[1] + 1]
        return Xw.reshape(-1, ctx), S.reshape(-1)
    with mock.patch.object(X, "windows", windows):
        yield


@check("17", "recognition_10x")
def _rec10():
    return _exposure_run()["recognition_10x"]


@check("17", "recall_gain_1_to_10")
def _gain():
    return _exposure_run()["recall_gain_1_to_10"]


@check("17", "retention_gap")
def _gap():
    return _exposure_run()["retention_gap"]
