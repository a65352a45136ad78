"""Titans memory (chapter 06): chunk-parallel form vs its token-by-token loop, as ratios.

Both compute the SAME rule (gradients at the chunk's starting weights, chunk size b): the loop
takes one autograd gradient per token, the chunk form does each chunk as a few masked matmuls.
A second row family times the per-token rule (b = 1) through the chunk code, for scale.
Shapes: B = 1, H = 4, d_k = d_v = 32, float32, unit keys, random gates. Run alone; report
the thread count (``OMP_NUM_THREADS``).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from memlab.bench import entry, time_wall_cpu
from memlab.testtime.experiments import memory_weights
from memlab.testtime.titans import init_state, titans_chunked, titans_recurrent

B, H, D = 1, 4, 32


def _inputs(T, depth, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k = (F.normalize(torch.randn(B, T, H, D, generator=g), dim=-1) for _ in range(2))
    v = torch.randn(B, T, H, D, generator=g)
    scales = (0.2, 0.9, 0.02) if depth == 1 else (0.02, 0.5, 0.02)   # an MLP needs gentler steps
    th, et, al = (s * torch.rand(B, T, H, generator=g) for s in scales)
    W0 = [w.expand(H, -1, -1).clone() for w in memory_weights(depth, D, D, seed=seed)]
    return q, k, v, th, et, al, init_state(W0, B)



def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


@entry("titans_chunk_vs_loop", family="testtime")
def titans_chunk_vs_loop(quick: bool = True) -> list[dict]:
    """Titans memory: chunk-parallel form vs token loop (same rule), and vs the per-token rule."""
    rows = []
    lengths = (512, 2048) if quick else (512, 2048, 8192)
    for depth in ((1, 2) if quick else (1, 2, 3)):
        for T in lengths:
            *args, st = _inputs(T, depth)
            for b in (16, 64):
                loop = functools.partial(titans_recurrent, *args, st, chunk_size=b)
                chunk = functools.partial(titans_chunked, *args, st, chunk_size=b)
                per_token = functools.partial(titans_chunked, *args, st, chunk_size=1)
                with torch.no_grad():
                    (y_loop, s_loop), (y_chunk, s_chunk) = loop(), chunk()
                    loop_ms, loop_cpu = time_wall_cpu(loop, 1)
                    chunk_ms, chunk_cpu = time_wall_cpu(chunk, 3)
                    tok_ms, _ = time_wall_cpu(per_token, 1)
                rows.append({
                    "depth": depth, "T": T, "chunk": b, "loop_ms": loop_ms, "chunk_ms": chunk_ms,
                    "ratio": loop_ms / chunk_ms, "cpu_ratio": loop_cpu / chunk_cpu,
                    "per_token_rule_ms": tok_ms, "per_token_ratio": tok_ms / chunk_ms,
                    "max_rel_diff": max(_rel(y_chunk, y_loop),
                                        *(_rel(a, b_) for a, b_ in zip(s_chunk.W, s_loop.W))),
                })
    return rows
