"""Segment recurrence (chapter 09): a short context window that carries memory across segments.

- :mod:`memlab.segment.rmt` -- :class:`RMT`, recurrent memory tokens ``[M; X; M]`` (Bulatov et
  al. 2022), BPTT depth ``k2``; ``n_mem = 0`` is segment-local attention.
- :mod:`memlab.segment.hmt` -- :class:`HMT`, segment summaries, recall by cross-attention over
  cached memory embeddings, sensory tokens (He et al. 2024).
- :mod:`memlab.segment.ahn` -- :class:`AHN`, sliding-window attention + a delta-rule memory of
  the evicted tokens, summed before a zero-initialised projection (Fang et al. 2025).
- :mod:`memlab.segment.experiments` -- the chapter's experiments (BABILong-lite curriculum,
  evicted-pair recall, topic-switching recall).
"""

from memlab.segment.ahn import AHN, AHNState, ahn_mix
from memlab.segment.hmt import HMT, HMTState
from memlab.segment.rmt import RMT, RMTState

__all__ = ["AHN", "HMT", "RMT", "AHNState", "HMTState", "RMTState", "ahn_mix"]
