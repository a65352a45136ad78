"""Benchmarks of chapter 01: naive loops vs vectorised forms (ratios printed, never asserted)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from memlab.associative import modern
from memlab.associative.experiments import _gen, random_patterns
from memlab.associative.hopfield import async_sweep, async_sweep_loop, sync_step
from memlab.associative.sdm import hamming, hamming_loop
from memlab.bench import entry, timeit
from memlab.testing import rel_err


@entry("hopfield_async_sweep", family="associative")
def hopfield_async_sweep(quick: bool) -> list[dict]:
    """One async sweep: per-query, per-neuron Python loop vs batched over queries; sync step."""
    rows = []
    for N, B in ([(32, 4), (64, 8)] if quick else [(64, 8), (128, 8), (256, 4)]):
        g = _gen(0)
        xi = random_patterns(max(1, N // 10), N, g)
        J = xi.T @ xi
        J.fill_diagonal_(0)
        s = random_patterns(B, N, g)
        order = torch.randperm(N, generator=g)
        naive = timeit(lambda J=J, s=s, order=order: async_sweep_loop(J, s, order),
                       repeat=1, warmup=0)
        fast = timeit(lambda J=J, s=s, order=order: async_sweep(J, s, order), repeat=5)
        sync = timeit(lambda J=J, s=s: sync_step(J, s), repeat=5)
        same = torch.equal(async_sweep_loop(J, s, order), async_sweep(J, s, order))
        rows.append({"N": N, "batch": B, "loop_ms": naive, "batched_ms": fast,
                     "ratio": naive / fast, "sync_step_ms": sync, "identical": same})
    return rows


@entry("modern_hopfield_update", family="associative")
def modern_hopfield_update(quick: bool) -> list[dict]:
    """Modern Hopfield update: Python loop vs softmax matmul vs F.scaled_dot_product_attention."""
    rows = []
    for d, P, B in ([(32, 320, 4)] if quick else [(64, 640, 8), (128, 1280, 16)]):
        g = _gen(0)
        X = torch.randn(P, d, generator=g)
        xi = torch.randn(B, d, generator=g)
        beta = d ** -0.5
        naive = timeit(lambda xi=xi, X=X, beta=beta: modern.update_loop(xi, X, beta),
                       repeat=2, warmup=0)
        fast = timeit(lambda xi=xi, X=X, beta=beta: modern.update(xi, X, beta), repeat=10)
        sdpa = timeit(lambda xi=xi, X=X, beta=beta: F.scaled_dot_product_attention(
            xi[None], X[None], X[None], scale=beta), repeat=10)
        ref = F.scaled_dot_product_attention(xi[None], X[None], X[None], scale=beta)[0]
        rows.append({"d": d, "P": P, "batch": B, "loop_ms": naive, "matmul_ms": fast,
                     "sdpa_ms": sdpa, "ratio": naive / fast,
                     "max_rel_diff": max(rel_err(modern.update(xi, X, beta), ref),
                                         rel_err(modern.update_loop(xi, X, beta), ref))})
    return rows


@entry("sdm_hamming", family="associative")
def sdm_hamming(quick: bool) -> list[dict]:
    """SDM activation: bit-by-bit Hamming distances vs one matmul on bipolar words."""
    rows = []
    for n, M, B in ([(64, 50, 2)] if quick else [(64, 100, 4), (256, 200, 4)]):
        g = _gen(0)
        x = torch.randint(0, 2, (B, n), generator=g).float()
        A = torch.randint(0, 2, (M, n), generator=g).float()
        naive = timeit(lambda x=x, A=A: hamming_loop(x, A), repeat=1, warmup=0)
        fast = timeit(lambda x=x, A=A: hamming(x, A), repeat=10)
        rows.append({"n": n, "M": M, "batch": B, "loop_ms": naive, "matmul_ms": fast,
                     "ratio": naive / fast,
                     "max_rel_diff": rel_err(hamming(x, A), hamming_loop(x, A))})
    return rows
