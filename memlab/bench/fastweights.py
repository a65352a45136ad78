"""Chunked vs recurrent fast-weight kernels (chapter 04): time ratios and output agreement.

Shapes as in the issue: B = 1, H = 4, d_k = d_v = 64, float32, L2-normalised keys,
beta = sigmoid(noise); T in {512, 2048, 8192} (quick: {512, 2048}). Run alone, with the thread
count you want to report (``torch.set_num_threads(2)`` on a 2-core CPU).
"""

from __future__ import annotations


import torch
import torch.nn.functional as F

from memlab.bench import entry, time_wall_cpu
from memlab.fastweights import (
    delta_rule_chunked,
    delta_rule_recurrent,
    gated_delta_rule_chunked,
    gated_delta_rule_recurrent,
    linear_attention_chunked,
    linear_attention_recurrent,
)
from memlab.testing import rel_err

B, H, D = 1, 4, 64


def _inputs(T, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, T, H, D, generator=g)
    k = F.normalize(torch.randn(B, T, H, D, generator=g), dim=-1)
    v = torch.randn(B, T, H, D, generator=g)
    beta = torch.randn(B, T, H, generator=g).sigmoid()
    alpha = torch.exp(-0.05 * torch.rand(B, T, H, generator=g))
    return q, k, v, beta, alpha



def _compare(naive, fast, quick, chunk_size=64):
    rows = []
    for T in ((512, 2048) if quick else (512, 2048, 8192)):
        args = _inputs(T)
        with torch.no_grad():
            o_naive, _ = naive(*args)
            o_fast, _ = fast(*args, chunk_size)
            naive_ms, naive_cpu = time_wall_cpu(lambda a=args: naive(*a), 3 if T <= 2048 else 1)
            fast_ms, fast_cpu = time_wall_cpu(lambda a=args: fast(*a, chunk_size), 7)
        rows.append({"T": T, "threads": torch.get_num_threads(), "naive_ms": naive_ms,
                     "chunked_ms": fast_ms, "ratio": naive_ms / fast_ms,
                     "ratio_cpu": naive_cpu / fast_cpu,
                     "max_rel_diff": rel_err(o_fast, o_naive)})
    return rows


@entry("fastweights_delta_rule", family="fastweights")
def bench_delta_rule(quick: bool = True) -> list[dict]:
    """delta rule: chunked WY/UT form vs the token loop (B=1, H=4, d=64, fp32)."""
    return _compare(lambda q, k, v, b, a: delta_rule_recurrent(q, k, v, b),
                    lambda q, k, v, b, a, c: delta_rule_chunked(q, k, v, b, None, c), quick)


@entry("fastweights_linear_attention", family="fastweights")
def bench_linear_attention(quick: bool = True) -> list[dict]:
    """linear attention: chunked (cumulative chunk states) vs the token loop."""
    return _compare(lambda q, k, v, b, a: linear_attention_recurrent(q, k, v),
                    lambda q, k, v, b, a, c: linear_attention_chunked(q, k, v, None, c), quick)


@entry("fastweights_gated_delta_rule", family="fastweights")
def bench_gated_delta_rule(quick: bool = True) -> list[dict]:
    """gated delta rule: chunked form with decays vs the token loop."""
    return _compare(lambda q, k, v, b, a: gated_delta_rule_recurrent(q, k, v, a, b),
                    lambda q, k, v, b, a, c: gated_delta_rule_chunked(q, k, v, a, b, None, c),
                    quick)
