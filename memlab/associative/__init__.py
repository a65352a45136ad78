"""Associative (content-addressable) memory: chapter 01.

- :mod:`memlab.associative.hopfield` -- classical Hopfield network (Hopfield 1982)
- :mod:`memlab.associative.modern` -- modern / dense Hopfield network (Ramsauer et al. 2020)
- :mod:`memlab.associative.sdm` -- Kanerva's sparse distributed memory (1988)
- :mod:`memlab.associative.sdr` -- Sparsey-style sparse distributed codes (Rinkus)
- :mod:`memlab.associative.experiments` -- the chapter's experiments
"""

from memlab.associative.hopfield import ClassicalHopfield
from memlab.associative.modern import ModernHopfield

__all__ = ["ClassicalHopfield", "ModernHopfield"]
