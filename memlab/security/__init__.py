"""Memory security (chapter 15): query-only injection, triggered poisoning, and a defence.

Pieces (each module's docstring names its paper, equations and constants):

* :mod:`~memlab.security.world` -- EHR-lite: patients, templated questions, 4-op programs;
* :mod:`~memlab.security.agent` -- the retrieval-augmented imitation agent on chapter 12's
  store and ``LLM`` protocol (it writes its own records);
* :mod:`~memlab.security.minja` -- MINJA: bridging steps, indication prompt, progressive
  shortening; ISR, ASR, utility;
* :mod:`~memlab.security.poison` -- AgentPoison-lite: trigger optimised against the embedder;
* :mod:`~memlab.security.guard` -- A-MemGuard-lite: consensus over K paths + lesson store;
* :mod:`~memlab.security.experiments` -- the chapter's runs; :mod:`~memlab.security.mutants`.
"""

from memlab.security.agent import ImitationAgent, RulePlanner, plan
from memlab.security.guard import MemGuard, consensus, jaccard
from memlab.security.world import World

__all__ = ["ImitationAgent", "MemGuard", "RulePlanner", "World", "consensus", "jaccard", "plan"]
