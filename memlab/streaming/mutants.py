"""Chapter 18's mutants (realistic bugs in each mechanism) and the fast checks that kill them.

Checks run once per mutant, so the expensive measurements are memoised on a fingerprint of the
functions they call: a mutant patches one of them, the fingerprint changes, the measurement
is redone; a mutant of another mechanism leaves it and reuses the cached value.
"""

from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

import numpy as np

from memlab.report import at_least, at_most
from memlab.streaming import consolidation as CO
from memlab.streaming import experiments as E
from memlab.streaming import framebank as FB
from memlab.streaming import vla as VLA
from memlab.testing.mutants import check, mutant

CH = "18"
BANK, CONS, VLAM = ("Frame bank (MA-LMM / Flash-VStream)", "Short-to-long-term consolidation",
                    "Perceptual-cognitive memory (MemoryVLA)")
_CACHE: dict = {}


def _fingerprint(*owners) -> tuple:
    # the callables themselves (hashed by identity), not their ids: the cache keeps them alive,
    # so a patched function's id cannot be reused by a later one
    return tuple(v for o in owners for v in vars(o).values() if callable(v))


def _memo(key, owners, fn):
    fp = (key, _fingerprint(*owners))
    if fp not in _CACHE:
        _CACHE[fp] = fn()
    return _CACHE[fp]


def _bank():
    return _memo("bank", (FB, FB.FrameBank, E), lambda: E.bank_claims(seed=0, small=True))


# ------------------------------------------------------------------ frame bank
@mutant(CH, BANK)
@contextmanager
def malmm_unweighted_merge():
    """MA-LMM's merge written as (f_t + f_{t+1}) / 2: the sizes are ignored (Flash-VStream's
    recency bias put into MA-LMM)."""
    orig = FB.malmm_merge
    with mock.patch.object(FB, "malmm_merge", lambda *a, weighted=True: orig(*a, weighted=False)):
        yield


@mutant(CH, BANK)
@contextmanager
def malmm_sizes_not_added():
    """The merged entry's size is not s_t + s_{t+1}: every entry stays at size 1, so later
    merges weight a 50-frame average like a single frame."""
    orig = FB.malmm_merge

    def bad(*a, weighted=True):
        f, s, st, en = orig(*a, weighted=weighted)
        return f, np.ones_like(s), st, en
    with mock.patch.object(FB, "malmm_merge", bad):
        yield


@mutant(CH, BANK)
@contextmanager
def merge_least_similar_pair():
    """argmin for argmax: the adjacent pair that is *least* similar is merged (scenes blend)."""
    orig = FB.adjacent_cos_per_position
    with mock.patch.object(FB, "adjacent_cos_per_position", lambda f: -orig(f)):
        yield


@mutant(CH, BANK)
@contextmanager
def compress_at_budget():
    """Off by one: the bank compresses when it *reaches* the budget (len >= budget), so a bank
    within its budget is changed."""
    orig = FB.FrameBank.compress

    def bad(self, final=False):
        self.budget -= 1
        try:
            orig(self, final)
        finally:
            self.budget += 1
    with mock.patch.object(FB.FrameBank, "compress", bad):
        yield


@mutant(CH, BANK)
@contextmanager
def fifo_drops_newest():
    """FIFO evicts the newest entry instead of the oldest: it keeps the first frames forever."""
    orig = FB.FrameBank.compress

    def bad(self, final=False):
        if self.policy == "fifo" and len(self) > self.budget:
            self.feats, self.sizes, self.start, self.end = (x[:-1] for x in self._state())
            return
        orig(self, final)
    with mock.patch.object(FB.FrameBank, "compress", bad):
        yield


@mutant(CH, BANK)
@contextmanager
def bank_never_compresses():
    """The compression call is skipped: the 'bank' keeps every frame (and its state grows)."""
    with mock.patch.object(FB.FrameBank, "compress", lambda self, final=False: None):
        yield


@check(CH, "merge_early_recall")
def _merge_recall():
    return _bank()["merge_early_recall"]


@check(CH, "fifo_early_recall")
def _fifo_recall():
    return _bank()["fifo_early_recall"]


@check(CH, "fifo_keeps_last_scene", target=at_least(1.0))
def _fifo_last():
    return _bank()["fifo_last_scene_recall"]


