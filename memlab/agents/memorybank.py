"""MemoryBank: Ebbinghaus forgetting with reinforcement on recall.

Paper: Zhong et al., "MemoryBank: Enhancing Large Language Models with Long-Term Memory",
AAAI 2024 (code: zhongwanjun/MemoryBank-SiliconFriend).

Glossary (paper -> code here)::

    R   retention probability            retention(t, S)
    t   days since the memory was last recalled   (clock.now - meta["last_recall"]) / DAY
    S   memory strength, 1 at first mention        meta["strength"]

Equations::

    R = exp(-t / S)                    (paper)
    recall:  S <- S + 1,  t <- 0        (last_recall = now)
    forget:  at each load (a new session = a new day), each turn is deleted if random() > R

The public code writes ``math.exp(-t / 5*S)``; Python reads it as ``exp(-t * S / 5)``, so a
*stronger* memory decays *faster* -- the opposite of the docstring. ``precedence_bug=True``
reproduces it; the test ``retention is monotone in strength`` fails with it on.

Units: one round (user + assistant) per memory, as in the code. Each session ends with an
event summary (``kind="summary"``) that, as in the code, is never forgotten. Retrieval:
top ``k = 6`` by cosine (the code's LangChain FAISS top_k). Forgetting is random: seeded.

Not included: daily/global personality analyses, chunking into 200-character pieces with
merging of neighbours, the Chinese-language pipeline.
"""

from __future__ import annotations

import math
import random

from memlab.agents.base import AgentMemory, round_text
from memlab.agents.llm import iso_date

__all__ = ["DAY", "MemoryBank", "retention"]

DAY = 86400.0


def retention(t: float, S: float, precedence_bug: bool = False) -> float:
    """R = exp(-t/S) (paper); with ``precedence_bug`` the code's exp(-t/5*S) = exp(-t*S/5)."""
    if S <= 0:
        raise ValueError(f"strength S must be > 0, got {S}")
    if t < 0:
        raise ValueError(f"elapsed time t must be >= 0, got {t}")
    return math.exp(-t / 5 * S) if precedence_bug else math.exp(-t / S)


class MemoryBank(AgentMemory):
    name = "memorybank"

    def __init__(self, *args, k: int = 6, forgetting: bool = True, precedence_bug: bool = False,
                 summaries: bool = True, seed: int = 0, **kw):
        super().__init__(*args, **kw)
        self.k, self.forgetting, self.precedence_bug = k, forgetting, precedence_bug
        self.summaries, self.rng = summaries, random.Random(seed)
        self._session: list[str] = []

    def retention_of(self, item) -> float:
        t = max(0.0, (self.clock.now - item.meta["last_recall"]) / DAY)
        return retention(t, item.meta["strength"], self.precedence_bug)

    def start_session(self, session_id=""):
        super().start_session(session_id)
        self._session = []
        if self.forgetting:
            self.forget_pass()

    def forget_pass(self) -> int:
        """The load-time pass: delete each turn with probability 1 - R. Returns #deleted."""
        gone = 0
        with self.store.transaction():
            for it in self.store.items(self.user, kind="turn"):
                R = self.retention_of(it)
                if self.rng.random() > R:
                    self.store.delete(it.id, reason=f"forgotten: R={R:.3f} "
                                      f"(S={it.meta['strength']})")
                    gone += 1
        return gone

    def _observe(self, user_text, assistant_text, sources):
        text = round_text(user_text, assistant_text)
        self._session.append((text, sources))
        self.store.add(self.user, text, {"sources": sources, "date": iso_date(self.clock.now),
                                         "strength": 1, "last_recall": self.clock.now},
                       reason="new turn, S=1", kind="turn")

    def end_session(self):
        if self.summaries and self._session:
            summary = self.llm.summarise([t for t, _ in self._session], max_words=100,
                                         date=iso_date(self.clock.now))
            if summary.strip():
                self.store.summarise(self.user, summary, [], reason="daily event summary",
                                     meta={"date": iso_date(self.clock.now),
                                           "sources": [s for _, ss in self._session for s in ss]})

    def forget(self) -> dict:
        self._session = []
        return super().forget()

    def retrieve(self, query, k=None):
        hits = self.store.search(self.user, query, k or self.k)
        with self.store.transaction():
            for h in hits:
                if h.kind == "turn":
                    S = h.meta["strength"] + 1
                    self.store.update(h.id, meta={"strength": S, "last_recall": self.clock.now},
                                      reason=f"recalled: S -> {S}, t -> 0")
                    h.meta["strength"] = S
        return hits
