"""Low-bit KV cache: asymmetric min-max quantisation per token or per channel.

Papers: Liu et al., "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV Cache" (2024) --
keys per channel, values per token; "Plug-and-Play 1.x-Bit KV Cache Quantization for Video Large
Language Models" (VidKV, 2025) -- 1.x-bit keys and 1.58-bit (ternary) values.

Glossary (paper symbol -> variable)::

    x          a key or value tensor             x        [B, n, H, d_head]
    b          bits per number                   bits     (levels = round(2**b); 1.58 -> 3)
    z          zero point (the group minimum)    zero
    s          step  (max - min) / (levels - 1)  scale
    group      numbers sharing (z, s):  per token  = one token's d_head channels (one head)
                                        per channel = one channel across all n tokens

Equation::

    x_hat = s * round((x - z) / s) + z,    round to {0, ..., levels - 1}

Storage per sequence: ``n * H * d_head * b`` bits plus two floats per group. Per-channel groups
suit keys, whose outlier channels would otherwise stretch every token's range (KIVI).

Not included: grouping along tokens in blocks (KIVI's residual full-precision window, a
streaming detail), VidKV's FFT-based 1-bit channels, non-uniform levels.
"""

from __future__ import annotations

import torch

__all__ = ["AXES", "levels_of", "quantize", "quantize_cache"]

AXES = ("token", "channel")


def levels_of(bits: float) -> int:
    """Number of levels for ``bits`` (``2**bits`` rounded; 1.58 bits -> 3 levels, ternary)."""
    if not isinstance(bits, (int, float)) or bits < 1 or bits > 16:
        raise ValueError(f"bits must be a number in [1, 16], got {bits!r}")
    return round(2 ** bits)


def quantize(x: torch.Tensor, bits: float, axis: str = "token") -> torch.Tensor:
    """Fake-quantise ``x: [B, n, H, d]`` to ``bits`` with one (zero, scale) per group.

    ``axis="token"``: a group is one token's ``d`` channels in one head (reduce over ``d``);
    ``axis="channel"``: a group is one channel over all ``n`` tokens (reduce over ``n``).
    """
    if x.dim() != 4:
        raise ValueError(f"x must be [batch, tokens, heads, d_head], got {tuple(x.shape)}")
    if axis not in AXES:
        raise ValueError(f"axis must be one of {AXES}, got {axis!r}")
    L = levels_of(bits)
    dim = -1 if axis == "token" else 1
    zero = x.amin(dim=dim, keepdim=True)
    scale = ((x.amax(dim=dim, keepdim=True) - zero) / (L - 1)).clamp_min(1e-8)
    q = ((x - zero) / scale).round().clamp(0, L - 1)
    return q * scale + zero


def quantize_cache(cache, bits: float | None, key_axis: str = "channel",
                   value_axis: str = "token"):
    """A :class:`~memlab.attention.softmax.KVCache` with ``k`` and ``v`` quantised (KIVI axes
    by default); ``bits=None`` returns it unchanged."""
    if bits is None or len(cache) == 0:
        return cache
    from dataclasses import replace
    return replace(cache, k=quantize(cache.k, bits, key_axis), v=quantize(cache.v, bits, value_axis))