@check(CH, "weighted_merge_error_ratio")
def _weighted_ratio():
    return _bank()["weighted_merge_error_ratio"]


@check(CH, "events_lost_by_averaging")
def _events():
    return _bank()["events_lost_by_averaging"]


@check(CH, "bank_under_budget_unchanged")
def _under_budget():
    return max(E.under_budget_change(), E.at_budget_change())


# ------------------------------------------------------------------ STM -> LTM
@mutant(CH, CONS)
@contextmanager
def stm_evicts_newest():
    """The ring buffer pops the newest frame instead of the oldest."""
    def bad(self):
        self.short_t.pop()
        return self.short.pop()
    with mock.patch.object(CO.ShortLongMemory, "_evict", bad):
        yield


@mutant(CH, CONS)
@contextmanager
def consolidation_drops_frames():
    """Frames leaving short-term memory are discarded instead of written to long-term memory."""
    with mock.patch.object(CO.ShortLongMemory, "consolidate", lambda self, frame: None):
        yield


@mutant(CH, CONS)
@contextmanager
def read_ignores_short_term():
    """The read searches only the long-term bank (the freshest detail is never read)."""
    def bad(self, query):
        return (self.long.read(np.asarray(query, float))[0] if len(self.long) else -1.0), "long"
    with mock.patch.object(CO.ShortLongMemory, "read", bad):
        yield


def _cons():
    return _memo("cons", (CO.ShortLongMemory, FB, FB.FrameBank), E.consolidation_metrics)


@check(CH, "stm_ltm_early_recall", target=at_least(0.9))
def _cons_recall():
    return _cons()["early_recall"]


@check(CH, "stm_holds_last_frames", target=at_most(0.0))
def _cons_exact():
    return _cons()["stm_error"]


@check(CH, "stm_last_frame_read", target=at_least(0.999))
def _cons_last():
    return _cons()["last_frame_read"]


# ------------------------------------------------------------------ MemoryVLA
@mutant(CH, VLAM)
@contextmanager
def vla_gate_inverted():
    """The fusion computes (1 - g) H + g x: relevant memories are ignored, irrelevant used."""
    orig = VLA.PerceptualCognitiveBank.gate
    with mock.patch.object(VLA.PerceptualCognitiveBank, "gate",
                           lambda self, p, c: 1.0 - orig(self, p, c)):
        yield


@mutant(CH, VLAM)
@contextmanager
def vla_uniform_retrieval():
    """Retrieval ignores the query: every entry gets the same attention weight."""
    with mock.patch.object(VLA.PerceptualCognitiveBank, "attention",
                           lambda self, p, c: np.full(len(self), 1.0 / len(self))):
        yield


@mutant(CH, VLAM)
@contextmanager
def vla_consolidation_drops_oldest():
    """Consolidation evicts the oldest entry (FIFO) instead of merging redundant neighbours."""
    def bad(self):
        self.P, self.C, self.n = self.P[1:], self.C[1:], self.n[1:]
    with mock.patch.object(VLA.PerceptualCognitiveBank, "consolidate", bad):
        yield


@mutant(CH, VLAM)
@contextmanager
def vla_merge_least_similar():
    """Consolidation merges the least similar adjacent pair: distinct steps are blurred first."""
    def bad(self):
        K = VLA._unit(np.hstack([self.P, self.C]))
        i = int(np.argmin((K[:-1] * K[1:]).sum(-1)))
        for M in (self.P, self.C):
            M[i] = (M[i] + M[i + 1]) / 2
        self.P, self.C, self.n = (np.delete(x, i + 1, axis=0) for x in (self.P, self.C, self.n))
    with mock.patch.object(VLA.PerceptualCognitiveBank, "consolidate", bad):
        yield


def _vla():
    return _memo("vla", (VLA.PerceptualCognitiveBank,),
                 lambda: VLA.cue_recall_task(n_trials=40, seed=0))


@check(CH, "vla_cue_accuracy", target=at_least(0.8))
def _vla_acc():
    return _vla()["accuracy"]


@check(CH, "vla_cue_kept", target=at_least(0.9))
def _vla_kept():
    return _vla()["cue_kept"]


@check(CH, "vla_cue_attention", target=at_least(0.25))
def _vla_att():
    return _vla()["cue_attention"]


# the tree and KARMA mutants live next door (registered on import)
from memlab.streaming import mutants_embodied  # noqa: F401
