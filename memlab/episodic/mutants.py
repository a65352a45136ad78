"""Chapter 10's mutants (realistic bugs in order memories, event boundaries, HCAM) and checks."""

from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

import torch

from memlab.episodic import boundaries as B
from memlab.episodic import experiments as E
from memlab.episodic import hcam as H
from memlab.episodic import sort as S
from memlab.report import at_most
from memlab.testing.mutants import check, mutant

SORT, EVB, HCAM = "SORT-lite memories", "EM-LLM event boundaries", "HCAM"


# ----------------------------------------------------------------------------- SORT
@mutant("10", SORT)
@contextmanager
def store_keeps_time_order():
    """The 'order-blind' store is a list kept in insertion order (the permutation forgotten):
    storage order leaks time, and the order-blind memory answers as if it had indices."""
    def write(self, excerpt, rng):
        c = self.chunk
        self.store = [(i, excerpt[s:s + c]) for i, s in enumerate(range(0, len(excerpt), c))]
        return self
    with mock.patch.object(S.ChunkMemory, "write", write):
        yield


@mutant("10", SORT)
@contextmanager
def index_reader_sorts_by_slot():
    """The reader with chunk indices sorts retrieved chunks by store slot, not by index: the
    metadata is stored but never used."""
    orig = S.ChunkMemory.context

    def context(self, slots):
        keep, self.keep_index = self.keep_index, False
        try:
            return orig(self, slots)
        finally:
            self.keep_index = keep
    with mock.patch.object(S.ChunkMemory, "context", context):
        yield


@mutant("10", SORT)
@contextmanager
def in_context_comparison_flipped():
    """In-context answer with the comparison the wrong way round (``>`` for ``<``)."""
    with mock.patch.object(S.InContextMemory, "answer",
                           lambda self, exc, a, b, rng=None: int(S.soft_locate(exc, b) > S.soft_locate(exc, a))):
        yield


# ----------------------------------------------------------------------------- boundaries
@mutant("10", EVB)
@contextmanager
def global_surprise_statistics():
    """mu and sigma over the whole stream instead of the previous window (the naive global
    rule that the brief warns is a different algorithm)."""
    def glob(surprise, window=32, gamma=1.0, min_gap=1):
        mu, sd, b = surprise.mean(), surprise.std(), [0]
        for t in range(1, len(surprise)):
            if surprise[t] > mu + gamma * sd and t - b[-1] >= min_gap:
                b.append(t)
        return b
    with mock.patch.object(B.EM, "surprise_boundaries", glob):
        yield


@mutant("10", EVB)
@contextmanager
def surprise_sign_flipped():
    """log p instead of -log p: boundaries land on the most predictable tokens."""
    orig = B.DecayingSurprise.__call__
    with mock.patch.object(B.DecayingSurprise, "__call__", lambda self, tok: -orig(self, tok)):
        yield


@mutant("10", EVB)
@contextmanager
def min_block_size_ignored():
    """EM-LLM's ``min_block_size = 8`` not passed on (min_gap = 1): every surprising token
    right after a switch opens its own tiny event, and precision collapses."""
    orig = B.EM.surprise_boundaries
    with mock.patch.object(B.EM, "surprise_boundaries",
                           lambda s, window=32, gamma=1.0, min_gap=1: orig(s, window, gamma, 1)):
        yield


# ----------------------------------------------------------------------------- HCAM
@mutant("10", HCAM)
@contextmanager
def summaries_from_first_token():
    """Chunk summaries taken from the chunk's first state instead of the mean."""
    orig = H.chunk_summaries
    with mock.patch.object(H, "chunk_summaries", lambda keys, mode="mean": orig(keys, "first")):
        yield


@mutant("10", HCAM)
@contextmanager
def topk_smallest():
    """``topk(..., largest=False)``: the least relevant chunks are read in detail."""
    orig = torch.Tensor.topk

    def topk(self, k, dim=-1, largest=True, sorted=True):
        return orig(self, k, dim=dim, largest=False, sorted=sorted)
    with mock.patch.object(torch.Tensor, "topk", topk):
        yield


@mutant("10", HCAM)
@contextmanager
def inner_attention_unscaled():
    """Attention inside a chosen chunk without the sharpness beta (beta = 1): the read blurs
    the whole chunk, as summary-only memory does."""
    orig = H.hcam_read
    with mock.patch.object(H, "hcam_read", lambda q, k, v, top_k=2, beta=16.0, summary="mean":
                           orig(q, k, v, top_k, 1.0, summary)):
        yield


# ----------------------------------------------------------------------------- checks
def _trials():
    return E.sort_data(seed=0)[1]


@check("10", "sort_in_context")
def _sic():
    return S.evaluate(S.InContextMemory(), _trials(), 0)["accuracy"]


@check("10", "sort_order_blind")
def _sob():
    return S.evaluate(S.ChunkMemory(20, 3, keep_index=False), _trials(), 0)["accuracy"]


@check("10", "sort_with_indices")
def _swi():
    return S.evaluate(S.ChunkMemory(20, 3, keep_index=True), _trials(), 0)["accuracy"]


@check("10", "boundary_f1_margin")
def _bf1():
    return E.boundary_experiment(seed=0)["margin"]


@check("10", "hcam_accuracy")
def _hcam():
    return E.hcam_experiment(seed=0)["hcam"][0]


@check("10", "hcam_minus_flat")
def _hcam_flat():
    r = E.hcam_experiment(seed=0)
    return r["hcam"][0] - r["flat"][0]


@check("10", "hcam_loop_equals_vectorised", target=at_most(1e-6))
def _hcam_eq():
    q, keys, items, _ = E.hcam_task(16, 8, 32, 0)
    out, _, _ = H.hcam_read(q[:20], keys, items, 3, 8.0)
    return float((out - H.hcam_read_loop(q[:20], keys, items, 3, 8.0)).abs().max())
