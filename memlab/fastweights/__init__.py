"""Fast weights: matrix memories written by outer products (chapter 04).

Every rule exists twice, tested equal: a naive recurrence (a loop that reads like the paper)
and a chunked parallel form. Raw kernels work on ``[batch, time, heads, dim]`` tensors, carry a
state ``S: [batch, heads, d_k, d_v]``, write then read, and return ``(o, S)`` with
``o_t = S_t^T q_t``:

==========================  ==========================================  ===================
rule                        recurrence / chunked                        layer
==========================  ==========================================  ===================
linear attention (Hebbian)  linear_attention_recurrent / _chunked       LinearAttention
delta rule (DeltaNet)       delta_rule_recurrent / _chunked             DeltaNet
gated delta rule            gated_delta_rule_recurrent / _chunked       GatedDeltaNet
mixture of memories (MoM)   (reuses the kernels, memories as heads)     MixtureOfMemories
==========================  ==========================================  ===================
"""

from memlab.fastweights.delta_rule import (
                                           DeltaNet,
                                           delta_rule_chunked,
                                           delta_rule_recurrent,
                                           delta_rule_step,
)
from memlab.fastweights.gated_delta import (
                                           GatedDeltaNet,
                                           gated_delta_rule_chunked,
                                           gated_delta_rule_recurrent,
                                           gated_delta_rule_step,
)
from memlab.fastweights.linear_attention import (
                                           LinearAttention,
                                           linear_attention_chunked,
                                           linear_attention_recurrent,
                                           linear_attention_step,
)
from memlab.fastweights.mom import MixtureOfMemories

__all__ = [
                                           "DeltaNet",
                                           "GatedDeltaNet",
                                           "LinearAttention",
                                           "MixtureOfMemories",
                                           "delta_rule_chunked",
                                           "delta_rule_recurrent",
                                           "delta_rule_step",
                                           "gated_delta_rule_chunked",
                                           "gated_delta_rule_recurrent",
                                           "gated_delta_rule_step",
                                           "linear_attention_chunked",
                                           "linear_attention_recurrent",
                                           "linear_attention_step",
]
