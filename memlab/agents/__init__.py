"""Long-term memory for LLM agents, on one inspectable SQLite store (chapters 12-13).

Pieces (each module's docstring names its paper and constants):

* protocols: :mod:`~memlab.agents.embed` (``HashingEmbedder``, optional ``MiniLMEmbedder``),
  :mod:`~memlab.agents.llm` (task-level ``LLM``: ``RuleLLM`` offline default, ``ReplayLLM``,
  ``OpenAICompatLLM``);
* the store: :mod:`~memlab.agents.store` (WAL, transactions, event log, ``as_of``, explained
  search, ``forget(user)``);
* systems: :class:`MemoryBank`, :class:`GenerativeAgents`, :class:`Mem0`, :class:`AMem`,
  :class:`MemGPT`, :class:`MemOS`, and the baselines :class:`FullContext`,
  :class:`PlainRetrieval`;
* :mod:`~memlab.agents.harness` (LongMemEval-lite, per-ability accuracy, recall@k, stale
  rate, cost), :mod:`~memlab.agents.experiments`, :mod:`~memlab.agents.reliability`,
  :mod:`~memlab.agents.halumem` (operation-level hallucination with a noisy LLM).

Nothing here needs torch or a network.
"""

from memlab.agents.amem import AMem
from memlab.agents.baselines import FullContext, PlainRetrieval
from memlab.agents.embed import Embedder, HashingEmbedder, MiniLMEmbedder
from memlab.agents.generative import GenerativeAgents
from memlab.agents.llm import LLM, LLMOutputError, OpenAICompatLLM, RecordingLLM, ReplayLLM, RuleLLM
from memlab.agents.mem0 import Mem0
from memlab.agents.memgpt import MemGPT
from memlab.agents.memorybank import MemoryBank, retention
from memlab.agents.memos import MemOS
from memlab.agents.store import MemoryStore, SimClock

__all__ = [
                               "LLM",
                               "AMem",
                               "Embedder",
                               "FullContext",
                               "GenerativeAgents",
                               "HashingEmbedder",
                               "LLMOutputError",
                               "Mem0",
                               "MemGPT",
                               "MemOS",
                               "MemoryBank",
                               "MemoryStore",
                               "MiniLMEmbedder",
                               "OpenAICompatLLM",
                               "PlainRetrieval",
                               "RecordingLLM",
                               "ReplayLLM",
                               "RuleLLM",
                               "SimClock",
                               "retention",
]
