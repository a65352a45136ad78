"""Two baselines: the full-context oracle and plain retrieval over rounds.

* :class:`FullContext` keeps every round and hands the reader the whole history in order,
  resolving conflicts by the latest date: what a long-context model does when the history fits.
  Its recall is 1 by construction; its cost is the whole history in every prompt.
* :class:`PlainRetrieval` stores each round verbatim (LongMemEval's "round" granularity) and
  returns the top-``k`` by cosine. No extraction, no updates: an old fact and its correction
  are both stored, and whichever is more *similar* to the question wins.
"""

from __future__ import annotations

from memlab.agents.base import AgentMemory, round_text
from memlab.agents.llm import iso_date
from memlab.agents.store import Hit

__all__ = ["FullContext", "PlainRetrieval"]


class PlainRetrieval(AgentMemory):
    name = "plain-retrieval"

    def __init__(self, *args, reader_policy: str = "rank", **kw):
        super().__init__(*args, **kw)
        if reader_policy not in ("rank", "latest"):
            raise ValueError(f"reader_policy must be 'rank' or 'latest', got {reader_policy!r}")
        self.reader_policy = reader_policy

    def _observe(self, user_text, assistant_text, sources):
        self.store.add(self.user, round_text(user_text, assistant_text),
                       {"sources": sources, "date": iso_date(self.clock.now)},
                       reason="round stored verbatim", kind="turn")

    def retrieve(self, query, k=5):
        return self.store.search(self.user, query, k)


class FullContext(PlainRetrieval):
    name = "full-context"
    reader_policy = "latest"

    def __init__(self, *args, **kw):
        super().__init__(*args, reader_policy="latest", **kw)

    def retrieve(self, query, k=5):
        return [Hit(it.id, it.text, 1.0, {"all": 1.0}, it.meta, it.created_at, it.updated_at,
                    it.kind) for it in self.store.items(self.user)]
