"""Test-time memorisation: memories whose weights are trained during inference (chapter 06).

- :mod:`memlab.testtime.titans`        the Titans memory rule: token loop and chunk-parallel form
- :mod:`memlab.testtime.neural_memory` the rule as a ``SequenceMemory`` layer (gates, projections)
- :mod:`memlab.testtime.mac`           memory as context (MAC) with persistent memory tokens
- :mod:`memlab.testtime.mag_mal`       memory as a gate (MAG) and as a layer (MAL), with SWA
- :mod:`memlab.testtime.omega`         ATLAS's Omega rule (sliding-window objective)
- :mod:`memlab.testtime.perk`          PERK: test-time adaptation of a LoRA-style memory adapter by
                                        inner-loop gradient steps on the context
- :mod:`memlab.testtime.nested`        Nested Learning's continuum memory system (CMS): MLP blocks
                                        updated at different frequencies
- :mod:`memlab.testtime.experiments`   the chapter's experiments (also used by the claim tests);
  :mod:`memlab.testtime.perk_experiments` those of PERK and the CMS
- :mod:`memlab.testtime.checks`, :mod:`memlab.testtime.mutants`, :mod:`memlab.testtime.mutants_perk_nested`
                                        the chapter's mutants and the checks that kill them
"""

from memlab.testtime.mac import MACState, MemoryAsContext
from memlab.testtime.mag_mal import MemoryAsGate, MemoryAsLayer, SWAState
from memlab.testtime.neural_memory import Gate, NeuralMemory
from memlab.testtime.omega import OmegaMemory, omega_rule
from memlab.testtime.titans import (
                                    TitansState,
                                    init_state,
                                    mlp_apply,
                                    titans_chunked,
                                    titans_recurrent,
)

__all__ = [
                                    "Gate",
                                    "MACState",
                                    "MemoryAsContext",
                                    "MemoryAsGate",
                                    "MemoryAsLayer",
                                    "NeuralMemory",
                                    "OmegaMemory",
                                    "SWAState",
                                    "TitansState",
                                    "init_state",
                                    "mlp_apply",
                                    "omega_rule",
                                    "titans_chunked",
                                    "titans_recurrent",
]
