"""Softmax attention as a memory (the KV cache) and the policies that keep it within a budget.

- :mod:`memlab.attention.softmax` -- :class:`CausalSelfAttention`, whose state is an explicit
  :class:`KVCache` (``2 * d * T`` numbers); parallel form == token-by-token decoding.
- :mod:`memlab.attention.policies` -- scoring functions (recency, sinks, H2O accumulated
  attention, SirLLM entropy with decay, query-aware, CAKE) composed with a budget by
  :func:`~memlab.attention.policies.keep_index`; CAKE's per-layer budgets.
- :mod:`memlab.attention.quantize` -- b-bit KV quantisation, per token or per channel.
- :mod:`memlab.attention.episodes` -- EpiCache-style episodic caches with question routing.
- :mod:`memlab.attention.experiments` -- chapter 03's protocol (prefill, compress, answer).
"""

from memlab.attention.softmax import CausalSelfAttention, KVCache

__all__ = ["CausalSelfAttention", "KVCache"]
