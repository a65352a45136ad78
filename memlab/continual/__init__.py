"""Continual learning: the weights as memory (chapter 16).

Writing is training, and forgetting is what the next task's gradients do. Reservoir replay
(:mod:`.buffer`), online EWC (:mod:`.ewc`), GeRe's threshold-margin replay (:mod:`.gere`), one
learner for every method with the accuracy matrix and its metrics (:mod:`.learner`).
"""

from memlab.continual.buffer import ReservoirBuffer, reservoir_slot
from memlab.continual.ewc import OnlineEWC, fisher_diagonal, fisher_loop
from memlab.continual.gere import tm_loss, tm_thresholds
from memlab.continual.learner import (accuracy, average_accuracy, backward_transfer, forgetting,
                                      make_mlp, model_bytes, run_continual, task_mask)

__all__ = ["ReservoirBuffer", "reservoir_slot", "OnlineEWC", "fisher_diagonal", "fisher_loop",
           "tm_loss", "tm_thresholds", "accuracy", "average_accuracy", "backward_transfer",
           "forgetting", "make_mlp", "model_bytes", "run_continual", "task_mask"]
