"""Slot memories (chapter 02): memory networks, NTM-style addressing, LM2-style gated slots.

- :mod:`memlab.slots.memn2n` -- end-to-end memory network (Sukhbaatar et al. 2015);
- :mod:`memlab.slots.ntm` -- NTM content / location addressing, erase-add writes (Graves et al. 2014);
- :mod:`memlab.slots.lm2` -- an LM2-style gated slot bank (Kang et al. 2025, interpreted);
- :mod:`memlab.slots.experiments` / :mod:`memlab.slots.analytic` -- the chapter's experiments;
- :mod:`memlab.slots.mutants` -- realistic bugs and the checks that catch them.
"""

from memlab.slots.lm2 import LM2Memory, gated_update
from memlab.slots.memn2n import MemN2N, memn2n_reference, position_weights
from memlab.slots.ntm import NTMMemory, address, content_weights, ntm_read, ntm_write

__all__ = [
           "LM2Memory",
           "MemN2N",
           "NTMMemory",
           "address",
           "content_weights",
           "gated_update",
           "memn2n_reference",
           "ntm_read",
           "ntm_write",
           "position_weights",
]
