"""Benchmarks of chapter 03: decoding with a KV cache vs recomputing attention from scratch."""

from __future__ import annotations

import torch

from memlab.bench import entry, timeit
from memlab.testing import rel_err


@entry("attention_kv_cache_decode", family="attention")
def kv_cache_decode(quick: bool) -> list[dict]:
    """Generate T tokens: one step per token with the KV cache (O(T) per token) vs re-running
    attention over the whole prefix for each new token (O(T^2) per token, no memory)."""
    from memlab.attention import CausalSelfAttention

    torch.manual_seed(0)
    d, heads = 64, 4
    m = CausalSelfAttention(d, n_heads=heads).eval()
    rows = []
    for T in ((64, 128, 256) if quick else (128, 256, 512, 1024)):
        x = torch.randn(1, T, d)

        @torch.no_grad()
        def cached(x=x, T=T):
            st, ys = m.init_state(1), []
            for t in range(T):
                y, st = m.step(x[:, t], st)
                ys.append(y)
            return torch.stack(ys, 1)

        @torch.no_grad()
        def scratch(x=x, T=T):
            return torch.stack([m(x[:, :t + 1])[0][:, -1] for t in range(T)], 1)

        reps = 3 if quick else 5
        c_ms, s_ms = timeit(cached, repeat=reps), timeit(scratch, repeat=reps)
        rows.append({"T": T, "cache_ms": c_ms, "scratch_ms": s_ms, "ratio": s_ms / c_ms,
                     "cache_numbers": m.state_size(T),
                     "max_rel_diff": rel_err(cached(), scratch())})
    return rows
