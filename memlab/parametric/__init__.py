"""Parametric memory (chapter 17): the weights as a memory of facts, and editing them.

:mod:`.wise` holds the linear fact memory and the editors (fine-tuning, ROME's rank-one edit,
an exact-key codebook, the TIES merge); :mod:`.wise_side` WISE-lite's routed side memory;
:mod:`.experiments` the sequential-editing benchmark; :mod:`.exposure` a tiny LM that studies
facts 1, 3 or 10 times, and the recognition / recall / retention protocol; :mod:`.unlearning`
gradient-ascent and loss-reweighted (SatImp-style) unlearning of a memoriser's facts.
"""

from memlab.parametric.wise import (Codebook, answer, edit_metrics, ft_edit, make_facts,
                                    rome_edit, ties_merge)
from memlab.parametric.wise_side import WiseLite, margin_grad

__all__ = ["Codebook", "WiseLite", "answer", "edit_metrics", "ft_edit", "make_facts",
           "margin_grad", "rome_edit", "ties_merge"]
