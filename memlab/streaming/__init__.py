"""Streaming and embodied memory (chapter 18).

- :mod:`memlab.streaming.framebank` -- a fixed-budget frame bank: FIFO, uniform subsampling,
  MA-LMM size-weighted adjacent merge, Flash-VStream unweighted merge, weighted k-means.
- :mod:`memlab.streaming.consolidation` -- a short-term ring buffer consolidated into a
  long-term bank (Flash-VStream / IXC2.5-OL).
- :mod:`memlab.streaming.vla` -- a MemoryVLA-style perceptual-cognitive memory bank.
- :mod:`memlab.streaming.tree` -- a SAM2Long-style memory tree over a toy tracker.
- :mod:`memlab.streaming.karma` -- a KARMA-style scene graph + object-state memory in a grid house.
- :mod:`memlab.streaming.experiments` -- the chapter's measurements.
"""

from memlab.streaming.framebank import POLICIES, FrameBank  # noqa: F401
