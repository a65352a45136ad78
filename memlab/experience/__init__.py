"""Experiential and procedural memory for agents (chapter 14).

* :mod:`~memlab.experience.distill`: ReMe's distillation of success / failure / comparative
  insights through the chapter-12 ``LLM`` protocol (offline rule back-end);
* :mod:`~memlab.experience.pool`: :class:`ExperiencePool`, ReMe's pool on the chapter-12 store
  (retrieve by scenario, credit what was used, prune by utility);
* :mod:`~memlab.experience.agent`: the retrieval-augmented imitation agent that writes its own
  experiences;
* :mod:`~memlab.experience.knn`: :class:`EpisodicKNN`, JARVIS-1 / Memory-R episodic plan memory
  with the kNN novelty reward, and :mod:`~memlab.experience.planner`, the lifelong planner over it;
* :mod:`~memlab.experience.tokmem`: :class:`~memlab.experience.tokmem.TokenProcedureMemory`,
  TokMem-lite: procedures as tokens (one trainable embedding row each, gradient-masked) on a
  frozen char transformer, with the sequential full fine-tuning baseline; its experiment in
  :mod:`~memlab.experience.tokmem_experiments`;
* :mod:`~memlab.experience.experiments`: the chapter's lifetimes; :mod:`~memlab.experience.mutants`:
  its bugs and the checks that kill them.

``tokmem`` imports torch; it is not imported here (the pool and the kNN memory do not need it).
"""

from memlab.experience.agent import ImitationAgent, Solver
from memlab.experience.distill import ExperienceRuleLLM
from memlab.experience.pool import ExperiencePool, should_prune

__all__ = ["ExperiencePool", "ExperienceRuleLLM", "ImitationAgent", "Solver", "should_prune"]
